"""The conversion flow through the test client: upload, preview, options, job, download."""

import io
import json
import re
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from app.extensions import db
from app.models import Conversion, utcnow
from app.sheets import Options, convert

from .conftest import AuthActions, fetch
from .sheets.books import FIXTURES, write_xlsx

WORKBOOK = {
    "Data": [
        ["id", "name", "code"],
        [1, 'Zoë, "quoted"', "00123"],
        [2, "<script>alert(1)</script>", "007"],
    ],
    "Other": [["x"], [1]],
}


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", WORKBOOK)


# What the options form sends when left as it is (with the first sheet ticked).
FORM = {
    "output_format": "csv",
    "delimiter": ",",
    "quoting": "minimal",
    "encoding": "utf-8",
    "line_ending": "crlf",
    "skip_rows": "0",
    "header": "y",
    "infer_types": "y",  # ticked by default, as a browser sends it
    "json_style": "records",
    "date_style": "iso",
}


def upload(client, path, name=None, quick=False, **kwargs):
    data = {
        "file": (
            io.BytesIO(path.read_bytes() if hasattr(path, "read_bytes") else path),
            name or path.name,
        )
    }
    if quick:
        data["quick"] = "Quick convert to CSV"
    return client.post("/convert", data=data, content_type="multipart/form-data", **kwargs)


def public_id_of(response):
    return re.search(r"/convert/([\w-]+)$", response.headers["Location"]).group(1)


def hold_running(app, public_id):
    """Mark the conversion running, its lease held by a runner for an hour."""
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status = Conversion.RUNNING
        conversion.lease_expires_at = utcnow() + timedelta(hours=1)
        db.session.commit()


def wait_for(app, public_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conversion = fetch(app, Conversion, public_id=public_id)
        if conversion.status in ("done", "failed"):
            return conversion
        time.sleep(0.05)
    raise AssertionError(f"conversion {public_id} did not finish")


def stored_files(app):
    folder = app.config["UPLOAD_FOLDER"]
    import os

    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_upload_page(client):
    page = client.get("/convert")
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.data
    assert b"Convert right away" in page.data and b'aria-invalid="None"' not in page.data


def test_upload_preview_convert_download(app, client, workbook, tmp_path):
    response = upload(client, workbook)
    assert response.status_code == 302
    public_id = public_id_of(response)
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "Uploaded report.xlsx" in page
    assert "Excel workbook (.xlsx)" in page and ">Data" in page and ">Other" in page
    assert "00123" in page and "Zoë, &#34;quoted&#34;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    assert response.status_code == 302
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    assert conversion.result_name == "report - Data.csv" and conversion.rows == 3
    status = client.get(f"/convert/{public_id}/status").json
    assert status["status"] == "done" and status["percent"] == 100 and status["download_url"]
    download = client.get(f"/convert/{public_id}/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert (
        "report%20-%20Data.csv" in download.headers["Content-Disposition"]
        or "report - Data.csv" in download.headers["Content-Disposition"]
    )
    assert download.mimetype == "text/csv"
    expected = tmp_path / "expected.csv"
    convert(workbook, expected, Options(sheets=["Data"]))
    assert download.data == expected.read_bytes()
    download.close()
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "Your file is ready" in page and "report - Data.csv" in page


def test_quick_convert_goes_straight_to_the_result(app, client, workbook):
    response = upload(client, workbook, quick=True)
    public_id = public_id_of(response)
    conversion = wait_for(app, public_id)
    assert conversion.status == "done" and conversion.options["format"] == "csv"
    assert conversion.options["sheets"] == ["Data"]
    with client.get(f"/convert/{public_id}/download") as download:
        assert download.data.startswith(b"id,name,code\r\n")


def test_all_sheets_to_zip_and_json_and_xlsx(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    base = FORM
    client.post(f"/convert/{public_id}", data={**base, "output_format": "csv", "all_sheets": "y"})
    conversion = wait_for(app, public_id)
    assert conversion.result_name == "report.zip"
    with client.get(f"/convert/{public_id}/download") as download:
        names = zipfile.ZipFile(io.BytesIO(download.data)).namelist()
    assert names == ["report - Data.csv", "report - Other.csv"]
    client.post(
        f"/convert/{public_id}", data={**base, "output_format": "json", "sheets": ["Other"]}
    )
    conversion = wait_for(app, public_id)
    with client.get(f"/convert/{public_id}/download") as download:
        assert json.loads(download.data) == [{"x": 1}]
    client.post(f"/convert/{public_id}", data={**base, "output_format": "xlsx", "all_sheets": "y"})
    conversion = wait_for(app, public_id)
    assert conversion.result_name == "report.xlsx"


def test_options_are_remembered(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    data = {
        "output_format": "tsv",
        "sheets": ["Data"],
        "delimiter": ";",
        "quoting": "all",
        "encoding": "utf-8-sig",
        "line_ending": "lf",
        "skip_rows": "0",
        "json_style": "rows",
        "date_style": "dmy",
    }
    client.post(f"/convert/{public_id}", data=data)
    wait_for(app, public_id)
    second = public_id_of(upload(client, workbook))
    page = client.get(f"/convert/{second}").get_data(as_text=True)
    assert '<option selected value="tsv">' in page and '<option selected value="utf-8-sig">' in page
    assert '<option selected value="dmy">' in page


@pytest.mark.parametrize(
    "data, error",
    [
        ({"sheets": []}, "Choose at least one sheet, or all sheets."),
        ({"skip_rows": "-1"}, "Enter a number from 0 to 1,000,000."),
        ({"output_format": "pdf"}, "Not a valid choice"),
        ({"sheets": ["Nope"]}, "is not a valid choice"),
    ],
)
def test_options_validation(app, client, workbook, data, error):
    public_id = public_id_of(upload(client, workbook))
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"], **data})
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    assert fetch(app, Conversion, public_id=public_id).status == "uploaded"


BAD_UPLOADS = [
    ("empty.xlsx", b"", "The file is empty."),
    ("random.xlsx", bytes(range(256)) * 16, "not a spreadsheet"),
    ("report.xlsx", b"%PDF-1.7\n" + b"x" * 100, "This file is a PDF document, not a spreadsheet."),
]


@pytest.mark.parametrize("name, content, message", BAD_UPLOADS)
def test_bad_uploads_leave_nothing_behind(app, client, name, content, message):
    response = upload(client, content, name)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored_files(app) == []
    assert fetch(app, Conversion, original_name=name) is None


def test_truncated_and_bomb_and_locked_uploads(app, client, workbook, tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    data = workbook.read_bytes()
    # Cut before its workbook part (cut later, the engine repairs it: test_salvage.py).
    cut = data[: data.index(b"xl/workbook.xml") - 30]
    assert "damaged" in upload(client, cut, "cut.xlsx").get_data(as_text=True)
    locked = tmp_path / "locked.xlsx"
    with workbook.open("rb") as plain, locked.open("wb") as out:
        OOXMLFile(plain).encrypt("secret", out)
    assert "protected with a password" in upload(client, locked).get_data(as_text=True)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 2**20))
    assert "zip bomb" in upload(client, bomb.getvalue(), "bomb.xlsx").get_data(as_text=True)
    assert stored_files(app) == []


def test_missing_file(client):
    response = client.post("/convert", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and b"Choose a file to upload." in response.data


@pytest.mark.parametrize("app_settings", [{"UPLOAD_LIMIT_ANONYMOUS_MB": 0}])
def test_per_user_upload_limit(app, client, workbook, make_user, app_settings):
    response = upload(client, workbook)
    assert response.status_code == 400
    assert (
        b"limit without an account" in response.data
        and b"Sign in to upload larger files" in response.data
    )
    assert stored_files(app) == []
    make_user()
    AuthActions(client).login()
    assert upload(client, workbook).status_code == 302


@pytest.mark.parametrize("app_settings", [{"MAX_CONTENT_LENGTH": 2000}])
def test_request_size_limit_gives_413(client, workbook, app_settings):
    response = upload(client, workbook)
    assert response.status_code == 413 and b"larger than the 1.95 KB limit" in response.data


def test_name_that_disagrees_with_content_is_noted(app, client, tmp_path):
    csv_named_xls = tmp_path / "data.xls"
    csv_named_xls.write_text("a,b\n1,2\n")
    public_id = public_id_of(upload(client, csv_named_xls))
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "The name ends in .xls, but the file is really Delimited text" in page
    assert "encoding utf-8" in page and "delimiter comma" in page


def test_fixture_formats_upload(app, client):
    for kind in ("xls", "xlsb", "ods"):
        response = upload(client, FIXTURES / f"mixed.{kind}")
        assert response.status_code == 302, kind
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "hidden" in page and "Zoë" in page


def test_error_cells_show_in_the_preview(app, client):
    for kind in ("xls", "ods"):
        response = upload(client, FIXTURES / f"errors.{kind}")
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "#DIV/0!" in page and "#N/A" in page, kind


def test_sheet_tabs(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    page = client.get(f"/convert/{public_id}?sheet=Other").get_data(as_text=True)
    assert 'aria-current="page"' in page and "<td>x</td>" in page
    assert client.get(f"/convert/{public_id}?sheet=Nope").status_code == 200


# Ownership, deletion, history, retention


def test_other_visitors_get_404(app, client, workbook, make_user):
    make_user()
    AuthActions(client).login()
    public_id = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, public_id)
    urls = [
        f"/convert/{public_id}",
        f"/convert/{public_id}/status",
        f"/convert/{public_id}/download",
    ]
    stranger = app.test_client()
    make_user(email="eve@example.com")
    for client_ in (stranger,):
        for url in urls:
            assert client_.get(url).status_code == 404, url
        assert client_.post(f"/convert/{public_id}/delete").status_code == 404
    AuthActions(stranger).login("eve@example.com")
    for url in urls:
        assert stranger.get(url).status_code == 404, url
    assert stranger.post(f"/convert/{public_id}/delete").status_code == 404
    assert fetch(app, Conversion, public_id=public_id) is not None


def test_delete_removes_files_and_record(app, client, workbook):
    public_id = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, public_id)
    assert len(stored_files(app)) == 2
    response = client.post(f"/convert/{public_id}/delete", follow_redirects=True)
    assert b"Deleted report.xlsx and its files." in response.data
    assert stored_files(app) == [] and fetch(app, Conversion, public_id=public_id) is None
    assert client.get(f"/convert/{public_id}").status_code == 404


def test_history_for_user_is_paginated_newest_first(app, client, workbook, make_user):
    make_user()
    AuthActions(client).login()
    for name in ("first.xlsx", "second.xlsx"):
        upload(client, workbook, name)
    page = client.get("/history").get_data(as_text=True)
    table = page[page.index("<tbody>") :]
    assert table.index("second.xlsx") < table.index("first.xlsx")
    assert "End my session" not in page
    assert client.post("/history/end-session").status_code == 404


def test_anonymous_history_and_end_session(app, client, workbook):
    public_id = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, public_id)
    page = client.get("/history").get_data(as_text=True)
    assert "report.xlsx" in page and "End my session" in page
    assert app.test_client().get("/history").get_data(as_text=True).count("report.xlsx") == 0
    response = client.post("/history/end-session", follow_redirects=True)
    assert b"Your session has ended and your files were deleted." in response.data
    assert stored_files(app) == [] and fetch(app, Conversion, public_id=public_id) is None


def test_expired_conversion_answers_410_and_cleanup_deletes_it(app, client, runner, workbook):
    public_id = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, public_id)
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = client.get(f"/convert/{public_id}")
    assert response.status_code == 410 and b"Expired" in response.data
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0 and "Deleted 1 expired conversion" in result.output
    assert stored_files(app) == [] and fetch(app, Conversion, public_id=public_id) is None


def test_twenty_conversions_at_once(app, client, tmp_path):
    ids = {}
    for number in range(20):
        book = write_xlsx(
            tmp_path / f"book{number}.xlsx", {"S": [["n"], [number]] + [[i] for i in range(200)]}
        )
        ids[number] = public_id_of(upload(client, book, quick=True))
    for number, public_id in ids.items():
        conversion = wait_for(app, public_id, timeout=120)
        assert conversion.status == "done", conversion.error
        with client.get(f"/convert/{public_id}/download") as download:
            assert download.data.startswith(f"n\r\n{number}\r\n".encode())


def test_a_job_whose_runner_died_fails_when_its_lease_lapses(app, client, workbook):
    """No host or process id: a job whose lease lapsed is failed by whichever process looks."""
    public_id = public_id_of(upload(client, workbook))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status = "running"
        conversion.runner = "0" * 32  # a runner in another container, now gone
        conversion.lease_expires_at = utcnow() + timedelta(minutes=1)
        db.session.commit()
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "Converting" in page  # the lease holds: still running
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.lease_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "The conversion failed." in page and "the server running it stopped" in page


def test_failed_job_shows_why(app, client, tmp_path):
    text = tmp_path / "emoji.csv"
    text.write_text("a\n😀\n", encoding="utf-8")
    public_id = public_id_of(upload(client, text))
    data = {**FORM, "sheets": ["emoji"], "encoding": "cp1252"}
    assert client.post(f"/convert/{public_id}", data=data).status_code == 302
    conversion = wait_for(app, public_id)
    assert conversion.status == "failed" and "Cell A2" in conversion.error
    assert "Cell A2" in client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert stored_files(app) == [conversion.stored_name]


def test_unconfirmed_users_may_convert(app, client, workbook, make_user):
    make_user(confirmed=False)
    AuthActions(client).login()
    assert client.get("/convert").status_code == 200
    assert upload(client, workbook).status_code == 302


def test_slow_conversion_emails_the_user(app, client, workbook, make_user, outbox):
    from app.email import notify_if_slow

    user = make_user()
    AuthActions(client).login()
    public_id = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, public_id)
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.notify = True
        notify_if_slow(conversion)
        assert outbox == []  # it took less than a minute
        conversion.started_at = conversion.finished_at - timedelta(minutes=2)
        notify_if_slow(conversion)
    assert outbox[0].recipients == [user.email] and "is ready" in outbox[0].subject
    assert f"/convert/{public_id}" in outbox[0].body


@pytest.mark.parametrize(
    "original, extension, sheet, expected",
    [
        ("report.xlsx", "csv", None, "report.csv"),
        ("report.xlsx", "csv", "Sheet 1", "report - Sheet 1.csv"),
        ("../../etc/passwd", "json", None, "passwd.json"),
        ('bad:"name"?.xls', "zip", "a/b", "bad_name_ - a_b.zip"),
        ("", "csv", None, "converted.csv"),
    ],
)
def test_download_names_are_safe(original, extension, sheet, expected):
    from app.storage import download_name

    assert download_name(original, extension, sheet) == expected


@pytest.mark.parametrize("app_settings", [{"CLEANUP_INTERVAL_MINUTES": 0.005}])
def test_the_app_cleans_up_on_its_own(app, client, workbook, app_settings):
    public_id = public_id_of(upload(client, workbook))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    client.get("/")  # the first request starts the timer
    deadline = time.monotonic() + 10
    while fetch(app, Conversion, public_id=public_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    app.extensions["sheetport_cleanup"].set()
    assert fetch(app, Conversion, public_id=public_id) is None and stored_files(app) == []


def test_ending_a_session_during_a_job_leaves_no_files(app, client, tmp_path):
    book = write_xlsx(tmp_path / "slow.xlsx", {"S": [[i, f"row {i}"] for i in range(20_000)]})
    public_id = public_id_of(upload(client, book, quick=True))
    client.post("/history/end-session")
    deadline = time.monotonic() + 30
    while stored_files(app) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored_files(app) == [] and fetch(app, Conversion, public_id=public_id) is None


def test_deleting_a_conversion_whose_job_just_discarded_its_result(app, client, workbook):
    """The race the test above can meet: the owner's delete has loaded the results while the
    job deletes its own row. Both wanted the row gone: no warning (an error in tests)."""
    from sqlalchemy import delete as delete_rows

    from app import conversions
    from app.models import ConversionResult

    public_id = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, public_id)
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        assert len(conversion.results) == 1  # loaded, as remove() loads them
        with db.engine.begin() as job:  # the job's own connection, meanwhile
            job.execute(delete_rows(ConversionResult))
        conversions.delete(conversion, by=conversion.session_key)
    assert fetch(app, Conversion, public_id=public_id) is None and stored_files(app) == []


# The converter page (issue 13): right sheet, last options, main action, confirmations


def test_the_sheet_shown_is_the_sheet_ticked(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    page = client.get(f"/convert/{public_id}?sheet=Other").get_data(as_text=True)
    assert re.search(r'value="Other"\s+checked', page)
    assert not re.search(r'value="Data"\s+checked', page)
    assert "Sheet: Other" in page


def test_the_form_comes_back_with_the_last_options(app, client, tmp_path):
    workbook = write_xlsx(
        tmp_path / "report.xlsx", {**WORKBOOK, "Hidden": [["h"]]}, hidden=("Hidden",)
    )
    public_id = public_id_of(upload(client, workbook))
    data = {**FORM, "output_format": "csv", "all_sheets": "y", "include_hidden": "y"}
    client.post(f"/convert/{public_id}", data=data)
    assert wait_for(app, public_id).status == "done"
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert re.search(r'id="all_sheets" name="all_sheets" type="checkbox" value="y"', page)
    assert 'checked id="all_sheets"' in page or re.search(r"<input checked[^>]*all_sheets", page)
    assert re.search(r"<input checked[^>]*include_hidden", page)
    assert "All sheets, hidden ones too" in page
    assert "Converting again replaces <strong" in page and "report.zip" in page
    # Another format keeps the sheets: the form as the page fills it converts all of them.
    client.post(f"/convert/{public_id}", data={**data, "output_format": "xlsx"})
    conversion = wait_for(app, public_id)
    assert conversion.options["all_sheets"] and conversion.options["include_hidden"]
    assert conversion.result_name == "report.xlsx"


def test_a_single_sheet_conversion_comes_back_on_its_tab(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    client.post(
        f"/convert/{public_id}", data={**FORM, "sheets": ["Other"], "output_format": "json"}
    )
    wait_for(app, public_id)
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert re.search(r'value="Other"\s+checked', page)
    assert '<option selected value="json">' in page
    assert "<title>Ready: report - Other.json" in page


def test_several_sheets_stay_ticked_on_another_tab(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data", "Other"]})
    wait_for(app, public_id)
    page = client.get(f"/convert/{public_id}?sheet=Other").get_data(as_text=True)
    assert re.search(r'value="Data"\s+checked', page) and re.search(
        r'value="Other"\s+checked', page
    )


def test_convert_sits_above_the_preview_with_options_for_the_format(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert page.index('id="convert-bar"') < page.index('class="table-responsive preview')
    assert page.index('id="submit"') < page.index("<table")
    assert 'href="#convert-bar">Skip to Convert' in page
    # CSV chosen: the delimiter is in view, the JSON layout under More options.
    shown, more = page.split('id="more-options"')
    assert 'name="delimiter"' in shown and 'name="json_style"' in more
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"], "output_format": "json"})
    wait_for(app, public_id)
    shown, more = (
        client.get(f"/convert/{public_id}").get_data(as_text=True).split('id="more-options"')
    )
    assert 'name="json_style"' in shown and 'name="delimiter"' in more


def test_the_options_form_posts_to_the_job(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    page = client.get(f"/convert/{public_id}?sheet=Other").get_data(as_text=True)
    assert f'action="/convert/{public_id}?sheet=Other#job"' in page


def test_options_errors_are_summed_up_and_focused(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    response = client.post(
        f"/convert/{public_id}", data={**FORM, "sheets": ["Data"], "skip_rows": "-1"}
    )
    page = response.get_data(as_text=True)
    assert 'role="alert"' in page and 'href="#skip_rows"' in page
    assert re.search(
        r'<input aria-describedby="skip_rows-error" aria-invalid="true" autofocus', page
    )
    assert '<details class="mt-2 more-options" id="more-options" open>' in page


def test_no_aria_attribute_says_none(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    for url in ("/", "/convert", f"/convert/{public_id}", "/history", "/auth/login", "/contact"):
        page = client.get(url).get_data(as_text=True)
        assert '="None"' not in page, url


def test_upload_by_script_gets_the_next_address(app, client, workbook):
    response = upload(client, workbook, headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 200 and response.json["next"].startswith("/convert/")
    # The message is still there for the page the script opens.
    page = client.get(response.json["next"]).get_data(as_text=True)
    assert "Uploaded report.xlsx" in page


def test_upload_by_script_with_a_bad_file_gets_the_form(client):
    response = upload(
        client, b"%PDF-1.7\n", "x.xlsx", headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert response.status_code == 400 and b"not a spreadsheet" in response.data


def test_upload_chooses_the_format_for_the_next_page(app, client, workbook):
    data = {"file": (io.BytesIO(workbook.read_bytes()), "report.xlsx"), "output_format": "xlsx"}
    public_id = public_id_of(client.post("/convert", data=data))
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert '<option selected value="xlsx">' in page
    data = {"file": (io.BytesIO(workbook.read_bytes()), "report.xlsx"), "output_format": "json"}
    public_id = public_id_of(client.post("/convert", data={**data, "quick": "y"}))
    assert wait_for(app, public_id).result_name == "report - Data.json"


def test_delete_asks_first(app, client, workbook):
    public_id = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, public_id)
    page = client.get(f"/convert/{public_id}/delete").get_data(as_text=True)
    assert "Delete report.xlsx?" in page and "report - Data.csv" in page
    assert fetch(app, Conversion, public_id=public_id) is not None
    assert client.get(f"/convert/{public_id}").status_code == 200
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert f'href="/convert/{public_id}/delete"' in page


def test_end_session_asks_first_and_hides_when_there_is_nothing(app, client, workbook):
    assert "End my session" not in client.get("/history").get_data(as_text=True)
    public_id = public_id_of(upload(client, workbook))
    page = client.get("/history").get_data(as_text=True)
    assert 'href="/history/end-session">End my session' in page
    page = client.get("/history/end-session").get_data(as_text=True)
    assert "1 upload and its converted files are" in page
    assert fetch(app, Conversion, public_id=public_id) is not None


def test_history_rows_stack_with_labels(app, client, workbook):
    upload(client, workbook)
    page = client.get("/history").get_data(as_text=True)
    assert 'class="table align-middle table-stack"' in page and 'data-label="Status"' in page


# Text files: read as another encoding, decimal separator and date order (issue 13.3, 13.4)

LEGACY = (
    "Nom;Ville;Montant;Date\nJérôme;Besançon;47,91;02/03/2024\nAnaïs;Nîmes;1.234,50;15/03/2024\n"
)


def test_a_text_file_can_be_read_as_another_encoding(app, client, tmp_path):
    source = tmp_path / "clients.csv"
    source.write_bytes(LEGACY.encode("cp1252"))
    public_id = public_id_of(upload(client, source))
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "Besançon" in page and "encoding cp1252 (detected)" in page
    assert "Letters look wrong? Change this." in page
    assert '<option selected value="cp1252">' in page
    response = client.post(f"/convert/{public_id}/read-as", data={"read-input_encoding": "cp775"})
    assert response.status_code == 302
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "Besanńon" in page and "Besançon" not in page
    assert '<option selected value="cp775">' in page and "(detected)" not in page
    # The conversion reads the file as chosen, too.
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["clients"], "encoding": "utf-8"})
    assert wait_for(app, public_id).options["input_encoding"] == "cp775"
    with client.get(f"/convert/{public_id}/download") as download:
        assert "Besanńon".encode() in download.data


def test_read_as_refuses_what_is_not_offered_and_binary_files(app, client, workbook, tmp_path):
    source = tmp_path / "clients.csv"
    source.write_bytes(LEGACY.encode("cp1252"))
    public_id = public_id_of(upload(client, source))
    response = client.post(
        f"/convert/{public_id}/read-as",
        data={"read-input_encoding": "base64"},
        follow_redirects=True,
    )
    assert b"Choose an encoding from the list." in response.data
    workbook_id = public_id_of(upload(client, workbook))
    assert (
        client.post(
            f"/convert/{workbook_id}/read-as", data={"read-input_encoding": "utf-8"}
        ).status_code
        == 404
    )
    assert "Read file as" not in client.get(f"/convert/{workbook_id}").get_data(as_text=True)


def test_decimal_comma_and_date_order_type_the_xlsx(app, client, tmp_path):
    import openpyxl

    source = tmp_path / "clients.csv"
    source.write_bytes(LEGACY.encode("cp1252"))
    public_id = public_id_of(upload(client, source))
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "As detected (comma)" in page and "As detected (day first)" in page
    data = {**FORM, "sheets": ["clients"], "output_format": "xlsx"}
    client.post(f"/convert/{public_id}", data=data)
    assert wait_for(app, public_id).status == "done"
    with client.get(f"/convert/{public_id}/download") as download:
        (tmp_path / "out.xlsx").write_bytes(download.data)
    rows = list(openpyxl.load_workbook(tmp_path / "out.xlsx").active.values)
    assert rows[1][:3] == ("Jérôme", "Besançon", 47.91) and rows[1][3].day == 2
    assert rows[2][2] == 1234.5
    # Month first, asked for: 02/03/2024 is February the 3rd; 15/03/2024 cannot be and stays text.
    client.post(f"/convert/{public_id}", data={**data, "date_order": "mdy"})
    wait_for(app, public_id)
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert '<option selected value="mdy">' in page
    with client.get(f"/convert/{public_id}/download") as download:
        (tmp_path / "out.xlsx").write_bytes(download.data)
    rows = list(openpyxl.load_workbook(tmp_path / "out.xlsx").active.values)
    assert rows[1][3].month == 2 and rows[1][3].day == 3 and rows[2][3] == "15/03/2024"


def test_read_as_waits_for_a_running_conversion(app, client, tmp_path):
    source = tmp_path / "clients.csv"
    source.write_bytes(LEGACY.encode("cp1252"))
    public_id = public_id_of(upload(client, source))
    hold_running(app, public_id)
    response = client.post(
        f"/convert/{public_id}/read-as",
        data={"read-input_encoding": "cp775"},
        follow_redirects=True,
    )
    assert b"Wait for the conversion to finish" in response.data
    assert fetch(app, Conversion, public_id=public_id).info.get("input_encoding") is None


def test_confirmation_pages_are_the_owners_only(app, client, workbook):
    public_id = public_id_of(upload(client, workbook))
    stranger = app.test_client()
    assert stranger.get(f"/convert/{public_id}/delete").status_code == 404
    assert stranger.post(f"/convert/{public_id}/read-as").status_code == 404
    assert "No conversions yet." in stranger.get("/history").get_data(as_text=True)


def test_signed_in_users_have_no_session_to_end(client, make_user):
    make_user()
    AuthActions(client).login()
    assert client.get("/history/end-session").status_code == 404


def test_files_missing_from_storage_answer_410_and_fail_jobs(app, client, workbook, caplog):
    """Files removed by hand or lost with a disk: a clear 410 and a log line, never a 500."""
    public_id = public_id_of(upload(client, workbook, quick=True))
    conversion = wait_for(app, public_id)
    folder = Path(app.config["UPLOAD_FOLDER"])
    (folder / conversion.result_stored_name).unlink()
    download = client.get(f"/convert/{public_id}/download")
    assert download.status_code == 410
    assert b"The converted file is no longer stored on the server" in download.data
    assert f"its result {conversion.result_stored_name} is missing" in caplog.text
    (folder / conversion.stored_name).unlink()
    # The first sheet's preview was kept at upload; the other sheet needs the file.
    page = client.get(f"/convert/{public_id}?sheet=Other")
    assert page.status_code == 410
    assert b"The uploaded file is no longer stored on the server" in page.data
    assert f"its upload {conversion.stored_name} is missing" in caplog.text
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    failed = wait_for(app, public_id)
    assert failed.status == "failed" and "no longer stored" in failed.error
    assert client.get(f"/convert/{public_id}").status_code == 200  # the page says why
    assert client.post(f"/convert/{public_id}/delete").status_code == 302
    assert stored_files(app) == []


def test_converting_while_a_conversion_runs_answers_409_with_the_page(app, client, tmp_path):
    source = tmp_path / "clients.csv"
    source.write_bytes(LEGACY.encode("cp1252"))
    public_id = public_id_of(upload(client, source))
    hold_running(app, public_id)
    response = client.post(
        f"/convert/{public_id}",
        data={**FORM, "sheets": ["clients"]},
    )
    assert response.status_code == 409
    assert b"This file is already being converted." in response.data
    assert b'id="options-form"' in response.data
    assert fetch(app, Conversion, public_id=public_id).status == Conversion.RUNNING
