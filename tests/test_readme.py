"""The README is the product's face: short, every example one that `make test` runs, every
setting as the code has it, every link to a file that exists, and no path of this machine."""

import re
from pathlib import Path

from scripts.api_examples import all_examples
from tests.test_configuration_page import assert_defaults_match, rows, table_rows

REPO_ROOT = Path(__file__).resolve().parent.parent
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


def test_the_readmes_settings_are_the_codes():
    text = README.read_text()
    table = table_rows(text[text.index("| variable | component | default |") :])
    assert len(table) >= 10
    unknown = sorted(set(table) - set(rows()))
    assert not unknown, f"not on the configuration page: {unknown}"
    assert_defaults_match(table, "README.md")
