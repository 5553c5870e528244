"""flask setup and flask create-admin."""

import re

from app.models import Permission, User

from .conftest import AuthActions, fetch


def test_setup_creates_first_admin_once(app, runner):
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 0
    email, password = re.search(r"email:\s+(\S+)\s+password:\s+(\S+)", result.output).groups()
    assert email == app.config["ADMIN_EMAIL"]
    admin = fetch(app, User, email=email)
    assert admin.confirmed and admin.active
    client = app.test_client()
    assert AuthActions(client).login(email, password).status_code == 302
    assert client.get("/admin/").status_code == 200
    again = runner.invoke(args=["setup"])
    assert again.exit_code == 0 and "password" not in again.output


def test_create_admin_from_stdin(app, runner):
    result = runner.invoke(
        args=["create-admin", "Boss@Example.com", "--password-stdin"], input="s3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created admin account boss@example.com" in result.output
    assert (
        AuthActions(app.test_client()).login("boss@example.com", "s3cret-pass").status_code == 302
    )


def test_create_admin_prompts_for_password(app, runner):
    result = runner.invoke(
        args=["create-admin", "boss@example.com"], input="pw-long-1\npw-long-1\n"
    )
    assert result.exit_code == 0, result.output
    assert fetch(app, User, email="boss@example.com") is not None


def test_create_admin_promotes_existing_user(app, runner, user):
    result = runner.invoke(
        args=["create-admin", "ada@example.com", "--password-stdin"], input="another-pass\n"
    )
    assert "Updated admin account" in result.output
    with app.app_context():
        from app.extensions import db

        assert db.session.get(User, user.id).can(Permission.ADMIN)


def test_create_admin_refuses_bad_input(app, runner):
    bad_email = runner.invoke(
        args=["create-admin", "not-an-email", "--password-stdin"], input="x" * 10
    )
    assert bad_email.exit_code == 2 and "EMAIL" in bad_email.output
    short = runner.invoke(
        args=["create-admin", "boss@example.com", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    assert fetch(app, User, email="boss@example.com") is None
