"""The API guide works as written (issue 27, 4): its curl line, copied from the page of a
development server on a port other than 5000 with no SITE_URL set, converts a file and
fails loudly on a problem; the OpenAPI document's server and every emailed link are that
server's address too."""

import html
import json
import re
import shutil
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import Role

from .api_helpers import WORKBOOK, make_token
from .conftest import PASSWORD, TEST_DATABASE_URL, empty_database
from .sheets.books import write_xlsx


@pytest.fixture
def development(tmp_path, monkeypatch):
    """The development config as `make run` has it: no SITE_URL."""
    monkeypatch.delenv("SITE_URL", raising=False)
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path / "instance"))
    database = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'dev.sqlite'}"
    if TEST_DATABASE_URL:
        empty_database(TEST_DATABASE_URL)
    app = create_app(
        "development",
        {
            "SQLALCHEMY_DATABASE_URI": database,
            "RATELIMIT_ENABLED": False,
            "MAIL_SUPPRESS_SEND": True,
            "MAIL_SEND_SYNC": True,
            "CLEANUP_INTERVAL_MINUTES": 0,
        },
    )
    assert not app.config.get("SITE_URL")
    with app.app_context():
        db.create_all()
        Role.insert_roles()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def served(development):
    server = make_server("127.0.0.1", 0, development, threaded=True)
    assert server.server_port != 5000
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield development, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def curl_line(page):
    """The guide's curl command, as a person copies it off the page."""
    block = re.search(r"<pre><code>(curl .*?)</code></pre>", page, re.S).group(1)
    return html.unescape(block).replace("\\\n", " ")


@pytest.fixture
def user_token(development):
    from app.models import User

    with development.app_context():
        user = User(email="ada@example.com", name="Ada", role=Role.default_role(), confirmed=True)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    return make_token(development)


def test_the_guides_curl_line_works_as_written(served, user_token, tmp_path):
    assert shutil.which("curl"), "curl is not installed; .ci/run installs it with apt-get"
    app, address = served
    page = app.test_client().get("/api", base_url=address).get_data(as_text=True)
    command = curl_line(page)
    assert f'"{address}/api/v1/convert?format=csv&sheet=' in command
    assert "--fail-with-body" in command
    write_xlsx(tmp_path / "sales.xlsx", {"Orders": WORKBOOK["Data"]})
    env = {"TOKEN": user_token, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "orders.csv").read_bytes().startswith(b"id,name,code\r\n1,Z")
    # A problem is an error exit, not a file that looks converted.
    (tmp_path / "orders.csv").unlink()
    wrong = command.replace("sheet=Orders", "sheet=Nope")
    done = subprocess.run(wrong, shell=True, cwd=tmp_path, env=env, capture_output=True)
    assert done.returncode == 22
    assert b"no sheet named" in (tmp_path / "orders.csv").read_bytes()


def test_the_guides_webhook_secret_line_works_as_written(served, user_token, tmp_path):
    app, address = served
    page = app.test_client().get("/api", base_url=address).get_data(as_text=True)
    blocks = re.findall(r"<pre><code>(curl .*?)</code></pre>", page, re.S)
    (command,) = [html.unescape(b).replace("\\\n", " ") for b in blocks if "webhooks" in b]
    env = {"TOKEN": user_token, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["secret"].startswith("whsec_")


def test_the_documents_server_is_the_served_address(served):
    app, address = served
    spec = app.test_client().get("/api/v1/openapi.json", base_url=address).get_json()
    assert spec["servers"] == [{"url": f"{address}/"}]


def test_emailed_links_follow_the_served_address_in_development(served, caplog):
    """Without a mail server, development writes each email to the log."""
    app, address = served
    client = app.test_client()
    form = client.get("/auth/register", base_url=address).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    fields = {"name": "Grace", "email": "grace@example.com", "password": PASSWORD}
    caplog.set_level("WARNING")
    response = client.post(
        "/auth/register",
        base_url=address,
        data={**fields, "password2": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    [email] = [
        r.getMessage() for r in caplog.records if "this email was not sent" in r.getMessage()
    ]
    links = re.findall(r"https?://[^\s\"'<>]+", email)
    assert links and all(link.startswith(f"{address}/") for link in links)


def test_a_set_site_url_wins_over_any_host(development):
    development.config["SITE_URL"] = "https://sheets.example.org"
    page = (
        development.test_client().get("/api", base_url="http://evil.example").get_data(as_text=True)
    )
    assert '"https://sheets.example.org/api/v1/convert' in html.unescape(page)
