"""The whole distributed setup on one machine, every part real: the database (PostgreSQL when
SHEETPORT_TEST_DATABASE_URL is set, else an SQLite file), redis-server, moto's S3 server, two
gunicorn web processes on two ports and two `flask worker` processes. 50 conversions go in
through one web process and come out through the other; one worker is killed mid-run."""

import os
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests  # comes with moto[server] (requirements-dev.txt)
from redis import Redis
from rq import Worker

from app import jobs
from app.extensions import db
from app.models import Conversion, ConversionResult
from app.sheets import Options, convert

from .scale import free_port, new_bucket, objects_in, redis_server, s3_server
from .sheets.books import write_xlsx
from .test_convert import FORM
from .test_scale_queue import PROJECT, Workers, descendants, worker_env

CONVERSIONS = 50
LEASE_SECONDS = 3
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with s3_server() as endpoint, redis_server(tmp_path_factory.mktemp("redis")) as redis_url:
        yield endpoint, redis_url


@pytest.fixture
def bucket(services):
    return new_bucket(services[0])


@pytest.fixture
def app_settings(services, bucket):
    return {
        **bucket[0],
        "QUEUE_URL": services[1],
        "QUEUE_NAME": f"e2e-{uuid.uuid4().hex[:8]}",
        "JOB_LEASE_SECONDS": LEASE_SECONDS,
    }


class Webs(Workers):
    def start_web(self):
        port = free_port()
        env = worker_env(
            self.app,
            self.tmp_path,
            JOB_LEASE_SECONDS=LEASE_SECONDS,
            CLEANUP_INTERVAL_MINUTES=10,  # the periodic ticks run, as in production
            # One client sends every upload here: the scale is under test, not its limits.
            UPLOAD_RATE_LIMIT="1000 per minute",
            CONVERT_RATE_LIMIT="1000 per minute",
        )
        with (self.tmp_path / f"web-{port}.log").open("wb") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "--workers", "1"]
                + ["--threads", "8", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                cwd=PROJECT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/convert", timeout=30).status_code == 200:
                    return base
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert process.poll() is None and time.monotonic() < deadline, self.logs()
            time.sleep(0.1)

    def logs(self):
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("*.log"))
        )[-20000:]


def csrf_token(page):
    match = CSRF.search(page)
    assert match, page[:2000]
    return match.group(1)


def make_files(folder):
    """Ten different small inputs, and one large CSV (seconds of work as xlsx)."""
    files = []
    for i in range(5):
        rows = [["id", "name", "amount"]] + [
            [n, f"row {n} of {i}", n * 1.25] for n in range(50 * i + 1)
        ]
        files.append(write_xlsx(folder / f"book{i}.xlsx", {f"Data{i}": rows, "Other": [["x"]]}))
        csv = folder / f"text{i}.csv"
        csv.write_text("a;b;c\n" + "".join(f"{n};é{n};{n / 3}\n" for n in range(30 * i + 2)))
        files.append(csv)
    big = folder / "big.csv"
    with big.open("w") as out:
        out.write("id,name,amount,day,note\n")
        for i in range(100_000):
            out.write(f"{i},name {i},{i * 1.5},2024-01-{i % 28 + 1:02d},a longer note {i}\n")
    return files, big


def upload(session, base, path, quick=True):
    token = csrf_token(session.get(f"{base}/convert", timeout=30).text)
    data = {"csrf_token": token}
    if quick:
        data["quick"] = "Quick convert to CSV"
    with path.open("rb") as stream:
        response = session.post(
            f"{base}/convert",
            data=data,
            files={"file": (path.name, stream)},
            allow_redirects=False,
            timeout=60,
        )
    assert response.status_code == 302, response.text[:2000]
    return response.headers["Location"].rsplit("/", 1)[-1]


def wait_done(session, base, public_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = session.get(f"{base}/convert/{public_id}/status", timeout=30)
        assert status.status_code == 200, status.text[:500]
        if status.json()["status"] in ("done", "failed"):
            return status.json()
        time.sleep(0.2)
    raise AssertionError(f"{public_id} did not finish")


def new_session():
    """A client that opens a connection per request. gunicorn closes a keep-alive connection
    after 2 idle seconds; a request sent on it at that moment is reset (a browser would resend
    it, requests does not), which made this test flaky on a busy machine."""
    session = requests.Session()
    session.headers["Connection"] = "close"
    return session


def one_conversion(web_a, web_b, path):
    """Upload to A; status and download from B. Returns (public id, bytes downloaded)."""
    session = new_session()
    public_id = upload(session, web_a, path)
    status = wait_done(session, web_b, public_id)
    assert status["status"] == "done", status
    download = session.get(f"{web_b}/convert/{public_id}/download", timeout=60)
    assert download.status_code == 200
    return session, public_id, download.content


def test_fifty_conversions_across_two_webs_and_two_workers(app, tmp_path, bucket):
    _, s3, bucket_name = bucket
    inputs, big = make_files(tmp_path)
    processes = Webs(app, tmp_path)
    try:
        web_a, web_b = processes.start_web(), processes.start_web()
        for _ in range(2):
            processes.start(JOB_LEASE_SECONDS=LEASE_SECONDS)
        redis = Redis.from_url(app.config["QUEUE_URL"])

        # The big one first, as xlsx (seconds of work): the worker that takes it is killed.
        victim_session = new_session()
        victim = upload(victim_session, web_a, big, quick=False)
        page = victim_session.get(f"{web_b}/convert/{victim}", timeout=30).text
        response = victim_session.post(
            f"{web_b}/convert/{victim}",
            data={
                **FORM,
                "output_format": "xlsx",
                "sheets": ["big"],
                "csrf_token": csrf_token(page),
            },
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, response.text[:2000]

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = [
                pool.submit(one_conversion, web_a, web_b, inputs[i % len(inputs)])
                for i in range(CONVERSIONS - 1)
            ]
            # Kill the worker running the big conversion, with its work horse and child.
            job_prefix = None
            deadline = time.monotonic() + 60
            killed = None
            while killed is None:
                with app.app_context():
                    row = db.session.scalar(db.select(Conversion).filter_by(public_id=victim))
                    if row.status == "running" and row.progress_done > 0:
                        job_prefix = f"conversion-{row.id}-{row.runner}"
                    db.session.remove()
                if job_prefix:
                    for worker in Worker.all(connection=redis):
                        if worker.get_current_job_id() == job_prefix:
                            killed = next(p for p in processes.running if p.pid == worker.pid)
                assert time.monotonic() < deadline, processes.logs()
                time.sleep(0.05)
            processes.kill(killed)
            results = [outcome.result(timeout=240) for outcome in outcomes]

        # The killed conversion ends failed with a message the user can act on.
        status = wait_done(victim_session, web_b, victim, timeout=60)
        assert status["status"] == "failed" and status["error"] == jobs.INTERRUPTED

        # Every result byte for byte against the engine's own output.
        with app.app_context():
            for (_, public_id, content), i in zip(results, range(CONVERSIONS - 1), strict=True):
                row = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
                expected = tmp_path / f"expected-{i}"
                convert(inputs[i % len(inputs)], expected, Options(**row.options))
                assert content == expected.read_bytes(), (public_id, row.options)
            # The poll showed the killed job failed without writing; the web processes'
            # periodic tick fails its row within a lease or two.
            active = db.select(db.func.count(Conversion.id)).where(
                Conversion.status.in_(jobs.ACTIVE)
            )
            deadline = time.monotonic() + 4 * LEASE_SECONDS
            while (stuck := db.session.scalar(active)) and time.monotonic() < deadline:
                db.session.rollback()
                time.sleep(0.2)
            assert stuck == 0
            owned = set(db.session.scalars(db.select(Conversion.stored_name)))
            owned.update(db.session.scalars(db.select(Conversion.result_stored_name)))
            owned.update(db.session.scalars(db.select(ConversionResult.stored_name)))
            owned.discard(None)
            db.session.remove()
        objects = {key.rsplit("/", 1)[-1] for key in objects_in(s3, bucket_name)}
        assert objects == owned  # nothing in the bucket that no row refers to
        assert len(objects) == 2 * (CONVERSIONS - 1) + 1

        # Deleting through the web processes removes the objects.
        def delete(session, public_id, web):
            page = session.get(f"{web}/convert/{public_id}", timeout=30).text
            deleted = session.post(
                f"{web}/convert/{public_id}/delete",
                data={"csrf_token": csrf_token(page)},
                allow_redirects=False,
                timeout=30,
            )
            assert deleted.status_code == 302

        owners = [(session, public_id) for session, public_id, _ in results]
        with ThreadPoolExecutor(max_workers=8) as pool:
            deletes = [
                pool.submit(delete, session, public_id, (web_a, web_b)[i % 2])
                for i, (session, public_id) in enumerate([*owners, (victim_session, victim)])
            ]
            for done in deletes:
                done.result(timeout=120)
        assert objects_in(s3, bucket_name) == []
        assert "Traceback" not in processes.logs().replace("JobTimeout", "")
    finally:
        processes.stop()
    for process in processes.running:
        assert not descendants(process.pid)
    assert os.path.isdir(app.config["UPLOAD_FOLDER"]) is False or not [
        name for name in os.listdir(app.config["UPLOAD_FOLDER"]) if not name.startswith(".")
    ]
