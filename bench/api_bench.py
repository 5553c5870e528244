"""The API's overhead: a one-shot POST /api/v1/convert of the 100k-row workbook against the
command line on the same file, measured in the same run (and the engine call alone).

    .venv/bin/python bench/api_bench.py               # 100k rows, 9 rounds, xlsx -> csv
    .venv/bin/python bench/api_bench.py --rows 10000 --rounds 3

The API server runs in its own process (werkzeug, threaded, SQLite in a temporary folder),
as `make run` serves the site; the client streams the answer to a file. The CLI is timed
from process start to exit (`python -m app.sheets book.xlsx out.csv`). Both convert in a
sandboxed child process, the same engine. Overhead = (API - CLI) / CLI, on the best of the
rounds (the least disturbed by other load) and on the medians.
"""

import argparse
import multiprocessing
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


def time_cli(book, target):
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "app.sheets", str(book), str(target)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return time.perf_counter() - started


def time_engine(book, target):
    """The conversion alone: app.sheets.convert() in a sandboxed child, as a job runs it."""
    from app.sheets import Options, convert

    started = time.perf_counter()
    convert(book, target, Options(format="csv"), isolate=True)
    return time.perf_counter() - started


def time_api(session, url, book, target):
    started = time.perf_counter()
    with book.open("rb") as source:
        response = session.post(
            f"{url}/api/v1/convert", params={"format": "csv"}, files={"file": source}, stream=True
        )
        response.raise_for_status()
        with target.open("wb") as out:
            for chunk in response.iter_content(1 << 20):
                out.write(chunk)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    import requests

    convert_bench.OUT.mkdir(parents=True, exist_ok=True)
    book = convert_bench.ensure(convert_bench.OUT / f"mixed-{args.rows}.xlsx", "xlsx", args.rows)
    with tempfile.TemporaryDirectory() as folder:
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
            cli_out, api_out = Path(folder) / "cli.csv", Path(folder) / "api.csv"
            time_api(session, url, book, api_out)  # warm up: imports, first request
            engine_out = Path(folder) / "engine.csv"
            cli, api, engine = [], [], []
            for _ in range(args.rounds):  # interleaved, so drift in load hits all three
                cli.append(time_cli(book, cli_out))
                api.append(time_api(session, url, book, api_out))
                engine.append(time_engine(book, engine_out))
            same = cli_out.read_bytes() == api_out.read_bytes() == engine_out.read_bytes()
        finally:
            server.terminate()
            server.join(timeout=10)
    print(f"{book.name} ({book.stat().st_size / 2**20:.1f} MB) -> CSV, {args.rounds} rounds")
    for name, runs in (("engine", engine), ("CLI", cli), ("API", api)):
        listed = ", ".join(f"{t:.2f}" for t in runs)
        print(
            f"  {name:6} best {min(runs):6.2f} s  median {statistics.median(runs):6.2f} s"
            f"  (runs: {listed})"
        )
    # Best of N: the run least disturbed by anything else on the machine.
    for name, runs in (("CLI", cli), ("engine call", engine)):
        best, median = min(runs), statistics.median(runs)
        print(
            f"  API overhead over the {name}: best {100 * (min(api) - best) / best:+.1f}%,"
            f" median {100 * (statistics.median(api) - median) / median:+.1f}%"
        )
    print(f"  same bytes: {same}")


if __name__ == "__main__":
    main()
