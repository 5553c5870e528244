"""Converting in a real browser: upload through the file input, progress, download."""

import datetime as dt
import re
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from app.sheets import Options, convert

from ..sheets.books import write_xlsx
from .conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def workbook(tmp_path):
    rows = [["id", "name", "when"], *[[i, f"person {i}", "2024-03-15"] for i in range(1, 3001)]]
    return write_xlsx(tmp_path / "people.xlsx", {"People": rows, "Notes": [["a note"]]})


def test_upload_preview_convert_download(page, workbook, tmp_path):
    page.goto("/")
    page.get_by_label("Choose a file").set_input_files(workbook)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("people.xlsx")
    expect(page.locator(".preview-table")).to_contain_text("person 1")
    page.get_by_role("link", name=re.compile("Notes")).click()
    expect(page.locator(".preview-table")).to_contain_text("a note")
    page.get_by_label("Convert to").select_option("csv")
    page.get_by_role("checkbox", name="People").check()
    page.get_by_role("checkbox", name="Notes").uncheck()
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("result-name")).to_have_text("people - People.csv")
    page.screenshot(path=ARTIFACTS / "converted.png", full_page=True)
    with page.expect_download() as info:
        page.get_by_test_id("download").click()
    download = info.value
    assert download.suggested_filename == "people - People.csv"
    expected = tmp_path / "expected.csv"
    convert(workbook, expected, Options(sheets=["People"]))
    assert Path(download.path()).read_bytes() == expected.read_bytes()

    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_role("link", name="people.xlsx")).to_be_visible()
    # Each time is one <time> element; Flask-Moment's script wrote it in the reader's terms.
    history = page.get_by_test_id("history")
    expect(history.locator(".flask-moment")).to_have_count(0)
    expect(history.locator("time").first).to_have_text(re.compile(r"ago$"))
    expect(history.locator("time").nth(1)).to_have_text(re.compile(r"^in "))


def test_a_wide_sheet_shows_its_first_columns(page, tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("\n".join(",".join(f"r{r}c{c}" for c in range(300)) for r in range(5)))
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(wide)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#preview-extent")).to_contain_text(
        "Showing 50 of 300 columns; all are converted."
    )
    expect(page.locator(".preview-table thead th")).to_have_count(51)
    expect(page.locator(".preview-table")).to_contain_text("r4c49")


def test_progress_bar_reaches_done(page, tmp_path):
    big = write_xlsx(
        tmp_path / "big.xlsx", {"S": [[i, f"row {i}", i * 1.5] for i in range(60_000)]}
    )
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(big)
    page.get_by_role("button", name="Convert right away").click()
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("result-name")).to_have_text("big.csv")


def test_bad_file_gets_its_message(page, tmp_path):
    fake = tmp_path / "report.xlsx"
    fake.write_bytes(b"%PDF-1.7 this is not a workbook")
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(fake)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#file-error")).to_contain_text(
        "This file is a PDF document, not a spreadsheet."
    )
    page.screenshot(path=ARTIFACTS / "bad-upload.png", full_page=True)


@pytest.mark.parametrize("app_settings", [{"UPLOAD_LIMIT_ANONYMOUS_MB": 1}], indirect=True)
def test_browser_checks_the_size_before_sending(page, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" + b"1,2\n" * 400_000)
    requests = []
    page.on("request", lambda request: requests.append(request.method))
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(big)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#file-error")).to_contain_text("larger than the 1 MB limit")
    assert "POST" not in requests


def test_csv_to_xlsx_keeps_types(page, tmp_path):
    source = tmp_path / "orders.csv"
    source.write_text(
        'code,amount,ordered,paid,note\n00123,12.5,2024-03-15,TRUE,"Zoë, ""VIP"""\n'
        "00124,-3,2024-03-16 09:30:00,FALSE,<r>not markup</r>\n",
        encoding="utf-8",
    )
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(source)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(".preview-table")).to_contain_text("00123")
    page.get_by_label("Convert to").select_option("xlsx")
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("result-name")).to_have_text("orders.xlsx")
    with page.expect_download() as info:
        page.get_by_test_id("download").click()
    assert info.value.suggested_filename == "orders.xlsx"
    info.value.save_as(tmp_path / "orders.xlsx")  # openpyxl goes by the extension
    sheet = openpyxl.load_workbook(tmp_path / "orders.xlsx").active
    first, second = ([cell for cell in row] for row in sheet.iter_rows(min_row=2))
    assert [cell.value for cell in first] == [
        "00123",
        12.5,
        dt.datetime(2024, 3, 15),
        True,
        'Zoë, "VIP"',
    ]
    assert first[2].number_format == "yyyy-mm-dd"
    assert second[2].value == dt.datetime(2024, 3, 16, 9, 30)
    assert second[4].value == "<r>not markup</r>"
