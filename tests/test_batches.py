"""Batches (issue 26, 1): several files chosen at once, or a zip of spreadsheets, become a
batch; each file is its own conversion, converted with the same options; one file's refusal
never fails the others; "Download all" streams one zip of the results. Bounded as every zip:
entries, sizes, ratio, no zip in a zip."""

import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import batches, conversions, periodic
from app.extensions import db
from app.models import Batch, Conversion, User, utcnow

from .conftest import PASSWORD, fetch
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


def test_download_all_notes_a_result_that_has_gone_and_leaves_out_expired_ones(app, client):
    files = [(f"{m}.csv", csv_bytes(m)) for m in ("a", "b", "c", "d")]
    public_id = batch_of(upload_files(client, files, quick=True))
    _, done = finished(app, client, public_id)
    assert [c.status for c in done] == ["done"] * 4
    folder = Path(app.config["UPLOAD_FOLDER"])
    (folder / done[1].result_stored_name).unlink()  # gone before the download starts
    with app.app_context():
        expired = db.session.scalar(select(Conversion).filter_by(public_id=done[3].public_id))
        expired.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = client.get(f"/batches/{public_id}/download")
    assert response.status_code == 200
    (folder / done[2].result_stored_name).unlink()  # gone after the 200, before its entry
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["a.csv", "b.csv.missing.txt", "c.csv.missing.txt"]
        assert b"b.csv is no longer stored" in archive.read("b.csv.missing.txt")
        assert archive.read("a.csv").startswith(b"month,total")
    for conversion in done[1:]:  # as each file's own download answers
        assert client.get(f"/convert/{conversion.public_id}/download").status_code == 410


def test_download_all_ends_the_transaction_before_streaming(app, client):
    public_id = batch_of(upload_files(client, [("a.csv", b"a\n1\n"), ("b.csv", b"b\n2\n")], True))
    finished(app, client, public_id)
    with app.app_context():
        batch = db.session.scalar(select(Batch).filter_by(public_id=public_id))
        archive, _ = batches.download_all(batch)
        assert not db.session().in_transaction()  # no connection idle in a transaction
        assert b"".join(archive).startswith(b"PK")


def test_download_all_with_every_result_gone_is_410(app, client):
    public_id = batch_of(upload_files(client, [("a.csv", b"a\n1\n"), ("b.csv", b"b\n2\n")], True))
    _, done = finished(app, client, public_id)
    for conversion in done:
        (Path(app.config["UPLOAD_FOLDER"]) / conversion.result_stored_name).unlink()
    assert client.get(f"/batches/{public_id}/download").status_code == 410


def test_deleting_an_account_deletes_its_batches(app, client, auth, user):
    auth.login()
    files = [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b")), ("x.txt", b"\x00\x01")]
    batch_of(upload_files(client, files))
    assert fetch(app, Batch).refused[0]["name"] == "x.txt"
    client.post("/auth/delete-account", data={"password": PASSWORD, "submit": "Delete"})
    assert fetch(app, User) is None
    assert fetch(app, Batch) is None and fetch(app, Conversion) is None


def test_ending_a_visitors_session_deletes_their_batches(app, client):
    upload_files(client, [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b"))])
    response = submit(client, "/history/end-session", action="/history/end-session")
    assert response.status_code == 302
    assert fetch(app, Batch) is None and fetch(app, Conversion) is None


def test_cleanup_deletes_batches_left_with_no_file_after_the_retention(app, client, runner):
    emptied = batch_of(upload_files(client, [("x.xlsx", b"PK\x03\x04 no"), ("y.txt", b"\x00")]))
    kept = batch_of(upload_files(client, [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b"))]))
    recent = batch_of(upload_files(client, [("p.xlsx", b"PK\x03\x04 no"), ("q.txt", b"\x00")]))
    with app.app_context():
        for public_id in (emptied, kept):
            batch = db.session.scalar(select(Batch).filter_by(public_id=public_id))
            batch.created_at = utcnow() - timedelta(days=30)
        db.session.commit()
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        left = set(db.session.scalars(select(Batch.public_id)))
        assert left == {kept, recent}
        for conversion in db.session.scalars(select(Conversion)):  # now they expire
            conversion.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        periodic.run_cleanup(app)
        assert set(db.session.scalars(select(Batch.public_id))) == {recent}


def test_a_batch_of_nobodys_is_nobodys(app):
    with app.app_context():
        orphan = Batch(user_id=None, session_key=None)
        assert not batches.owns(None, orphan) and not batches.owns("", orphan)
        assert batches.owns("key", Batch(session_key="key"))
        assert not batches.owns(None, Batch(session_key="key"))


def test_a_batch_is_received_without_reading_its_sheets(app, client, tmp_path):
    """Each file's format is checked as it comes; its sheets are read by its job (the first
    visible sheet, or all of them), or by its page when opened: a batch of many files is
    received well within the worker timeout."""
    book = write_xlsx(tmp_path / "book.xlsx", {"One": [["a"], [1]], "Two": [["b"], [2]]})
    files = [("book.xlsx", book.read_bytes()), ("a.csv", csv_bytes("a"))]
    public_id = batch_of(upload_files(client, files))
    with app.app_context():
        received = db.session.scalars(select(Conversion).order_by(Conversion.id)).all()
        assert [c.detected_format for c in received] == ["xlsx", "csv"]
        assert all("sheets" not in c.info for c in received)
    data = {"output_format": "csv", "all_sheets": "y", "submit": "Convert all"}
    client.post(f"/batches/{public_id}/convert", data=data)
    _, done = finished(app, client, public_id)
    assert [c.status for c in done] == ["done", "done"]
    assert done[0].result_name.endswith(".zip")  # both sheets of the workbook
    assert all("sheets" not in c.info for c in done)  # "Convert all" did not read them
    page = client.get(f"/convert/{done[0].public_id}").get_data(as_text=True)
    assert "One" in page and "Two" in page  # the file's page reads them when opened


@pytest.mark.parametrize("app_settings", [{"STORAGE_QUOTA_ANONYMOUS_MB": 1}])
def test_a_zip_past_what_the_owner_may_keep_is_refused_before_unpacking(app, client):
    rows = "".join(f"{i},north,{i % 97}\n" for i in range(30_000)).encode()  # ~440 KB
    entries = [(f"part{n}.csv", b"n,r,v\n" + rows) for n in range(3)]
    response = upload_files(client, [("parts.zip", zipped(entries))])  # packed: ~150 KB
    assert response.status_code == 302 and response.headers["Location"] == "/convert"
    text = client.get("/convert").get_data(as_text=True)
    assert "more than the 1 MB you may still keep" in text
    assert fetch(app, Batch) is None and fetch(app, Conversion) is None
    assert stored_files(app) == []


@pytest.mark.parametrize(
    "app_settings", [{"RATELIMIT_ENABLED": True, "UPLOAD_RATE_LIMIT": "3 per minute"}]
)
def test_each_file_of_a_batch_counts_as_an_upload(app, client, app_settings):
    four = [(f"f{i}.csv", csv_bytes(str(i))) for i in range(4)]
    response = upload_files(client, four)
    assert response.status_code == 429
    assert "a batch of 4 files counts as 4" in response.get_data(as_text=True)
    assert fetch(app, Batch) is None and fetch(app, Conversion) is None
    # The refused request counted once, not four times: two more files fit, then none.
    assert upload_files(client, four[:2]).status_code == 302
    assert upload_files(client, four[:1]).status_code == 429


def test_convert_all_with_bad_data_says_why(app, client):
    public_id = batch_of(upload_files(client, [("a.csv", b"a\n1\n"), ("b.csv", b"b\n2\n")]))
    response = client.post(f"/batches/{public_id}/convert", data={"output_format": "nope"})
    assert response.status_code == 302
    page = client.get(f"/batches/{public_id}").get_data(as_text=True)
    assert "Convert to: Not a valid choice" in page
    assert fetch(app, Conversion).status == "uploaded"


def test_convert_all_skips_expired_files_and_keeps_a_finished_ones_error(app, client, monkeypatch):
    files = [("a.csv", b"a\n1\n"), ("b.csv", b"b\n2\n"), ("c.csv", b"c\n3\n")]
    public_id = batch_of(upload_files(client, files, quick=True))
    _, done = finished(app, client, public_id)
    with app.app_context():
        expired = db.session.scalar(select(Conversion).filter_by(public_id=done[0].public_id))
        expired.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    real_start = conversions.start

    def refuse_b(conversion, options, **kwargs):
        if conversion.original_name == "b.csv":
            raise conversions.OptionsRefused("Not with these options.")
        return real_start(conversion, options, **kwargs)

    monkeypatch.setattr(conversions, "start", refuse_b)
    data = {"output_format": "json", "submit": "Convert all"}
    client.post(f"/batches/{public_id}/convert", data=data)
    page, again = finished(app, client, public_id)
    text = page.get_data(as_text=True)
    assert "Converting 1 of 3 files." in text
    assert "Not converted: a.csv: it has expired" in text
    assert "Not converted: b.csv: Not with these options." in text
    assert [(c.status, c.output_format, c.error) for c in again] == [
        ("done", "csv", None),
        ("done", "csv", None),
        ("done", "json", None),
    ]
