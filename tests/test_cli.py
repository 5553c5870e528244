"""flask setup and flask create-admin."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from app import create_app
from app.models import Permission, User

from .conftest import AuthActions, fetch
from .scale import free_port

PROJECT = Path(__file__).resolve().parent.parent


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


# A command that cannot work for its setting up says so in one line (exit 1), never a traceback.

COMMANDS = [
    (["cleanup"], None),
    (["send-mail"], None),
    (["setup"], None),
    (["create-admin", "boss@example.com", "--password-stdin"], "a long password\n"),
]


@pytest.mark.parametrize(("args", "stdin"), COMMANDS)
def test_commands_on_a_database_without_tables_say_run_db_upgrade(tmp_path, args, stdin):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'new.db'}"})
    result = app.test_cli_runner().invoke(args=args, input=stdin)
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        f"Error: The database at sqlite:///{tmp_path / 'new.db'} is not set up for this "
        "version of Sheetport: run `flask db upgrade`, then try again."
    )
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("args", "stdin"), [*COMMANDS, (["db", "upgrade"], None)])
def test_commands_without_their_database_server_say_so(tmp_path, args, stdin):
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://sheetport:hunter2@127.0.0.1:{port}/sheetport"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    result = app.test_cli_runner().invoke(args=args, input=stdin)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(
        f"Error: Cannot use the database at postgresql+psycopg://sheetport:***@127.0.0.1:{port}"
        "/sheetport: connection failed:"
    ), result.output
    assert len(result.output.strip().splitlines()) == 1 and "hunter2" not in result.output


def test_a_migration_that_fails_keeps_its_traceback(tmp_path):
    """Only a database that cannot be reached is one line: a migration that fails midway
    (here a table that is there already) must show which statement failed, not advice to
    run the command that just failed."""
    import sqlite3

    database = tmp_path / "half.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE roles (id INTEGER PRIMARY KEY)")
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1
    assert isinstance(result.exception, OperationalError), result.output
    assert "already exists" in str(result.exception) and "flask db upgrade" not in result.output


def flask_command(tmp_path, *args, **env):
    return subprocess.run(
        [str(Path(sys.executable).parent / "flask"), *args],
        cwd=PROJECT,
        env={
            **os.environ,
            "FLASK_APP": "wsgi.py",
            "FLASK_CONFIG": "development",
            "SHEETPORT_INSTANCE_PATH": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLASK_CONFIG": "production", "SECRET_KEY": ""}, "Error: SECRET_KEY is not set."),
        ({"QUEUE_URL": "localhost:6379"}, "Error: QUEUE_URL is not a Redis address"),
        ({"STORAGE_URL": "my-bucket"}, "Error: STORAGE_URL is not an s3://bucket/prefix"),
        (
            {"CLEANUP_INTERVAL_MINUTES": "ten", "RETENTION_HOURS": "1.5"},
            "Error: RETENTION_HOURS must be a whole number, not '1.5'. "
            "CLEANUP_INTERVAL_MINUTES must be a whole number, not 'ten'.",
        ),
        (
            {"LOG_LEVEL": "verbose"},
            "Error: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'VERBOSE'.",
        ),
    ],
)
def test_the_flask_command_refuses_bad_settings_in_one_line(tmp_path, env, message):
    done = flask_command(tmp_path, "cleanup", **env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(message) and "Traceback" not in done.stderr, done.stderr
