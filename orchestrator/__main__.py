"""`python -m orchestrator`: serve the API on HOST:PORT (Runpod load balancers set PORT).

SIGTERM drains first (orchestrator/drain.py); SIGINT stops at once.
"""

import logging

import uvicorn

from contracts.startup import load_settings
from orchestrator.drain import DrainingServer
from orchestrator.settings import OrchestratorSettings


def main() -> None:
    settings = load_settings(OrchestratorSettings, "orchestrator")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO; the orchestrator's own line per request says enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Imported once the settings are known good: the module builds the app at import.
    from orchestrator.app import app

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
    DrainingServer(config, app.state.admission, settings.drain_grace_s).run()


if __name__ == "__main__":
    main()
