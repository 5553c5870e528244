"""A person deletes their own account (issue 26, 8): password confirmed, every file and row
of theirs gone, their sessions and tokens with it, an audit event, the admins told; the last
active admin cannot."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, AuditEvent, Conversion, LoginSession, User

from .api_helpers import Api, make_token
from .conftest import PASSWORD, fetch
from .forms import submit
from .sheets.books import write_xlsx
from .test_convert import stored_files, upload, wait_for


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_deleting_my_account_takes_everything_of_mine(
    app, client, auth, user, admin, tmp_path, outbox
):
    auth.login()
    book = write_xlsx(tmp_path / "mine.xlsx", {"S": [["a"], [1]]})
    public_id = upload(client, book, quick=True).headers["Location"].rsplit("/", 1)[1]
    assert wait_for(app, public_id).status == "done"
    secret = make_token(app, email="ada@example.com")
    assert stored_files(app)

    page = client.get("/auth/delete-account")
    assert page.status_code == 200 and b"for good" in page.data
    response = submit(client, "/auth/delete-account", {"password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Your account and all your files were deleted." in client.get("/").get_data(as_text=True)

    assert fetch(app, User, email="ada@example.com") is None
    assert count(app, Conversion) == 0 and stored_files(app) == []
    assert fetch(app, ApiToken) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0
    event = fetch(app, AuditEvent, action="account_delete")
    assert event.target == "ada@example.com" and event.actor_email == "ada@example.com"
    (notice,) = [m for m in outbox if "Account deleted" in m.subject]
    assert notice.recipients == [app.config["ADMIN_EMAIL"]] and "ada@example.com" in notice.body
    # Signed out, and the token is dead.
    assert client.get("/profile").status_code == 302
    assert Api(client, secret).get("/api/v1/conversions").status_code == 401
    assert auth.login().status_code == 200  # no such account any more


def test_a_wrong_password_deletes_nothing(app, client, auth, user):
    auth.login()
    response = submit(client, "/auth/delete-account", {"password": "not my password"})
    assert response.status_code == 200
    assert "That is not your password." in response.get_data(as_text=True)
    assert fetch(app, User, email="ada@example.com") is not None
    assert fetch(app, AuditEvent, action="account_delete") is None


def test_an_empty_password_is_asked_for(app, client, auth, user):
    auth.login()
    response = submit(client, "/auth/delete-account", {"password": ""})
    assert response.status_code == 200 and 'aria-invalid="true"' in response.get_data(as_text=True)
    assert fetch(app, User, email="ada@example.com") is not None


def test_the_last_admin_cannot_delete_their_account(app, client, auth, admin):
    auth.login(email="root@example.com")
    response = submit(client, "/auth/delete-account", {"password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert "You are the last active admin" in client.get("/profile").get_data(as_text=True)
    assert fetch(app, User, email="root@example.com") is not None


def test_an_admin_with_another_admin_can(app, client, auth, admin, make_user):
    make_user(email="second@example.com", admin=True)
    auth.login(email="root@example.com")
    response = submit(client, "/auth/delete-account", {"password": PASSWORD})
    assert response.status_code == 302
    assert fetch(app, User, email="root@example.com") is None


def test_deleting_needs_a_login_and_a_token(app, client, auth, user):
    response = client.get("/auth/delete-account")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    auth.login()
    refused = client.post("/auth/delete-account", data={"password": PASSWORD}, csrf=False)
    assert refused.status_code == 400
    assert fetch(app, User, email="ada@example.com") is not None


def test_an_unconfirmed_account_can_delete_itself(app, client, auth, make_user):
    make_user(email="new@example.com", confirmed=False)
    auth.login(email="new@example.com")
    assert client.get("/auth/delete-account").status_code == 200
    response = submit(client, "/auth/delete-account", {"password": PASSWORD})
    assert response.status_code == 302
    assert fetch(app, User, email="new@example.com") is None


def test_the_profile_links_to_it(client, auth, user):
    auth.login()
    assert b'href="/auth/delete-account"' in client.get("/profile").data
