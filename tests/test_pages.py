"""What pages cost: a wide sheet's page stays small, and lists render without per-row work."""

import csv
import io

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.extensions import db
from app.models import Conversion
from app.sheets.convert import PREVIEW_CELL_CHARS, PREVIEW_COLUMNS

from .api_helpers import Api, make_token
from .conftest import fetch
from .sheets.books import write_xlsx
from .test_convert import FORM, public_id_of, upload, wait_for

WIDTH = 2000
LONG = "x" * 5000  # one long cell, cut short in the preview


def wide_rows():
    rows = [[f"column {c}" for c in range(WIDTH)]]
    rows += [[f"value {r}-{c}" for c in range(WIDTH)] for r in range(120)]
    rows[1][0] = LONG
    return rows


@pytest.fixture(scope="module")
def wide_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wide")
    rows = wide_rows()
    xlsx = write_xlsx(folder / "wide.xlsx", {"Data": rows})
    text = folder / "wide.csv"
    with open(text, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    return {"xlsx": xlsx, "csv": text}


def upload_big(client, url, path, **kwargs):
    """A multipart POST encoded here: the test client would spool a body over 500 KB to a
    temporary file that it never closes (a ResourceWarning, an error in this suite)."""
    file = FileStorage(io.BytesIO(path.read_bytes()), path.name)
    boundary, body = encode_multipart({"file": file})
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post(url, data=body, content_type=content_type, **kwargs)


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_2000_column_upload_has_a_small_page_and_converts_every_column(
    app, client, wide_files, kind, tmp_path
):
    public_id = public_id_of(upload_big(client, "/convert", wide_files[kind]))
    page = client.get(f"/convert/{public_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and len(page.data) < 300_000, len(page.data)
    assert f"Showing {PREVIEW_COLUMNS} of 2,000 columns; all are converted." in html
    assert "Long cells are cut short here" in html
    assert f"column {PREVIEW_COLUMNS - 1}<" in html and f"column {PREVIEW_COLUMNS}<" not in html
    assert "x" * (PREVIEW_CELL_CHARS - 1) + "…" in html and "x" * PREVIEW_CELL_CHARS not in html
    # The preview kept with the upload is bounded too (the page, the poll and the API read it).
    with app.app_context():
        info = db.session.scalar(db.select(Conversion.info).filter_by(public_id=public_id))
    kept = next(iter(info["previews"].values()))
    assert {len(row) for row in kept["rows"]} == {PREVIEW_COLUMNS}
    assert kept["total_columns"] == WIDTH and kept["cut_cells"] is True
    data = {**FORM, "sheets": [next(iter(info["previews"]))], "line_ending": "lf"}
    assert client.post(f"/convert/{public_id}", data=data).status_code == 302
    assert wait_for(app, public_id).status == "done"
    result = client.get(f"/convert/{public_id}/download")
    rows = list(csv.reader(result.get_data(as_text=True).splitlines()))
    result.close()
    assert len(rows) == 121 and {len(row) for row in rows} == {WIDTH}
    assert rows[1][0] == LONG and rows[120][WIDTH - 1] == f"value 119-{WIDTH - 1}"


def test_a_narrow_sheet_says_nothing_about_columns(app, client, tmp_path):
    book = write_xlsx(tmp_path / "narrow.xlsx", {"Data": [["a", "b"], [1, 2]]})
    html = client.get(f"/convert/{public_id_of(upload(client, book))}").get_data(as_text=True)
    assert "2 rows." in html and "columns; all are converted" not in html
    assert "cut short" not in html


def test_the_api_preview_of_a_wide_sheet_is_bounded(app, client, user, wide_files):
    api = Api(client, make_token(app))
    response = upload_big(
        client, "/api/v1/conversions?start=false", wide_files["xlsx"], headers=api.headers
    )
    body = response.json
    shown = api.get(f"/api/v1/conversions/{body['id']}/preview?rows=100").json
    assert shown["total_columns"] == WIDTH and shown["shown_columns"] == PREVIEW_COLUMNS
    assert shown["cut_cells"] is True and len(shown["rows"][1][0]) == PREVIEW_CELL_CHARS
    assert {len(row) for row in shown["rows"]} == {PREVIEW_COLUMNS}
    assert fetch(app, Conversion, public_id=body["id"]).status == "uploaded"
