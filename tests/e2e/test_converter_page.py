"""The converter page as a newcomer meets it (issue 13), with axe on every state visited."""

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from ..sheets.books import write_xlsx
from .a11y import check_a11y

pytestmark = pytest.mark.e2e


@pytest.fixture
def sales(tmp_path):
    return write_xlsx(
        tmp_path / "sales.xlsx",
        {
            "Orders": [["order", "amount"], *[[f"A{i:03}", i * 1.5] for i in range(1, 41)]],
            "Summary": [["region", "total"], ["North", 120], ["South", 80]],
            "Secret": [["hidden", "sheet"]],
        },
        hidden=("Secret",),
    )


def upload_for_preview(page, path):
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(path)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(Path(path).name)


def wait_until_ready(page):
    heading = page.get_by_role("heading", name="Your file is ready")
    expect(heading).to_be_visible(timeout=30_000)
    expect(heading).to_be_focused()
    return heading


def download(page, tmp_path):
    with page.expect_download() as info:
        page.get_by_test_id("download").click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    return target


def test_previewing_a_second_sheet_and_converting_it(page, sales, tmp_path):
    upload_for_preview(page, sales)
    check_a11y(page, "preview, first sheet")
    page.get_by_role("navigation", name="Sheets").get_by_role(
        "link", name=re.compile("Summary")
    ).click()
    expect(page.locator(".preview-table")).to_contain_text("North")
    expect(page.locator("#convert-summary")).to_contain_text("Sheet: Summary")
    expect(page.get_by_label("Summary", exact=True)).to_be_checked()
    expect(page.get_by_label("Orders", exact=True)).not_to_be_checked()
    check_a11y(page, "preview, second sheet")
    page.get_by_role("button", name="Convert", exact=True).click()
    wait_until_ready(page)
    expect(page).to_have_title(re.compile(r"^Ready: sales - Summary\.csv"))
    expect(page.get_by_test_id("result-name")).to_have_text("sales - Summary.csv")
    check_a11y(page, "result")
    assert download(page, tmp_path).read_bytes() == b"region,total\r\nNorth,120\r\nSouth,80\r\n"


def test_reconverting_to_another_format_keeps_the_sheets(page, sales, tmp_path):
    upload_for_preview(page, sales)
    page.get_by_label("All sheets").check()
    page.get_by_label("Include hidden sheets").check()
    expect(page.locator("#convert-summary")).to_contain_text("All sheets, hidden ones too")
    page.get_by_role("button", name="Convert", exact=True).click()
    wait_until_ready(page)
    with zipfile.ZipFile(download(page, tmp_path)) as archive:
        assert len(archive.namelist()) == 3
    # Only the format changes: the sheets chosen last time are still chosen.
    expect(page.locator("#convert-summary")).to_contain_text("Converting again replaces sales.zip")
    expect(page.get_by_label("All sheets")).to_be_checked()
    expect(page.get_by_label("Include hidden sheets")).to_be_checked()
    page.get_by_role("link", name="Convert again").click()
    page.get_by_label("Convert to").select_option("xlsx")
    # XLSX has no CSV options: they move under "More options".
    expect(page.get_by_label("Delimiter")).to_be_hidden()
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.locator("#job, #result")).to_be_in_viewport()
    wait_until_ready(page)
    expect(page).to_have_title(re.compile(r"^Ready: sales\.xlsx"))
    check_a11y(page, "result after converting again")
    book = openpyxl.load_workbook(download(page, tmp_path))
    assert book.sheetnames == ["Orders", "Summary", "Secret"]


def test_keyboard_only_from_upload_to_download(page, sales, tmp_path):
    page.goto("/convert")
    page.locator("body").focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "file":
            break
    file_input = page.get_by_label("Choose a file")
    expect(file_input).to_be_focused()
    # Enter opens the system's file dialog, which is outside the page (and chromium opens it
    # for Playwright only now and then): the test gives the focused input its file instead.
    file_input.set_input_files(sales)
    expect(page.locator("#file-chosen")).to_contain_text("sales.xlsx")
    page.keyboard.press("Tab")  # the format
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Upload and preview")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("sales.xlsx")
    # The first Tab reaches the skip link to the main action.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to Convert")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Convert to")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Convert", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    wait_until_ready(page)
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("download")).to_be_focused()
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    assert info.value.suggested_filename == "sales - Orders.csv"


def test_home_page_upload(page, sales):
    previews = []
    page.on(
        "request",
        lambda r: previews.append(r.url) if r.method == "GET" and "/convert/" in r.url else None,
    )
    page.goto("/")
    check_a11y(page, "home")
    page.get_by_label("Convert to").select_option("json")
    page.get_by_label("Choose a file").set_input_files(sales)
    expect(page.locator("#file-chosen")).to_contain_text("sales.xlsx")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("sales.xlsx")
    expect(page.get_by_role("status").filter(has_text="Uploaded sales.xlsx")).to_be_visible()
    expect(page.get_by_label("Convert to")).to_have_value("json")
    expect(page.get_by_label("JSON layout")).to_be_visible()
    expect(page.get_by_label("Delimiter")).to_be_hidden()
    assert len([url for url in previews if re.search(r"/convert/[\w-]+$", url)]) == 1, previews


def test_home_page_upload_of_a_bad_file_says_why(page, tmp_path):
    bad = tmp_path / "notes.xlsx"
    bad.write_bytes(b"%PDF-1.7 not a workbook")
    page.goto("/")
    page.get_by_label("Choose a file").set_input_files(bad)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#file-error")).to_contain_text("This file is a PDF document")
    expect(page.get_by_label("Choose a file")).to_be_focused()
    check_a11y(page, "upload refused")


def test_deleting_asks_first(page, sales):
    upload_for_preview(page, sales)
    page.get_by_role("link", name="History").first.click()
    check_a11y(page, "history")
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete sales.xlsx?")).to_be_visible()
    check_a11y(page, "delete confirmation")
    page.get_by_role("link", name="Keep them").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("sales.xlsx")
    page.get_by_role("link", name="Delete this file…").click()
    page.get_by_role("button", name="Delete the files").click()
    expect(page.get_by_text("Deleted sales.xlsx and its files.")).to_be_visible()
    expect(page.get_by_text("No conversions yet.")).to_be_visible()


def test_ending_the_session_asks_first(page, sales):
    page.goto("/history")
    expect(page.get_by_role("link", name=re.compile("End my session"))).to_have_count(0)
    upload_for_preview(page, sales)
    page.goto("/history")
    page.get_by_role("link", name=re.compile("End my session")).click()
    expect(page.get_by_role("heading", name=re.compile("End your session"))).to_be_visible()
    check_a11y(page, "end session confirmation")
    page.get_by_role("link", name="Keep them").click()
    expect(page.get_by_role("link", name="sales.xlsx", exact=True)).to_be_visible()
    page.get_by_role("link", name=re.compile("End my session")).click()
    page.get_by_role("button", name="End my session and delete my files").click()
    expect(page.get_by_text("Your session has ended and your files were deleted.")).to_be_visible()
    page.goto("/history")
    expect(page.get_by_text("No conversions yet.")).to_be_visible()


def test_history_on_a_phone(browser, server, sales):
    context = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto("/convert")
        page.get_by_label("Choose a file").set_input_files(sales)
        page.get_by_role("button", name="Convert right away").click()
        expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=30_000)
        page.goto("/history")
        check_a11y(page, "history on a phone")
        download_link = page.get_by_role("link", name=re.compile("^Download"))
        expect(download_link).to_be_in_viewport()
        box = download_link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


def test_form_errors_are_announced_and_focused(page, make_user):
    make_user()
    page.goto("/login")
    expect(page).to_have_url(re.compile("/auth/login$"))
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert").filter(has_text="Wrong email or password.")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_focused()
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    check_a11y(page, "login with a wrong password")


def test_legacy_csv_with_accents_and_decimal_commas_to_xlsx(page, tmp_path):
    source = tmp_path / "clients.csv"
    source.write_bytes(
        "Nom;Ville;Montant;Date\nJérôme;Besançon;47,91;02/03/2024\nAnaïs;Nîmes;1.234,50;15/03/2024\n".encode(
            "cp1252"
        )
    )
    upload_for_preview(page, source)
    preview = page.locator(".preview-table")
    expect(preview).to_contain_text("Besançon")
    # Read wrongly on purpose, then put right: the preview follows the choice.
    page.get_by_label("Read file as").select_option("cp775")
    page.get_by_role("button", name="Show").click()
    expect(preview).to_contain_text("Besanńon")
    check_a11y(page, "text file read as cp775")
    page.get_by_label("Read file as").select_option("cp1252")
    page.get_by_role("button", name="Show").click()
    expect(preview).to_contain_text("Jérôme")
    page.get_by_label("Convert to").select_option("xlsx")
    expect(page.get_by_label("Decimal separator in the file")).to_be_visible()
    expect(page.get_by_label("Decimal separator in the file")).to_contain_text(
        "As detected (comma)"
    )
    page.get_by_label("Dates in the file").select_option("dmy")
    check_a11y(page, "text file options for XLSX")
    page.get_by_role("button", name="Convert", exact=True).click()
    wait_until_ready(page)
    rows = list(openpyxl.load_workbook(download(page, tmp_path)).active.values)
    assert rows[0] == ("Nom", "Ville", "Montant", "Date")
    assert rows[1][:3] == ("Jérôme", "Besançon", 47.91) and rows[2][:3] == (
        "Anaïs",
        "Nîmes",
        1234.5,
    )
    assert (rows[1][3].year, rows[1][3].month, rows[1][3].day) == (2024, 3, 2)
    assert (rows[2][3].month, rows[2][3].day) == (3, 15)


def test_without_javascript(browser, server, sales, tmp_path):
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/")
        page.get_by_label("Convert to").select_option("tsv")
        page.get_by_label("Choose a file").set_input_files(sales)
        page.get_by_role("button", name="Upload and preview").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("sales.xlsx")
        expect(page.get_by_label("Convert to")).to_have_value("tsv")
        # Options for TSV in view, the others inside "More options", which opens without a script.
        expect(page.get_by_label("Quotes")).to_be_visible()
        expect(page.get_by_label("JSON layout")).to_be_hidden()
        page.locator("#more-options summary").click()
        expect(page.get_by_label("JSON layout")).to_be_visible()
        page.get_by_role("navigation", name="Sheets").get_by_role(
            "link", name=re.compile("Summary")
        ).click()
        page.get_by_role("button", name="Convert", exact=True).click()
        # The page has a <noscript> meta refresh, which chromium ignores when Playwright turns
        # scripts off; the Refresh link does the same.
        ready = page.get_by_role("heading", name="Your file is ready")
        for _ in range(60):
            if ready.count():
                break
            page.wait_for_timeout(500)
            page.get_by_role("link", name="Refresh").click()
        expect(ready).to_be_visible()
        expect(page).to_have_title(re.compile(r"^Ready: sales - Summary\.tsv"))
        with page.expect_download() as info:
            page.get_by_test_id("download").click()
        assert (
            Path(info.value.path()).read_bytes() == b"region\ttotal\r\nNorth\t120\r\nSouth\t80\r\n"
        )
    finally:
        context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/convert",
        "/history",
        "/help",
        "/contact",
        "/auth/register",
        "/auth/reset",
        "/no-such-page",
    ],
)
def test_public_pages_pass_axe(page, path):
    page.goto(path)
    check_a11y(page, path)


def test_register_errors_are_summed_up(page):
    page.goto("/register")
    page.get_by_role("button", name="Create").click()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_have_attribute("role", "alert")
    expect(page.locator("[aria-invalid='true']").first).to_be_focused()
    summary.get_by_role("link").nth(1).click()
    expect(page.locator(":focus")).to_have_attribute("aria-invalid", "true")
    check_a11y(page, "register with errors")
