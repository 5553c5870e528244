"""Deleting several conversions at once from History, in a real browser (issue 26, 8)."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def quick_convert(page, path):
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(path)
    page.get_by_role("button", name="Convert right away").click()
    expect(page.get_by_role("link", name=re.compile("Download"))).to_be_visible(timeout=30_000)


def test_select_all_then_delete_all_but_one(page, tmp_path):
    for month in ("january", "february", "march"):
        path = tmp_path / f"{month}.csv"
        path.write_text(f"month,total\n{month},1\n")
        quick_convert(page, path)
    page.get_by_role("link", name="History").first.click()
    history = page.get_by_test_id("history")
    expect(history.get_by_role("checkbox")).to_have_count(3)

    page.get_by_label("Select all on this page").check()
    page.get_by_role("checkbox", name="Select february.csv").uncheck()
    expect(page.get_by_label("Select all on this page")).not_to_be_checked()
    page.get_by_role("button", name="Delete selected…").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Delete 2 conversions?")
    expect(page.get_by_test_id("chosen")).to_contain_text("january.csv")
    expect(page.get_by_test_id("chosen")).not_to_contain_text("february.csv")
    page.get_by_role("button", name="Delete the files").click()

    expect(page.get_by_role("status")).to_contain_text("Deleted 2 conversions and their files.")
    expect(history.get_by_role("link", name="february.csv")).to_be_visible()
    expect(history.get_by_role("link", name="march.csv")).to_have_count(0)
    expect(history.get_by_role("link", name="january.csv")).to_have_count(0)


def test_nothing_ticked_says_so(page, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("a\n1\n")
    quick_convert(page, path)
    page.goto("/history")
    page.get_by_role("button", name="Delete selected…").click()
    expect(page.get_by_role("status").or_(page.get_by_role("alert")).first).to_contain_text(
        "Tick the conversions to delete first."
    )
