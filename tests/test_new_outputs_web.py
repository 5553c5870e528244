"""The new outputs (issue 23) through the web form, the API and the command line: each is
offered, sql_dialect reaches the engine, and results are named and typed by the registry."""

import io
import sqlite3
import zipfile

import pytest

from app.convert.forms import OptionsForm
from app.sheets import formats as registry
from app.sheets.__main__ import main

from .api_helpers import Api, make_token
from .conftest import AuthActions
from .sheets.books import write_xlsx
from .test_convert import FORM, public_id_of, upload, wait_for

NEW = ("markdown", "html", "jsonl", "sql", "ods", "parquet")


@pytest.fixture
def book(tmp_path):
    return write_xlsx(
        tmp_path / "two.xlsx", {"Data": [["id", "name"], [1, "<b>x</b>"]], "More": [["y"], [2]]}
    )


def test_the_dialect_is_offered_for_sql_only(app):
    assert OptionsForm.APPLIES_TO["sql_dialect"] == ("sql",)
    with app.test_request_context():
        form = OptionsForm()
        assert "sql_dialect" in form.applies_here("sql")
        assert "sql_dialect" not in form.applies_here("csv")
        assert form.applies_text("sql_dialect") == "For SQL."
        assert [c.value for c in form.sql_dialect.choices] == ["sqlite", "postgresql", "mysql"]


def test_the_page_shows_the_dialect_among_the_options(app, client, user, book):
    AuthActions(client).login()
    public_id = public_id_of(upload(client, book))
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert 'name="sql_dialect"' in page
    assert 'data-formats="sql"' in page


def test_the_web_form_converts_to_sql_for_the_dialect_chosen(app, client, user, book):
    AuthActions(client).login()
    public_id = public_id_of(upload(client, book))
    form = {**FORM, "output_format": "sql", "sql_dialect": "mysql", "sheets": ["Data"]}
    assert client.post(f"/convert/{public_id}", data=form).status_code == 302
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    assert conversion.options["sql_dialect"] == "mysql"
    download = client.get(f"/convert/{public_id}/download")
    assert download.mimetype == "application/sql"
    assert 'filename="two - Data.sql"' in download.headers["Content-Disposition"]
    assert download.data.startswith(b"-- Written by Sheetport for MySQL.\nSET NAMES utf8mb4;")
    download.close()


@pytest.mark.parametrize("format", NEW)
def test_the_api_converts_two_sheets_to_what_the_registry_says(app, client, user, book, format):
    api = Api(client, make_token(app))
    response = api.upload(
        "/api/v1/convert", book.read_bytes(), "two.xlsx", f"?format={format}&all_sheets=true"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    output = registry.output(format)
    if output.one_file:
        assert response.mimetype == output.media_type
        assert f"two.{output.extension}" in response.headers["Content-Disposition"]
    else:
        assert response.mimetype == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
        assert names == [f"two - Data.{output.extension}", f"two - More.{output.extension}"]


def test_the_api_takes_the_dialect_and_refuses_another(app, client, user, book):
    api = Api(client, make_token(app))
    response = api.upload(
        "/api/v1/convert", book.read_bytes(), "two.xlsx", "?format=sql&sql_dialect=postgresql"
    )
    assert response.status_code == 200
    assert b"SET standard_conforming_strings = on;" in response.data
    refused = api.upload(
        "/api/v1/convert", book.read_bytes(), "two.xlsx", "?format=sql&sql_dialect=oracle"
    )
    assert refused.status_code in (400, 422)
    listed = {o["name"]: o for o in api.get("/api/v1/formats").get_json()["options"]}
    assert listed["sql_dialect"]["allowed"] == ["sqlite", "postgresql", "mysql"]
    assert listed["sql_dialect"]["default"] == "sqlite"


def test_the_command_line_names_formats_by_extension_and_takes_the_dialect(tmp_path, book):
    out = tmp_path / "out.md"
    assert main([str(book), str(out), "--all-sheets"]) == 0
    assert out.read_text().startswith("## Data\n")
    sql = tmp_path / "out.sql"
    assert main([str(book), str(sql), "--sql-dialect", "sqlite"]) == 0
    connection = sqlite3.connect(":memory:")
    connection.executescript(sql.read_bytes().decode())
    assert connection.execute('SELECT * FROM "Data"').fetchall() == [(1, "<b>x</b>")]
