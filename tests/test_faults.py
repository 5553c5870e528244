"""Faults outside the job: a full disk, a mail server that refuses or never answers, and
settings that must hold with several processes."""

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask_mail import Message as MailMessage

from app import periodic
from app.deploy import counts_in_memory, deployment_problems, per_process_warnings
from app.email import _deliver, _record, delivery_note, send_email, send_pending_mail
from app.extensions import db
from app.models import OutgoingMail, PeriodicRun, utcnow

from .conftest import build_app
from .smtp import SMTPServer, free_port

PROJECT = Path(__file__).resolve().parent.parent

# Runs inside a mount namespace with a 1 MB tmpfs as the upload folder: a real ENOSPC.
FULL_DISK = r"""
import io, json, logging, os, sys, time
from pathlib import Path
from app import create_app
from app.extensions import db
from app.models import Conversion, Role
folder, database = sys.argv[1], sys.argv[2]
app = create_app("testing", {
    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
    "UPLOAD_FOLDER": folder,
    "WTF_CSRF_ENABLED": False,  # a plain client in another process: what a job meets is tested
})
logged = []
class Keep(logging.Handler):
    def emit(self, record):
        logged.append(record.getMessage())
app.logger.addHandler(Keep())
with app.app_context():
    db.create_all()
    Role.insert_roles()
client = app.test_client()
def post(data, name):
    return client.post("/convert", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")
out = {}
big = b"a,b\n" + b"1,2\n" * 500_000  # 2 MB: more than the disk holds
response = post(big, "big.csv")
out["big"] = [response.status_code, response.get_data(as_text=True),
              response.headers.get("Retry-After")]
out["after_big"] = sorted(os.listdir(folder))
response = post(b"a,b\n" + b"1,2\n" * 20_000, "small.csv")
out["small"] = response.status_code
public_id = response.headers["Location"].rsplit("/", 1)[1]
with open(Path(folder) / "filler", "wb") as filler:  # someone else fills the disk
    try:
        while True:
            filler.write(b"x" * 65536)
            filler.flush()
    except OSError:
        pass
client.post(f"/convert/{public_id}", data={
    "output_format": "xlsx", "delimiter": ",", "quoting": "minimal", "encoding": "utf-8",
    "line_ending": "crlf", "skip_rows": "0", "header": "y", "json_style": "records",
    "date_style": "iso", "sheets": ["small"]})
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        if conversion.status in ("done", "failed"):
            out["job"] = [conversion.status, conversion.error]
            out["stored"] = conversion.stored_name
            break
    time.sleep(0.1)
out["after_job"] = sorted(os.listdir(folder))
out["logged"] = logged
print(json.dumps(out))
"""


def run_on_a_full_disk(tmp_path):
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mount = f'mount -t tmpfs -o size=1m tmpfs {folder} && exec "$0" "$@"'
    # A private mount namespace: the tmpfs is gone when the process ends. Without root,
    # a user namespace grants the right to mount it.
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-r", "--mount"]
    command = [*unshare, "sh", "-c", mount, sys.executable, "-c", FULL_DISK]
    result = subprocess.run(
        [*command, str(folder), str(tmp_path / "disk.sqlite")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SHEETPORT_INSTANCE_PATH": str(tmp_path / "instance")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_full_disk_is_told_as_such_and_leaves_nothing(tmp_path):
    out = run_on_a_full_disk(tmp_path)
    status, page, retry_after = out["big"]
    assert status == 507 and retry_after
    assert "storage is full" in page and "try again later" in page
    assert "Something went wrong" not in page
    assert out["after_big"] == []  # the half-arrived upload is gone
    assert out["small"] == 302
    job_status, error = out["job"]
    assert job_status == "failed" and "storage is full" in error
    assert sorted(out["after_job"]) == sorted([out["stored"], "filler"])  # no scratch
    assert any("Storage full" in line for line in out["logged"])
    assert any("the storage is full" in line for line in out["logged"])


# Mail


@pytest.fixture
def app_settings():
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": free_port(), "MAIL_SUPPRESS_SEND": False}


def outbox_rows(app):
    with app.app_context():
        rows = db.session.scalars(db.select(OutgoingMail).order_by(OutgoingMail.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def make_due(app):
    with app.app_context():
        for row in db.session.scalars(db.select(OutgoingMail)):
            if row.next_attempt_at is not None:
                row.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def contact_email(app):
    from app.models import Message

    with app.test_request_context():
        message = Message(name="A", email="a@example.com", subject="Hi", body="Hello there")
        return send_email("someone@example.com", "Hello", "contact", message=message)


def test_mail_refused_is_kept_and_sent_when_the_server_is_back(app, runner, caplog):
    with caplog.at_level(logging.ERROR):
        assert contact_email(app) is False  # nothing listens on the port: refused
    assert "Could not send email" in caplog.text and "it will be retried" in caplog.text
    (row,) = outbox_rows(app)
    assert row.attempts == 1 and "ConnectionRefused" in row.last_error
    assert row.next_attempt_at > utcnow()  # not before its backoff
    assert runner.invoke(args=["send-mail"]).output.startswith("Sent 0 emails")
    make_due(app)
    with SMTPServer(port=app.config["MAIL_PORT"]) as server:  # back, on the same port
        result = runner.invoke(args=["send-mail"])
    assert "Sent 1 email; 0 failed" in result.output
    assert outbox_rows(app) == []  # sent, so no longer kept
    envelope, message = server.inbox.messages[0]
    assert envelope.rcpt_tos == ["someone@example.com"] and "Hello there" in server.inbox.text()


def test_mail_retries_back_off_then_stop(app):
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    contact_email(app)
    (row,) = outbox_rows(app)
    waits = [row.next_attempt_at - utcnow()]
    for _ in range(3):
        make_due(app)
        with app.app_context():
            send_pending_mail()
        (row,) = outbox_rows(app)
        if row.next_attempt_at:
            waits.append(row.next_attempt_at - utcnow())
    assert row.attempts == 3 and row.next_attempt_at is None  # kept, no longer tried
    assert len(waits) == 2 and waits[0] < waits[1]


def test_a_batch_read_before_an_attempt_does_not_try_again_before_its_backoff(app):
    """Two processes read the same due messages; one tries and fails, and the other, its
    batch now stale, must leave the message to its backoff rather than try it at once."""
    contact_email(app)  # refused: attempt 1, due again in a minute
    make_due(app)
    with app.app_context():
        (stale,) = db.session.scalars(db.select(OutgoingMail.id)).all()
        assert send_pending_mail() == (0, 1)  # the first process: attempt 2
        (row,) = outbox_rows(app)
        assert row.attempts == 2 and row.next_attempt_at > utcnow()
        assert _deliver(app, MailMessage(subject="x", recipients=["a@b.c"]), stale) is None
    (row,) = outbox_rows(app)
    assert row.attempts == 2  # not tried a third time


@pytest.fixture
def silent_server():
    """Accepts connections and never says a word, as a wedged mail server does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    for connection in accepted:
        connection.close()


def test_a_mail_server_that_never_answers_costs_only_the_timeout(tmp_path, silent_server):
    app = build_app(
        tmp_path,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=silent_server,
        MAIL_SUPPRESS_SEND=False,
        MAIL_TIMEOUT=1,
    )
    with app.app_context():
        db.create_all()
    started = time.monotonic()
    assert contact_email(app) is False
    assert time.monotonic() - started < 5
    (row,) = outbox_rows(app)
    assert row.attempts == 1 and "timed out" in row.last_error.lower()
    with app.app_context():
        db.engine.dispose()


def test_off_the_request_thread_the_outcome_is_still_known_in_time(tmp_path, silent_server):
    refused_port = free_port()
    for port, expected in ((refused_port, False), (silent_server, None)):
        app = build_app(
            tmp_path,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=port,
            MAIL_SUPPRESS_SEND=False,
            MAIL_SEND_SYNC=False,
            MAIL_WAIT_SECONDS=1,
            MAIL_TIMEOUT=3,
        )
        with app.app_context():
            db.create_all()
        started = time.monotonic()
        outcome = contact_email(app)
        assert outcome is expected and time.monotonic() - started < 2.5
        note = delivery_note(outcome, "someone@example.com")
        assert "We sent" not in note and "someone@example.com" in note
        time.sleep(3.5 if outcome is None else 0)  # let the silent server time out
        with app.app_context():
            db.engine.dispose()
    assert delivery_note(True, "a@example.com") == "We sent it to a@example.com."


def test_a_new_user_notice_refused_by_the_server_is_not_lost(app, client):
    client.post(
        "/auth/register",
        data={
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "password": "a long password",
            "password2": "a long password",
        },
    )
    subjects = [row.subject for row in outbox_rows(app)]
    assert "[Sheetport] New registration" in subjects
    assert "[Sheetport] Confirm your email address" in subjects


def register_and_sign_in(client, email="grace@example.com"):
    client.post(
        "/auth/register",
        data={
            "name": "Grace Hopper",
            "email": email,
            "password": "a long password",
            "password2": "a long password",
        },
    )
    client.post("/auth/login", data={"email": email, "password": "a long password"})


def unconfirmed_page(client):
    return client.get("/auth/unconfirmed").get_data(as_text=True)


def confirmations_waiting(app):
    return [row for row in outbox_rows(app) if row.subject.endswith("Confirm your email address")]


def test_the_unconfirmed_page_tells_how_the_newest_link_fares(app, client, runner):
    """Refused by the mail server, the link is not "sent" on the page that waits for it;
    a new link supersedes the waiting one (one arrives when the server is back); once the
    outbox is sent, or a new link goes through, the page says it was sent."""
    register_and_sign_in(client)
    page = unconfirmed_page(client)
    assert "has not been able to send the link" in page and "We sent a link" not in page
    client.post("/auth/confirm")  # a new link, refused too
    assert len(confirmations_waiting(app)) == 1
    assert "has not been able to send the link" in unconfirmed_page(client)
    make_due(app)
    with SMTPServer(port=app.config["MAIL_PORT"]) as server:
        runner.invoke(args=["send-mail"])
        assert "We sent a link to" in unconfirmed_page(client)
        other = app.test_client()
        register_and_sign_in(other, "ada@example.com")  # her link goes through at once
        assert confirmations_waiting(app) == []
    links = [
        envelope.rcpt_tos
        for envelope, message in server.inbox.messages
        if message["Subject"].endswith("Confirm your email address")
    ]
    assert links == [["grace@example.com"], ["ada@example.com"]]  # one each
    assert "We sent a link to <strong>ada@example.com</strong>" in unconfirmed_page(other)


def test_the_unconfirmed_page_says_when_the_link_was_given_up_on(app, client):
    app.config["MAIL_MAX_ATTEMPTS"] = 1
    register_and_sign_in(client)
    page = unconfirmed_page(client)
    assert "could not send the link" in page and "stopped trying" in page
    assert "We sent a link" not in page


def test_an_outcome_for_a_message_deleted_meanwhile_is_not_an_error(app):
    """A link superseded while it was being sent: its row is gone when the outcome comes."""
    contact_email(app)
    (row,) = outbox_rows(app)
    with app.app_context():
        db.session.execute(db.delete(OutgoingMail))
        db.session.commit()
        assert _record(app, row.id) is None and _record(app, row.id, OSError("x")) is None


# Settings that assume one process


def test_periodic_work_runs_once_per_interval_across_processes(tmp_path):
    # Two apps on one database stand for two processes: each ticks, one runs the task.
    first, second = build_app(tmp_path), build_app(tmp_path)
    with first.app_context():
        db.create_all()
    ran = []
    for app in (first, second, first):
        with app.app_context():
            periodic.run_once_per_interval("cleanup", 600, lambda app=app: ran.append(app))
    assert ran == [first]
    with second.app_context():
        run = db.session.get(PeriodicRun, "cleanup")
        run.last_run_at = utcnow() - timedelta(minutes=11)
        db.session.commit()
        assert periodic.run_once_per_interval("cleanup", 600, lambda: ran.append(second))
    assert ran == [first, second]
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()


def test_per_process_rate_limits_are_reported_at_start(tmp_path, caplog):
    app = build_app(tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with caplog.at_level(logging.WARNING):
        app.test_client().get("/")
    assert "Rate limits are counted in this process's memory" in caplog.text
    assert per_process_warnings(build_app(tmp_path, RATELIMIT_ENABLED=True)) == []


@pytest.mark.parametrize(
    "uri, in_memory",
    [
        ("memory://", True),
        ("MEMORY://", True),  # the limits library reads the scheme in any case
        ("Memory://", True),
        ("sheetport+db://", False),
        ("redis://localhost:6379/1", False),
    ],
)
def test_every_spelling_of_memory_storage_is_told(tmp_path, uri, in_memory):
    said = [m for _, m in deployment_problems({"RATELIMIT_STORAGE_URI": uri})]
    assert any("each process counts on its own" in m for m in said) is in_memory
    app = build_app(tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=uri)
    assert bool(per_process_warnings(app)) is in_memory


@pytest.mark.parametrize("uri", ["", None, "async+memory://", " memory://"])
def test_no_storage_at_all_counts_in_memory(uri):
    assert counts_in_memory(uri)
    assert not counts_in_memory("memcached://memory:11211")


def test_the_served_app_says_so_as_it_starts(tmp_path):
    """wsgi.py (what gunicorn loads) logs the warning on import, before any request."""
    environment = {
        **os.environ,
        "FLASK_CONFIG": "production",
        "SECRET_KEY": "x" * 40,
        "SITE_URL": "https://sheets.example.org",
        "SHEETPORT_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "RATELIMIT_STORAGE_URI": "MEMORY://",
    }
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    assert started.stderr.count("Rate limits are counted in this process's memory") == 1


GUNICORN_APP = """
import os
from app import create_app
from app.extensions import db
from app.models import Role, User
app = create_app("testing", {
    "SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URI"],
    "WTF_CSRF_ENABLED": False,  # a script posts, not a page
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": os.environ["TEST_RATELIMIT_STORAGE_URI"],
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per minute",
})
"""


def wrong_password_answers(tmp_path, storage_uri, attempts=12):
    """Status codes of wrong-password logins against gunicorn with 3 workers."""
    database = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    setup = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=database)
    with setup.app_context():
        db.create_all()
        db.engine.dispose()
    (tmp_path / "limits_app.py").write_text(GUNICORN_APP)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "3", "-b", f"127.0.0.1:{port}"]
        + ["--chdir", str(tmp_path), "--pythonpath", str(PROJECT), "limits_app:app"],
        env={
            **os.environ,
            "TEST_DATABASE_URI": database,
            "TEST_RATELIMIT_STORAGE_URI": storage_uri,
            "SHEETPORT_INSTANCE_PATH": str(tmp_path / "instance"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import http.client

        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
            finally:
                connection.close()
        time.sleep(1)  # let every worker boot
        body = "email=ada%40example.com&password=wrong"
        answers = []
        for _ in range(attempts):
            # A new connection each time: gunicorn hands them to whichever worker is free.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request(
                "POST",
                "/auth/login",
                body,
                {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"},
            )
            answers.append(connection.getresponse().status)
            connection.close()
        return answers
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.sqlite_only  # its gunicorn workers share a SQLite file the test makes
def test_rate_limits_hold_under_several_gunicorn_workers(tmp_path):
    answers = wrong_password_answers(tmp_path, "sheetport+db://")
    assert answers.count(429) == len(answers) - 5, answers
    assert 429 not in answers[:5]
