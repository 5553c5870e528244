"""Browser tests: a real server on localhost, Debian's chromium driven by Playwright.

Nothing is downloaded: Playwright launches /usr/bin/chromium. Without chromium the
tests skip locally, but fail in CI (SHEETPORT_REQUIRE_BROWSER=1), which installs it.
"""

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from ..smtp import SMTPServer
from .a11y import check_a11y

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",  # this machine has no internet; don't try
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can see whether the test passed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    if executable is None:
        if os.environ.get("SHEETPORT_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def smtp():
    with SMTPServer() as server:
        yield server


def closing_responses(app):
    """werkzeug's dev server skips a response's close() when the browser drops the connection
    as the reply ends (its own cleanup read raises first). The favicon's open file was then left
    to the garbage collector, and its ResourceWarning failed whichever test was running.
    Wrapping each response in a generator closes it when the server lets go of it."""

    def wsgi(environ, start_response):
        response = app(environ, start_response)
        try:
            yield from response
        finally:
            if hasattr(response, "close"):
                response.close()

    return wsgi


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, closing_responses(app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def app_settings(request, smtp):
    """The suite's `app` (CSRF on, as in every test) with mail to a real SMTP server.
    A test can add settings with @pytest.mark.parametrize("app_settings", [{...}])."""
    extra = getattr(request, "param", {})
    return {**smtp.mail_settings(), **extra}


@pytest.fixture
def server(app):
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def page(browser, server, request):
    """A fresh browser tab; fails the test on any console error (CSP violations included)."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{request.node.name}-last.png", full_page=True)
    try:
        # Every test ends with an axe check of the page it left (light and dark);
        # tests call check_a11y() themselves on the states in between.
        if page.url.startswith(server.url) and request.node.rep_call.passed:
            check_a11y(page, f"the last page of {request.node.name}")
    finally:
        context.close()
    # A 404/429 page we asked for logs "Failed to load resource"; anything else is a bug.
    unexpected = [e for e in errors if "Failed to load resource" not in e]
    assert unexpected == [], f"browser console errors: {unexpected}"
