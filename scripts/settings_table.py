"""`python -m scripts.settings_table [--write]`: the README's settings tables, from the settings.

Each table is generated from a settings class: one row per field, its environment variable,
its default and its `Field(description=...)`. The README holds each between two markers;
`--write` puts the current tables there, and tests/repo/test_settings_table.py fails when
the README differs from what this prints.
"""

import argparse
import re
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from orchestrator.settings import OrchestratorSettings

README = Path(__file__).resolve().parent.parent / "README.md"
# The component named in the README's markers, and its settings.
TABLES: dict[str, type[BaseSettings]] = {"orchestrator": OrchestratorSettings}


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


def readme_block(readme: str, component: str) -> str | None:
    """The README's block for `component`, markers included, or None when it has none."""
    pattern = re.escape(_begin(component)) + r".*?" + re.escape(_end(component))
    match = re.search(pattern, readme, flags=re.DOTALL)
    return match.group(0) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update the README's tables")
    args = parser.parse_args(argv)
    if not args.write:
        print("\n\n".join(block(component) for component in TABLES))
        return 0
    readme = README.read_text(encoding="utf-8")
    for component in TABLES:
        current = readme_block(readme, component)
        if current is None:
            print(f"README.md has no settings table for {component}", file=sys.stderr)
            return 1
        readme = readme.replace(current, block(component))
    README.write_text(readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
