"""Throughput of Sheetport's pages beside a bare Flask route, under gunicorn, in one run.

    .venv/bin/python bench/pages_bench.py                  # 2 workers, 4 clients
    .venv/bin/python bench/pages_bench.py --workers 2 --clients 8 --seconds 3 --rounds 5
    .venv/bin/python bench/pages_bench.py --only file,status   # the pages whose name has a word

One gunicorn serves both the app (wsgi.py, production config, SQLite) and, under /bare/, a
bare Flask app whose one route renders a small template: the baseline. Client processes make
requests for a fixed time per page, each on a new connection (gunicorn's sync workers close
them anyway). The figures depend on the machine and its load; the ratios come from the same
run and are what to compare. Signed-in pages use a session made in this process: the
bench's user owns the history's conversions, an ordinary workbook (3 sheets of 10 columns
and 200 rows, converted) and a 2,000-column one; an admin sees the admin pages.
"""

import argparse
import http.client
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = """
from flask import Flask, render_template_string
from werkzeug.middleware.dispatcher import DispatcherMiddleware

bare = Flask("bare")


@bare.get("/")
def index():
    return render_template_string(
        "<!doctype html><title>{{ title }}</title><ul>{% for i in items %}<li>{{ i }}</li>"
        "{% endfor %}</ul>", title="Bare", items=range(10)
    )


from wsgi import app  # Sheetport as gunicorn runs it: `gunicorn wsgi:app`

app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/bare": bare.wsgi_app})
"""


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(folder, rows):
    """A database with an account holding `rows` conversions, an ordinary converted workbook
    and a wide one, and an admin; returns their cookies and public ids (a dict)."""
    from app import create_app
    from app.cli import make_admin
    from app.extensions import db
    from app.models import Conversion, Role, User, utcnow

    app = create_app("production", {"WTF_CSRF_ENABLED": False})
    with app.app_context():
        db.create_all()
        Role.insert_roles()
        user = User(email="bench@example.com", name="Bench", confirmed=True)
        user.set_password("a long password")
        db.session.add(user)
        db.session.flush()
        preview = {"rows": [[f"cell {r}-{c}" for c in range(12)] for r in range(100)]}
        for number in range(rows):
            db.session.add(
                Conversion(
                    user_id=user.id,
                    original_name=f"report {number}.xlsx",
                    stored_name=f"{number:032x}",
                    detected_format="xlsx",
                    size=123_456,
                    info={"sheets": [{"name": "Data", "visible": True}], "previews": preview},
                    options={"format": "csv", "sheets": ["Data"]},
                    output_format="csv",
                    status="done",
                    result_name=f"report {number}.csv",
                    result_stored_name=f"{number + 10**6:032x}.csv",
                    result_size=45_678,
                    rows=1000,
                    expires_at=utcnow() + timedelta(hours=24),
                )
            )
        db.session.commit()
        public_id = db.session.scalar(db.select(Conversion.public_id).limit(1))
        make_admin("admin@example.com", "a long password")
        db.engine.dispose()
    client = browser(app)
    cookie = log_in(client, "bench@example.com")
    wide = upload_wide(client, folder / "wide.xlsx")
    ordinary = upload_ordinary(client, folder / "quarterly report.xlsx")
    admin_cookie = log_in(browser(app), "admin@example.com")
    return {
        "cookie": cookie,
        "admin_cookie": admin_cookie,
        "public_id": public_id,
        "wide": wide,
        "ordinary": ordinary,
    }


# What the client processes send, as one browser would: a session made with another
# User-Agent would be marked not fresh by Flask-Login on every request (a new cookie each).
USER_AGENT = "pages-bench"
HEADERS = {"Host": "localhost", "X-Forwarded-Proto": "https", "User-Agent": USER_AGENT}


def browser(app):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    return client


def log_in(client, email):
    """The session cookie of a signed-in browser: after its first page, which adds the CSRF
    token that every page's forms use (without it, each page would make a new one)."""
    response = client.post(
        "/auth/login",
        data={"email": email, "password": "a long password"},
        base_url="https://localhost",
    )
    cookie = re.search(r"session=([^;]+)", response.headers["Set-Cookie"]).group(1)
    response = client.get("/", base_url="https://localhost")
    found = re.search(r"session=([^;]+)", response.headers.get("Set-Cookie", ""))
    return found.group(1) if found else cookie


def upload_ordinary(client, path, sheets=3, columns=10, rows=200):
    """A workbook like most uploads (names, dates, numbers), uploaded and converted to CSV
    by the bench's user; returns its public id once the conversion is done."""
    from datetime import date

    import xlsxwriter

    with xlsxwriter.Workbook(path) as book:
        dates = book.add_format({"num_format": "yyyy-mm-dd"})
        for number in range(sheets):
            sheet = book.add_worksheet(f"Q{number + 1} sales")
            sheet.write_row(0, 0, [f"Column {c + 1}" for c in range(columns)])
            for r in range(1, rows):
                sheet.write_row(r, 0, [f"Customer {r}", r * 7 % 101, r * 1.25])
                sheet.write_datetime(r, 3, date(2026, 1 + r % 12, 1 + r % 28), dates)
                sheet.write_row(r, 4, [f"text {r}-{c}" for c in range(4, columns)])
    with open(path, "rb") as file:
        response = client.post(
            "/convert",
            data={"file": (file, path.name), "output_format": "csv", "quick": "1"},
            content_type="multipart/form-data",
            base_url="https://localhost",
        )
    public_id = response.headers["Location"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(f"/convert/{public_id}/status", base_url="https://localhost").json
        if status["status"] == "done":
            return public_id
        if status["status"] == "failed":
            raise SystemExit(f"the ordinary workbook's conversion failed: {status['error']}")
        time.sleep(0.1)
    raise SystemExit("the ordinary workbook's conversion did not finish in 60 s")


def upload_wide(client, path, columns=2000, rows=100):
    """A 2,000-column workbook uploaded by the bench's user; returns its public id."""
    import xlsxwriter

    with xlsxwriter.Workbook(path, {"constant_memory": True}) as book:
        sheet = book.add_worksheet("Data")
        for r in range(rows):
            sheet.write_row(r, 0, [f"value {r}-{c}" for c in range(columns)])
    with open(path, "rb") as file:
        response = client.post(
            "/convert",
            data={"file": (file, path.name)},
            content_type="multipart/form-data",
            base_url="https://localhost",
        )
    return response.headers["Location"].rsplit("/", 1)[-1]


def hammer(port, path, cookie, seconds, results):
    headers = dict(HEADERS)
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    done = errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                done += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            connection.close()
    results.put((done, errors))


def measure_with_wrk(port, path, cookie, clients, seconds):
    """wrk (Debian's `wrk`, C, one thread a core): the client costs the machine little, so
    the figures are the server's own, as in the issue's measurements."""
    command = ["wrk", "--threads", str(min(2, clients)), "--connections", str(clients)]
    command += ["--duration", f"{max(1, round(seconds))}s", "--timeout", "30s"]
    headers = dict(HEADERS)
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    broken = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(failed.group(1)) if failed else 0
    errors += sum(map(int, broken.groups())) if broken else 0
    return rate, errors


def measure(port, path, cookie, clients, seconds, client="python"):
    if client == "wrk":
        return measure_with_wrk(port, path, cookie, clients, seconds)
    results = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=hammer, args=(port, path, cookie, seconds, results))
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    totals = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(d for d, _ in totals) / seconds, sum(e for _, e in totals)


def page_size(port, path, cookie):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = dict(HEADERS)
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if cookie and response.getheader("Set-Cookie"):
        raise SystemExit(f"{path} sets a new session cookie on every request")
    return len(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="page/baseline alternations")
    parser.add_argument("--rows", type=int, default=30, help="conversions on the history page")
    parser.add_argument(
        "--client",
        choices=("python", "wrk"),
        default="python",
        help="what makes the requests: client processes in Python, or wrk (apt-get install wrk)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated words: measure the pages whose name has one"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pages-bench-"))
    os.environ.update(
        SHEETPORT_INSTANCE_PATH=str(folder),
        SECRET_KEY="bench-secret-key",
        SITE_URL="https://localhost",
        DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite'}",
        CLEANUP_INTERVAL_MINUTES="0",
    )
    made = prepare(folder, args.rows)
    cookie, admin_cookie, public_id = made["cookie"], made["admin_cookie"], made["public_id"]
    (folder / "bench_server.py").write_text(SERVER)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(args.workers)]
        + ["--bind", f"127.0.0.1:{port}", "--chdir", str(folder)]
        + ["--pythonpath", str(ROOT), "bench_server:app"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if page_size(port, "/bare/", cookie):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        pages = [
            ("bare Flask route", "/bare/", None),
            ("home", "/", None),
            ("/convert", "/convert", None),
            ("login", "/auth/login", None),
            ("status JSON (signed in)", f"/convert/{public_id}/status", cookie),
            (f"history, {args.rows} rows (signed in)", "/history", cookie),
            (
                "an ordinary file's page, 3 sheets, done (signed in)",
                f"/convert/{made['ordinary']}",
                cookie,
            ),
            ("a 2,000-column upload's page (signed in)", f"/convert/{made['wide']}", cookie),
            ("register", "/auth/register", None),
            ("contact", "/contact", None),
            ("help", "/help", None),
            ("account (signed in)", "/profile", cookie),
            ("admin dashboard (admin)", "/admin/", admin_cookie),
            ("admin conversions (admin)", "/admin/conversions", admin_cookie),
        ]
        if args.only:
            words = args.only.split(",")
            pages = pages[:1] + [page for page in pages[1:] if any(w in page[0] for w in words)]
        for _, path, page_cookie in pages:  # warm every worker
            measure(port, path, page_cookie, args.clients, 0.5, args.client)
        print(
            f"gunicorn --workers {args.workers}, {args.clients} clients ({args.client}), "
            f"{args.rounds} rounds of {args.seconds:g} s a page, each beside the bare route\n"
        )
        print("| page | requests/s | bare route meanwhile | errors | ratio to bare | HTML bytes |")
        print("| --- | --- | --- | --- | --- | --- |")
        bare = pages[0]
        for name, path, page_cookie in pages[1:]:
            # Alternate with the baseline in short rounds, so that a change in the machine's
            # load during the run moves both figures, not the ratio.
            rates, bare_rates, errors = [], [], 0
            for _ in range(args.rounds):
                bare_rates.append(
                    measure(port, bare[1], None, args.clients, args.seconds, args.client)[0]
                )
                rate, failed = measure(
                    port, path, page_cookie, args.clients, args.seconds, args.client
                )
                rates.append(rate)
                errors += failed
            rate, baseline = sum(rates) / len(rates), sum(bare_rates) / len(bare_rates)
            size = page_size(port, path, page_cookie)
            print(
                f"| {name} | {rate:.0f} | {baseline:.0f} | {errors} | "
                f"{rate / baseline:.2f}x | {size:,} |"
            )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
