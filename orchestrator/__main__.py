"""`python -m orchestrator`: serve the API on HOST:PORT (Runpod load balancers set PORT)."""

import logging

import uvicorn

from contracts.startup import load_settings
from orchestrator.app import create_app
from orchestrator.settings import OrchestratorSettings


def main() -> None:
    settings = load_settings(OrchestratorSettings, "orchestrator")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO; the orchestrator's own line per request says enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # The orchestrator logs each request itself, with its request id.
        access_log=False,
        # Connections from Runpod's proxy are kept alive; let idle ones go before it does.
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
