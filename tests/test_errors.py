"""Error pages in HTML and JSON, CSRF, rate limits, security headers."""

import re
from pathlib import Path

import pytest

from .conftest import PASSWORD

JSON = {"Accept": "application/json"}


@pytest.fixture
def boom(app):
    def explode():
        raise RuntimeError("kaboom")

    app.add_url_rule("/boom", "boom", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return "/boom"


def make_error(client, auth, code, headers=None):
    """Cause `code` the way a visitor would, and return the response."""
    headers = headers or {}
    if code == 403:
        auth.login()
        return client.get("/admin/", headers=headers)
    if code == 404:
        return client.get("/no/such/page", headers=headers)
    if code == 405:
        return client.get("/auth/logout", headers=headers)
    if code == 413:
        client.application.config["MAX_CONTENT_LENGTH"] = 1024
        return client.post("/contact", data={"message": "x" * 4096}, headers=headers)
    if code == 500:
        return client.get("/boom", headers=headers)
    raise AssertionError(code)


CODES = {
    403: (b"Not allowed", "You do not have permission"),
    404: (b"Page not found", "There is nothing at this address."),
    405: (b"Method not allowed", "This page does not accept"),
    413: (b"File too large", "larger than the 1 KB limit"),
    500: (b"Something went wrong", "Something went wrong on our side."),
}


@pytest.mark.parametrize("code", sorted(CODES))
def test_error_pages_in_html(client, auth, user, boom, code):
    response = make_error(client, auth, code)
    heading, message = CODES[code]
    assert response.status_code == code
    assert response.mimetype == "text/html"
    assert heading in response.data and message.encode() in response.data
    assert b"<nav" in response.data and b"<footer" in response.data  # extends base.html
    assert b"Traceback" not in response.data


@pytest.mark.parametrize("code", sorted(CODES))
def test_error_pages_in_json(client, auth, user, boom, code):
    response = make_error(client, auth, code, headers=JSON)
    assert response.status_code == code
    assert response.is_json
    assert set(response.json) == {"error", "message"}
    assert CODES[code][1] in response.json["message"]


def test_405_keeps_allow_header(client):
    assert "POST" in client.get("/auth/logout").headers["Allow"]


def test_api_paths_always_answer_json(client):
    response = client.get("/api/v1/nothing", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.json["title"] == "Not Found" and response.json["status"] == 404


def test_a_json_only_page_answers_its_errors_in_json(app, client):
    """The status a page's script polls: an error is JSON whatever the client accepts."""
    for accept in ("*/*", "text/html"):
        response = client.get("/convert/nosuchfile/status", headers={"Accept": accept})
        assert response.status_code == 404 and response.mimetype == "application/json"
        assert response.json["error"] == "Not Found"
    from app.errors import JSON_ENDPOINTS

    assert set(app.view_functions) >= JSON_ENDPOINTS  # a renamed view is not left behind


def test_browsers_get_html_even_when_they_accept_anything(client):
    response = client.get("/nope", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.mimetype == "text/html"
    assert client.get("/nope", headers={"Accept": "*/*"}).mimetype == "text/html"


def test_500_rolls_back_the_session(app, boom, client):
    from app.extensions import db

    def half_done():
        from app.models import Message

        db.session.add(Message(name="x", email="x@example.com", subject="x", body="x"))
        db.session.flush()
        raise RuntimeError("after a write")

    app.add_url_rule("/half", "half", half_done)
    assert client.get("/half").status_code == 500
    with app.app_context():
        from app.models import Message

        assert db.session.query(Message).count() == 0


# CSRF, with protection on as in production.


def csrf_token(page):
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()


def test_post_without_csrf_token_gets_friendly_400(client):
    response = client.post("/contact", data={"name": "x"}, csrf=False)
    assert response.status_code == 400
    assert b"The form expired" in response.data and b"<nav" in response.data
    response = client.post("/contact", data={"name": "x"}, headers=JSON, csrf=False)
    assert response.status_code == 400 and "The form expired" in response.json["message"]


def test_post_with_csrf_token_from_the_page_works(client, user):
    token = csrf_token(client.get("/auth/login").data)
    data = {"email": "ada@example.com", "password": PASSWORD}
    assert client.post("/auth/login", data=data, csrf=False).status_code == 400
    response = client.post("/auth/login", data={**data, "csrf_token": token}, csrf=False)
    assert response.status_code == 302
    # Logout is a POST with a token too: a forged cross-site logout fails.
    assert client.post("/auth/logout", csrf=False).status_code == 400
    page = client.get("/").data
    logout = client.post("/auth/logout", data={"csrf_token": csrf_token(page)}, csrf=False)
    assert logout.status_code == 302


# Rate limits.


@pytest.mark.parametrize(
    "app_settings",
    [{"RATELIMIT_ENABLED": True, "LOGIN_LIMIT_PER_ACCOUNT": "3 per minute"}],
)
def test_login_rate_limited_per_account(client, auth, user, app_settings):
    for _ in range(3):
        assert auth.login(password="wrong").status_code == 200
    response = auth.login(password="wrong")
    assert response.status_code == 429
    assert b"Too many requests" in response.data and "Retry-After" in response.headers
    # Even the right password waits now; another account is not affected.
    assert auth.login().status_code == 429
    assert auth.login(email="other@example.com", password="x").status_code == 200


@pytest.mark.parametrize(
    "app_settings",
    [{"RATELIMIT_ENABLED": True, "LOGIN_LIMIT_PER_ADDRESS": "4 per minute"}],
)
def test_login_rate_limited_per_address(client, auth, app_settings):
    for n in range(4):
        assert auth.login(email=f"user{n}@example.com", password="x").status_code == 200
    response = auth.login(email="fresh@example.com", password="x", headers=JSON)
    assert response.status_code == 429 and response.is_json


@pytest.mark.parametrize(
    "app_settings",
    [{"RATELIMIT_ENABLED": True, "LOGIN_LIMIT_PER_ACCOUNT": "2 per minute"}],
)
def test_successful_logins_do_not_count(client, auth, user, app_settings):
    for _ in range(4):
        assert auth.login().status_code == 302
        auth.logout()


# Security headers.


@pytest.mark.parametrize("path", ["/", "/auth/login", "/nope", "/static/css/app.css"])
def test_security_headers(client, path):
    with client.get(path) as response:
        headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp


def test_inline_scripts_carry_the_csp_nonce(client):
    response = client.get("/")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    scripts = re.findall(rb"<script([^>]*)>", response.data)
    inline = [attrs for attrs in scripts if b"src=" not in attrs]
    assert inline and all(f'nonce="{nonce}"'.encode() in attrs for attrs in inline)
    assert nonce != re.search(
        r"'nonce-([^']+)'", client.get("/").headers["Content-Security-Policy"]
    ).group(1)


def test_styles_come_from_files_only(client):
    """style-src is 'self': no inline style attribute is allowed, so no page template has one
    (emails are not pages; Flask-Moment's markup with its hidden style is not used, see
    templating.when; scripts set styles through the DOM, which the policy allows)."""
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "style-src 'self';" in csp and "unsafe-hashes" not in csp and "sha256-" not in csp
    templates = Path(__file__).resolve().parent.parent / "templates"
    styled = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if "email" not in path.parts and re.search(r"\sstyle=|moment\(", path.read_text())
    ]
    assert styled == []


def test_no_cdn_links(client):
    page = client.get("/").get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', page)
