"""Start-up checks shared by every component: bad configuration stops it with one clear line."""

import sys
from typing import TypeVar

from pydantic import ValidationError

T = TypeVar("T")


def load_settings(settings_class: type[T], component: str) -> T:
    """The component's settings from the environment, or exit naming the bad variable."""
    try:
        return settings_class()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        sys.exit(f"{component} cannot start: invalid configuration: {problems}")
