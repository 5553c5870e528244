"""Public pages, contact form, profile, theme."""

import re

import pytest

from app.extensions import db
from app.models import Message

from .conftest import fetch

CONTACT = {
    "name": "Linus",
    "email": "linus@example.com",
    "subject": "Dates in my ODS file",
    "message": "Hello, how are dates in ODS files handled?",
}


@pytest.mark.parametrize(
    "path, text",
    [
        ("/", b"Convert a spreadsheet"),
        ("/help", b"Privacy and retention"),
        ("/contact", b"Contact us"),
    ],
)
def test_public_pages(client, path, text):
    response = client.get(path)
    assert response.status_code == 200
    assert text in response.data
    assert b"<footer" in response.data


def test_home_invites_sign_up_only_when_anonymous(client, auth, user):
    page = client.get("/").get_data(as_text=True)
    assert page.count('data-testid="signup-note"') == 1 and "free account" in page
    for promise in ("Keep your conversions", "For people and scripts"):
        assert promise not in page
    auth.login()
    assert b"free account" not in client.get("/").data


def test_home_page_takes_a_file(client):
    page = client.get("/").get_data(as_text=True)
    assert 'action="/convert"' in page and 'enctype="multipart/form-data"' in page
    assert 'type="file"' in page and ">Choose a file</label>" in page
    assert 'name="output_format"' in page


def test_home_page_without_anonymous_conversions_asks_to_log_in(app, client):
    from app import settings

    with app.app_context():
        settings.save({"allow_anonymous": False})
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert 'type="file"' not in page and "Log in to convert" in page


@pytest.mark.parametrize(
    "path, target", [("/login", "/auth/login"), ("/register", "/auth/register")]
)
def test_typed_account_addresses_redirect(client, path, target):
    response = client.get(path)
    assert response.status_code == 301 and response.headers["Location"] == target


def test_login_redirect_keeps_next(client):
    response = client.get("/login?next=/history")
    assert response.headers["Location"] == "/auth/login?next=/history"


def test_static_files_are_fingerprinted_and_cached(client):
    page = client.get("/").get_data(as_text=True)
    url = re.search(r'src="(/static/js/convert\.js\?v=\w+)"', page).group(1)
    response = client.get(url)
    assert response.status_code == 200
    assert response.cache_control.max_age == 365 * 24 * 3600 and response.cache_control.immutable
    response.close()
    stale = client.get("/static/js/convert.js?v=0000")
    assert stale.cache_control.max_age != 365 * 24 * 3600
    stale.close()


def test_navigation_reflects_who_is_logged_in(client, auth, user, admin):
    page = client.get("/").data
    assert b"Log in" in page and b"Log out" not in page
    auth.login()
    page = client.get("/").data
    assert b"Ada Lovelace" in page and b"Log out" in page and b">Admin<" not in page
    auth.logout()
    auth.login("root@example.com")
    assert b">Admin<" in client.get("/").data


def test_contact_message_is_stored_and_emailed(app, client, outbox):
    response = client.post("/contact", data=CONTACT)
    assert response.status_code == 302 and response.headers["Location"] == "/contact"
    message = fetch(app, Message, email="linus@example.com")
    assert message.subject == CONTACT["subject"] and not message.read
    assert outbox[0].recipients == [app.config["ADMIN_EMAIL"]]
    assert "Dates in my ODS file" in outbox[0].subject
    assert CONTACT["message"] in outbox[0].body
    assert b"your message was sent" in client.get("/contact").data


def test_contact_goes_to_admin_accounts_without_configured_address(app, client, admin, outbox):
    app.config["ADMIN_EMAIL"] = None
    client.post("/contact", data=CONTACT)
    assert outbox[0].recipients == ["root@example.com"]


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("name", "", b"This field is required."),
        ("email", "", b"This field is required."),
        ("email", "nope", b"Enter a valid email address"),
        ("subject", "", b"This field is required."),
        ("subject", "s" * 201, b"Field cannot be longer than 200 characters."),
        ("message", "short", b"Write between 10 and 5000 characters."),
        ("message", "m" * 5001, b"Write between 10 and 5000 characters."),
    ],
)
def test_contact_validation(app, client, outbox, field, value, error):
    response = client.post("/contact", data={**CONTACT, field: value})
    assert response.status_code == 200
    assert error in response.data
    assert fetch(app, Message, email="linus@example.com") is None and outbox == []


def test_contact_prefills_for_logged_in_user(client, auth, user):
    auth.login()
    page = client.get("/contact").data
    assert b'value="Ada Lovelace"' in page and b'value="ada@example.com"' in page


def test_contact_escapes_what_people_type(app, client, outbox):
    client.post("/contact", data={**CONTACT, "subject": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in outbox[0].html
    assert "&lt;script&gt;" in outbox[0].html


def test_profile_shows_user_with_moment_times(app, client, auth, user):
    from .test_pages import statements

    auth.login()
    client.get("/profile")  # the first page after login records the visit
    with statements(app) as seen:
        page = client.get("/profile").get_data(as_text=True)
    assert "Ada Lovelace" in page and "ada@example.com" in page
    assert re.search(r"Role</dt><dd[^>]*>User<", page)
    assert not [sql for sql in seen if "FROM roles" in sql], seen  # read with the user
    assert 'class="flask-moment"' in page and 'data-function="fromNow"' in page
    assert "Member since" in page and "Last seen" in page


def test_profile_requires_login(client):
    response = client.get("/profile")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_edit_profile(client, auth, user):
    auth.login()
    assert b'value="Ada Lovelace"' in client.get("/profile/edit").data
    response = client.post("/profile/edit", data={"name": "Ada King"}, follow_redirects=True)
    assert b"Your profile has been updated." in response.data
    assert b"Ada King" in response.data


def test_edit_profile_validation(client, auth, user):
    auth.login()
    assert b"This field is required." in client.post("/profile/edit", data={"name": ""}).data
    long = client.post("/profile/edit", data={"name": "n" * 101}).data
    assert b"Field cannot be longer than 100 characters." in long


def test_last_seen_is_updated(app, client, auth, user):
    from datetime import timedelta

    from app.extensions import db
    from app.models import User

    with app.app_context():
        row = db.session.get(User, user.id)
        row.last_seen_at = row.last_seen_at - timedelta(days=3)
        db.session.commit()
        before = row.last_seen_at
    auth.login()
    client.get("/")
    assert fetch(app, User, id=user.id).last_seen_at > before


@pytest.mark.parametrize("theme", ["light", "dark", "auto"])
def test_theme_is_remembered_in_its_own_cookie(client, theme):
    response = client.post("/theme", data={"theme": theme, "next": "/help"})
    assert response.status_code == 302 and response.headers["Location"] == "/help"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("theme="))
    assert f"theme={theme}" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/help").get_data(as_text=True)
    assert f'data-theme="{theme}"' in page
    expected = "dark" if theme == "dark" else "light"
    assert f'data-bs-theme="{expected}"' in page


def test_theme_refuses_unknown_values_and_foreign_next(client):
    response = client.post("/theme", data={"theme": "neon", "next": "//evil.example"})
    assert response.headers["Location"] == "/"
    assert not any(c.startswith("theme=") for c in response.headers.getlist("Set-Cookie"))
    assert 'data-theme="auto"' in client.get("/").get_data(as_text=True)


def test_a_sign_in_records_its_last_activity_at_most_once_a_minute(app, client, auth, user):
    from datetime import timedelta

    from app.extensions import db
    from app.models import LoginSession

    auth.login()
    with app.app_context():
        row = db.session.scalar(db.select(LoginSession).filter_by(user_id=user.id))
        row.last_seen_at = row.last_seen_at - timedelta(minutes=5)
        db.session.commit()
        stale = row.last_seen_at
    client.get("/")
    fresh = fetch(app, LoginSession, user_id=user.id).last_seen_at
    assert fresh > stale + timedelta(minutes=4)
    client.get("/help")  # within the minute: nothing written
    assert fetch(app, LoginSession, user_id=user.id).last_seen_at == fresh


def test_permissions_follow_a_role_changed_during_the_request(app, user):
    """can() uses the permissions read with the user, until the role is loaded or set."""
    from app.extensions import db
    from app.models import LoginSession, Permission, Role, User, load_user

    with app.test_request_context():
        token = LoginSession.open(db.session.get(User, user.id))
        db.session.commit()
        db.session.expunge_all()
        signed_in = load_user(token)
        assert signed_in.loaded_permissions == Permission.USE_API
        assert not signed_in.is_admin and signed_in.role_name == "User"
        assert "role" not in signed_in.__dict__  # no query for it
        signed_in.role = db.session.scalar(db.select(Role).filter_by(name="Administrator"))
        assert signed_in.is_admin and signed_in.role_name == "Administrator"
        db.session.commit()  # expires the role: it is read again, not taken from the login
        assert signed_in.is_admin and signed_in.role_name == "Administrator"


def test_the_short_login_address_carries_next_and_nothing_else(client):
    """Issue 28, 4: ?_scheme=http (or _external, _anchor) reached url_for itself."""
    response = client.get("/login?next=/history&_scheme=javascript&_external=1&_anchor=x")
    assert response.status_code == 301
    assert response.headers["Location"] == "/auth/login?next=/history"
    assert client.get("/login").headers["Location"] == "/auth/login"
