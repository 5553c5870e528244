"""Batches (issue 26, 1): several files chosen at once, or a zip of spreadsheets, become a
batch; each file is its own conversion, converted with the same options; one file's refusal
never fails the others; "Download all" streams one zip of the results. Bounded as every zip:
entries, sizes, ratio, no zip in a zip."""

import io
import re
import zipfile

import pytest

from app.models import Batch, Conversion

from .conftest import fetch
from .forms import submit
from .sheets.books import write_xlsx
from .test_convert import stored_files, wait_for


def csv_bytes(month):
    return f"month,total\n{month},{len(month)}\n".encode()


def upload_files(client, files, quick=False):
    data = {"file": [(io.BytesIO(content), name) for name, content in files]}
    if quick:
        data["quick"] = "Convert right away"
    return client.post("/convert", data=data, content_type="multipart/form-data")


def zipped(entries, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def batch_of(response):
    match = re.search(r"/batches/([\w-]+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def finished(app, client, public_id):
    page = client.get(f"/batches/{public_id}")
    with app.app_context():
        from app.extensions import db

        batch = db.session.scalar(db.select(Batch).filter_by(public_id=public_id))
        ids = [c.public_id for c in batch.conversions]
    return page, [wait_for(app, i) for i in ids]


def test_several_files_make_a_batch_converted_with_the_same_options(app, client, tmp_path):
    months = ["january", "february", "march"]
    response = upload_files(client, [(f"{m}.csv", csv_bytes(m)) for m in months])
    assert response.status_code == 302
    public_id = batch_of(response)
    page = client.get(f"/batches/{public_id}").get_data(as_text=True)
    assert "Batch of 3 files" in page and all(f"{m}.csv" in page for m in months)

    response = client.post(
        f"/batches/{public_id}/convert", data={"output_format": "json", "submit": "Convert all"}
    )
    assert response.status_code == 302
    page, done = finished(app, client, public_id)
    assert [c.status for c in done] == ["done"] * 3
    assert {c.output_format for c in done} == {"json"}
    assert "Converting 3 of 3 files." in page.get_data(as_text=True)

    download = client.get(f"/batches/{public_id}/download")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert 'filename="batch' in download.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(download.get_data())) as archive:
        assert sorted(archive.namelist()) == ["february.json", "january.json", "march.json"]
        assert b'"month": "march"' in archive.read("march.json")
    # Each file is a conversion of its own, in History.
    history = client.get("/history").get_data(as_text=True)
    assert all(f"{m}.csv" in history for m in months)


def test_convert_right_away_converts_the_batch_at_once(app, client):
    response = upload_files(client, [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b"))], True)
    _, done = finished(app, client, batch_of(response))
    assert [c.status for c in done] == ["done", "done"]


def test_one_bad_file_does_not_fail_the_others(app, client):
    files = [("good.csv", csv_bytes("good")), ("bad.xlsx", b"PK\x03\x04 not a workbook")]
    response = upload_files(client, files, quick=True)
    page, done = finished(app, client, batch_of(response))
    text = page.get_data(as_text=True)
    assert [c.original_name for c in done] == ["good.csv"] and done[0].status == "done"
    assert "Not taken" in text and "bad.xlsx" in text


def test_every_file_refused_still_answers_with_the_reasons(app, client):
    files = [("x.xlsx", b"PK\x03\x04 nope"), ("y.xlsx", b"\x00\x01\x02")]
    response = upload_files(client, files)
    page = client.get(f"/batches/{batch_of(response)}").get_data(as_text=True)
    assert "x.xlsx" in page and "y.xlsx" in page and "Download all" not in page
    assert fetch(app, Conversion) is None
    assert client.get(f"/batches/{batch_of(response)}/download").status_code == 409


def test_a_zip_of_spreadsheets_is_a_batch(app, client, tmp_path):
    book = write_xlsx(tmp_path / "book.xlsx", {"S": [["a"], [1]]}).read_bytes()
    archive = zipped(
        [
            ("exports/one.csv", csv_bytes("one")),
            ("exports/book.xlsx", book),
            ("__MACOSX/exports/._one.csv", b"junk"),
            (".DS_Store", b"junk"),
            ("exports/", b""),
        ]
    )
    response = upload_files(client, [("exports.zip", archive)], quick=True)
    _, done = finished(app, client, batch_of(response))
    assert sorted(c.original_name for c in done) == ["book.xlsx", "one.csv"]
    assert all(c.status == "done" for c in done)


def test_an_xlsx_is_not_taken_for_a_zip_of_files(app, client, tmp_path):
    book = write_xlsx(tmp_path / "book.xlsx", {"S": [["a"], [1]]}).read_bytes()
    response = upload_files(client, [("book.xlsx", book)])
    assert "/convert/" in response.headers["Location"]


def test_a_zip_inside_and_a_zip_bomb_entry_are_refused_the_rest_taken(app, client):
    bomb = b"0" * (30 * 1024 * 1024)  # 30 MB of one byte: packs about 1000 to 1
    archive = zipped(
        [
            ("inner.zip", zipped([("x.csv", b"a\n1\n")])),
            ("bomb.csv", bomb),
            ("fine.csv", csv_bytes("fine")),
        ]
    )
    response = upload_files(client, [("all.zip", archive)], quick=True)
    page, done = finished(app, client, batch_of(response))
    text = page.get_data(as_text=True)
    assert [c.original_name for c in done] == ["fine.csv"]
    assert "A zip inside a zip is not unpacked" in text
    assert "bomb.csv" in text and ("zip bomb" in text or "larger than the upload limit" in text)


@pytest.mark.parametrize("app_settings", [{"BATCH_MAX_FILES": 3}])
def test_more_files_than_a_batch_holds_are_refused_and_nothing_kept(app, client, app_settings):
    many = [(f"f{i}.csv", csv_bytes(str(i))) for i in range(4)]
    response = upload_files(client, many)
    assert response.status_code == 302 and response.headers["Location"] == "/convert"
    assert "A batch holds at most 3 files" in client.get("/convert").get_data(as_text=True)
    archive = zipped([(f"f{i}.csv", csv_bytes(str(i))) for i in range(1000)])
    response = upload_files(client, [("thousand.zip", archive)], quick=True)
    assert "The zip holds 1000 files" in client.get("/convert").get_data(as_text=True)
    assert fetch(app, Conversion) is None and fetch(app, Batch) is None
    assert stored_files(app) == []


def test_someone_elses_batch_is_404(app, client):
    response = upload_files(client, [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b"))])
    public_id = batch_of(response)
    stranger = app.test_client()
    assert stranger.get(f"/batches/{public_id}").status_code == 404
    assert stranger.get(f"/batches/{public_id}/download").status_code == 404
    data = {"output_format": "csv", "submit": "Convert all"}
    assert stranger.post(f"/batches/{public_id}/convert", data=data).status_code == 404
    assert client.get("/batches/nope").status_code == 404


def test_the_batch_form_is_a_real_form_with_its_token(app, client):
    response = upload_files(client, [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b"))])
    public_id = batch_of(response)
    response = submit(
        client, f"/batches/{public_id}", {"output_format": "tsv"}, form_id="batch-form"
    )
    assert response.status_code == 302
    _, done = finished(app, client, public_id)
    assert {c.output_format for c in done} == {"tsv"}
    refused = client.post(
        f"/batches/{public_id}/convert", data={"output_format": "csv"}, csrf=False
    )
    assert refused.status_code == 400


def test_names_that_repeat_in_the_zip_are_numbered(app, client):
    files = [("same.csv", csv_bytes("a")), ("same.csv", csv_bytes("b"))]
    public_id = batch_of(upload_files(client, files, quick=True))
    finished(app, client, public_id)
    download = client.get(f"/batches/{public_id}/download")
    with zipfile.ZipFile(io.BytesIO(download.get_data())) as archive:
        assert sorted(archive.namelist()) == ["same (2).csv", "same.csv"]


def test_a_visitors_batch_is_theirs_after_signing_in(app, client, auth, user):
    response = upload_files(client, [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b"))])
    public_id = batch_of(response)
    auth.login()
    page = client.get(f"/batches/{public_id}")
    assert page.status_code == 200 and "Batch of 2 files" in page.get_data(as_text=True)
    assert app.test_client().get(f"/batches/{public_id}").status_code == 404
