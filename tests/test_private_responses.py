"""What a shared cache may keep, and what a download is called (issue 22, 4 and 5).

Every route of the url_map, by kind: pages, admin pages, JSON and downloads depend on who
is signed in or owns the file and answer `Cache-Control: no-store`, signed in or not, on
success and on error; static assets and the OpenAPI document stay cacheable."""

import io
import re
import zipfile
from pathlib import PurePath

import pytest

from app.security import PUBLIC_ENDPOINTS
from app.sheets.names import safe_file_stem
from app.sheets.writers import unique_file_name
from app.storage import download_name

from .api_helpers import Api, make_token
from .conftest import AuthActions
from .sheets.books import write_xlsx
from .test_convert import FORM, public_id_of, upload, wait_for


def get(client, path, **kwargs):
    """A GET whose streamed body is read and closed (files are sent streamed)."""
    response = client.get(path, **kwargs)
    response.get_data()
    response.close()
    return response


def concrete_path(rule, public_id):
    path = re.sub(r"<int:\w+>", "1", rule.rule)
    path = re.sub(r"<(path:)?filename>", "css/app.css", path)
    return re.sub(r"<[^>]+>", public_id, path)


@pytest.fixture
def finished(app, client, admin, tmp_path):
    """An admin signed in, owning a finished conversion."""
    AuthActions(client).login(email="root@example.com")
    workbook = write_xlsx(tmp_path / "report.xlsx", {"Data": [["a"], [1]]})
    public_id = public_id_of(upload(client, workbook))
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert wait_for(app, public_id).status == "done"
    return public_id


def test_every_private_get_route_answers_no_store(app, client, finished):
    kinds = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        response = get(client, concrete_path(rule, finished))
        assert response.headers.get("Cache-Control") == "no-store", (rule.rule, response.headers)
        kinds.add(rule.endpoint.split(".")[0])
    assert {"main", "auth", "convert", "admin", "api", "api_web"} <= kinds


def test_downloads_are_no_store_not_no_cache(app, client, finished):
    response = get(client, f"/convert/{finished}/download")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_api_results_are_no_store(app, client, user, tmp_path):
    api = Api(client, make_token(app))
    workbook = write_xlsx(tmp_path / "report.xlsx", {"Data": [["a"], [1]]}).read_bytes()
    response = api.upload("/api/v1/convert", workbook)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    public_id = api.upload("/api/v1/conversions", workbook).json["id"]
    for path in ("", "/result", "/preview"):
        response = api.get(f"/api/v1/conversions/{public_id}{path}")
        assert response.headers["Cache-Control"] == "no-store", path


def test_pages_and_errors_for_visitors_are_no_store(client):
    for path in ("/", "/auth/login", "/help", "/history", "/convert/nope", "/nowhere"):
        assert get(client, path).headers["Cache-Control"] == "no-store", path


def test_public_assets_stay_cacheable(app, client):
    response = get(client, "/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    with app.test_request_context():
        from flask import url_for

        versioned = url_for("static", filename="css/app.css")
    response = get(client, versioned)
    assert "max-age=31536000" in response.headers["Cache-Control"]
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


# 5. A download is never named as a Windows device.

DEVICES = ["CON", "prn", "Aux", "NUL", "COM1", "com9", "LPT1", "lpt0", "COM\u00b9", "CONIN$"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("extension", ["csv", "xlsx", "tar.gz"])
def test_device_names_are_never_a_downloads_name(device, extension):
    original = f"{device}.{extension}"
    assert download_name(original, "csv") == f"_{PurePath(original).stem}.csv"
    assert safe_file_stem(f"{device} ", "x") == f"_{device}"
    assert safe_file_stem(f"{device}.backup", "x") == f"_{device}.backup"


@pytest.mark.parametrize(
    "stem", ["CONTACTS", "console", "COM10", "LPT", "nul-report", "CON - Sheet1", "my CON"]
)
def test_names_that_only_look_like_devices_are_kept(stem):
    assert safe_file_stem(stem, "x") == stem


@pytest.mark.parametrize("name", ["report.", "report ", "report. . ", "report\u200b."])
def test_names_never_end_in_a_dot_or_space(name):
    assert download_name(name, "csv") == "report.csv"


def test_a_download_of_con_csv_is_served_under_a_safe_name(app, client, user, tmp_path):
    AuthActions(client).login()
    public_id = public_id_of(upload(client, b"a,b\n1,2\n", name="CON.csv"))
    client.post(f"/convert/{public_id}", data={**FORM, "output_format": "json", "sheets": ["CON"]})
    assert wait_for(app, public_id).status == "done"
    response = get(client, f"/convert/{public_id}/download")
    assert "filename=_CON.json" in response.headers["Content-Disposition"]


def test_zip_entries_named_after_devices_are_safe(app, client, user, tmp_path):
    AuthActions(client).login()
    sheets = {"CON": [["a"], [1]], "aux.": [["b"], [2]], "LPT1 ": [["c"], [3]]}
    workbook = write_xlsx(tmp_path / "NUL.xlsx", sheets)
    public_id = public_id_of(upload(client, workbook))
    client.post(f"/convert/{public_id}", data={**FORM, "all_sheets": "y", "sheets": list(sheets)})
    assert wait_for(app, public_id).status == "done"
    response = get(client, f"/convert/{public_id}/download")
    assert "filename=_NUL.zip" in response.headers["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert names == ["NUL - CON.csv", "NUL - aux.csv", "NUL - LPT1.csv"]  # no device: "NUL - CON"
    assert unique_file_name("", "CON", "csv", set()) == "_CON.csv"
    assert unique_file_name("", "aux. ", "csv", set()) == "_aux.csv"
