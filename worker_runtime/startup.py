"""Start-up checks: a worker that cannot serve stops with one clear line, before any job."""

import sys
from typing import TypeVar

from pydantic import ValidationError

from contracts.errors import describe_settings_error

T = TypeVar("T")


class ConfigurationError(ValueError):
    """A setting valid on its own that cannot work here (a DTYPE this device cannot run):
    `variable` names it in the line the worker exits with."""

    variable = "configuration"


def load_settings(settings_class: type[T], component: str) -> T:
    """The component's settings from the environment, or exit naming the bad variable."""
    try:
        return settings_class()
    except ValidationError as exc:
        sys.exit(f"{component} cannot start: {describe_settings_error(exc)}")
