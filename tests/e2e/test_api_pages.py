"""The API's pages in a real browser: the guide with its reference viewer, and tokens."""

import requests
from playwright.sync_api import expect

from .conftest import ARTIFACTS
from .test_accounts import log_in

pytestmark = __import__("pytest").mark.e2e


def test_docs_page_renders_the_openapi_document(page):
    page.goto("/")
    page.get_by_role("link", name="API", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The Sheetport API")
    # Swagger UI (vendored) read /api/v1/openapi.json and lists every operation,
    # under the strict Content-Security-Policy (the fixture fails on any console error).
    expect(page.locator(".opblock")).to_have_count(18)
    expect(page.locator("#api-reference")).to_contain_text("/api/v1/convert")
    # One <h1> still: the viewer's own title block (another <h1>) is not shown.
    expect(page.get_by_role("heading", level=1)).to_have_count(1)


def test_create_use_and_revoke_a_token(page, server, make_user):
    make_user(email="grace@example.com", password="a long password")
    log_in(page, "grace@example.com", "a long password")
    page.goto("/profile")
    page.get_by_label("Token name").fill("nightly export")
    page.get_by_label("Expires").select_option(label="In 7 days")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("new-token-secret").inner_text().strip()
    assert secret.startswith("spt_")
    headers = {"Authorization": f"Bearer {secret}"}
    me = requests.get(f"{server.url}/api/v1/me", headers=headers, timeout=10)
    assert me.json()["token"]["name"] == "nightly export"
    # Post/Redirect/Get: the secret is on a page fetched by GET, and reloading it posts
    # nothing again (no second token, no "resubmit the form?" prompt); shown once.
    assert page.url.endswith("/profile#api-tokens")
    page.reload()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    expect(page.get_by_role("cell", name="nightly export")).to_have_count(1)
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked the token nightly export")
    refused = requests.get(f"{server.url}/api/v1/me", headers=headers, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"


def test_an_opened_operation_with_try_it_out_passes_axe_in_light_and_dark(page):
    """Issue 27, 4: the reference viewer with an operation opened and "Try it out" pressed
    has no critical or serious axe violation, and follows the site's colour mode."""
    from .a11y import check_a11y

    page.goto("/api")
    operation = page.locator(".opblock-post").filter(has_text="/api/v1/conversions").first
    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    expect(page.get_by_role("button", name="Execute")).to_be_visible()
    check_a11y(page, "/api with an operation opened and Try it out pressed")
    page.emulate_media(color_scheme="dark")
    background = page.evaluate(
        "() => getComputedStyle(document.getElementById('api-reference')).filter"
    )
    assert background != "none", "the viewer stays light in dark mode"
    page.screenshot(path=ARTIFACTS / "api-reference-dark.png", full_page=True)
