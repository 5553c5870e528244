"""Load on the embedded setup (`make run`: one process, SQLite, local folder, in-process
pool) beside the distributed one (two gunicorn web processes, two `flask worker`s, Redis,
moto's S3 server; PostgreSQL when SHEETPORT_TEST_DATABASE_URL is set, else an SQLite file),
measured in one run on loopback, bounded in clients and time:

    .venv/bin/python bench/scale_load.py                       # 50 clients, 180 s each setup
    .venv/bin/python bench/scale_load.py --clients 20 --seconds 30

Each client loops: the home page, a quick upload of a small workbook, status polls until
done, the download. Reports requests, 5xx, other errors, conversions per minute, lost
conversions (uploaded but never done) and p50/p99 latency of the page requests.
"""

import argparse
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scale import free_port, new_bucket, redis_server, s3_server  # noqa: E402
from tests.sheets.books import write_xlsx  # noqa: E402

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
BIN = Path(sys.executable).parent


def start(command, env, log):
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_up(base, process):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{base}/convert", timeout=30).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


def base_env(folder, database_url, **extra):
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "FLASK_CONFIG": "development",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DATABASE_URL": database_url,
        "UPLOAD_FOLDER": str(folder / "files"),
        "SHEETPORT_INSTANCE_PATH": str(folder / "instance"),
        "UPLOAD_LIMIT_ANONYMOUS_MB": "50",
    }
    env.update(extra)
    return env


def prepare_database(env):
    subprocess.run(
        [str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )


def database_url(folder):
    url = os.environ.get("SHEETPORT_TEST_DATABASE_URL")
    if url:
        from tests.conftest import empty_database

        empty_database(url)
        return url
    return f"sqlite:///{folder / 'bench.sqlite'}"


class Figures:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies, self.requests, self.server_errors, self.errors = [], 0, 0, 0
        self.done, self.started = 0, 0

    def timed(self, session, method, url, **kw):
        began = time.perf_counter()
        try:
            response = session.request(method, url, timeout=60, **kw)
        except requests.RequestException:
            with self.lock:
                self.requests += 1
                self.errors += 1
            raise
        with self.lock:
            self.requests += 1
            self.latencies.append(time.perf_counter() - began)
            if response.status_code >= 500:
                self.server_errors += 1
        return response


def client(webs, sample, figures, deadline, index):
    session = requests.Session()
    web_in, web_out = webs[index % len(webs)], webs[(index + 1) % len(webs)]
    while time.monotonic() < deadline:
        try:
            figures.timed(session, "GET", f"{web_in}/")
            page = figures.timed(session, "GET", f"{web_in}/convert").text
            with sample.open("rb") as stream:
                response = figures.timed(
                    session,
                    "POST",
                    f"{web_in}/convert",
                    data={"csrf_token": CSRF.search(page).group(1), "quick": "Quick convert"},
                    files={"file": (sample.name, stream)},
                    allow_redirects=False,
                )
            if response.status_code != 302:
                with figures.lock:
                    figures.errors += 1
                continue
            with figures.lock:
                figures.started += 1
            public_id = response.headers["Location"].rsplit("/", 1)[-1]
            finish_by = time.monotonic() + 120  # finish the conversion even after the deadline
            while time.monotonic() < finish_by:
                status = figures.timed(session, "GET", f"{web_out}/convert/{public_id}/status")
                if status.status_code == 200 and status.json()["status"] in ("done", "failed"):
                    break
                time.sleep(0.3)
            download = figures.timed(session, "GET", f"{web_out}/convert/{public_id}/download")
            if download.status_code == 200:
                with figures.lock:
                    figures.done += 1
        except (requests.RequestException, AttributeError, ValueError):
            with figures.lock:
                figures.errors += 1


def drive(webs, sample, clients, seconds):
    figures = Figures()
    began = time.monotonic()
    deadline = began + seconds
    threads = [
        threading.Thread(target=client, args=(webs, sample, figures, deadline, i))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures.elapsed = time.monotonic() - began
    return figures


def embedded(folder, sample, clients, seconds):
    env = base_env(folder, database_url(folder))
    prepare_database(env)
    port = free_port()
    server = start([str(BIN / "flask"), "run", "--port", str(port)], env, folder / "embedded.log")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base, server)
        return drive([base], sample, clients, seconds)
    finally:
        server.terminate()
        server.wait(30)


def distributed(folder, sample, clients, seconds):
    with ExitStack() as stack:
        endpoint = stack.enter_context(s3_server())
        redis_url = stack.enter_context(redis_server(folder))
        settings, _, _ = new_bucket(endpoint)
        env = base_env(
            folder,
            database_url(folder),
            QUEUE_URL=redis_url,
            **{name: str(value) for name, value in settings.items()},
        )
        prepare_database(env)
        processes, webs = [], []
        try:
            for n in range(2):
                port = free_port()
                command = [
                    str(BIN / "gunicorn"),
                    "--workers",
                    "1",
                    "--threads",
                    "16",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "wsgi:app",
                ]
                processes.append(start(command, env, folder / f"web{n}.log"))
                webs.append(f"http://127.0.0.1:{port}")
                processes.append(
                    start([str(BIN / "flask"), "worker"], env, folder / f"worker{n}.log")
                )
            for base, process in zip(webs, processes[::2], strict=True):
                wait_up(base, process)
            return drive(webs, sample, clients, seconds)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)


def report(name, figures):
    latencies = sorted(figures.latencies) or [0.0]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    lost = figures.started - figures.done
    print(
        f"| {name} | {figures.requests} | {figures.server_errors} | {figures.errors} | "
        f"{figures.done / figures.elapsed * 60:.0f} | {lost} | "
        f"{statistics.median(latencies) * 1000:.0f} ms | {p99 * 1000:.0f} ms |"
    )


def main():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=180)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sheetport-load-") as temp:
        folder = Path(temp)
        rows = [["id", "name", "amount"]] + [[n, f"row {n}", n * 1.5] for n in range(200)]
        sample = write_xlsx(folder / "sample.xlsx", {"Data": rows})
        results = []
        for name, setup in (("embedded (make run)", embedded), ("2 web + 2 workers", distributed)):
            sub = folder / name.split()[0]
            sub.mkdir()
            results.append((name, setup(sub, sample, args.clients, args.seconds)))
    print(f"\n{args.clients} clients, {args.seconds} s each setup, loopback\n")
    print("| setup | requests | 5xx | other errors | conversions/min | lost | p50 | p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, figures in results:
        report(name, figures)


if __name__ == "__main__":
    main()
