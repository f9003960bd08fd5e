"""One start-up for every worker: settings, what the handler needs, then Runpod's loop."""

import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from worker_runtime.model_files import ModelUnavailableError
from worker_runtime.settings import WorkerSettings
from worker_runtime.startup import ConfigurationError, load_settings

S = TypeVar("S", bound=WorkerSettings)
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def serve(component: str, settings_class: type[S], make_handler: Callable[[S], Handler]) -> None:
    """Read `settings_class` from the environment, build the handler with it (loading the
    model, say) and hand it to Runpod. A worker that cannot start exits with one line naming
    why: a bad variable, or a model it cannot have."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(settings_class, component)
    try:
        handler = make_handler(settings)
    except ModelUnavailableError as exc:
        sys.exit(f"{component} cannot start: {exc}")
    except ConfigurationError as exc:
        sys.exit(f"{component} cannot start: invalid configuration: {exc.variable}: {exc}")
    # Imported here: the SDK takes a while to import, and only a serving worker needs it.
    import runpod

    runpod.serverless.start(
        {
            "handler": handler,
            "concurrency_modifier": lambda current: settings.max_concurrency,
        }
    )
