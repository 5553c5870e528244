"""Jobs under faults: leases instead of process ids, a database that refuses writes, a killed
child, a killed worker, and files that always have an owner."""

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import conversions, jobs, periodic
from app.extensions import db
from app.jobs import body
from app.models import Conversion, ConversionResult, utcnow

from .api_helpers import Api, make_token
from .conftest import AuthActions, fetch
from .sheets.books import write_xlsx
from .test_convert import FORM, WORKBOOK, public_id_of, stored_files, wait_for
from .test_convert import upload as post_upload

PROJECT = Path(__file__).resolve().parent.parent
FAST_FAILING_DB = {
    # A locked database answers "database is locked" after 1 s instead of 5 s.
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "connect_args": {"timeout": 1}},
}


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", WORKBOOK)


def upload(client, path, **kwargs):
    response = post_upload(client, path, **kwargs)
    # The test client spools a large body to a temporary file it never closes.
    response.request.environ["wsgi.input"].close()
    return response


def big_csv(tmp_path, rows=150_000, name="big.csv"):
    """A CSV whose conversion to XLSX takes a few seconds: time to hurt the job mid-way."""
    path = tmp_path / name
    path.write_text("".join(f"{i},name {i},{i * 1.5}\n" for i in range(rows)))
    return path


def start_xlsx(client, path):
    public_id = public_id_of(upload(client, path))
    data = {**FORM, "output_format": "xlsx", "sheets": [path.stem]}
    assert client.post(f"/convert/{public_id}", data=data).status_code == 302
    return public_id


def wait_until(condition, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def running_with_progress(app, public_id):
    conversion = fetch(app, Conversion, public_id=public_id)
    return conversion.status == "running" and conversion.progress_done > 0


@contextmanager
def locked_database(app):
    """Hold an exclusive lock on the SQLite file from another connection, as another
    process would: every read and write of the app fails with "database is locked"."""
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def failed_page_once_the_lease_lapses(client, public_id):
    def failed_page():
        page = client.get(f"/convert/{public_id}").get_data(as_text=True)
        return page if "The conversion failed." in page else None

    return wait_until(failed_page, timeout=15, what="the lease to lapse")


def children_of(pid):
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    return [int(child) for child in children]


def engine_children(app):
    """The child processes the app's conversion threads started (this process may have
    others, started by other tests)."""
    children = []
    for thread in app.extensions["sheetport_jobs"].executor._threads:
        children += Path(f"/proc/self/task/{thread.native_id}/children").read_text().split()
    return [int(child) for child in children]


def is_gone(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def results_of(app, conversion_id):
    with app.app_context():
        return db.session.scalars(
            db.select(ConversionResult).filter_by(conversion_id=conversion_id)
        ).all()


# Leases


def test_a_running_job_renews_its_lease_and_is_not_reclaimed(app, client, tmp_path):
    app.config["JOB_LEASE_SECONDS"] = 2
    public_id = start_xlsx(client, big_csv(tmp_path))
    wait_until(lambda: running_with_progress(app, public_id), what="progress")
    leases = set()
    while (conversion := fetch(app, Conversion, public_id=public_id)).status == "running":
        with app.app_context():
            assert jobs.reclaim_expired() == 0  # every process checks; none takes a live job
        leases.add(conversion.lease_expires_at)
        time.sleep(0.2)
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    assert len(leases) >= 2 and conversion.lease_expires_at is None  # renewed at least once


def test_a_queued_job_whose_runner_died_is_queued_again_and_done(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.options = {"format": "csv", "sheets": ["Data"], "name_stem": "report"}
        conversion.status = "queued"
        conversion.runner = "1" * 32  # queued in a process that died before it started
        conversion.lease_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert jobs.reclaim_expired() == 1
    conversion = wait_for(app, public_id)
    assert conversion.status == "done" and conversion.runner != "1" * 32


def test_owner_can_delete_or_retry_a_job_whose_runner_died(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status = "running"
        conversion.runner = None  # a row from before leases: no lease at all
        db.session.commit()
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    assert response.status_code == 302  # not "already being converted": it can be retried
    assert wait_for(app, public_id).status == "done"
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status = "running"
        conversion.lease_expires_at = utcnow() - timedelta(seconds=5)
        db.session.commit()
    response = client.post(f"/convert/{public_id}/delete", follow_redirects=True)
    assert b"and its files" in response.data
    assert fetch(app, Conversion, public_id=public_id) is None and stored_files(app) == []


def test_looking_at_a_job_whose_runner_died_shows_it_interrupted_and_writes_nothing(
    app, client, user, workbook
):
    """Reads never commit: the page, the status poll and the API show a job whose lease
    lapsed as interrupted at once, with nothing written; converting it again reclaims it
    first (its dead run's unfinished result goes), as the periodic tick would."""
    AuthActions(client).login()
    public_id = public_id_of(upload(client, workbook))
    unfinished = "0" * 32
    (Path(app.config["UPLOAD_FOLDER"]) / unfinished).write_bytes(b"half a result")
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status, conversion.runner = "running", "5" * 32  # its runner is gone
        conversion.lease_expires_at = utcnow() - timedelta(seconds=1)
        db.session.add(
            ConversionResult(
                conversion_id=conversion.id, stored_name=unfinished, output_format="csv"
            )
        )
        db.session.commit()
        engine = db.engine
    writes = []

    def record_writes(connection, cursor, statement, *args):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    api = Api(client, make_token(app))
    event.listen(engine, "before_cursor_execute", record_writes)
    try:
        page = client.get(f"/convert/{public_id}").get_data(as_text=True)
        status = client.get(f"/convert/{public_id}/status").json
        described = api.get(f"/api/v1/conversions/{public_id}").get_json()
        history = client.get("/history").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", record_writes)
    assert "The conversion failed." in page and "the server running it stopped" in page
    assert (status["status"], status["error"]) == ("failed", jobs.INTERRUPTED)
    assert (described["status"], described["error"]) == ("failed", jobs.INTERRUPTED)
    assert 'text-bg-danger">failed</span>' in history  # History agrees with the page
    assert [statement for statement in writes if "conversion" in statement] == []
    stored = fetch(app, Conversion, public_id=public_id)
    assert (stored.status, stored.runner) == ("running", "5" * 32)  # the row as it was
    assert len(results_of(app, stored.id)) == 1

    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    assert response.status_code == 302  # not "already being converted"
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    assert unfinished not in stored_files(app)
    assert [result.stored_name for result in results_of(app, conversion.id)] == [
        conversion.result_stored_name
    ]


def test_cleanup_fails_lapsed_jobs_and_reports_it(app, client, runner, workbook):
    public_id = public_id_of(upload(client, workbook))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status = "running"
        conversion.runner = "2" * 32
        conversion.lease_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    result = runner.invoke(args=["cleanup"])
    assert "Reclaimed 1 job whose runner died." in result.output
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "failed" and "the server running it stopped" in conversion.error


def test_a_run_that_lost_its_lease_writes_nothing(app, client, tmp_path, caplog):
    public_id = start_xlsx(client, big_csv(tmp_path, rows=60_000))
    wait_until(lambda: running_with_progress(app, public_id), what="progress")
    with app.app_context():  # another process reclaimed it and failed it meanwhile
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status, conversion.error, conversion.runner = "failed", "taken over", None
        conversion.lease_expires_at = None
        db.session.commit()
    with caplog.at_level(logging.INFO):
        wait_until(lambda: "taken over while it ran" in caplog.text, what="the job to stop")
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "failed" and conversion.error == "taken over"
    wait_until(lambda: stored_files(app) == [conversion.stored_name], what="no result file")
    assert results_of(app, conversion.id) == []


def test_a_run_whose_lease_lapsed_before_its_end_does_not_finish_it(
    app, client, workbook, caplog, monkeypatch
):
    """A runner that comes back after its lease lapsed (a paused machine, a long stall) must
    not finish the job: its owner was already told it was interrupted, and that stays true."""
    public_id = public_id_of(upload(client, workbook))
    conversion = fetch(app, Conversion, public_id=public_id)
    original, seen = body.end, []

    def end_after_a_stall(*args, **kwargs):
        db.session.execute(
            db.update(Conversion)
            .where(Conversion.id == conversion.id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        seen.append(client.get(f"/convert/{public_id}/status").json)
        return original(*args, **kwargs)

    monkeypatch.setattr(body, "end", end_after_a_stall)
    with caplog.at_level(logging.INFO), app.test_request_context():
        conversions.start(
            db.session.get(Conversion, conversion.id),
            {"format": "csv", "sheets": ["Data"], "name_stem": "report"},
        ).result(timeout=30)
    assert [(status["status"], status["error"]) for status in seen] == [
        ("failed", jobs.INTERRUPTED)
    ]
    assert "taken over while it ran" in caplog.text
    stored = fetch(app, Conversion, public_id=public_id)
    assert stored.status == "running" and stored.result_stored_name is None  # as it was
    status = client.get(f"/convert/{public_id}/status").json
    assert (status["status"], status["error"]) == ("failed", jobs.INTERRUPTED)  # still
    assert stored_files(app) == [stored.stored_name] and results_of(app, stored.id) == []


# A database that refuses writes


@pytest.mark.sqlite_only  # locks the SQLite file from another connection
@pytest.mark.parametrize("app_settings", [FAST_FAILING_DB])
def test_progress_writes_are_skipped_while_the_database_is_locked(
    app, client, tmp_path, caplog, app_settings
):
    public_id = start_xlsx(client, big_csv(tmp_path))
    wait_until(lambda: running_with_progress(app, public_id), what="progress")
    with caplog.at_level(logging.WARNING), locked_database(app):
        # Well over a progress write's two tries (1 s each, 0.2 s apart), so that one write
        # falls wholly inside the lock even when a busy machine slows the engine down.
        time.sleep(6)
    conversion = wait_for(app, public_id, timeout=60)
    assert conversion.status == "done", conversion.error
    assert f"Conversion {conversion.id}: progress" in caplog.text and "not recorded" in caplog.text


@pytest.mark.sqlite_only  # locks the SQLite file from another connection
@pytest.mark.parametrize("app_settings", [FAST_FAILING_DB])
def test_the_first_write_of_a_job_is_retried(app, client, workbook, caplog, app_settings):
    public_id = public_id_of(upload(client, workbook))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.options = {"format": "csv", "sheets": ["Data"], "name_stem": "report"}
        conversion.status, conversion.runner = "queued", "3" * 32
        conversion.lease_expires_at = utcnow() + timedelta(minutes=1)
        db.session.commit()
        conversion_id = conversion.id
    with caplog.at_level(logging.WARNING):
        with locked_database(app):
            jobs.runner(app).submit(conversion_id, "3" * 32)
            time.sleep(2)  # the job's first write fails, and is tried again
        conversion = wait_for(app, public_id)
    assert conversion.status == "done"
    assert (
        f"Conversion {conversion_id}: starting failed (OperationalError: database is locked); "
        "trying again in" in caplog.text
    )
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # an outage: one line


@pytest.mark.sqlite_only  # locks the SQLite file from another connection
@pytest.mark.parametrize("app_settings", [{**FAST_FAILING_DB, "JOB_LEASE_SECONDS": 1}])
def test_a_final_write_that_never_succeeds_is_logged_and_the_lease_lapses(
    app, client, workbook, caplog, monkeypatch, app_settings
):
    monkeypatch.setattr(body, "STATUS_RETRY_DELAYS", (0.1, 0.1))
    public_id = public_id_of(upload(client, workbook))
    conversion = fetch(app, Conversion, public_id=public_id)
    original = body.end

    def end_while_locked(*args, **kwargs):
        with locked_database(app):
            return original(*args, **kwargs)

    monkeypatch.setattr(body, "end", end_while_locked)  # the database locks up at the end
    with caplog.at_level(logging.WARNING), app.test_request_context():
        conversions.start(
            db.session.get(Conversion, conversion.id),
            {"format": "csv", "sheets": ["Data"], "name_stem": "report"},
        ).result(timeout=30)
    (failed,) = [r for r in caplog.records if "the job failed" in r.getMessage()]
    assert failed.getMessage().startswith(f"Conversion {conversion.id}: the job failed (")
    assert "database is locked" in failed.getMessage() and not failed.exc_info  # one line
    page = failed_page_once_the_lease_lapses(client, public_id)  # nobody renews it now
    assert "the server running it stopped" in page
    with app.app_context():
        assert jobs.reclaim_expired() == 1  # the periodic tick; the page wrote nothing
    assert stored_files(app) == [conversion.stored_name]  # the unrecorded result is gone
    assert results_of(app, conversion.id) == []


def test_an_exception_in_a_queued_job_is_logged_with_its_id(app, client, workbook, caplog):
    public_id = public_id_of(upload(client, workbook))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.options = {"sheets": ["Data"]}  # no format: a bug
        conversion.status, conversion.runner = "queued", "4" * 32
        conversion.lease_expires_at = utcnow() + timedelta(minutes=1)
        db.session.commit()
        conversion_id = conversion.id
    with caplog.at_level(logging.ERROR):
        jobs.runner(app).submit(conversion_id, "4" * 32).result(timeout=30)
    assert f"Conversion {conversion_id}: the job failed (KeyError: 'format')" in caplog.text
    assert "Traceback" in caplog.text  # a bug: its traceback helps


# Files


def test_upload_convert_three_times_delete_leaves_the_folder_empty(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    for output in ("csv", "json", "xlsx"):
        data = {**FORM, "output_format": output, "sheets": ["Data"]}
        assert client.post(f"/convert/{public_id}", data=data).status_code == 302
        assert wait_for(app, public_id).status == "done"
    conversion = fetch(app, Conversion, public_id=public_id)
    results = results_of(app, conversion.id)
    assert len(results) == 3 and all(result.complete for result in results)
    assert len(stored_files(app)) == 4  # the upload and three results, each owned by a row
    assert conversion.result_stored_name == results[-1].stored_name
    client.post(f"/convert/{public_id}/delete")
    assert stored_files(app) == [] and results_of(app, conversion.id) == []


def test_an_upload_is_written_once_into_the_upload_folder(app, client, tmp_path, monkeypatch):
    # Werkzeug would spool a file this size to the system's temporary folder, and the
    # upload would then be copied: with no usable temporary folder, that would fail.
    text = tmp_path / "big.csv"
    text.write_text("a,b\n" + "1,2\n" * 300_000)
    with text.open("rb") as stream:
        boundary, body = encode_multipart({"file": FileStorage(stream, "big.csv")})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    response = client.post(
        "/convert", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    public_id = public_id_of(response)
    conversion = fetch(app, Conversion, public_id=public_id)
    stored = Path(app.config["UPLOAD_FOLDER"]) / conversion.stored_name
    assert stored.stat().st_size == text.stat().st_size and stored.stat().st_nlink == 1
    assert stored_files(app) == [conversion.stored_name]  # the arriving copy is gone


def test_a_refused_upload_leaves_nothing(app, client, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert upload(client, empty).status_code == 400
    assert stored_files(app) == []


def test_killing_the_child_says_so_and_leaves_no_files(app, client, tmp_path, caplog):
    public_id = start_xlsx(client, big_csv(tmp_path, rows=200_000))
    wait_until(lambda: running_with_progress(app, public_id), what="progress")
    folder = Path(app.config["UPLOAD_FOLDER"])
    scratch = wait_until(lambda: list(folder.glob(".work-*")), what="the scratch folder")[0]
    # XlsxWriter's temporary files are in the job's scratch folder, not in /tmp.
    wait_until(lambda: [p for p in scratch.iterdir() if "partial" not in p.name], what="temps")
    (child,) = engine_children(app)
    with caplog.at_level(logging.WARNING):
        os.kill(child, signal.SIGKILL)  # as the kernel's out-of-memory killer would
        conversion = wait_for(app, public_id)
    assert conversion.status == "failed"
    assert "ran out of memory or time" in conversion.error and "damaged" not in conversion.error
    assert "killed by signal 9" in caplog.text
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "ran out of memory or time" in page
    assert stored_files(app) == [conversion.stored_name]
    assert sorted(os.listdir(folder)) == [conversion.stored_name]  # no scratch, no .partial


WORKER = """
import json, sys, time
from app import conversions, create_app
from app.extensions import db
from app.models import Conversion
settings = json.loads(sys.argv[1])
app = create_app("testing", settings)
with app.test_request_context():
    conversion = db.session.get(Conversion, int(sys.argv[2]))
    conversions.start(conversion, json.loads(sys.argv[3]))
print("started", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("app_settings", [{"JOB_LEASE_SECONDS": 1}])
def test_killing_the_worker_fails_the_job_and_leaves_no_files(
    app, client, runner, tmp_path, app_settings
):
    public_id = public_id_of(upload(client, big_csv(tmp_path, rows=200_000)))
    conversion = fetch(app, Conversion, public_id=public_id)
    settings = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"],
        "JOB_LEASE_SECONDS": 1,
    }
    options = {"format": "xlsx", "sheets": ["big"], "name_stem": "big"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            json.dumps(settings),
            str(conversion.id),
            json.dumps(options),
        ],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        env={**os.environ, "SHEETPORT_INSTANCE_PATH": str(tmp_path / "worker")},
    )
    try:
        assert worker.stdout.readline().strip() == b"started"
        wait_until(lambda: running_with_progress(app, public_id), what="progress")
        engine_children = children_of(worker.pid)
        assert engine_children
        worker.kill()  # a worker killed by gunicorn's timeout, or a container stopped
        worker.wait()
    finally:
        worker.kill()
        worker.stdout.close()
    # Its child dies with it: nobody writes a result that no row will own.
    wait_until(lambda: all(is_gone(pid) for pid in engine_children), what="the child to die")
    page = failed_page_once_the_lease_lapses(client, public_id)
    assert "the server running it stopped" in page
    runner.invoke(args=["cleanup"])
    assert sorted(os.listdir(app.config["UPLOAD_FOLDER"])) == [conversion.stored_name]
    assert results_of(app, conversion.id) == []


def test_periodic_cleanup_says_what_it_removed_at_the_default_level(app, caplog):
    """No caplog level here, as gunicorn sets none: the app's own (LOG_LEVEL, INFO) lets
    the cleanup's line through, naming what went."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    orphan = folder / ("a" * 32 + ".csv")
    orphan.write_text("x")
    day_ago = time.time() - 25 * 3600
    os.utime(orphan, (day_ago, day_ago))
    with app.app_context():
        periodic.run_cleanup(app)
    assert not orphan.exists()
    assert f"1 orphaned file(s) removed: {orphan.name}" in caplog.text


def test_cleanup_removes_files_no_row_owns_and_reports_them(app, client, runner, workbook):
    public_id = public_id_of(upload(client, workbook, quick=True))
    conversion = wait_for(app, public_id)
    folder = Path(app.config["UPLOAD_FOLDER"])
    day_ago = time.time() - 25 * 3600
    old_orphan = folder / ("a" * 32 + ".csv")
    new_orphan = folder / ("b" * 32 + ".csv")
    arriving = folder / ".upload-0123"  # a worker died while an upload arrived
    legacy_partial = folder / f".{'c' * 32}.csv.1a2b3c4d.partial"
    not_ours = folder / "README"
    for path in (old_orphan, new_orphan, arriving, legacy_partial, not_ours):
        path.write_text("x")
    for path in (old_orphan, arriving, legacy_partial, not_ours):
        os.utime(path, (day_ago, day_ago))
    dead_scratch = folder / f".work-{'d' * 32}"
    dead_scratch.mkdir()
    (dead_scratch / "tmp123").write_text("x")
    dead_read, reading = folder / f".read-{'e' * 32}", folder / f".read-{'f' * 32}"
    for path in (dead_read, reading):  # a request's reading folder: its process died, or not
        path.mkdir()
    os.utime(dead_read, (day_ago, day_ago))
    for owned in (conversion.stored_name, conversion.result_stored_name):
        os.utime(folder / owned, (day_ago, day_ago))
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0
    assert "Removed 5 orphaned files." in result.output
    for removed in (old_orphan, arriving, legacy_partial, dead_scratch, dead_read):
        assert removed.name in result.output and not removed.exists()
    assert new_orphan.exists() and not_ours.exists()  # too young; not a name we make
    assert reading.exists()  # a read lasts seconds: a young folder is in use
    assert (folder / conversion.stored_name).exists()
    assert (folder / conversion.result_stored_name).exists()


def slow_reader(path, marker, limits=None):
    """An engine reader stopped halfway: it has made temporary files (as the reader of an
    encrypted or damaged workbook makes a plain copy) and not removed them yet."""
    folder = tempfile.mkdtemp(prefix=marker)
    Path(folder, "plain copy.xlsx").write_bytes(b"x" * 10_000)
    time.sleep(60)


@pytest.mark.parametrize("app_settings", [{"UPLOAD_READ_SECONDS": 5}])
def test_crafted_quotes_uploaded_at_once_neither_hold_the_site_nor_leave_files(
    app, tmp_path, app_settings
):
    """The issue's two anonymous 65 KB files of `,"a`, sent together and converted at once:
    each is read within a 5 s deadline (csv.Sniffer took 15 s on each, and would be
    stopped), a page answers meanwhile, and both conversions end with the folder holding
    only what their rows own."""
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(',"a' * 22_000)
    answers = []

    def send():
        answers.append(upload(app.test_client(), hostile, quick=True))

    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    assert app.test_client().get("/").status_code == 200
    for sender in senders:
        sender.join(60)  # a bound far above what it needs: not stuck, not a timing
    assert [response.status_code for response in answers] == [302, 302]
    finished = [wait_for(app, public_id_of(response)) for response in answers]
    assert [conversion.status for conversion in finished] == ["done", "done"]
    owned = {name for c in finished for name in (c.stored_name, c.result_stored_name)}
    assert set(stored_files(app)) == owned


@pytest.mark.parametrize("app_settings", [{"UPLOAD_READ_SECONDS": 1}])
def test_a_read_stopped_at_its_deadline_leaves_no_temporary_files(app, app_settings):
    from app.sheets import TimedOut

    marker = f"sheetport-test-{os.getpid()}-"
    folder = Path(app.config["UPLOAD_FOLDER"])
    with app.test_request_context(), pytest.raises(TimedOut):
        conversions.read_in_time(slow_reader, "book.xlsx", marker)
    assert list(Path(tempfile.gettempdir()).glob(f"{marker}*")) == []
    assert list(folder.glob(".read-*")) == []  # made in the upload area, and removed


@pytest.mark.parametrize("app_settings", [{"UPLOAD_READ_SECONDS": 0.05}])
def test_reading_an_upload_is_stopped_well_before_the_server_would_kill_the_worker(
    app, client, tmp_path, app_settings
):
    # Quoted, so that the csv reader measures it, record by record (plain lines are
    # measured faster than any deadline a test can rely on).
    path = tmp_path / "quoted.csv"
    path.write_text("".join(f'{i},"name {i}",{i * 1.5}\n' for i in range(300_000)))
    started = time.monotonic()
    response = upload(client, path)
    assert response.status_code == 400 and time.monotonic() - started < 5
    assert "took longer than" in response.get_data(as_text=True)
    assert "try again in a few minutes" in response.get_data(as_text=True)
    assert stored_files(app) == []
