"""The JSON API through the test client: tokens, every endpoint, every error status."""

import io
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db, limiter
from app.models import ApiToken, AuditEvent, Conversion, Role, User, utcnow
from app.sheets import OUTPUT_FORMATS, Options, convert

from .api_helpers import EXPIRED, WORKBOOK, Api, make_token
from .conftest import fetch
from .sheets.books import write_xlsx

PROBLEM = "application/problem+json"


@pytest.fixture
def workbook_bytes(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", WORKBOOK).read_bytes()


@pytest.fixture
def api(app, client, user):
    return Api(client, make_token(app))


def assert_problem(response, status, detail=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    if detail is not None:
        assert detail in body["detail"], body["detail"]
    return body


def wait_done(api, public_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/conversions/{public_id}").json
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("conversion did not finish")


# --- tokens ------------------------------------------------------------------------------


def test_no_token_is_401_problem(client):
    response = client.get("/api/v1/me")
    body = assert_problem(response, 401, "Authorization: Bearer")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "html" not in response.get_data(as_text=True).lower()
    assert body["detail"]


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic YTpi", "Bearer ", "bearer"])
def test_bad_tokens_are_401(client, user, header):
    assert_problem(client.get("/api/v1/me", headers={"Authorization": header}), 401)


def test_me(app, api, user):
    body = api.get("/api/v1/me").json
    assert body["email"] == "ada@example.com" and body["role"] == "User"
    assert body["token"]["name"] == "script" and body["token"]["last_used_at"]
    assert body["limits"]["upload_bytes"] == 50 * 1024 * 1024
    assert body["limits"]["one_shot_bytes"] == 20 * 1024 * 1024
    token = fetch(app, ApiToken, name="script")
    assert token.last_used_at is not None and len(token.token_hash) == 64


def test_expired_token_is_refused(app, client, user):
    api = Api(client, make_token(app, expires_in=EXPIRED))
    assert_problem(api.get("/api/v1/me"), 401, "expired")


def test_revoked_token_is_refused(app, client, user):
    from app.tokens import revoke_token

    api = Api(client, make_token(app))
    assert api.get("/api/v1/me").status_code == 200
    with app.app_context():
        revoke_token(db.session.scalar(select(ApiToken)))
    assert_problem(api.get("/api/v1/me"), 401, "revoked")


def test_deactivated_users_token_is_refused(app, client, user):
    api = Api(client, make_token(app))
    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()
    assert_problem(api.get("/api/v1/me"), 401, "deactivated")


def test_unconfirmed_user_is_403(app, client, make_user):
    make_user(email="new@example.com", confirmed=False)
    api = Api(client, make_token(app, email="new@example.com"))
    assert_problem(api.get("/api/v1/me"), 403, "Confirm your email")


def test_role_without_api_permission_is_403(app, client, user):
    api = Api(client, make_token(app))
    with app.app_context():
        role = Role(name="No API access", permissions=0)
        db.session.add(role)
        db.session.get(User, user.id).role = role
        db.session.commit()
    assert_problem(api.get("/api/v1/me"), 403, "API access")


def test_token_lifecycle_on_the_profile_page(app, client, auth, user):
    auth.login()
    page = client.get("/profile").get_data(as_text=True)
    assert "API tokens" in page and "You have no API tokens." in page
    response = client.post("/profile/tokens", data={"name": "nightly", "expires_in_days": "30"})
    # Post/Redirect/Get: reloading the page that shows the secret posts nothing again.
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile#api-tokens"
    page = client.get("/profile")
    assert page.headers["Cache-Control"] == "no-store"  # as every private page
    page = page.get_data(as_text=True)
    secret = page.split('data-testid="new-token-secret">')[1].split("<")[0]
    assert secret.startswith("spt_") and "nightly" in page and "Copy it now" in page
    # Shown once only: the reload shows it no more, and made no second token.
    again = client.get("/profile")
    assert secret not in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1
    token = fetch(app, ApiToken, name="nightly")
    assert token.token_hash == ApiToken.hash_secret(secret) and secret not in token.token_hash
    assert timedelta(days=29) < token.expires_at - utcnow() <= timedelta(days=30)
    api = Api(client, secret)
    assert api.get("/api/v1/me").json["token"]["name"] == "nightly"
    assert client.post(f"/profile/tokens/{token.id}/revoke").status_code == 302
    assert_problem(api.get("/api/v1/me"), 401, "revoked")
    assert "revoked" in client.get("/profile").get_data(as_text=True)
    actions = [e.action for e in db_events(app)]
    assert "api_token_create" in actions and "api_token_revoke" in actions


def session_of(app, client):
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_a_new_tokens_secret_crosses_the_redirect_sealed(app, client, auth, user):
    """Between the POST and the page that shows it, the secret waits in the session cookie,
    which is signed but readable: it is encrypted there, and gone once shown."""
    auth.login()
    response = client.post("/profile/tokens", data={"name": "nightly", "expires_in_days": "0"})
    sealed = session_of(app, client)["new_api_token"]
    page = client.get("/profile").get_data(as_text=True)
    secret = page.split('data-testid="new-token-secret">')[1].split("<")[0]
    assert secret.startswith("spt_")
    assert secret not in str(sealed) and secret[4:] not in str(sealed)
    assert all(secret not in c for c in response.headers.getlist("Set-Cookie"))
    assert "new_api_token" not in session_of(app, client)


def test_a_sealed_secret_from_another_key_is_not_shown(app, client, auth, user):
    auth.login()
    client.post("/profile/tokens", data={"name": "nightly", "expires_in_days": "0"})
    with client.session_transaction() as session:
        session["new_api_token"] = {**session["new_api_token"], "sealed": "not-sealed-here"}
    page = client.get("/profile").get_data(as_text=True)
    assert client.get("/profile").status_code == 200
    assert 'data-testid="new-token-secret"' not in page
    assert "could not be shown" in page  # and the page says so: revoke it, make another


def db_events(app):
    with app.app_context():
        return db.session.scalars(select(AuditEvent)).all()


def test_token_form_needs_a_name(app, client, auth, user):
    auth.login()
    response = client.post("/profile/tokens", data={"name": "", "expires_in_days": "0"})
    assert response.status_code == 303
    assert "Name the token" in client.get("/profile").get_data(as_text=True)
    assert fetch(app, ApiToken, user_id=user.id) is None


def test_no_expiry_token(app, client, auth, user):
    auth.login()
    client.post("/profile/tokens", data={"name": "forever", "expires_in_days": "0"})
    assert fetch(app, ApiToken, name="forever").expires_at is None


def test_unconfirmed_user_cannot_create_tokens(app, client, auth, make_user):
    make_user(email="new@example.com", confirmed=False)
    auth.login(email="new@example.com")
    response = client.post("/profile/tokens", data={"name": "x", "expires_in_days": "0"})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/unconfirmed"
    assert fetch(app, ApiToken, name="x") is None
    # The guide stays open to them; the API answers for itself, never with a redirect.
    assert client.get("/api").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert_problem(client.get("/api/v1/me"), 401)


def test_role_without_api_access_cannot_create_tokens(app, client, auth, user):
    with app.app_context():
        role = Role(name="No API access", permissions=0)
        db.session.add(role)
        db.session.get(User, user.id).role = role
        db.session.commit()
    auth.login()
    assert "does not include API access" in client.get("/profile").get_data(as_text=True)
    response = client.post("/profile/tokens", data={"name": "x", "expires_in_days": "0"})
    assert response.status_code == 403
    assert fetch(app, ApiToken, name="x") is None


def test_someone_elses_token_cannot_be_revoked(app, client, auth, user, make_user):
    make_user(email="eve@example.com")
    make_token(app, email="eve@example.com", name="eve's")
    token = fetch(app, ApiToken, name="eve's")
    auth.login()
    assert client.post(f"/profile/tokens/{token.id}/revoke").status_code == 404
    assert fetch(app, ApiToken, name="eve's").revoked_at is None


def test_token_pages_need_login(client):
    response = client.post("/profile/tokens", data={"name": "x"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_token_form_keeps_csrf_and_the_api_needs_none(app, client, auth, user):
    auth.login()
    form = {"name": "x", "expires_in_days": "0"}
    response = client.post("/profile/tokens", data=form, csrf=False)
    assert response.status_code in (302, 400)
    assert fetch(app, ApiToken, name="x") is None
    api = Api(client, make_token(app))
    assert_problem(api.post("/api/v1/conversions/nope/convert", json={}), 404)


# --- one-shot -------------------------------------------------------------------------------


def test_one_shot_convert_streams_the_file(app, api, workbook_bytes, tmp_path):
    response = api.upload("/api/v1/convert", workbook_bytes, query="?format=csv&sheet=Data")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment")
    # Named as on the web, except that the one-shot path does not count the sheets first.
    assert response.headers["Content-Disposition"] == "attachment; filename=report.csv"
    source = tmp_path / "source.xlsx"
    source.write_bytes(workbook_bytes)
    expected = tmp_path / "expected.csv"
    convert(source, expected, Options(sheets=["Data"]))
    assert response.data == expected.read_bytes()


def test_one_shot_options_as_the_cli(api, workbook_bytes):
    response = api.upload(
        "/api/v1/convert",
        workbook_bytes,
        query="?format=json&all_sheets=true&json_style=rows",
    )
    assert response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert names == ["report - Data.json", "report - Other.json"]
    response = api.upload(
        "/api/v1/convert", workbook_bytes, query="?format=csv&delimiter=;&line_ending=lf"
    )
    assert response.data.startswith(b"id;name;code\n1;Zo\xc3\xab;00123\n")
    response = api.upload("/api/v1/convert", workbook_bytes, query="?format=xlsx")
    assert response.mimetype.endswith("spreadsheetml.sheet")


def test_one_shot_above_the_size_answers_202(app, client, user, workbook_bytes):
    app.config["API_ONE_SHOT_MAX_MB"] = 0
    api = Api(client, make_token(app))
    response = api.upload("/api/v1/convert", workbook_bytes)
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location == f"/api/v1/conversions/{response.json['id']}"
    assert response.json["status"] in ("queued", "running", "done")
    done = wait_done(api, response.json["id"])
    result = api.get(done["links"]["result"])
    assert result.status_code == 200 and result.data.startswith(b"id,name,code\r\n")


def test_one_shot_too_slow_answers_202(app, client, user, workbook_bytes):
    app.config["API_ONE_SHOT_WAIT_SECONDS"] = 0
    api = Api(client, make_token(app))
    response = api.upload("/api/v1/convert", workbook_bytes)
    assert response.status_code == 202 and response.headers["Location"]


def test_one_shot_unknown_sheet_is_422_and_keeps_nothing(app, api, workbook_bytes):
    response = api.upload("/api/v1/convert", workbook_bytes, query="?sheet=Nope")
    assert_problem(response, 422, "no sheet named 'Nope'")
    assert fetch(app, Conversion, original_name="report.xlsx") is None
    import os

    folder = app.config["UPLOAD_FOLDER"]
    assert not os.path.isdir(folder) or os.listdir(folder) == []


def test_bad_option_values_are_422_with_the_fields(api, workbook_bytes):
    response = api.upload(
        "/api/v1/convert", workbook_bytes, query="?format=pdf&skip_rows=-1&delimiter=ab"
    )
    body = assert_problem(response, 422, "format (query): Must be one of")
    names = {e["name"] for e in body["errors"]}
    assert names == {"format", "skip_rows", "delimiter"}
    assert "skip_rows (query)" in body["detail"] and "delimiter (query)" in body["detail"]
    assert all(e["in"] == "query" for e in body["errors"])


def test_all_sheets_overrides_sheet_as_on_the_web(api, workbook_bytes):
    response = api.upload("/api/v1/convert", workbook_bytes, query="?sheet=Data&all_sheets=1")
    assert response.mimetype == "application/zip"


def test_not_a_spreadsheet_is_415_with_the_webs_reason(app, api, client, auth):
    content = b"\x89PNG\r\n\x1a\n" + bytes(200)
    response = api.upload("/api/v1/convert", content, name="photo.png")
    body = assert_problem(response, 415)
    web = client.post(
        "/convert",
        data={"file": (io.BytesIO(content), "photo.png")},
        content_type="multipart/form-data",
    )
    assert body["detail"] in web.get_data(as_text=True).replace("&#39;", "'")


def test_empty_file_is_422(api):
    assert_problem(api.upload("/api/v1/convert", b"", name="empty.xlsx"), 422)


def test_upload_over_the_users_limit_is_413_with_the_webs_reason(app, api, workbook_bytes):
    with app.app_context():
        from app import settings

        settings.save({"upload_limit_user_mb": 0})
        db.session.commit()
    response = api.upload("/api/v1/convert", workbook_bytes)
    assert_problem(response, 413, "The file is larger than the 0 bytes limit with your account.")


def test_request_over_max_content_length_is_413(app, api, workbook_bytes):
    app.config["MAX_CONTENT_LENGTH"] = 100
    assert_problem(api.upload("/api/v1/convert", workbook_bytes), 413, "limit")


def test_not_multipart_is_415(api):
    assert_problem(api.post("/api/v1/convert", json={"file": "x"}), 415, "multipart/form-data")
    assert_problem(api.post("/api/v1/conversions", data=b"x"), 415)


def test_missing_file_is_422(api):
    response = api.post("/api/v1/convert", data={"x": "1"}, content_type="multipart/form-data")
    body = assert_problem(response, 422)
    missing = "Send a file, or a url to fetch it from."
    assert sorted(body["errors"], key=lambda e: e["name"]) == [
        {"name": "file", "in": "files", "detail": missing},
        {"name": "url", "in": "files", "detail": missing},  # the other way to send one
        {"name": "x", "in": "files", "detail": "Unknown field."},
    ]


def test_failed_one_shot_is_422_with_the_engines_reason(app, api, tmp_path):
    path = write_xlsx(tmp_path / "long.xlsx", {"S": [["x" * 10]]})
    response = api.upload("/api/v1/convert", path.read_bytes(), query="?format=csv&encoding=cp1252")
    assert response.status_code == 200  # plain ASCII converts
    text = tmp_path / "zh.csv"
    text.write_text("name\n李雷\n", encoding="utf-8")
    response = api.upload(
        "/api/v1/convert", text.read_bytes(), name="zh.csv", query="?encoding=cp1252"
    )
    assert_problem(response, 422, "cp1252")


# --- conversions as resources ------------------------------------------------------------------


def test_conversion_resource_lifecycle(app, api, workbook_bytes):
    response = api.upload("/api/v1/conversions", workbook_bytes, query="?format=json&sheet=Other")
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"/api/v1/conversions/{body['id']}"
    assert body["detected_format"] == "xlsx" and body["name"] == "report.xlsx"
    assert [s["name"] for s in body["sheets"]] == ["Data", "Other"]
    assert body["sheets"][0]["rows"] == 3 and body["sheets"][0]["columns"] == 3
    done = wait_done(api, body["id"])
    assert done["status"] == "done" and done["progress"]["percent"] == 100
    assert done["result"]["name"] == "report - Other.json" and done["result"]["rows"] == 2
    assert done["options"]["format"] == "json" and done["options"]["sheet"] == ["Other"]
    result = api.get(done["links"]["result"])
    assert json.loads(result.data) == [{"x": 1}] and result.mimetype == "application/json"
    # Convert again with new options: 202, a new job.
    again = api.post(done["links"]["convert"], json={"format": "tsv", "sheet": ["Data"]})
    assert again.status_code == 202 and again.headers["Location"].endswith(body["id"])
    done = wait_done(api, body["id"])
    assert api.get(done["links"]["result"]).data.startswith(b"id\tname\tcode\r\n")
    # Delete: 204, files gone, then 404.
    stored = fetch(app, Conversion, public_id=body["id"])
    assert api.delete(f"/api/v1/conversions/{body['id']}").status_code == 204
    assert fetch(app, Conversion, public_id=body["id"]) is None
    folder = app.config["UPLOAD_FOLDER"]
    import os

    assert stored.stored_name not in os.listdir(folder)
    assert_problem(api.get(f"/api/v1/conversions/{body['id']}"), 404)
    assert "conversion_delete" in [e.action for e in db_events(app)]


def test_upload_only_then_preview(api, workbook_bytes):
    body = api.upload("/api/v1/conversions", workbook_bytes, query="?start=false").json
    assert body["status"] == "uploaded" and body["result"] is None
    preview = api.get(f"/api/v1/conversions/{body['id']}/preview?rows=2").json
    assert preview == {
        "sheet": "Data",
        "rows": [["id", "name", "code"], ["1", "Zoë", "00123"]],
        "total_rows": 3,
        "total_columns": 3,
        "shown_columns": 3,
        "cut_cells": False,
    }
    other = api.get(f"/api/v1/conversions/{body['id']}/preview?sheet=Other").json
    assert other["rows"] == [["x"], ["1"]]
    assert_problem(
        api.get(f"/api/v1/conversions/{body['id']}/preview?sheet=Nope"), 404
    )  # a missing resource
    assert_problem(api.get(f"/api/v1/conversions/{body['id']}/preview?rows=101"), 422)
    assert_problem(api.get(f"/api/v1/conversions/{body['id']}/result"), 409, "not finished")


def test_upload_missing_from_storage_is_410(app, api, workbook_bytes):
    body = api.upload("/api/v1/conversions", workbook_bytes, query="?start=false").json
    conversion = fetch(app, Conversion, public_id=body["id"])
    (Path(app.config["UPLOAD_FOLDER"]) / conversion.stored_name).unlink()
    missing = api.get(f"/api/v1/conversions/{body['id']}/preview?sheet=Other")
    assert_problem(missing, 410, "no longer stored on the server")


def test_result_while_running_is_409_and_delete_is_409(app, api, workbook_bytes):
    body = api.upload("/api/v1/conversions", workbook_bytes, query="?start=false").json
    with app.app_context():
        conversion = db.session.scalar(select(Conversion).where(Conversion.public_id == body["id"]))
        conversion.status = Conversion.RUNNING  # with a live lease, as its runner would hold
        conversion.lease_expires_at = utcnow() + timedelta(hours=1)
        db.session.commit()
    assert_problem(api.get(f"/api/v1/conversions/{body['id']}/result"), 409)
    assert_problem(api.delete(f"/api/v1/conversions/{body['id']}"), 409, "Cancel the conversion")
    assert_problem(api.post(f"/api/v1/conversions/{body['id']}/convert", json={}), 409)


def test_failed_result_is_409_with_the_reason(app, api, workbook_bytes):
    body = api.upload("/api/v1/conversions", workbook_bytes, query="?start=false").json
    with app.app_context():
        conversion = db.session.scalar(select(Conversion).where(Conversion.public_id == body["id"]))
        conversion.status, conversion.error = Conversion.FAILED, "It broke."
        db.session.commit()
    assert_problem(api.get(f"/api/v1/conversions/{body['id']}/result"), 409, "It broke.")


def test_expired_is_410(app, api, workbook_bytes):
    body = api.upload("/api/v1/convert", workbook_bytes, query="?format=csv")
    public_id = api.get("/api/v1/conversions").json["items"][0]["id"]
    assert body.status_code == 200
    with app.app_context():
        conversion = db.session.scalar(select(Conversion).where(Conversion.public_id == public_id))
        conversion.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    for path in ("", "/result", "/preview"):
        assert_problem(api.get(f"/api/v1/conversions/{public_id}{path}"), 410)
    assert_problem(api.delete(f"/api/v1/conversions/{public_id}"), 410)


def test_someone_elses_conversion_is_404(app, client, user, make_user, workbook_bytes):
    ada = Api(client, make_token(app))
    public_id = ada.upload("/api/v1/conversions", workbook_bytes).json["id"]
    wait_done(ada, public_id)
    make_user(email="eve@example.com")
    eve = Api(client, make_token(app, email="eve@example.com"))
    for method, path in [
        ("GET", ""),
        ("GET", "/result"),
        ("GET", "/preview"),
        ("POST", "/convert"),
        ("DELETE", ""),
    ]:
        response = eve.request(method, f"/api/v1/conversions/{public_id}{path}", json={})
        assert_problem(response, 404)
    assert eve.get("/api/v1/conversions").json["total"] == 0


def test_web_conversions_of_the_same_user_are_listed(app, client, auth, user, workbook_bytes):
    auth.login()
    client.post(
        "/convert",
        data={"file": (io.BytesIO(workbook_bytes), "web.xlsx")},
        content_type="multipart/form-data",
    )
    api = Api(client, make_token(app))
    assert [c["name"] for c in api.get("/api/v1/conversions").json["items"]] == ["web.xlsx"]


def test_list_is_paginated_newest_first_with_links(app, api, workbook_bytes):
    for number in range(3):
        api.upload(
            "/api/v1/conversions", workbook_bytes, name=f"{number}.xlsx", query="?start=false"
        )
    response = api.get("/api/v1/conversions?per_page=2")
    body = response.json
    assert body["total"] == 3 and body["pages"] == 2 and body["page"] == 1
    assert [c["name"] for c in body["items"]] == ["2.xlsx", "1.xlsx"]
    link = response.headers["Link"]
    assert 'rel="next"' in link and "page=2" in link and 'rel="prev"' not in link
    second = api.get("/api/v1/conversions?per_page=2&page=2")
    assert [c["name"] for c in second.json["items"]] == ["0.xlsx"]
    assert 'rel="prev"' in second.headers["Link"]
    assert_problem(api.get("/api/v1/conversions?per_page=1000"), 422)
    assert_problem(api.get("/api/v1/conversions?page=zero"), 422)


def test_reconvert_with_bad_options_is_422(api, workbook_bytes):
    body = api.upload("/api/v1/conversions", workbook_bytes, query="?start=false").json
    path = f"/api/v1/conversions/{body['id']}/convert"
    problem = assert_problem(api.post(path, json={"format": "pdf", "colour": "red"}), 422)
    assert {e["name"] for e in problem["errors"]} == {"format", "colour"}
    assert_problem(api.post(path, json={"sheet": ["Nope"]}), 422, "Nope")
    assert api.get(f"/api/v1/conversions/{body['id']}").json["status"] == "uploaded"
    assert_problem(api.post(path, data="{not json", content_type="application/json"), 400)


def test_formats_lists_every_option_with_its_default(api):
    body = api.get("/api/v1/formats").json
    assert {f["format"] for f in body["inputs"]} >= {"xlsx", "xls", "xlsb", "ods", "csv"}
    assert [f["format"] for f in body["outputs"]][:4] == ["csv", "tsv", "xlsx", "json"]
    assert [f["format"] for f in body["outputs"]] == list(OUTPUT_FORMATS)  # the registry's
    assert body["outputs"][2]["description"] == "Excel workbook (XLSX)"
    options = {o["name"]: o for o in body["options"]}
    defaults = Options()
    for name in ("format", "delimiter", "quoting", "encoding", "line_ending", "skip_rows"):
        assert options[name]["default"] == getattr(defaults, name)
    assert options["header"]["default"] is True and options["infer_types"]["default"] is True
    assert options["sheet"]["repeatable"] is True
    assert options["encoding"]["allowed"] == ["utf-8", "utf-8-sig", "cp1252"]


# --- errors ------------------------------------------------------------------------------------


def test_unknown_api_address_is_404_problem(api, client):
    assert_problem(api.get("/api/v1/nothing"), 404)
    assert_problem(client.get("/api/v2/anything", headers={"Accept": "text/html"}), 404)


def test_wrong_method_is_405_problem(api):
    response = api.request("PUT", "/api/v1/me")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_server_error_is_500_problem(app, api, monkeypatch):
    from app import conversions

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(conversions, "listing", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    body = assert_problem(api.get("/api/v1/conversions"), 500)
    assert "secret" not in body["detail"]


def test_web_pages_keep_their_html_errors(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"


@pytest.mark.parametrize(
    "app_settings", [{"RATELIMIT_ENABLED": True, "API_RATE_LIMIT": "3 per minute"}]
)
def test_rate_limit_per_token_is_429_with_retry_after(app, client, user):
    first, second = Api(client, make_token(app)), Api(client, make_token(app, name="other"))
    for _ in range(3):
        response = first.get("/api/v1/me")
        assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    refused = first.get("/api/v1/me")
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    # Another token has its own allowance.
    assert second.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    "app_settings", [{"RATELIMIT_ENABLED": True, "API_AUTH_FAILURE_LIMIT": "2 per minute"}]
)
def test_guessing_tokens_is_limited_per_address(app, client, user):
    good = Api(client, make_token(app))
    for guess in range(2):
        assert_problem(Api(client, f"spt_guess{guess}").get("/api/v1/me"), 401)
    assert_problem(Api(client, "spt_guess3").get("/api/v1/me"), 429)
    # Others' guesses from the same address never lock out a valid token.
    assert good.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("app_settings", [{"RATELIMIT_ENABLED": True}])
def test_limits_are_checked_before_the_requests_that_have_them_only(app):
    """The limiter's check runs first before the requests of a blueprint with limits of its
    own (the API: before its token is looked up), and not before every page of the site,
    where each limited view's decorator checks its own limits."""
    check = limiter._check_request_limit
    assert check not in app.before_request_funcs.get(None, [])
    limited = set(limiter.limit_manager._blueprint_limits)
    assert limited == {"api"}
    for name in limited:
        assert app.before_request_funcs[name][0] == check
    # Limits that the app-wide check alone would apply: none may be set.
    assert not app.config.get("RATELIMIT_DEFAULT") and not app.config.get("RATELIMIT_APPLICATION")
    assert not app.config.get("RATELIMIT_META") and not app.config.get(
        "RATELIMIT_IN_MEMORY_FALLBACK"
    )
    manager = limiter.limit_manager
    assert not (manager._default_limits or manager._application_limits)
    assert not (limiter._meta_limits or limiter._in_memory_fallback)


def test_cors_is_off_by_default(api):
    response = api.get("/api/v1/me", headers={"Origin": "https://tools.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("app_settings", [{"API_CORS_ORIGINS": ["https://tools.example.com"]}])
def test_cors_origins_setting(client):
    allowed = client.options(
        "/api/v1/me",
        headers={
            "Origin": "https://tools.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://tools.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = client.get("/api/v1/openapi.json", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers
    page = client.get("/help", headers={"Origin": "https://tools.example.com"})
    assert "Access-Control-Allow-Origin" not in page.headers


def test_admin_sees_and_revokes_any_users_token(app, client, auth, user, admin):
    secret = make_token(app, name="ada's nightly")
    token = fetch(app, ApiToken, name="ada's nightly")
    auth.login("root@example.com")
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "ada&#39;s nightly" in page and token.hint in page and secret not in page
    response = client.post(f"/admin/users/{user.id}/tokens/{token.id}/revoke")
    assert response.status_code == 302
    assert fetch(app, ApiToken, id=token.id).revoked_at is not None
    assert_problem(Api(client, secret).get("/api/v1/me"), 401, "revoked")
    events = [e for e in db_events(app) if e.action == "api_token_revoke"]
    assert events[0].actor_email == "root@example.com"
    assert "ada@example.com" in events[0].target
    # Another user's id with this token: 404.
    assert client.post(f"/admin/users/{admin.id}/tokens/{token.id}/revoke").status_code == 404


def test_one_shot_conversion_is_read_when_first_looked_at(app, client, auth, api, workbook_bytes):
    assert api.upload("/api/v1/convert", workbook_bytes).status_code == 200
    public_id = api.get("/api/v1/conversions").json["items"][0]["id"]
    assert "sheets" not in fetch(app, Conversion, public_id=public_id).info  # not read yet
    body = api.get(f"/api/v1/conversions/{public_id}").json
    assert [s["name"] for s in body["sheets"]] == ["Data", "Other"]
    assert body["status"] == "done" and body["result"]["rows"] == 3
    # The web page of the same conversion (the token's owner signed in) shows its sheets.
    auth.login()
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert ">Data" in page and ">Other" in page and "00123" in page


def test_deleting_a_user_deletes_their_tokens(app, client, auth, user, admin):
    secret = make_token(app)
    auth.login("root@example.com")
    client.post(f"/admin/users/{user.id}/delete")
    assert fetch(app, User, id=user.id) is None
    assert fetch(app, ApiToken, user_id=user.id) is None
    assert_problem(Api(client, secret).get("/api/v1/me"), 401)


def test_text_input_options_as_on_the_web_form(api):
    # A cp1252 ';' file with decimal commas and day-first dates, read and typed as asked.
    content = "name;amount;when\nJérôme;47,91;02/03/2024\n".encode("cp1252")
    query = (
        "?format=json&input_encoding=cp1252&decimal_separator=,&date_order=dmy"
        "&sheet=prices&full_precision=false"
    )
    response = api.upload("/api/v1/convert", content, name="prices.csv", query=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    (record,) = json.loads(response.get_data(as_text=True))
    assert record == {"name": "Jérôme", "amount": 47.91, "when": "2024-03-02"}
    options = {o["name"] for o in api.get("/api/v1/formats").json["options"]}
    assert {"input_encoding", "decimal_separator", "date_order", "full_precision"} <= options


def test_an_unknown_input_encoding_is_a_422(api):
    response = api.upload(
        "/api/v1/convert", b"a\n1\n", name="a.csv", query="?input_encoding=klingon&sheet=a"
    )
    assert_problem(response, 422, "klingon")


def test_deactivating_an_account_revokes_its_tokens_for_good(app, client, auth, user, admin):
    """Issue 22, 6: activating the account again does not bring its old tokens back."""
    api = Api(client, make_token(app))
    auth.login("root@example.com")
    with app.app_context():
        role_id = db.session.get(User, user.id).role_id
    client.post(f"/admin/users/{user.id}", data={"role": role_id, "confirmed": "y"})
    assert_problem(api.get("/api/v1/me"), 401, "revoked")
    client.post(f"/admin/users/{user.id}", data={"role": role_id, "active": "y", "confirmed": "y"})
    assert fetch(app, User, id=user.id).active
    assert_problem(api.get("/api/v1/me"), 401, "revoked")
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "deactivated, API tokens revoked" in log
