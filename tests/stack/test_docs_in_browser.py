"""The documentation as a person sees it: the site built in strict mode and opened in headless
Chromium, and the orchestrator's /docs and /redoc on a running orchestrator. Every page must
render with its navigation, and no request may leave the machine. `make docs-check` runs this
file alone; screenshots go to .cache/screenshots/ for a person to look at.
"""

import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from scripts.local_stack import WORKERS, LocalStack, free_port
from tests.browser import Browser, PageVisit, headless_chromium, missing_browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / ".cache" / "screenshots"


def nav_pages() -> list[tuple[str, str]]:
    """(title, file) of each page in mkdocs.yml's navigation, in order."""
    config = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())
    return [next(iter(item.items())) for item in config["nav"]]


def page_path(file: str) -> str:
    """The URL path MkDocs gives a page (directory URLs)."""
    return "/" if file == "index.md" else "/" + file.removesuffix(".md") + "/"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs-site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def site_url(site: Path) -> Iterator[str]:
    handler = partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = missing_browser()
    if reason:
        pytest.skip(f"browser check skipped: {reason}")
    with headless_chromium(SCREENSHOTS) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def orchestrator_url() -> Iterator[str]:
    """The orchestrator alone, started as `make run` starts it: /docs and /redoc need no
    worker behind it."""
    stack = LocalStack(
        ports={"orchestrator": free_port()}, without=[name for name, _, _ in WORKERS]
    )
    with stack:
        yield stack.url


def api_paths(orchestrator_url: str) -> dict[str, dict]:
    """The routes of the orchestrator's OpenAPI document, as it serves it."""
    with urllib.request.urlopen(orchestrator_url + "/openapi.json", timeout=10) as response:
        return json.load(response)["paths"]


def assert_stayed_home(visit: PageVisit) -> None:
    assert visit.requests, f"{visit.url}: no request recorded (is the DevTools log on?)"
    assert not visit.outside, f"{visit.url} loaded from outside: {visit.outside}"
    assert not visit.failed, f"{visit.url}: requests failed: {visit.failed}"
    assert not visit.console_errors, f"{visit.url}: console errors: {visit.console_errors}"


def test_the_site_builds_in_strict_mode(site: Path) -> None:
    for _, file in nav_pages():
        assert (site / page_path(file).strip("/") / "index.html").is_file(), file


# What a page loads by itself: scripts, images, frames, media, and <link>ed files (styles,
# icons, fonts, preloads); then the stylesheets' own imports and urls.
_LOADED_FROM_MARKUP = re.compile(
    r"""<(?:script|img|iframe|source|video|audio|embed)\b[^>]*\ssrc=["']((?:https?:)?//[^"']+)"""
    r"""|<link\b[^>]*\shref=["']((?:https?:)?//[^"']+)""",
    re.IGNORECASE,
)
_LOADED_FROM_CSS = re.compile(r"""(?:@import\s+|url\(\s*)["']?((?:https?:)?//[^"')\s]+)""")


def test_the_site_names_nothing_outside_to_load(site: Path) -> None:
    """Without a browser too: no page or stylesheet of the built site loads from elsewhere."""
    found = []
    for html in site.rglob("*.html"):
        found += [(html.name, "".join(m)) for m in _LOADED_FROM_MARKUP.findall(html.read_text())]
    for css in site.rglob("*.css"):
        found += [(css.name, url) for url in _LOADED_FROM_CSS.findall(css.read_text())]
    assert not found, f"the site loads from outside: {found[:5]}"


@pytest.mark.parametrize(("title", "file"), nav_pages())
def test_every_page_renders_with_its_navigation(browser, site_url, title, file) -> None:
    visit = browser.visit(
        site_url + page_path(file),
        "return document.querySelector('.md-content h1') !== null",
    )
    assert_stayed_home(visit)
    nav = browser.run(
        "return [...document.querySelectorAll('nav.md-nav--primary a.md-nav__link')]"
        ".map(a => a.textContent.trim())"
    )
    for other, _ in nav_pages():
        assert other in nav, f"{file}: the navigation has no link to {other}"
    heading = browser.run("return document.querySelector('.md-content h1').textContent")
    assert heading.strip(), f"{file}: empty title"
    broken = browser.run(
        "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.getAttribute('src'))"
    )
    assert not broken, f"{file}: images that did not load: {broken}"
    browser.screenshot(f"docs-{file.removesuffix('.md')}")


def test_the_search_works_offline(browser, site_url) -> None:
    browser.visit(site_url + "/", "return document.querySelector('.md-search__input') !== null")
    browser.run(
        "const input = document.querySelector('.md-search__input');"
        "input.focus(); input.value = 'MAX_IN_FLIGHT';"
        "input.dispatchEvent(new Event('input', {bubbles: true}));"
        "input.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true}));"
    )
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser.driver, 20).until(
        lambda d: d.execute_script(
            "return document.querySelectorAll('.md-search-result__item').length"
        )
    )
    browser.screenshot("docs-search")


def test_swagger_ui_renders_every_route_from_the_orchestrator_alone(
    browser, orchestrator_url
) -> None:
    visit = browser.visit(
        orchestrator_url + "/docs",
        "return document.querySelectorAll('.opblock').length > 0",
    )
    assert_stayed_home(visit)
    paths = api_paths(orchestrator_url)
    expected = {(method.upper(), path) for path, item in paths.items() for method in item}
    rendered = browser.run(
        "return [...document.querySelectorAll('.opblock')].map(b => ["
        "b.querySelector('.opblock-summary-method').textContent.trim(),"
        "b.querySelector('.opblock-summary-path').getAttribute('data-path')])"
    )
    assert {tuple(pair) for pair in rendered} == expected
    browser.screenshot("orchestrator-docs")


def test_redoc_renders_every_route_from_the_orchestrator_alone(browser, orchestrator_url) -> None:
    visit = browser.visit(
        orchestrator_url + "/redoc",
        "return document.querySelector('.api-content h2') !== null",
    )
    assert_stayed_home(visit)
    paths = api_paths(orchestrator_url)
    text = browser.run("return document.querySelector('.api-content').textContent")
    missing = [path for path in paths if path not in text]
    assert not missing, f"/redoc does not show {missing}"
    browser.screenshot("orchestrator-redoc")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_pages_forbid_the_browser_to_load_from_elsewhere(page) -> None:
    """Without a browser too: the policy that keeps ReDoc's CDN logo from being fetched."""
    from fastapi.testclient import TestClient

    from orchestrator.app import create_app
    from orchestrator.settings import OrchestratorSettings

    response = TestClient(create_app(OrchestratorSettings())).get(page)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    assert "http" not in policy
