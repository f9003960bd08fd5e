"""The README is the product's face: short, every example one that `make test` runs, every
setting as the code has it, every link to a file that exists, and no path of this machine."""

import re
from pathlib import Path

from scripts.api_examples import all_examples
from scripts.settings_table import TABLES

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
MAX_LINES = 300


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= MAX_LINES


def test_the_readme_names_no_path_of_this_machine():
    found = re.findall(r"(?<![\w.])/(?:work|root|home|tmp|Users)/\S*", README.read_text())
    assert not found, found


def test_every_curl_in_the_readme_is_an_example_make_test_runs():
    run = {command for command, _ in all_examples()}
    commands = [line for line in README.read_text().splitlines() if line.startswith("curl ")]
    assert commands, "the README shows no example"
    missing = [command for command in commands if command not in run]
    assert not missing, f"not among the API page's examples (docs/api.md): {missing}"


def test_every_local_link_in_the_readme_exists():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links to no page"
    missing = [link for link in local if not (REPO_ROOT / link).exists()]
    assert not missing, missing


def readme_settings() -> dict[str, list[str]]:
    """Each variable the README's settings table names, with its row's cells."""
    text = README.read_text()
    by_variable = {}
    for line in text[text.index("| variable | component | default |") :].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for variable in re.findall(r"`([A-Z0-9_]+)`", cells[0]):
            by_variable[variable] = cells
    return by_variable


def test_the_readmes_settings_are_the_codes():
    defaults = {
        f"{s.model_config.get('env_prefix', '')}{name}".upper(): field.default
        for s in TABLES.values()
        for name, field in s.model_fields.items()
    }
    table = readme_settings()
    assert len(table) >= 10
    unknown = sorted(set(table) - set(defaults))
    assert not unknown, f"not a setting of any component: {unknown}"
    for name, cells in table.items():
        written = re.fullmatch(r"`([^`]*)`", cells[2])
        default = defaults[name]
        if not written or default is None or hasattr(default, "get_secret_value"):
            continue  # a sentence, or a default that depends on the machine
        if isinstance(default, int | float) and not isinstance(default, bool):
            assert float(written.group(1)) == float(default), name
        else:
            assert (
                written.group(1) == str(default).lower()
                if isinstance(default, bool)
                else str(default)
            ), name
