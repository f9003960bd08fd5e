"""`python -m orchestrator`: serve the API on HOST:PORT (Runpod load balancers set PORT)."""

import logging
import sys

import uvicorn
from pydantic import ValidationError

from contracts.errors import describe_settings_error
from orchestrator.settings import OrchestratorSettings


def main() -> None:
    try:
        settings = OrchestratorSettings()
    except ValidationError as exc:
        sys.exit(f"orchestrator cannot start: {describe_settings_error(exc)}")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO; the orchestrator's own line per request says enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(
        "orchestrator.app:app",
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
