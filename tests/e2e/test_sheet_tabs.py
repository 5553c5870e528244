"""Clicking a sheet tab shows that sheet and keeps what was chosen in the form (issue 26):
the format, its options, the sheets ticked and "All sheets" unticked stay as they were."""

import re
import time

import pytest
from playwright.sync_api import expect

from app.models import Conversion

from ..conftest import fetch
from ..sheets.books import write_xlsx
from ..test_convert import wait_for

pytestmark = pytest.mark.e2e


def upload(page, tmp_path):
    book = write_xlsx(
        tmp_path / "three.xlsx",
        {
            "North": [["region", "sales"], ["north", 1]],
            "South": [["region", "sales"], ["south", 2]],
            "West": [["region", "sales"], ["west", 3]],
        },
    )
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(book)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("three.xlsx")


def tab(page, name):
    return page.get_by_role("navigation", name="Sheets").get_by_role(
        "link", name=re.compile(f"^{name}")
    )


def test_a_tab_keeps_the_forms_choices(app, page, tmp_path):
    upload(page, tmp_path)
    page.get_by_label("Convert to").select_option("csv")
    page.get_by_label("Delimiter").select_option(";")
    page.locator("#more-options summary").click()
    page.get_by_label("Rows to skip at the top").fill("1")

    tab(page, "South").click()
    expect(page.locator(".preview-table")).to_contain_text("south")
    expect(tab(page, "South")).to_have_attribute("aria-current", "page")
    expect(page).to_have_url(re.compile(r"sheet=South"))
    expect(page.get_by_label("Convert to")).to_have_value("csv")
    expect(page.get_by_label("Delimiter")).to_have_value(";")
    expect(page.get_by_label("Rows to skip at the top")).to_have_value("1")
    # The tick followed the tab while it was the only one, as the server's form does.
    expect(page.get_by_role("checkbox", name="South")).to_be_checked()
    expect(page.get_by_role("checkbox", name="North")).not_to_be_checked()
    expect(page.locator("#sheets-summary")).to_have_text("Sheet: South")

    # Once the person ticks sheets themselves, a tab no longer changes them.
    page.get_by_role("checkbox", name="West").check()
    tab(page, "North").click()
    expect(page.locator(".preview-table")).to_contain_text("north")
    expect(page.get_by_role("checkbox", name="South")).to_be_checked()
    expect(page.get_by_role("checkbox", name="West")).to_be_checked()
    expect(page.get_by_role("checkbox", name="North")).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="All sheets")).not_to_be_checked()

    page.go_back()  # the browser's Back shows the tab before
    expect(page.locator(".preview-table")).to_contain_text("south")
    expect(page.get_by_label("Delimiter")).to_have_value(";")

    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=30_000)
    conversion = wait_for(app, fetch(app, Conversion).public_id)
    assert conversion.options["sheets"] == ["South", "West"]
    assert conversion.options["delimiter"] == ";" and conversion.options["skip_rows"] == 1
    assert not conversion.options["all_sheets"]


def test_a_tab_after_converting_all_sheets_keeps_all_sheets_unticked(app, page, tmp_path):
    upload(page, tmp_path)
    page.get_by_role("checkbox", name="All sheets").check()
    page.get_by_label("Convert to").select_option("json")
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=30_000)
    # The next conversion: one sheet, chosen by its tab.
    page.get_by_role("checkbox", name="All sheets").uncheck()
    for name in ("North", "South", "West"):
        page.get_by_role("checkbox", name=name).set_checked(name == "North")
    tab(page, "West").click()
    expect(page.locator(".preview-table")).to_contain_text("west")
    expect(page.get_by_role("checkbox", name="All sheets")).not_to_be_checked()
    expect(page.get_by_label("Convert to")).to_have_value("json")
    expect(page.locator("#sheets-summary")).to_have_text("Sheet: West")


@pytest.mark.parametrize("first_answers", ["first", "last"])
def test_two_tabs_clicked_at_once_show_the_last_one(
    app, page, tmp_path, monkeypatch, first_answers
):
    """The second tab is clicked before the first's page arrives: whichever answer comes
    back first, the preview, the tab marked current, the address, the title and the form
    all end on the second."""
    upload(page, tmp_path)
    delays = (
        {"South": 0.3, "West": 0.6} if first_answers == "first" else {"South": 0.6, "West": 0.1}
    )
    served = app.wsgi_app

    def slowly(environ, start_response):
        sheet = re.search(r"(?:^|&)sheet=(\w+)", environ.get("QUERY_STRING", ""))
        time.sleep(delays.get(sheet.group(1), 0) if sheet else 0)
        return served(environ, start_response)

    monkeypatch.setattr(app, "wsgi_app", slowly)
    tab(page, "South").click()
    tab(page, "West").click()  # no wait: South's page is still on its way
    page.wait_for_timeout(1000)  # both answers are in (or dropped)
    expect(page.locator(".preview-table")).to_contain_text("west")
    expect(page.locator(".preview-table")).not_to_contain_text("south")
    expect(page.locator('#sheet-view a[aria-current="page"]')).to_have_attribute(
        "data-sheet", "West"
    )
    expect(page).to_have_url(re.compile(r"sheet=West"))
    assert "sheet=West" in page.locator("#options-form").get_attribute("action")
    assert page.locator("#sheet-view").count() == 1
    page.go_back()  # one history entry: the page before the tabs, not South
    expect(page).not_to_have_url(re.compile(r"sheet="))
