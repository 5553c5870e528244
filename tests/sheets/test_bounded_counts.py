"""Counts, repeats and sizes a file states are bounded before they are used (issue 22).

Each hostile file is a small valid one with one number changed. Every reader must end
with a SheetError the user can read, or a correct conversion, quickly: never an
OverflowError, MemoryError or any other exception, and never a crash of the sandbox.
"""

import re
import time
import zipfile

import pytest

from app.sheets import Options, SheetError, convert, inspect, preview
from app.sheets.limits import CELL_TEXT, file_count

from .books import FIXTURES, read_text

QUICKLY = 20  # seconds: far below the engine's limit, far above what a bounded read takes


def rewrite(source, target, edits):
    """A copy of a zip package with `edits` {member: function(bytes) -> bytes} applied."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename in edits:
                data = edits[item.filename](data)
            new.writestr(item, data)
    return target


def outcome(path, isolate=False):
    """What the engine makes of `path`: "converted" or the SheetError's class name.
    Asserts it is one of those, through inspect, preview and convert, in time."""
    started = time.monotonic()
    try:
        inspect(path, isolate=isolate)
        preview(path, isolate=isolate)
        convert(path, path.with_suffix(".out.csv"), Options(format="csv"), isolate=isolate)
        result = "converted"
    except SheetError as error:
        assert str(error) and "Traceback" not in str(error)
        result = type(error).__name__
    assert time.monotonic() - started < QUICKLY
    return result


def both_ways(path):
    """outcome() in this process and in the sandbox, which must agree."""
    here = outcome(path)
    assert outcome(path, isolate=True) == here
    return here


def test_file_count_clamps_what_files_say():
    assert file_count("99999999999999999999") == 1_048_576
    assert file_count("9" * 5000, most=16_384) == 16_384  # past int()'s 4,300 digits
    assert file_count("1e9") == file_count("-5") == file_count("") == file_count(None) == 1
    assert file_count("0", least=0) == 0 and file_count("+0012") == 12
    assert file_count(b"7", most=5) == 5


# --- ods: calamine and the bounded reader (error_cells.ods_sheets) ---

MIXED_ODS = FIXTURES / "mixed.ods"
FIRST_TEXT = b"<text:p>id</text:p>"


def ods_with(tmp_path, edit, name="hostile.ods"):
    return rewrite(MIXED_ODS, tmp_path / name, {"content.xml": edit})


def pretty(data):
    """Indented as some writers do: calamine cannot parse it, the bounded reader reads it."""
    return re.sub(rb"><(table:table-(?:row|cell)|/table:table-row)", rb">\n<\1", data)


def spaces_in_first_cell(count, runs=1, indent=False):
    run = b'<text:s text:c="%s"/>' % count.encode()

    def edit(data):
        data = data.replace(FIRST_TEXT, b"<text:p>i" + run * runs + b"d</text:p>", 1)
        return pretty(data) if indent else data

    return edit


@pytest.mark.parametrize("indent", [False, True], ids=["calamine", "bounded reader"])
@pytest.mark.parametrize("count", ["99999999999999999999", "1000000000", "40000"])
def test_a_run_of_spaces_longer_than_a_cell_is_clamped(tmp_path, count, indent):
    path = ods_with(tmp_path, spaces_in_first_cell(count, indent=indent))
    assert both_ways(path) == "converted"
    first = read_text(path.with_suffix(".out.csv")).split(",")[0]
    assert first == "i" + " " * CELL_TEXT + "d"


@pytest.mark.parametrize("indent", [False, True], ids=["calamine", "bounded reader"])
@pytest.mark.parametrize("count", ["1e9", "-5", "abc", "0"])
def test_a_run_of_spaces_that_is_no_count(tmp_path, count, indent):
    path = ods_with(tmp_path, spaces_in_first_cell(count, indent=indent))
    assert both_ways(path) == "converted"


@pytest.mark.parametrize("indent", [False, True], ids=["calamine", "bounded reader"])
def test_many_long_runs_of_spaces_are_refused(tmp_path, indent):
    path = ods_with(tmp_path, spaces_in_first_cell("32767", runs=3000, indent=indent))
    assert both_ways(path) == "TooLarge"


def repeated_value(columns=None, rows=None, indent=False):
    """The first cell with a value repeated across `columns`, its row down `rows`."""

    def edit(data):
        if columns is not None:
            data = data.replace(
                b'<table:table-cell office:value-type="string"',
                b'<table:table-cell table:number-columns-repeated="%s" office:value-type="string"'
                % columns.encode(),
                1,
            )
        if rows is not None:
            data = data.replace(
                b'<table:table-row table:style-name="ro1">',
                b'<table:table-row table:style-name="ro1" table:number-rows-repeated="%s">'
                % rows.encode(),
                1,
            )
        return pretty(data) if indent else data

    return edit


@pytest.mark.parametrize("indent", [False, True], ids=["calamine", "bounded reader"])
@pytest.mark.parametrize(
    "columns, rows",
    [
        ("16384", "1048576"),
        ("99999999999999999999", "99999999999999999999"),
        ("9" * 5000, "9" * 5000),
        ("100", "1000000"),
    ],
)
def test_repeated_cells_far_beyond_the_limit_are_refused(tmp_path, columns, rows, indent):
    path = ods_with(tmp_path, repeated_value(columns, rows, indent))
    assert both_ways(path) == "TooLarge"


@pytest.mark.parametrize("indent", [False, True], ids=["calamine", "bounded reader"])
@pytest.mark.parametrize("count", ["1e9", "-5", "abc", "0", "3"])
def test_repeats_that_are_no_count_or_small_read(tmp_path, count, indent):
    path = ods_with(tmp_path, repeated_value(count, count, indent))
    assert both_ways(path) == "converted"


def test_empty_rows_between_values_are_read_by_calamine_as_before(tmp_path):
    gap = (
        b'<table:table-row table:number-rows-repeated="3">'
        b'<table:table-cell table:number-columns-repeated="2"/></table:table-row>'
    )
    path = ods_with(
        tmp_path, lambda data: data.replace(b"</table:table-row>", b"</table:table-row>" + gap, 1)
    )
    assert both_ways(path) == "converted"
    lines = read_text(path.with_suffix(".out.csv")).splitlines()
    assert lines[0].startswith("id,amount") and lines[1:4] == [",,,,,"] * 3
