"""The API docs pages (/docs, /redoc), served with no CDN: they work offline and behind a firewall.

FastAPI's own pages load Swagger UI and ReDoc from a CDN. The fastapi-offline package ships
those files (Swagger UI 5, which renders OpenAPI 3.1; ReDoc 2); only its static folder is used
here, mounted under STATIC_URL, with FastAPI's own page templates pointing at it.
"""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
STATIC_URL = "/docs-static"
# The browser itself refuses anything from elsewhere. ReDoc's bundle always asks a CDN for its
# "powered by" logo; under this policy that request is never sent.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    ]
)


def mount_offline_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the docs pages on `app`, which must be made with docs_url=None, redoc_url=None."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")

    def static(request: Request, name: str) -> str:
        # root_path: the app may be served under a prefix by a proxy.
        return f"{request.scope.get('root_path', '')}{STATIC_URL}/{name}"

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return same_origin_only(
            get_swagger_ui_html(
                openapi_url=openapi_url(request),
                title=f"{app.title} - Swagger UI",
                swagger_js_url=static(request, "swagger-ui-bundle.js"),
                swagger_css_url=static(request, "swagger-ui.css"),
                swagger_favicon_url=static(request, "favicon.png"),
                # No badge from the online validator either.
                swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
            )
        )

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return same_origin_only(
            get_redoc_html(
                openapi_url=openapi_url(request),
                title=f"{app.title} - ReDoc",
                redoc_js_url=static(request, "redoc.standalone.js"),
                redoc_favicon_url=static(request, "favicon.png"),
                with_google_fonts=False,
            )
        )


def same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
