"""`python -m orchestrator`: serve the API on HOST:PORT (Runpod load balancers set PORT).

SIGTERM drains first (orchestrator/drain.py); SIGINT stops at once.
"""

import logging
import sys

import uvicorn
from pydantic import ValidationError

from contracts.errors import describe_settings_error
from orchestrator.access import exposure_warning
from orchestrator.app import create_app
from orchestrator.drain import DrainingServer
from orchestrator.settings import OrchestratorSettings


def settings_or_exit() -> OrchestratorSettings:
    """The settings, or an exit with one line naming what is wrong (never a secret's value)."""
    try:
        return OrchestratorSettings()
    except ValidationError as exc:
        sys.exit(f"orchestrator cannot start: {describe_settings_error(exc)}")


def main() -> None:
    settings = settings_or_exit()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO; the orchestrator's own line per request says enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if warning := exposure_warning(settings):
        logging.getLogger("orchestrator").warning(warning)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # The orchestrator logs each request itself, with its request id.
        access_log=False,
        # Connections from Runpod's proxy are kept alive; let idle ones go before it does.
        timeout_keep_alive=30,
        # The drain has already waited for the requests; this only bounds uvicorn's own wait.
        timeout_graceful_shutdown=5,
    )
    DrainingServer(config, app.state.services.admission, settings.drain_grace_s).run()


if __name__ == "__main__":
    main()
