"""Real-browser fixtures: the app on a live loopback server, driven by Playwright in Debian's
Chromium.

Playwright's own browser download needs the internet, so it is never used: the browser is
/usr/bin/chromium (`.ci/run` installs the `chromium` package when it is missing). Chromium and
the `playwright` package are required in CI (CI=true: the tests fail) and skipped with the
reason elsewhere. A test that fails leaves a screenshot of each of its pages in
tests/browser/artifacts/<test name>[-N].png (ignored by git), and its report says where.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.services import missing

CHROMIUM = Path("/usr/bin/chromium")
# The background-networking flags matter on a closed network: without them Chromium keeps
# dialling Google's services and every refused connection costs time and log noise.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT_MS = 10_000  # a page that is not there in 10 s is a failure, not something to wait for


@dataclass
class LiveServer:
    """The test's app served over real HTTP on 127.0.0.1."""

    url: str
    app: Flask


@dataclass
class PageLog:
    """What the browser did besides rendering: every request URL, every response with an
    error status, and every console error or uncaught exception (a CSP violation is reported
    as a console error)."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_console(self, message) -> None:
        # "Failed to load resource" repeats a failed response (kept in `failed`).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def on_response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.request.method} {response.url}")

    def external(self, base_url: str) -> list[str]:
        """Requests that left the live server: the platform must work offline."""
        return [url for url in self.requests if not url.startswith(base_url + "/")]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item (rep_setup, rep_call, rep_teardown); when the test
    itself failed, screenshot each of its pages while they are still open and name the files
    in the failure report."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    pages = getattr(item, "browser_pages", None)
    if report.when == "call" and report.failed and pages:
        saved = save_failure_screenshots(item.name, pages)
        report.sections.append(("screenshots of the failed test's pages", "\n".join(saved)))
    return report


def save_failure_screenshots(test_name: str, pages: list) -> list[str]:
    """A full-page PNG of each page in ARTIFACTS; the paths, or why one could not be taken."""
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", test_name)
    saved = []
    for i, page in enumerate(pages):
        path = ARTIFACTS / f"{name}{f'-{i + 1}' if i else ''}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            saved.append(str(path))
        except Exception as exc:  # a crashed page must not hide the test's own failure
            saved.append(f"no screenshot of page {i + 1}: {exc}")
    return saved


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    """The `app` fixture (a fresh migrated SQLite database) on an ephemeral port, threaded as a
    browser loads a page's scripts and styles in parallel."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the whole browser suite (starting it costs about a second). Package
    scope, not session: the same single launch, but Chromium and Playwright's driver exit as
    soon as the last browser test ends instead of holding memory through the rest of the
    session (the worker tests load models)."""
    if not CHROMIUM.exists():
        missing(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def timezone_id() -> str:
    """The browser's time zone. Not UTC, so that a time shown without conversion is caught;
    override the fixture in a module to test another zone."""
    return "Asia/Tokyo"


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def new_page(browser, live_server, timezone_id, page_log, request) -> Iterator[Callable]:
    """Open a page in a fresh browser context (its own cookies: one user per context); every
    page logs into `page_log`. The pages are kept on the test item for the failure screenshots
    (pytest_runtest_makereport above)."""
    contexts, pages = [], []
    request.node.browser_pages = pages

    def _open(**options):
        """`options`: more of Playwright's context options (viewport, color_scheme, ...)."""
        context = browser.new_context(base_url=live_server.url, timezone_id=timezone_id,
                                      locale="en-US", **options)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("request", lambda req: page_log.requests.append(req.url))
        page.on("response", page_log.on_response)
        page.on("console", page_log.on_console)
        page.on("pageerror", lambda exc: page_log.errors.append(str(exc)))
        contexts.append(context)
        pages.append(page)
        return page

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """The test's first page."""
    return new_page()


@pytest.fixture
def expect(browser):
    """Playwright's auto-waiting assertions, imported only once `browser` has checked that
    playwright is installed (so that its absence skips or fails like Chromium's)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect
