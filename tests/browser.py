"""Headless Chromium for the tests: Debian's `chromium` and `chromium-driver`, through Selenium.

Nothing here downloads a browser or a driver: both are the system's, found on PATH, and
Selenium Manager is kept offline. Every request the browser makes is recorded from Chrome's
DevTools network events, and none can leave the machine: host names other than loopback do
not resolve, and anything else goes to a proxy that is not there.
"""

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Debian's chromium first; Google Chrome where a CI image ships it with its driver (GitHub's).
BROWSERS = ("chromium", "google-chrome")
DRIVER = "chromedriver"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
# URL schemes that never reach a network.
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-extension", "devtools"}
# Chromium features that call home on their own (updates, translation, safe browsing, ...).
QUIET_FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-pings",
]


def browser_binary() -> str | None:
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def missing_browser() -> str | None:
    """Why the browser check cannot run here, in one line; None when it can."""
    if browser_binary() is None:
        return "no chromium on PATH: install Debian's chromium (.ci/run does, as root)"
    if shutil.which(DRIVER) is None:
        return "no chromedriver on PATH: install Debian's chromium-driver (.ci/run does, as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed: make installs it from docs/requirements.txt"
    return None


def is_outside(url: str) -> bool:
    """Whether loading `url` would leave this machine."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES or not parts.scheme:
        return False
    return (parts.hostname or "") not in LOOPBACK_HOSTS


@dataclass
class PageVisit:
    url: str
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # Refused by the page's own Content-Security-Policy: asked for, never sent.
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def outside(self) -> list[str]:
        return [url for url in self.requests if is_outside(url) and url not in self.blocked]


class Browser:
    """One headless Chromium; `visit` loads a page and reports what it loaded."""

    def __init__(self, driver, screenshots: Path):
        self.driver = driver
        self.screenshots = screenshots

    def visit(self, url: str, ready_script: str, timeout_s: float = 20.0) -> PageVisit:
        """Load `url` and wait until `ready_script` (JavaScript, returning a truth value)
        holds; then collect the page's requests from the DevTools log."""
        from selenium.webdriver.support.ui import WebDriverWait

        self._drain_logs()
        self.driver.get(url)
        WebDriverWait(self.driver, timeout_s).until(
            lambda d: (
                d.execute_script("return document.readyState") == "complete"
                and d.execute_script(ready_script)
            )
        )
        visit = PageVisit(url)
        urls_by_id: dict[str, str] = {}
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                urls_by_id[params["requestId"]] = params["request"]["url"]
                visit.requests.append(params["request"]["url"])
            elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
                url = urls_by_id.get(params["requestId"], params["requestId"])
                if params.get("blockedReason") == "csp":
                    visit.blocked.append(url)
                else:
                    visit.failed.append(url)
        visit.console_errors = [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "Content Security Policy" not in entry["message"]
        ]
        return visit

    def screenshot(self, name: str) -> Path:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def run(self, script: str, *args: object) -> object:
        return self.driver.execute_script(script, *args)

    def _drain_logs(self) -> None:
        self.driver.get_log("performance")
        self.driver.get_log("browser")


@contextmanager
def headless_chromium(screenshots: Path) -> Iterator[Browser]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium Manager would look for (and could fetch) a browser: it is told not to.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_binary()
    for flag in [
        "--headless=new",
        "--no-sandbox",  # as root, in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        # Nothing leaves the machine: other host names do not resolve, and whatever is not
        # loopback goes to a proxy on a closed loopback port (port 9, discard) and fails.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        *QUIET_FLAGS,
    ]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=shutil.which(DRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield Browser(driver, screenshots)
    finally:
        driver.quit()
