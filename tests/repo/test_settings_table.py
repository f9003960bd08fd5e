"""The configuration page's settings tables are what the settings' own descriptions say."""

from pydantic_settings import BaseSettings

from scripts.settings_table import PAGE, TABLES, block, page_block


def test_every_setting_is_described() -> None:
    for settings in TABLES.values():
        undescribed = [name for name, f in settings.model_fields.items() if not f.description]
        assert not undescribed, f"{settings.__name__}: Field(description=...) for {undescribed}"


def test_the_configuration_page_tables_are_the_settings_descriptions() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for component, settings in TABLES.items():
        assert issubclass(settings, BaseSettings)
        assert page_block(page, component) == block(component), (
            f"docs/configuration.md's settings table for {component} differs from the settings: "
            "run `python -m scripts.settings_table --write`"
        )
