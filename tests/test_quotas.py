"""Nobody fills the disk or the queue (issue 22, 3): uploads and conversions are limited per
client (account, API token or address), what each visitor and account keeps is bounded
(settings), the person is told when they reach it, and the admin dashboard shows who keeps
the most. The last test sends one visitor's 40 uploads, 12 at a time, to gunicorn with two
workers."""

import http.client
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import quotas
from app.extensions import db
from app.models import Conversion, Role

from .api_helpers import Api, make_token
from .conftest import AuthActions, build_app
from .smtp import free_port
from .test_convert import FORM, public_id_of, stored_files, upload, wait_for

PROJECT = Path(__file__).resolve().parent.parent
CSV = b"a,b\n" + b"123456,abcdef\n" * 20_000  # 280 KB
MB = 1024 * 1024


def post_csv(client, name="x.csv", **kwargs):
    return upload(client, CSV, name=name, **kwargs)


@pytest.mark.parametrize("app_settings", [{"STORAGE_QUOTA_ANONYMOUS_MB": 1}])
def test_a_visitor_is_told_when_their_files_reach_the_quota(app, client, app_settings):
    answers = [post_csv(client).status_code for _ in range(4)]
    assert answers == [302, 302, 302, 400]
    page = post_csv(client).get_data(as_text=True)
    assert "more than the 1 MB you may keep without an account" in page
    assert "Sign in to keep more" in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Conversion.id))) == 3
        assert db.session.scalar(select(func.sum(Conversion.size))) <= MB
    assert len(stored_files(app)) == 3  # the refused uploads left nothing behind
    history = client.get("/history").get_data(as_text=True)
    assert "Your files take 820 KB of the 1 MB you may keep without an account" in history


@pytest.mark.parametrize("app_settings", [{"STORAGE_QUOTA_USER_MB": 1}])
def test_results_count_toward_an_accounts_quota(app, client, user, app_settings):
    AuthActions(client).login()
    public_id = public_id_of(post_csv(client))
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["x"], "output_format": "json"})
    assert wait_for(app, public_id).status == "done"
    with app.app_context():
        used = quotas.used(Conversion.user_id == user.id)
    assert used > len(CSV) * 2  # the upload and its (larger) JSON result
    response = post_csv(client)
    assert response.status_code == 400
    assert "you may keep with your account" in response.get_data(as_text=True)


@pytest.mark.parametrize("app_settings", [{"STORAGE_QUOTA_USER_MB": 1}])
def test_the_api_answers_the_quota_with_413(app, client, user, app_settings):
    api = Api(client, make_token(app))
    answers = [api.upload("/api/v1/conversions", CSV, "x.csv", "?start=false") for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 413]
    assert answers[-1].mimetype == "application/problem+json"
    assert "you may keep with your account" in answers[-1].get_json()["detail"]
    assert api.upload("/api/v1/convert", CSV, "x.csv").status_code == 413


@pytest.mark.parametrize("app_settings", [{"VISITORS_STORAGE_MB": 1}])
def test_all_visitors_together_are_bounded(app, app_settings, user):
    answers = [post_csv(app.test_client()).status_code for _ in range(4)]  # four visitors
    assert answers == [302, 302, 302, 507]  # the server's room, not one visitor's quota
    page = post_csv(app.test_client()).get_data(as_text=True)
    assert "Visitors&#39; files fill the space Sheetport keeps for them" in page
    member = app.test_client()
    AuthActions(member).login()
    assert post_csv(member).status_code == 302  # accounts have their own quota


def test_the_quota_is_a_setting_admins_change(app, client, admin):
    AuthActions(client).login(email="root@example.com")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="storage_quota_anonymous_mb"' in page and 'value="50"' in page
    form = {
        "allow_anonymous": "y",
        "upload_limit_anonymous_mb": "10",
        "upload_limit_user_mb": "50",
        "storage_quota_anonymous_mb": "12",
        "storage_quota_user_mb": "40",
        "retention_hours": "24",
        "site_notice": "",
    }
    response = client.post("/admin/settings", data=form)  # below the upload limit
    assert "at least the upload limit with an account" in response.get_data(as_text=True)
    with app.test_request_context():
        assert quotas.quota(signed_in=True) == 500 * MB  # nothing saved
    response = client.post("/admin/settings", data={**form, "storage_quota_user_mb": "60"})
    assert response.status_code == 302
    with app.test_request_context():
        assert quotas.quota(signed_in=False) == 12 * MB and quotas.quota(signed_in=True) == 60 * MB


def test_the_dashboard_shows_who_keeps_the_most(app, client, admin, user):
    visitor = app.test_client()
    post_csv(visitor)
    post_csv(visitor)
    member = app.test_client()
    AuthActions(member).login()
    post_csv(member)
    AuthActions(client).login(email="root@example.com")
    page = client.get("/admin/").get_data(as_text=True)
    table = page.split('data-testid="top-users"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert "visitor " in rows[0] and ">2<" in rows[0] and "547 KB" in rows[0]
    assert "ada@example.com" in rows[1] and "273 KB" in rows[1]


# Rate limits: per client, shared by the web and the API's operations of one kind.

LIMITED = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}


@pytest.mark.parametrize("app_settings", [{**LIMITED, "UPLOAD_RATE_LIMIT": "3 per minute"}])
def test_uploads_are_limited_per_address(app, client, app_settings):
    answers = [post_csv(client) for _ in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert "Too many uploads" in answers[-1].get_data(as_text=True)
    assert post_csv(app.test_client()).status_code == 429  # same address, new session
    assert client.get("/convert").status_code == 200  # the page itself is not limited
    assert len(stored_files(app)) == 3


@pytest.mark.parametrize("app_settings", [{**LIMITED, "UPLOAD_RATE_LIMIT": "2 per minute"}])
def test_api_uploads_are_limited_per_token(app, client, user, app_settings):
    api = Api(client, make_token(app))
    answers = [api.upload("/api/v1/conversions", CSV, "x.csv", "?start=false") for _ in range(2)]
    answers.append(api.upload("/api/v1/convert", CSV, "x.csv"))
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[-1].mimetype == "application/problem+json" and answers[-1].headers["Retry-After"]
    other = Api(client, make_token(app, name="another"))
    assert other.upload("/api/v1/conversions", CSV, "x.csv", "?start=false").status_code == 201


@pytest.mark.parametrize("app_settings", [{**LIMITED, "CONVERT_RATE_LIMIT": "2 per minute"}])
def test_starting_conversions_is_limited(app, client, user, app_settings):
    AuthActions(client).login()
    public_id = public_id_of(post_csv(client))
    answers = []
    for _ in range(3):
        answers.append(client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["x"]}))
        wait_for(app, public_id)
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert client.get(f"/convert/{public_id}").status_code == 200  # looking is not limited
    api = Api(client, make_token(app))
    response = api.post(f"/api/v1/conversions/{public_id}/convert", json={})
    assert response.status_code == 202  # a token is a client of its own
    wait_for(app, public_id)
    assert api.post(f"/api/v1/conversions/{public_id}/convert", json={}).status_code == 202
    wait_for(app, public_id)
    response = api.post(f"/api/v1/conversions/{public_id}/convert", json={})
    assert response.status_code == 429 and response.mimetype == "application/problem+json"


# Under gunicorn with two workers: one visitor, 40 uploads, 12 at a time.

GUNICORN_APP = """
import os
from app import create_app
app = create_app("testing", {
    "SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URI"],
    "WTF_CSRF_ENABLED": False,  # a script posts, not a page
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "sheetport+db://",
    "UPLOAD_RATE_LIMIT": "20 per minute",
    "STORAGE_QUOTA_ANONYMOUS_MB": 2,
    "UPLOAD_FOLDER": os.environ["TEST_UPLOAD_FOLDER"],
})
"""


def multipart_body(content, name):
    boundary = "sheetportboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def post_to(port, body, content_type, cookie=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type, "Connection": "close"}
    if cookie:
        headers["Cookie"] = cookie
    connection.request("POST", "/convert", body, headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, response.getheader("Set-Cookie")


@pytest.mark.sqlite_only  # its gunicorn workers share a SQLite file the test makes
def test_one_visitor_cannot_fill_the_disk_through_two_gunicorn_workers(tmp_path):
    database = f"sqlite:///{tmp_path / 'quota.sqlite'}"
    setup = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=database)
    with setup.app_context():
        db.create_all()
        Role.insert_roles()
        db.engine.dispose()
    folder = tmp_path / "files"
    (tmp_path / "quota_app.py").write_text(GUNICORN_APP)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4"]
        + ["-b", f"127.0.0.1:{port}", "--chdir", str(tmp_path), "--pythonpath", str(PROJECT)]
        + ["quota_app:app"],
        env={
            **os.environ,
            "TEST_DATABASE_URI": database,
            "TEST_UPLOAD_FOLDER": str(folder),
            "SHEETPORT_INSTANCE_PATH": str(tmp_path / "instance"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body, content_type = multipart_body(CSV, "month.csv")
        deadline = time.monotonic() + 60
        while True:
            try:
                status, cookie = post_to(port, body, content_type)
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert status == 302
        cookie = cookie.split(";")[0]
        answers, lock = [], threading.Lock()

        def send(count):
            for _ in range(count):
                status, _ = post_to(port, body, content_type, cookie)
                with lock:
                    answers.append(status)

        senders = [threading.Thread(target=send, args=(4 if i < 4 else 3,)) for i in range(12)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert len(answers) == 40
    assert set(answers) <= {302, 400, 429}, answers  # never a 500
    assert answers.count(429) == 21, answers  # 20 a minute, the first upload included
    assert "Traceback" not in errors
    check = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=database)
    with check.app_context():
        kept = db.session.scalar(select(func.sum(Conversion.size)))
        rows = db.session.scalar(select(func.count(Conversion.id)))
    assert kept <= 2 * MB and rows == answers.count(302) + 1
    on_disk = sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
    assert on_disk <= 2 * MB
