"""The API's overhead: a one-shot POST /api/v1/convert of the 100k-row workbook against the
command line on the same file, measured in the same run (and the engine call alone).

    .venv/bin/python bench/api_bench.py               # 100k rows, 9 rounds, xlsx -> csv
    .venv/bin/python bench/api_bench.py --rows 10000 --rounds 3

The API server runs in its own process (werkzeug, threaded, SQLite in a temporary folder),
as `make run` serves the site; the client streams the answer to a file. The CLI is timed
from process start to exit (`python -m app.sheets book.xlsx out.csv`). All three convert in
a sandboxed child process: the same engine.

Two figures for each: wall-clock seconds, and CPU seconds (user + system of every process
that did the work: the CLI and its child; the server, its conversion child and the client;
the engine's child). On a machine shared with other work the wall clock mostly measures the
neighbours, the CPU seconds much less so. Overhead = (API - CLI) / CLI, medians.
"""

import argparse
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import convert_bench  # noqa: E402  (generates the same workbooks into bench/out/)

TICK = os.sysconf("SC_CLK_TCK")


def serve(folder, ready):
    """The app on a free port; sends (port, token) through `ready`."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from app import create_app
    from app.api.auth import create_token
    from app.extensions import db
    from app.models import Role, User

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args):
            pass

    app = create_app(
        "development",
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite",
            "UPLOAD_FOLDER": f"{folder}/files",
            "RATELIMIT_ENABLED": False,
            "CLEANUP_INTERVAL_MINUTES": 0,
            "API_ONE_SHOT_MAX_MB": 1024,
            "MAX_CONTENT_LENGTH": 1024 * 2**20,
            "UPLOAD_LIMIT_USER_MB": 1024,
        },
    )
    with app.app_context():
        db.create_all()
        Role.insert_roles()
        user = User(email="bench@example.com", name="Bench", confirmed=True)
        user.set_password("bench password")
        db.session.add(user)
        db.session.commit()
        _, secret = create_token(user, "bench")
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    ready.send((server.server_port, secret))
    server.serve_forever()


def own_cpu():
    """CPU seconds of this process and of its children it has waited for."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def server_cpu(pid):
    """The server's CPU seconds, with the conversion children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / TICK  # utime stime cutime cstime


def measure(work, server_pid=None):
    """(wall seconds, CPU seconds) of work()."""
    cpu, server = own_cpu(), server_cpu(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    work()
    wall = time.perf_counter() - started
    cpu = own_cpu() - cpu + (server_cpu(server_pid) - server if server_pid else 0.0)
    return wall, cpu


def run_cli(book, target):
    subprocess.run(
        [sys.executable, "-m", "app.sheets", str(book), str(target)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


def run_engine(book, target):
    """The conversion alone: app.sheets.convert() in a sandboxed child, as a job runs it."""
    from app.sheets import Options, convert

    convert(book, target, Options(format="csv"), isolate=True)


def run_api(session, url, book, target):
    with book.open("rb") as source:
        response = session.post(
            f"{url}/api/v1/convert", params={"format": "csv"}, files={"file": source}, stream=True
        )
        response.raise_for_status()
        with target.open("wb") as out:
            for chunk in response.iter_content(1 << 20):
                out.write(chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    import requests

    convert_bench.OUT.mkdir(parents=True, exist_ok=True)
    book = convert_bench.ensure(convert_bench.OUT / f"mixed-{args.rows}.xlsx", "xlsx", args.rows)
    with tempfile.TemporaryDirectory() as folder:
        outs = {name: Path(folder) / f"{name}.csv" for name in ("engine", "CLI", "API")}
        receive, send = multiprocessing.Pipe(duplex=False)
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(folder, send)
        )  # not a daemon: its conversions run in child processes of their own
        server.start()
        try:
            port, secret = receive.recv()
            url = f"http://127.0.0.1:{port}"
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {secret}"
            work = {
                "engine": (lambda: run_engine(book, outs["engine"]), None),
                "CLI": (lambda: run_cli(book, outs["CLI"]), None),
                "API": (lambda: run_api(session, url, book, outs["API"]), server.pid),
            }
            work["API"][0]()  # warm up: the server's imports and first request
            runs = {name: [] for name in work}
            for _ in range(args.rounds):  # interleaved, so drift in load hits all three
                for name, (job, pid) in work.items():
                    runs[name].append(measure(job, pid))
            same = len({path.read_bytes() for path in outs.values()}) == 1
        finally:
            server.terminate()
            server.join(timeout=10)
    print(
        f"{book.name} ({book.stat().st_size / 2**20:.1f} MB) -> CSV, {args.rounds} rounds, medians"
    )
    median = {
        name: [statistics.median(r[i] for r in found) for i in (0, 1)]
        for name, found in runs.items()
    }
    for name, (wall, cpu) in median.items():
        print(f"  {name:6}  wall {wall:6.2f} s   CPU {cpu:6.2f} s")
    for base in ("CLI", "engine"):
        wall, cpu = median[base]
        print(
            f"  API overhead over the {base}: wall {100 * (median['API'][0] - wall) / wall:+.1f}%,"
            f" CPU {100 * (median['API'][1] - cpu) / cpu:+.1f}%"
        )
    print(f"  same bytes from all three: {same}")


if __name__ == "__main__":
    main()
