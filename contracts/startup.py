"""Start-up checks shared by every component: bad configuration stops it with one clear line."""

import sys
from typing import TypeVar

from pydantic import ValidationError

from contracts.errors import describe_validation_error

T = TypeVar("T")


def load_settings(settings_class: type[T], component: str) -> T:
    """The component's settings from the environment, or exit naming the bad variable."""
    try:
        return settings_class()
    except ValidationError as exc:
        _, details = describe_validation_error(exc)
        # Settings fields are the environment variables' names in lower case.
        problems = "; ".join(f"{d.field.upper()}: {d.message}" for d in details)
        sys.exit(f"{component} cannot start: invalid configuration: {problems}")
