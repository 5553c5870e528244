"""The sandboxed path: a child process with limits, and the bound scan beside calamine."""

import zipfile

import pytest

from app.sheets import DamagedFile, Options, TimedOut, TooLarge, convert, inspect, preview
from app.sheets.sandbox import EngineCrash, run_isolated

from .books import Formula, read_text, write_xlsx


@pytest.fixture(scope="module")
def large_xlsx(tmp_path_factory):
    """A sheet whose XML is over 8 MB, so the sandbox measures it beside calamine."""
    rows = [[i, f"name {i}", i * 0.5, "x" * 20, i % 2 == 0, "", "tail"] for i in range(40_000)]
    rows[5][5] = Formula("=1/0", "#DIV/0!")
    path = tmp_path_factory.mktemp("large") / "large.xlsx"
    return write_xlsx(path, {"Big": rows}, constant_memory=True)


def test_isolated_conversion_equals_in_process(tmp_path, large_xlsx):
    with zipfile.ZipFile(large_xlsx) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size > 8 * 2**20
    convert(large_xlsx, tmp_path / "here.csv")
    seen = []
    result = convert(
        large_xlsx, tmp_path / "child.csv", isolate=True, progress=lambda d, t: seen.append((d, t))
    )
    assert read_text(tmp_path / "child.csv") == read_text(tmp_path / "here.csv")
    assert "#DIV/0!" in read_text(tmp_path / "child.csv").splitlines()[5]
    assert result.rows == 40_000 and seen and seen[-1] == (40_000, 40_000)


def test_far_cell_in_a_large_sheet_is_refused_in_the_sandbox(tmp_path, large_xlsx):
    hostile = tmp_path / "hostile.xlsx"
    with (
        zipfile.ZipFile(large_xlsx) as source,
        zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<c r="G40000"', b'<c r="XFD1048576"', 1)
            out.writestr(item, data)
    with pytest.raises(TooLarge, match="1,048,576 rows by 16,384 columns|memory Sheetport allows"):
        convert(hostile, tmp_path / "out.csv", isolate=True)
    assert not (tmp_path / "out.csv").exists()


def test_inspect_and_preview_isolated(large_xlsx):
    info = inspect(large_xlsx, isolate=True)
    assert info.sheets[0].name == "Big" and info.sheets[0].rows == 40_000
    assert preview(large_xlsx, rows=2, isolate=True).rows[1][:2] == ["1", "name 1"]


def abort_child():
    import os

    os.abort()


def use_memory():
    return bytearray(3 * 2**30)


def raise_bug():
    raise KeyError("a bug")


def test_child_abort_becomes_a_message():
    with pytest.raises(TooLarge, match="memory Sheetport allows"):
        run_isolated(abort_child)


def test_memory_limit_becomes_a_message():
    with pytest.raises(TooLarge, match="more memory than Sheetport allows"):
        run_isolated(use_memory, memory_bytes=2**30)


def test_bugs_are_not_disguised():
    with pytest.raises(EngineCrash, match="KeyError: 'a bug'"):
        run_isolated(raise_bug)


def test_time_limit_kills_the_child(tmp_path):
    import time

    with pytest.raises(TimedOut, match="longer than 1 seconds"):
        run_isolated(time.sleep, 30, seconds=1)


def test_user_errors_cross_the_process_boundary(tmp_path):
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DamagedFile):
        convert(empty, tmp_path / "o.csv", Options(), isolate=True)
