import os
import re
import threading

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.pool import NullPool

from app import create_app, periodic
from app.extensions import db as _db
from app.extensions import limiter, mail
from app.models import Role, User
from app.reports import STORAGE_USED
from tests.client import TokenClient
from tests.sheets.books import PUBLIC

# Set (by `make test` in CI) to run the whole suite a second time on a real PostgreSQL server.
TEST_DATABASE_URL = os.environ.get("SHEETPORT_TEST_DATABASE_URL")


def pytest_collection_modifyitems(config, items):
    # Tests of PostgreSQL itself run in the PostgreSQL pass; without a server they are left
    # out (deselected), not skipped: CI runs them, and a skip there would hide a failure.
    if TEST_DATABASE_URL:
        return
    left_out = [item for item in items if item.get_closest_marker("postgresql_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def pytest_configure(config):
    # Other projects' workbooks are never committed; a run without them is no run.
    if not PUBLIC.is_dir():
        raise pytest.UsageError(
            f"{PUBLIC} is missing: the shared fixtures must sit beside the checkout"
            " (../shared/fixtures, see its README)"
        )


def build_app(tmp_path, **overrides):
    settings = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite'}",
    }
    settings.update(overrides)
    if TEST_DATABASE_URL:
        settings["SQLALCHEMY_DATABASE_URI"] = TEST_DATABASE_URL
        # No pool: a connection closes when its session ends, whatever the test does.
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": NullPool}
        if not TEST_STATE["database_emptied"]:  # a second app in a test is another process
            empty_database(TEST_DATABASE_URL)
            TEST_STATE["database_emptied"] = True
    app = create_app("testing", settings)
    app.test_client_class = TokenClient
    return app


TEST_STATE = {"database_emptied": False}


@pytest.fixture(autouse=True)
def one_database_per_test():
    TEST_STATE["database_emptied"] = False
    # The limiter outlives apps: a test that found its Redis down leaves it counting in
    # memory for the next test's app, as a process would (app/extensions.py).
    limiter._storage_dead = False


def empty_database(url):
    """Every test starts from an empty PostgreSQL schema, as it would from a new SQLite file."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET lock_timeout = '10s'"))  # a test that left a lock fails
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def app_settings():
    """Override in a test module (or parametrize) to change the app's config."""
    return {}


@pytest.fixture
def app(tmp_path, monkeypatch, app_settings):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path / "instance"))
    app = build_app(tmp_path, **app_settings)
    # No app context stays pushed during a test: requests would share it (and its
    # `g`, where Flask-Login caches the user). Tests use `with app.app_context()`.
    with app.app_context():
        _db.create_all()
        Role.insert_roles()
    STORAGE_USED.clear()  # a figure measured for another test's bucket of the same name
    yield app
    # A test that started the periodic work stops it with the app (a round under way ends).
    periodic.stop_periodic_timer(app)
    drain_jobs(app)
    with app.app_context():
        _db.engine.dispose()


def drain_jobs(app, seconds=60):
    """Let the test's in-process jobs end before the next test empties the database: a job
    still writing while PostgreSQL drops the schema deadlocks (seen after a one-shot API
    call that answered 202 and left its job running)."""
    executor = getattr(app.extensions.get("sheetport_jobs"), "executor", None)
    if executor is not None:
        stopping = threading.Thread(
            target=executor.shutdown, kwargs={"wait": True, "cancel_futures": True}
        )
        stopping.start()
        stopping.join(seconds)


@pytest.fixture
def db(app):
    """The SQLAlchemy extension; use it inside `with app.app_context():`."""
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def outbox(app):
    with mail.record_messages() as messages:
        yield messages


PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(app):
    def make(email="ada@example.com", password=PASSWORD, name="Ada Lovelace", **fields):
        admin = fields.pop("admin", False)
        fields.setdefault("confirmed", True)
        with app.app_context():
            role = Role.admin_role() if admin else Role.default_role()
            user = User(email=email, name=name, role=role, **fields)
            user.set_password(password)
            _db.session.add(user)
            _db.session.commit()
            return detached(user)

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def admin(make_user):
    return make_user(email="root@example.com", name="Root Admin", admin=True)


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, email="ada@example.com", password=PASSWORD, remember=False, **kwargs):
        data = {"email": email, "password": password}
        if remember:
            data["remember_me"] = "y"
        return self.client.post("/auth/login", data=data, **kwargs)

    def logout(self):
        return self.client.post("/auth/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def link_in(message, path_prefix):
    """The first link in an email's text body whose path starts with path_prefix."""
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}\S+)", message.body)
    assert match, f"no {path_prefix} link in:\n{message.body}"
    return match.group(1)


def detached(obj):
    """Load every column and let go of the session, so the object can be read anywhere."""
    _db.session.refresh(obj)
    _db.session.expunge(obj)
    return obj


def fetch(app, model, **filters):
    """The one row of `model` matching `filters`, read fresh from the database (or None)."""
    with app.app_context():
        obj = _db.session.scalar(select(model).filter_by(**filters))
        if obj is None:
            return None
        try:
            return detached(obj)
        except InvalidRequestError:  # deleted between the two reads (a job, the cleanup)
            return None
