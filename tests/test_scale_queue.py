"""Conversions through Redis + RQ (QUEUE_URL): the web only enqueues; real `flask worker`
processes, started here, run them against a real redis-server."""

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import jobs
from app.deploy import per_process_warnings
from app.extensions import db
from app.models import Conversion, ConversionResult, Role
from app.sheets import Options, convert

from .conftest import AuthActions, build_app, fetch
from .scale import redis_server
from .sheets.books import write_xlsx
from .test_convert import FORM, WORKBOOK, public_id_of, upload, wait_for
from .test_jobs import wait_until

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def app_settings(redis_url):
    return {"QUEUE_URL": redis_url, "QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}"}


@pytest.fixture
def queue(app):
    return Queue(app.config["QUEUE_NAME"], connection=Redis.from_url(app.config["QUEUE_URL"]))


def worker_env(app, tmp_path, **extra):
    """The environment of a worker on another machine: same database, queue and storage."""
    config = app.config
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "FLASK_CONFIG": "development",
        "SECRET_KEY": "worker-test-key",
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "UPLOAD_FOLDER": config["UPLOAD_FOLDER"],
        "QUEUE_URL": config["QUEUE_URL"],
        "QUEUE_NAME": config["QUEUE_NAME"],
        "SHEETPORT_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "CLEANUP_INTERVAL_MINUTES": "0",
    }
    for name in ("STORAGE_URL", "S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        if config.get(name):
            env[name] = config[name]
    env.update({name: str(value) for name, value in extra.items()})
    return env


class Workers:
    """`flask worker` processes (each with its work horse and the sandbox's child), all
    stopped at the end of the test."""

    def __init__(self, app, tmp_path):
        self.app, self.tmp_path, self.running = app, tmp_path, []

    def start(self, *args, **env):
        with (self.tmp_path / f"worker-{len(self.running)}.log").open("wb") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "flask"), "worker", *args],
                cwd=PROJECT,
                env=worker_env(self.app, self.tmp_path, **env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(process)
        return process

    def kill(self, process, sig=signal.SIGKILL):
        """Signal the worker and every process under it at once (RQ's work horse runs in a
        session of its own, so the process group is not enough)."""
        for pid in [process.pid, *descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        process.wait(30)

    def log(self):
        return "\n".join(p.read_text(errors="replace") for p in self.tmp_path.glob("worker-*.log"))

    def stop(self):
        for process in self.running:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill(process)


def descendants(pid):
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.fixture
def workers(app, tmp_path):
    started = Workers(app, tmp_path)
    yield started
    started.stop()


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", WORKBOOK)


@pytest.fixture
def big_csv(tmp_path):
    """About 6 MB of CSV: a few seconds' work as xlsx, time to kill a worker midway."""
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("id,name,amount,day,note\n")
        for i in range(100_000):
            out.write(f"{i},name {i},{i * 1.5},2024-01-{i % 28 + 1:02d},a longer note {i}\n")
    return path


def upload_big(client, path):
    """An upload encoded in memory (the test client would spool it to a temporary file that
    it never closes)."""
    boundary, body = encode_multipart(
        {"file": FileStorage(io.BytesIO(path.read_bytes()), path.name)}
    )
    return client.post(
        "/convert", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_the_web_enqueues_and_a_worker_converts(app, client, workbook, tmp_path, queue, workers):
    with app.app_context():
        assert isinstance(jobs.runner(), jobs.RQRunner)
    public_id = public_id_of(upload(client, workbook))
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    time.sleep(0.5)
    # No worker yet: the web process ran nothing, the job waits in Redis.
    assert fetch(app, Conversion, public_id=public_id).status == "queued"
    assert queue.count == 1
    workers.start("--burst")
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", (conversion.error, workers.log())
    expected = tmp_path / "expected.csv"
    convert(workbook, expected, Options(sheets=["Data"]))
    with client.get(f"/convert/{public_id}/download") as download:
        assert download.data == expected.read_bytes()
    assert client.get(f"/convert/{public_id}/status").json["status"] == "done"
    assert queue.count == 0 and queue.failed_job_registry.count == 0


def test_a_worker_killed_mid_conversion_leaves_a_failed_job_with_a_message(
    app, client, big_csv, queue, workers, workbook
):
    victim = workers.start(JOB_LEASE_SECONDS=2)
    public_id = public_id_of(upload_big(client, big_csv))
    client.post(f"/convert/{public_id}", data={**FORM, "output_format": "xlsx", "sheets": ["big"]})
    deadline = time.monotonic() + 60
    while True:
        conversion = fetch(app, Conversion, public_id=public_id)
        if conversion.status == "running" and conversion.progress_done > 0:
            break
        assert conversion.status in ("queued", "running"), (conversion.error, workers.log())
        assert time.monotonic() < deadline, workers.log()
        time.sleep(0.05)
    workers.kill(victim)  # the worker, its work horse and the engine's child: a dead machine
    time.sleep(2.5)  # the lease (two seconds) lapses; the owner's next look says so
    status = client.get(f"/convert/{public_id}/status").json
    assert status["status"] == "failed"
    assert status["error"] == jobs.INTERRUPTED
    with app.app_context():
        assert jobs.reclaim_expired() == 1  # the periodic tick; the poll wrote nothing
        assert db.session.scalar(db.select(db.func.count(ConversionResult.id))) == 0
    conversion = fetch(app, Conversion, public_id=public_id)
    assert os.listdir(app.config["UPLOAD_FOLDER"]) == [conversion.stored_name]  # no scratch
    # The user converts again; another worker does it.
    workers.start("--burst")
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["big"]})
    conversion = wait_for(app, public_id, timeout=90)
    assert conversion.status == "done", (conversion.error, workers.log())
    assert conversion.rows == 100_001


def test_a_long_queue_is_not_mistaken_for_a_dead_runner(app, client, workbook, queue, workers):
    app.config["JOB_LEASE_SECONDS"] = 1
    public_id = public_id_of(upload(client, workbook, quick=True))
    token = fetch(app, Conversion, public_id=public_id).runner
    time.sleep(1.2)
    with app.app_context():
        assert jobs.reclaim_expired() == 0  # still waiting in Redis: the lease is renewed
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        assert conversion.runner == token and conversion.status == "queued"
    assert queue.count == 1
    queue.empty()  # Redis lost the job (flushed, restarted without persistence)
    time.sleep(1.2)
    with app.app_context():
        assert jobs.reclaim_expired() == 1  # queued again, under a new token
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.runner != token and queue.count == 1
    workers.start("--burst")
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", (conversion.error, workers.log())


def test_a_cancelled_job_waiting_in_redis_is_never_run(app, client, workbook, queue, workers):
    public_id = public_id_of(upload(client, workbook))
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    assert queue.count == 1
    assert client.post(f"/convert/{public_id}/cancel").status_code == 302
    workers.start("--burst").wait(60)  # takes the job: the claim refuses it
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "cancelled" and conversion.started_at is None, workers.log()
    assert queue.count == 0 and queue.failed_job_registry.count == 0
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ConversionResult.id))) == 0
    assert os.listdir(app.config["UPLOAD_FOLDER"]) == [conversion.stored_name]


def test_cancelling_a_job_a_worker_runs_stops_its_child(app, client, big_csv, queue, workers):
    worker = workers.start()
    public_id = public_id_of(upload_big(client, big_csv))
    client.post(f"/convert/{public_id}", data={**FORM, "output_format": "xlsx", "sheets": ["big"]})
    wait_until(
        lambda: fetch(app, Conversion, public_id=public_id).progress_done > 0,
        timeout=60,
        what="progress",
    )
    assert len(descendants(worker.pid)) == 2  # the work horse and the engine's child
    assert client.post(f"/convert/{public_id}/cancel").status_code == 302
    cancelled_at = time.monotonic()
    # The worker is another process: it hears of the cancel from the database alone.
    wait_until(lambda: descendants(worker.pid) == [], timeout=10, what="the job to stop")
    print(f"the worker's job was gone {time.monotonic() - cancelled_at:.3f} s after the cancel")
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "cancelled", workers.log()
    assert os.listdir(app.config["UPLOAD_FOLDER"]) == [conversion.stored_name]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ConversionResult.id))) == 0
    assert "was cancelled, deleted or taken over" in workers.log()


def test_the_queue_job_timeout_fails_the_conversion(app, client, big_csv, queue, workers):
    app.config["QUEUE_JOB_TIMEOUT"] = 1  # the web process sets RQ's timeout when it enqueues
    public_id = public_id_of(upload_big(client, big_csv))
    client.post(f"/convert/{public_id}", data={**FORM, "output_format": "xlsx", "sheets": ["big"]})
    workers.start("--burst", QUEUE_JOB_TIMEOUT=1)  # after the job is queued: burst stops when empty
    conversion = wait_for(app, public_id, timeout=60)
    assert conversion.status == "failed" and conversion.error == jobs.TOO_LONG, workers.log()
    # The work horse removes its scratch folder as it stops, a moment after the status write.
    wait_until(
        lambda: os.listdir(app.config["UPLOAD_FOLDER"]) == [conversion.stored_name],
        what="only the upload left",
    )


def test_flask_worker_needs_a_queue(app, runner):
    app.config["QUEUE_URL"] = None
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 2 and "QUEUE_URL is not set" in result.output


def test_rate_limit_counters_can_live_in_the_same_redis(tmp_path, redis_url, monkeypatch):
    limits_url = redis_url.rsplit("/", 1)[0] + "/1"  # another database of the same server
    Redis.from_url(limits_url).flushdb()
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path / "instance"))
    app = build_app(
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=limits_url,
        LOGIN_LIMIT_PER_ADDRESS="2 per minute",
    )
    with app.app_context():
        db.create_all()
        Role.insert_roles()
        assert per_process_warnings(app) == []
    auth = AuthActions(app.test_client())
    for n in range(2):
        assert auth.login(email=f"user{n}@example.com", password="x").status_code == 200
    assert auth.login(email="fresh@example.com", password="x").status_code == 429
    assert Redis.from_url(limits_url).dbsize() > 0  # the counters are in Redis
    with app.app_context():
        db.engine.dispose()


def test_a_queue_without_shared_storage_or_database_is_warned_about(app):
    warnings = per_process_warnings(app)
    assert any("STORAGE_URL is not" in warning for warning in warnings)
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    assert any("database is SQLite" in warning for warning in warnings) == sqlite
    app.config["STORAGE_URL"] = "s3://bucket/prefix"
    assert not any("STORAGE_URL" in warning for warning in per_process_warnings(app))
