"""The orchestrator's /docs and /redoc pages load nothing from outside the orchestrator."""

import re

import pytest
from fastapi.testclient import TestClient

from orchestrator.app import create_app
from orchestrator.settings import OrchestratorSettings

# src= and href= in the page, whatever the quotes; and any absolute URL at all.
_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[\w.-]+""")


@pytest.fixture(scope="module")
def client() -> TestClient:
    # No `with`: the lifespan (the workers' HTTP client) is not needed to serve these pages.
    return TestClient(create_app(OrchestratorSettings()))


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_docs_page_and_its_assets_are_served_locally(client: TestClient, page, assets) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    outside = _ABSOLUTE_URL.search(html)
    assert outside is None, f"{page} names an outside URL: {outside}"
    references = set(_REFERENCE.findall(html))
    assert {reference.rsplit("/", 1)[-1] for reference in references} >= assets
    for reference in references:
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 100, reference
    # The page loads the API description from this app too.
    assert "/openapi.json" in html
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_docs_pages_are_not_in_the_api_description(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {path for path in paths if path.startswith(("/docs", "/redoc"))}
