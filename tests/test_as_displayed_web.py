"""As displayed (issue 25, 1) through the web form and the API: the option is offered,
accepted, and changes what is written (the engine's cases: tests/sheets/test_as_displayed.py)."""

import json

import openpyxl
import pytest

from .api_helpers import Api, make_token
from .forms import submit
from .test_convert import public_id_of, upload, wait_for


@pytest.fixture
def formatted(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    sheet.append(["margin", "amount"])
    sheet.append([0.1474, 1234.5])
    sheet["A2"].number_format = "0.00%"
    sheet["B2"].number_format = "$#,##0.00"
    book.save(tmp_path / "margins.xlsx")
    return tmp_path / "margins.xlsx"


def test_the_web_form_writes_cells_as_displayed(app, client, formatted):
    public_id = public_id_of(upload(client, formatted))
    page = f"/convert/{public_id}"
    response = submit(client, page, fill={"as_displayed": "y"}, action=page)
    assert response.status_code == 302
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    assert conversion.options["as_displayed"] is True
    with client.get(f"{page}/download") as download:
        assert download.data == b'margin,amount\r\n14.74%,"$1,234.50"\r\n'
    submit(client, page, fill={"as_displayed": False}, action=page)  # unticked: the values
    wait_for(app, public_id)
    with client.get(f"{page}/download") as download:
        assert download.data == b"margin,amount\r\n0.1474,1234.5\r\n"


def test_the_api_accepts_as_displayed(app, client, user, formatted):
    api = Api(client, make_token(app))
    content = formatted.read_bytes()
    shown = api.upload("/api/v1/convert", content, "margins.xlsx", "?format=json&as_displayed=true")
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert json.loads(shown.get_data(as_text=True)) == [{"margin": "14.74%", "amount": "$1,234.50"}]
    values = api.upload("/api/v1/convert", content, "margins.xlsx", "?format=json")
    assert json.loads(values.get_data(as_text=True)) == [{"margin": 0.1474, "amount": 1234.5}]
    described = {o["name"]: o for o in api.get("/api/v1/formats").json["options"]}
    assert "as_displayed" in described
