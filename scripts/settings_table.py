"""`python -m scripts.settings_table [--write]`: the configuration page's tables, from the settings.

Each table is generated from a settings class: one row per field, its environment variable,
its default and its `Field(description=...)`. docs/configuration.md holds each between two
markers;
`--write` puts the current tables there, and tests/repo/test_settings_table.py fails when
the page differs from what this prints.
"""

import argparse
import re
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from inference_worker.settings import InferenceSettings
from orchestrator.settings import OrchestratorSettings
from postprocess_worker.settings import PostprocessSettings
from preprocess_worker.settings import PreprocessSettings
from single_worker.settings import SingleSettings

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
# The component named in the page's markers, and its settings.
TABLES: dict[str, type[BaseSettings]] = {
    "orchestrator": OrchestratorSettings,
    "preprocess": PreprocessSettings,
    "inference": InferenceSettings,
    "postprocess": PostprocessSettings,
    "single": SingleSettings,
}


def _begin(component: str) -> str:
    return (
        f"<!-- settings table: {component} (made by `python -m scripts.settings_table --write` "
        "from the settings' descriptions; edit those, not this table) -->"
    )


def _end(component: str) -> str:
    return f"<!-- end of settings table: {component} -->"


def _default(value: object) -> str:
    if value is None or isinstance(value, SecretStr):
        return "none"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def table(settings: type[BaseSettings]) -> str:
    """The markdown table of `settings`: variable, default, meaning."""
    prefix = settings.model_config.get("env_prefix", "")
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in settings.model_fields.items():
        if not field.description:
            raise ValueError(f"{settings.__name__}.{name} has no description")
        variable = f"{prefix}{name}".upper()
        rows.append(f"| `{variable}` | {_default(field.default)} | {field.description} |")
    return "\n".join(rows)


def block(component: str) -> str:
    return f"{_begin(component)}\n{table(TABLES[component])}\n{_end(component)}"


def page_block(page: str, component: str) -> str | None:
    """The page's block for `component`, markers included, or None when it has none."""
    pattern = re.escape(_begin(component)) + r".*?" + re.escape(_end(component))
    match = re.search(pattern, page, flags=re.DOTALL)
    return match.group(0) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update the page's tables")
    args = parser.parse_args(argv)
    if not args.write:
        print("\n\n".join(block(component) for component in TABLES))
        return 0
    page = PAGE.read_text(encoding="utf-8")
    for component in TABLES:
        current = page_block(page, component)
        if current is None:
            print(f"{PAGE.name} has no settings table for {component}", file=sys.stderr)
            return 1
        page = page.replace(current, block(component))
    PAGE.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
