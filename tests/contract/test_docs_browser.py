"""The documentation pages work offline in a real browser: headless Chromium drives Swagger UI
through signUp, Authorize (the OAuth2 password flow over logIn) and getMe, and ReDoc renders,
while every request the pages make must stay on the service's own origin."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, Request, Route, sync_playwright

from tests.support.accounts import unique_email
from tests.support.services import LiveServer, service_missing

CHROMIUM = Path("/usr/bin/chromium")
# Quiet, offline, sandbox-free Chromium: nothing of its own phones home during the test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1"}
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.slow


class Browser:
    """A headless Chromium page that refuses and records every request off loopback."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.foreign: list[str] = []
        self.failed: list[str] = []
        self.blocked_by_policy: list[str] = []
        self.requested: list[str] = []
        self.errors: list[str] = []


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        service_missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a fresh --user-data-dir.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            service_workers="block",
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        recorder = Browser(page)

        def guard(route: Route, request: Request) -> None:
            host = urlsplit(request.url).hostname
            if request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
                route.continue_()
            else:
                recorder.foreign.append(request.url)
                route.abort()

        context.route("**/*", guard)

        def failed(request: Request) -> None:
            reason = request.failure
            # The pages' Content-Security-Policy stops off-origin loads inside the browser,
            # before any network request exists; that is the policy working, not a failure.
            if reason in {"csp", "net::ERR_BLOCKED_BY_CSP"}:
                recorder.blocked_by_policy.append(request.url)
            else:
                recorder.failed.append(f"{request.url}: {reason}")

        page.on("requestfailed", failed)
        page.on("request", lambda request: recorder.requested.append(request.url))
        page.on("pageerror", lambda error: recorder.errors.append(str(error)))
        try:
            yield recorder
        finally:
            context.close()
    assert recorder.foreign == [], f"the page reached beyond 127.0.0.1: {recorder.foreign}"
    assert recorder.failed == [], f"requests failed: {recorder.failed}"
    assert recorder.errors == [], f"JavaScript errors: {recorder.errors}"


def try_it_out(page: Page, operation: str) -> Locator:
    """Expand an operation in Swagger UI and press Try it out; returns its block."""
    block = page.locator(f"#operations-auth-{operation}")
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    return block


def test_swagger_ui_signs_up_authorizes_and_reads_me(
    browser: Browser, live_server: LiveServer
) -> None:
    page = browser.page
    email = unique_email("swagger")
    password = "swagger ui password"
    page.goto(f"{live_server.base_url}/docs")
    page.locator("#operations-auth-signUp").wait_for()
    assert f"{live_server.base_url}/docs/static/swagger-ui-bundle.js" in browser.requested

    sign_up = try_it_out(page, "signUp")
    body = sign_up.locator("textarea.body-param__text")
    body.fill(f'{{"email": "{email}", "password": "{password}"}}')
    sign_up.locator("button.execute").click()
    status = sign_up.locator(".live-responses-table .response-col_status")
    status.filter(has_text="201").wait_for()

    page.locator(".auth-wrapper button.authorize").click()
    modal = page.locator(".modal-ux")
    modal.locator("#oauth_username").fill(email)
    modal.locator("#oauth_password").fill(password)
    modal.get_by_role("button", name="Apply given OAuth2 credentials").click()
    # Swagger UI shows Logout once POST /login answered with a token.
    modal.locator("button.modal-btn", has_text="Logout").first.wait_for()
    modal.locator("button.close-modal").click()

    get_me = try_it_out(page, "getMe")
    get_me.locator("button.execute").click()
    me_status = get_me.locator(".live-responses-table .response-col_status")
    me_status.filter(has_text="200").wait_for()
    response_body = get_me.locator(".live-responses-table .response-col_description pre")
    assert email in response_body.first.inner_text()


def test_redoc_renders_the_contract(browser: Browser, live_server: LiveServer) -> None:
    page = browser.page
    page.goto(f"{live_server.base_url}/redoc")
    for summary in ("Create an account", "Log in with email and password", "Read the current user"):
        page.get_by_role("heading", name=summary).wait_for()
    assert f"{live_server.base_url}/docs/static/redoc.standalone.js" in browser.requested
    # ReDoc's bundle links its logo from a CDN; the page's policy keeps that request at home.
    assert all(urlsplit(url).hostname not in LOCAL_HOSTS for url in browser.blocked_by_policy)
