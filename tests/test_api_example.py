"""The API guide's Python example (static/api/example.py), run as a user would run it,
against a live server on a free port."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .api_helpers import WORKBOOK, make_token
from .sheets.books import write_xlsx

EXAMPLE = Path(__file__).resolve().parent.parent / "static" / "api" / "example.py"


@pytest.fixture
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def run_example(url, token, source, target):
    env = {"SHEETPORT_URL": url, "SHEETPORT_TOKEN": token, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), str(source), str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("app_settings", [{}, {"API_ONE_SHOT_MAX_MB": 0}], ids=["200", "202"])
def test_the_python_example_converts_a_file(app, user, live_url, tmp_path):
    source = write_xlsx(tmp_path / "book.xlsx", WORKBOOK)
    target = tmp_path / "out.csv"
    done = run_example(live_url, make_token(app), source, target)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == "id,name,code\r\n1,Zoë,00123\r\n2,Bob,007\r\n".encode()


def test_the_python_example_reports_the_problem(app, user, live_url, tmp_path):
    source = tmp_path / "notes.txt"
    source.write_bytes(b"\x00\x01\x02 not a spreadsheet")
    done = run_example(live_url, make_token(app), source, tmp_path / "out.csv")
    assert done.returncode == 1 and done.stderr.strip()
    assert "Traceback" not in done.stderr


def test_the_example_is_short_and_shown_on_the_docs_page(client):
    lines = EXAMPLE.read_text().splitlines()
    assert len(lines) <= 22
    page = client.get("/api").get_data(as_text=True)
    assert "api.post(f&#34;{site}/api/v1/convert&#34;" in page
