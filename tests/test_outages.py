"""The bucket or Redis cannot be reached during a request: a 503 that says so ("try again
shortly"), problem+json under /api/, a line in the log, never a 500, and nothing
half-written: no row, no object, no local file left by the request that failed.

Real parts: moto's S3 server (tests/scale.py) and then a closed port on loopback in its
place; for the queue, a closed port where Redis would be."""

import logging
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app import jobs, periodic
from app.extensions import db
from app.models import Conversion, ConversionResult, Role, User
from config import SettingError

from .api_helpers import Api, make_token
from .conftest import PASSWORD, AuthActions, build_app, fetch
from .scale import free_port, new_bucket, objects_in, s3_server
from .sheets.books import write_xlsx
from .test_convert import FORM, WORKBOOK, public_id_of, upload, wait_for

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def s3_endpoint():
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", WORKBOOK)


def closed_address():
    """An address on loopback where nothing listens (connections are refused at once)."""
    return f"127.0.0.1:{free_port()}"


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Conversion)),
            db.session.scalar(select(func.count()).select_from(ConversionResult)),
        )


def local_files(app):
    folder = app.config["UPLOAD_FOLDER"]
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def assert_unavailable(response, part):
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.headers["Retry-After"] == "30"
    text = response.get_data(as_text=True)
    assert f"{part} is unavailable just now" in text and "try again shortly" in text
    assert "Traceback" not in text and "Errno" not in text and "botocore" not in text
    if response.mimetype == "text/html":
        assert "Unavailable for a moment" in text
    return text


def assert_problem_unavailable(response, part):
    assert response.status_code == 503 and response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == 503 and f"{part} is unavailable just now" in body["detail"]
    return body


# --- the bucket -----------------------------------------------------------------------------


@pytest.fixture
def bucket(s3_endpoint):
    return new_bucket(s3_endpoint)


@pytest.fixture
def app_settings(request):
    if "bucket" in request.fixturenames:
        settings, _, _ = request.getfixturevalue("bucket")
        return {**settings, "S3_MAX_ATTEMPTS": 2}
    return {"QUEUE_URL": f"redis://{closed_address()}/0", "QUEUE_NAME": "nowhere"}


def lose_the_bucket(app):
    """From now on this app's storage points at a closed port (a new client is made)."""
    app.config["S3_ENDPOINT_URL"] = f"http://{closed_address()}"
    app.extensions.pop("sheetport_storage", None)


def test_the_bucket_unreachable_answers_503_and_changes_nothing(
    app, client, user, bucket, workbook, caplog
):
    _, s3, name = bucket
    AuthActions(client).login()
    done_id = public_id_of(upload(client, workbook, quick=True))
    assert wait_for(app, done_id).status == "done"
    kept_id = public_id_of(upload(client, workbook))  # the preview of "Data" only is cached
    objects, rows = objects_in(s3, name), counts(app)
    assert len(objects) == 3 and rows == (2, 1)
    api = Api(client, make_token(app))
    lose_the_bucket(app)

    with caplog.at_level(logging.ERROR):
        assert_unavailable(upload(client, workbook), "file storage")
        assert_unavailable(upload(client, workbook, quick=True), "file storage")
        with client.get(f"/convert/{done_id}/download") as download:
            assert_unavailable(download, "file storage")
        assert_unavailable(client.get(f"/convert/{kept_id}?sheet=Other"), "file storage")
        assert_unavailable(client.post(f"/convert/{done_id}/delete"), "file storage")
        # The same through the API: problem documents.
        content = workbook.read_bytes()
        assert_problem_unavailable(api.upload("/api/v1/conversions", content), "file storage")
        assert_problem_unavailable(api.upload("/api/v1/convert", content), "file storage")
        assert_problem_unavailable(api.get(f"/api/v1/conversions/{done_id}/result"), "file storage")
        assert_problem_unavailable(api.delete(f"/api/v1/conversions/{done_id}"), "file storage")
    assert "Storage unavailable: POST /convert answered 503 (EndpointConnectionError" in caplog.text
    assert f"Storage unavailable: GET /convert/{done_id}/download answered 503" in caplog.text
    assert "Storage unavailable: POST /api/v1/conversions answered 503" in caplog.text
    # Nothing half-written: the same rows and objects, no local leftovers.
    assert counts(app) == rows and objects_in(s3, name) == objects
    assert local_files(app) == []
    assert fetch(app, Conversion, public_id=done_id).status == "done"

    # Converting needs no bucket in the request; the job that cannot read it fails with a
    # message the user can act on, and leaves no result row or file behind.
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        response = client.post(f"/convert/{kept_id}", data={**FORM, "sheets": ["Data"]})
        assert response.status_code == 302
        failed = wait_for(app, kept_id)
    kept = fetch(app, Conversion, public_id=kept_id)
    assert (
        f"Conversion {kept.id}: the file storage is unavailable (EndpointConnectionError)"
        in caplog.text
    )
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert failed.status == "failed" and "storage was unavailable" in failed.error
    assert counts(app) == rows and objects_in(s3, name) == objects
    assert local_files(app) == []

    # Back again: everything works as before.
    app.config["S3_ENDPOINT_URL"] = bucket[0]["S3_ENDPOINT_URL"]
    app.extensions.pop("sheetport_storage", None)
    with client.get(f"/convert/{done_id}/download") as download:
        assert download.status_code == 200 and download.get_data().startswith(b"id,name,code")
    assert client.post(f"/convert/{done_id}/delete").status_code == 302
    assert len(objects_in(s3, name)) == 1  # the other upload's


def test_best_effort_deletes_without_the_bucket_log_one_line(app, bucket, caplog):
    """A file that cannot be deleted now (the sweep will) is an outage to note in one line,
    not a traceback in the log; the database failing under a discarded result is the same."""
    lose_the_bucket(app)
    name = "0123456789abcdef0123456789abcdef.csv"
    with app.app_context(), caplog.at_level(logging.WARNING):
        jobs.forget_file(app, name)  # an upload nobody will record, or a discarded result
        db.session.execute(text("DROP TABLE conversion_results"))
        jobs.discard_result(1, Path(app.config["UPLOAD_FOLDER"]) / name)
    messages = [record.getMessage() for record in caplog.records]
    expected = (
        f"Could not delete {name} now (the file storage is unavailable "
        "(EndpointConnectionError)); the sweep will"
    )
    assert messages[:2] == [expected, expected]
    assert messages[2].startswith("Could not delete the row of result 1 now (")
    assert messages[2].endswith("; the sweep will") and len(messages) == 3
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_an_upload_folder_that_cannot_be_written_answers_503(tmp_path, workbook, caplog):
    """Its permissions, a read-only disk or (here, as root can provoke it) a file where the
    folder should be: the storage is unavailable, said as such, never a 500."""
    (tmp_path / "not-a-folder").write_text("")
    app = build_app(tmp_path, UPLOAD_FOLDER=str(tmp_path / "not-a-folder" / "files"))
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does
    with app.app_context():
        db.create_all()
        Role.insert_roles()
        ada = User(email="ada@example.com", name="Ada", role=Role.default_role(), confirmed=True)
        ada.set_password(PASSWORD)
        db.session.add(ada)
        db.session.commit()
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        assert_unavailable(upload(client, workbook), "file storage")
        assert_unavailable(upload(client, workbook, quick=True), "file storage")
        api = Api(client, make_token(app))
        assert_problem_unavailable(
            api.upload("/api/v1/conversions", workbook.read_bytes()), "file storage"
        )
    assert "Storage unavailable: POST /convert answered 503 (NotADirectoryError" in caplog.text
    assert "Traceback" not in caplog.text and counts(app) == (0, 0)


def test_the_database_unreachable_answers_503_not_500(app, client, user, caplog):
    """PostgreSQL down (here: a closed port in the database's place, after signing in): every
    page and the API say the database is unavailable, with a log line each, never a 500."""
    AuthActions(client).login()
    api = Api(client, make_token(app))
    port = free_port()
    app.config["SETTINGS_CACHE_SECONDS"] = 0  # the settings are read from the database too
    with app.app_context():
        db.engine.dispose()
    database = f"postgresql+psycopg://sheetport:hunter2@127.0.0.1:{port}/sheetport"
    app.extensions["sqlalchemy"]._app_engines[app][None] = create_engine(database)
    with caplog.at_level(logging.ERROR):
        for path in ("/", "/history", "/profile", "/convert"):
            text = assert_unavailable(client.get(path), "database")
            assert "hunter2" not in text
        assert_unavailable(AuthActions(app.test_client()).login(), "database")
        assert_problem_unavailable(api.get("/api/v1/me"), "database")
    assert "Database unavailable: GET /history answered 503 (OperationalError" in caplog.text
    assert "Traceback" not in caplog.text and "hunter2" not in caplog.text


@pytest.mark.sqlite_only  # PostgreSQL calls a mistake in SQL a ProgrammingError, not this
def test_a_mistake_in_sql_is_a_bug_with_its_traceback_not_an_outage(app, client, caplog):
    """SQLite reports a syntax error as an OperationalError, as it does a locked file: the
    first is a 500 whose traceback is logged, the second a 503."""
    from app.exceptions import is_outage

    @app.get("/broken-query")
    def broken_query():
        db.session.execute(text("SELEC 1"))

    with caplog.at_level(logging.ERROR):
        response = client.get("/broken-query")
    assert response.status_code == 500 and "unavailable" not in response.get_data(as_text=True)
    assert "Traceback" in caplog.text and "SELEC" in caplog.text
    with app.app_context():
        try:
            db.session.execute(text("SELEC 1"))
        except Exception as error:
            assert not is_outage(error)


def test_the_admin_dashboard_without_the_bucket_still_shows(app, client, admin, bucket, caplog):
    """The page an admin opens to see what is wrong must not be what breaks: the storage
    figure says it is unavailable, the rest is there."""
    AuthActions(client).login(email="root@example.com")
    lose_the_bucket(app)
    with caplog.at_level(logging.ERROR):
        response = client.get("/admin/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Unread messages" in page
    assert "unavailable just now" in page
    assert "Storage unavailable: the admin dashboard could not measure it" in caplog.text


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_unreachable_answers_503_and_starts_nothing(app, client, user, workbook, caplog):
    AuthActions(client).login()
    with caplog.at_level(logging.ERROR):
        assert_unavailable(upload(client, workbook, quick=True), "job queue")
    assert counts(app) == (0, 0) and local_files(app) == []  # the fresh upload went too
    assert "Queue unavailable: POST /convert answered 503 (ConnectionError" in caplog.text

    public_id = public_id_of(upload(client, workbook))  # an upload needs no queue
    before = fetch(app, Conversion, public_id=public_id)
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    assert_unavailable(response, "job queue")
    after = fetch(app, Conversion, public_id=public_id)
    assert (after.status, after.options, after.runner, after.lease_expires_at) == (
        "uploaded",
        {},
        None,
        None,
    )
    assert local_files(app) == [before.stored_name]
    page = client.get(f"/convert/{public_id}")
    assert page.status_code == 200  # looking at it needs no queue either

    # A re-convert of a finished one puts it back as it was.
    with app.app_context():
        conversion = db.session.get(Conversion, before.id)
        conversion.status, conversion.options = "failed", {"format": "csv", "sheets": ["Data"]}
        conversion.error = "An earlier failure."
        db.session.commit()
    api = Api(client, make_token(app))
    response = api.post(f"/api/v1/conversions/{public_id}/convert", json={"sheet": ["Data"]})
    assert_problem_unavailable(response, "job queue")
    after = fetch(app, Conversion, public_id=public_id)
    assert (after.status, after.error, after.options["sheets"]) == (
        "failed",
        "An earlier failure.",
        ["Data"],
    )

    content = workbook.read_bytes()
    assert_problem_unavailable(api.upload("/api/v1/convert", content), "job queue")
    assert_problem_unavailable(api.upload("/api/v1/conversions", content), "job queue")
    created = api.upload("/api/v1/conversions", content, query="?start=false")
    assert created.status_code == 201  # nothing to enqueue
    assert counts(app) == (2, 0)
    assert len(local_files(app)) == 2


def test_flask_worker_without_its_redis_says_so(app, runner):
    address = closed_address()
    app.config["QUEUE_URL"] = f"redis://:hunter2@{address}/0"  # the password is not shown
    app.extensions["sheetport_jobs"] = jobs.make_runner(app)
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        "Error: The worker cannot start: the job queue is unavailable (ConnectionError) at "
        f"redis://:***@{address}/0. Start Redis there, or correct QUEUE_URL."
    )


def test_a_queue_url_that_is_not_a_redis_address_is_refused_at_start(tmp_path):
    with pytest.raises(SettingError, match="QUEUE_URL is not a Redis address"):
        build_app(tmp_path, QUEUE_URL="localhost:6379")


# --- the rate-limit counters ----------------------------------------------------------------


def test_rate_limits_without_their_redis_count_in_memory_meanwhile(tmp_path, caplog):
    app = build_app(
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=f"redis://{closed_address()}/0",
        LOGIN_LIMIT_PER_ACCOUNT="3 per minute",
    )
    with app.app_context():
        db.create_all()
        Role.insert_roles()
    client = app.test_client()
    wrong = {"email": "ada@example.com", "password": "not the password"}
    with caplog.at_level(logging.WARNING):
        answers = [client.post("/auth/login", data=wrong).status_code for _ in range(4)]
    assert answers[:3] == [200, 200, 200] and answers[3] == 429  # still limited, never a 500
    assert "Rate limit storage unreachable - falling back to in-memory storage" in caplog.text


def test_cleanup_without_the_bucket_says_so_and_deletes_nothing(
    app, client, runner, bucket, workbook
):
    _, s3, name = bucket
    public_ids = [public_id_of(upload(client, workbook)) for _ in range(2)]
    with app.app_context():
        for conversion in db.session.scalars(select(Conversion)):
            conversion.expires_at = conversion.created_at - timedelta(minutes=1)
        db.session.commit()
    objects = objects_in(s3, name)
    lose_the_bucket(app)
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 1 and "file storage is unavailable" in result.output
    assert "Cleanup stopped: the file storage is unavailable (EndpointConnectionError)" in (
        result.output
    )
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert counts(app) == (2, 0) and objects_in(s3, name) == objects
    app.config["S3_ENDPOINT_URL"] = bucket[0]["S3_ENDPOINT_URL"]
    app.extensions.pop("sheetport_storage", None)
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0 and "Deleted 2 expired conversions" in result.output
    assert counts(app) == (0, 0) and objects_in(s3, name) == []
    assert all(fetch(app, Conversion, public_id=p) is None for p in public_ids)


def test_every_other_cleanup_path_without_the_bucket_logs_a_line_and_leaves_rows_whole(
    app, client, bucket, workbook, user, admin, caplog
):
    """The periodic cleanup, an admin deleting a user, a visitor ending their session: each
    says the storage is unavailable (a line in the log, a 503 page), and no row loses a file."""
    _, s3, name = bucket
    visitor = app.test_client()
    visitor_id = public_id_of(upload(visitor, workbook))
    AuthActions(client).login()
    owned = [public_id_of(upload(client, workbook)) for _ in range(2)]
    with app.app_context():
        for conversion in db.session.scalars(select(Conversion)):
            conversion.expires_at = conversion.created_at - timedelta(minutes=1)
        db.session.commit()
    objects, rows = objects_in(s3, name), counts(app)
    assert len(objects) == 3 and rows == (3, 0)
    lose_the_bucket(app)

    with caplog.at_level(logging.INFO):
        periodic.run_round(app, threading.Event())
    lines = [r for r in caplog.records if r.getMessage().startswith("Periodic task")]
    assert [r.getMessage() for r in lines] == [
        "Periodic task cleanup stopped: the file storage is unavailable "
        "(EndpointConnectionError); the next tick tries again"
    ]
    assert not lines[0].exc_info and "Traceback" not in caplog.text
    assert counts(app) == rows and objects_in(s3, name) == objects

    assert_unavailable(visitor.post("/history/end-session"), "file storage")
    AuthActions(client).logout()
    AuthActions(client).login(email="root@example.com")
    assert_unavailable(client.post(f"/admin/users/{user.id}/delete"), "file storage")
    assert counts(app) == rows and objects_in(s3, name) == objects
    assert fetch(app, User, id=user.id) is not None
    assert all(fetch(app, Conversion, public_id=p) for p in [visitor_id, *owned])


def test_a_server_database_connection_is_pinged_before_use_and_sqlite_is_not(tmp_path):
    """PostgreSQL may have dropped a pooled connection (a restart): it is tested before use.
    A SQLite connection is an open file; a test would be one more query on every request."""
    from app import create_app

    for url, pinged in (
        (f"sqlite:///{tmp_path / 'a.sqlite'}", False),
        ("postgresql+psycopg://sheetport@db.invalid/sheetport", True),
    ):
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            assert db.engine.pool._pre_ping is pinged  # (no connection is made here)
