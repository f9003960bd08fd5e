"""The configuration page's table is checked against the settings objects it describes."""

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from inference_worker.settings import InferenceSettings
from orchestrator.settings import OrchestratorSettings
from postprocess_worker.settings import PostprocessSettings
from preprocess_worker.settings import PreprocessSettings

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
TABLE = re.compile(r"<!-- settings table: start -->\n(.*?)<!-- settings table: end -->", re.S)
SETTINGS = {
    "orchestrator": OrchestratorSettings,
    "preprocess": PreprocessSettings,
    "inference": InferenceSettings,
    "postprocess": PostprocessSettings,
}
# Read outside the settings objects: by make, make run, the images and the Runpod SDK.
OUTSIDE_SETTINGS = {
    "PYTHON",
    "PREPROCESS_PORT",
    "INFERENCE_PORT",
    "POSTPROCESS_PORT",
    "CPU_INFERENCE_PORT",
    "RUNPOD_LOG_LEVEL",
    "HF_HUB_OFFLINE",
}


def table_rows(table: str) -> dict[str, list[str]]:
    """Each variable a settings table names, with its row (variable, component, default,
    meaning); `table` starts at its header line."""
    by_variable = {}
    for line in table.strip().splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for variable in re.findall(r"`([A-Z0-9_]+)`", cells[0]):
            by_variable[variable] = cells
    return by_variable


def rows() -> dict[str, list[str]]:
    table = TABLE.search(PAGE.read_text())
    assert table, "docs/configuration.md has lost its settings table markers"
    return table_rows(table.group(1))


def variables(settings: type[BaseSettings]) -> dict[str, object]:
    prefix = settings.model_config.get("env_prefix", "")
    return {
        f"{prefix}{name}".upper(): field.default for name, field in settings.model_fields.items()
    }


@pytest.mark.parametrize("component", sorted(SETTINGS))
def test_every_setting_has_a_row(component):
    documented = rows()
    missing = [name for name in variables(SETTINGS[component]) if name not in documented]
    assert not missing, f"docs/configuration.md has no row for {component}'s {missing}"


def test_every_row_names_a_real_setting():
    known = set().union(*(variables(s) for s in SETTINGS.values())) | OUTSIDE_SETTINGS
    unknown = sorted(set(rows()) - known)
    assert not unknown, f"docs/configuration.md names settings that do not exist: {unknown}"


def assert_defaults_match(documented: dict[str, list[str]], where: str) -> None:
    """A default written as one value, in a row for one variable, is the settings' default."""
    defaults = {}
    for settings in SETTINGS.values():
        defaults.update(variables(settings))
    for name, cells in documented.items():
        written = re.fullmatch(r"`([^`]*)`", cells[2])
        if name not in defaults or not written or len(re.findall(r"`[A-Z0-9_]+`", cells[0])) > 1:
            continue  # read elsewhere, a sentence, or one cell for several variables
        value, default = written.group(1), defaults[name]
        if default is None or hasattr(default, "get_secret_value"):
            continue
        if isinstance(default, bool):
            assert value == str(default).lower(), f"{where}: {name}"
        elif isinstance(default, int | float):
            assert float(value) == float(default), f"{where}: {name}: {value}, not {default}"
        else:
            assert value == str(default), f"{where}: {name}: {value}, not {default}"


def test_a_single_default_in_the_table_is_the_settings_default():
    assert_defaults_match(rows(), "docs/configuration.md")
