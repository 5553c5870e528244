"""Cancelling a running conversion in a real browser (issue 26, 4)."""

import time

import pytest
from playwright.sync_api import expect

from app.models import Conversion

from ..conftest import fetch
from ..test_convert import stored_files
from ..test_jobs import engine_children, is_gone, wait_until
from .conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def test_cancelling_a_running_conversion(page, app, tmp_path):
    # About 7 MB of CSV: several seconds' work as XLSX, time to press Cancel.
    big = tmp_path / "big.csv"
    big.write_text("".join(f"{i},name {i},{i * 1.5}\n" for i in range(260_000)))
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(big)
    page.get_by_label("Convert to").select_option("xlsx")
    page.get_by_role("button", name="Convert right away").click()
    expect(page.locator("#job-text")).to_contain_text("Rows done", timeout=60_000)
    (child,) = wait_until(lambda: engine_children(app), what="the engine's child")
    page.screenshot(path=ARTIFACTS / "cancel-running.png", full_page=True)

    page.get_by_role("button", name="Cancel conversion").click()
    expect(page.get_by_text("Cancelled big.csv.")).to_be_visible()
    expect(page.locator("#cancelled")).to_contain_text("The conversion was cancelled.")
    expect(page.get_by_role("button", name="Cancel conversion")).to_have_count(0)
    expect(page.get_by_test_id("download")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "cancelled.png", full_page=True)
    wait_until(lambda: is_gone(child), timeout=5, what="the child to go")

    public_id = page.url.split("/convert/")[1].split("#")[0]
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "cancelled"
    wait_until(lambda: stored_files(app) == [conversion.stored_name], what="the scratch to go")
    # Later looks still say cancelled; the Download link never comes.
    time.sleep(1.5)
    page.reload()
    expect(page.locator("#cancelled")).to_be_visible()
    expect(page.get_by_test_id("download")).to_have_count(0)
    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_test_id("history")).to_contain_text("cancelled")
