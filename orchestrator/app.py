"""The orchestrator's HTTP app, made by `create_app(settings)`: nothing is read at import.

Validation happens at the edge, so invalid input never reaches a worker. Where things are:
the services and the middleware stack in wiring.py, the routes in routes/ (one router per
purpose), every error answer in errors.py.
"""

from fastapi import FastAPI

from orchestrator.errors import ERROR_RESPONSES, install_error_handlers
from orchestrator.routes import operations, pipeline, stages
from orchestrator.routes.docs import mount_offline_docs
from orchestrator.settings import OrchestratorSettings
from orchestrator.wiring import Services, install_middleware


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or OrchestratorSettings()
    services = Services(settings)
    app = FastAPI(
        title="Runpod CPU/GPU text classification",
        summary="Preprocess on CPU, classify on GPU, postprocess on CPU: three Runpod endpoints.",
        version="1.0.0",
        lifespan=services.serving,
        # Served from the installed package, not a CDN: /docs works offline (routes/docs.py).
        docs_url=None,
        redoc_url=None,
        responses={code: ERROR_RESPONSES[code] for code in (400, 401, 404, 405, 413, 429, 500)},
    )
    app.state.services = services
    install_middleware(app, settings, services)
    install_error_handlers(app, settings.max_request_bytes)
    mount_offline_docs(app)
    app.include_router(pipeline.router(settings.max_batch_texts))
    app.include_router(stages.router)
    app.include_router(operations.router)
    return app
