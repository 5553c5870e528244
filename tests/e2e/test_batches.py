"""Batches in a real browser (issue 26, 1): five files chosen at once, converted with one
click, downloaded as one zip; a zip of spreadsheets taken as its files."""

import io
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_five_files_at_once_then_download_all(page, tmp_path):
    paths = []
    for month in ("january", "february", "march", "april", "may"):
        path = tmp_path / f"{month}.csv"
        path.write_text(f"month,total\n{month},{len(month)}\n")
        paths.append(path)
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(paths)
    expect(page.locator("#file-chosen")).to_have_text("Chosen: 5 files, converted as a batch")
    page.get_by_label("Convert to").select_option("tsv")
    page.get_by_role("button", name="Convert right away").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Batch of 5 files")
    expect(page.get_by_test_id("download-all")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("batch-files").locator(".badge")).to_have_text(["done"] * 5)
    with page.expect_download() as info:
        page.get_by_test_id("download-all").click()
    download = info.value
    assert re.fullmatch(r"batch \d{4}-\d{2}-\d{2}\.zip", download.suggested_filename)
    with zipfile.ZipFile(Path(download.path())) as archive:
        assert sorted(archive.namelist()) == sorted(f"{p.stem}.tsv" for p in paths)
        assert archive.read("may.tsv").decode().startswith("month\ttotal")


def test_a_zip_of_spreadsheets(page, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("q1/sales.csv", "region,total\nnorth,1\n")
        archive.writestr("q1/costs.csv", "item,total\nrent,2\n")
    path = tmp_path / "quarter.zip"
    path.write_bytes(buffer.getvalue())
    page.goto("/")
    page.get_by_label("Choose a file").set_input_files(path)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Batch of 2 files")
    page.get_by_role("button", name="Convert all").click()
    expect(page.get_by_test_id("download-all")).to_be_visible(timeout=30_000)
    page.get_by_test_id("batch-files").get_by_role("link", name="sales.csv").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("sales.csv")


@pytest.mark.parametrize("app_settings", [{"MAX_CONTENT_LENGTH": 64 * 1024}])
def test_files_too_large_together_are_stopped_before_sending(page, tmp_path, app_settings):
    paths = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.csv"
        path.write_text("a,b\n" + "1,2\n" * 10_000)  # 40 KB each: 80 KB together
        paths.append(path)
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(paths)
    expect(page.locator("#file-error")).to_contain_text("Together these files are larger")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page).to_have_url(re.compile(r"/convert$"))
    expect(page.locator("#file-error")).to_contain_text("upload fewer at once")
