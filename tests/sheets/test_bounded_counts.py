"""Counts, repeats and sizes a file states are bounded before they are used (issue 22).

Each hostile file is a small valid one with one number changed. Every reader must end
with a SheetError the user can read, or a correct conversion, quickly: never an
OverflowError, MemoryError or any other exception, and never a crash of the sandbox.
"""

import re
import struct
import time
import zipfile

import olefile
import pytest

from app.sheets import Options, SheetError, convert, inspect, preview
from app.sheets.limits import CELL_TEXT, file_count

from .books import FIXTURES, read_text, write_xlsx

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


# --- xlsx: the scan before calamine (ooxml.scan_sheet), the streaming reader, calamine ---

SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture
def small_xlsx(tmp_path):
    return write_xlsx(
        tmp_path / "small.xlsx",
        {"S": [["a", "b"], [1, 2], ["  padded", 3]]},
        merges={"S": [((0, 0), (0, 1), "a")]},
    )


def xlsx_with(tmp_path, source, edit, member=SHEET, name="hostile.xlsx"):
    return rewrite(source, tmp_path / name, {member: edit})


def replacing(old, new):
    return lambda data: data.replace(old, new, 1)


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # row and cell numbers past the sheet, past int()'s 4,300 digits
        (b'<row r="2"', b'<row r="' + b"9" * 5000 + b'"', "converted"),  # its cells say A2
        (b'<c r="A2"', b'<c r="A' + b"9" * 5000 + b'"', "TooLarge"),
        (b'<c r="A2"', b'<c r="A99999999999999999999"', "TooLarge"),
        # a column name of many letters: calamine would wrap it into a far column
        (b'<c r="A2"', b'<c r="AAAAAAAAAAAAAAAAAAAA2"', "TooLarge"),
        (b'<c r="B2"', b'<c r="ZZZZZZZZZZ2"', "TooLarge"),
        # the dimension and spans are never trusted
        (
            b'<dimension ref="A1:B3"/>',
            b'<dimension ref="A1:XFD99999999999999999999"/>',
            "converted",
        ),
        (b'<dimension ref="A1:B3"/>', b'<dimension ref="A1:B' + b"9" * 5000 + b'"/>', "converted"),
        (b'spans="1:2"', b'spans="1:99999999999999999999"', "converted"),
        # merges far out, and past int()'s digits
        (b'<mergeCell ref="A1:B1"/>', b'<mergeCell ref="A1:XFD1048576"/>', "converted"),
        (b'<mergeCell ref="A1:B1"/>', b'<mergeCell ref="A1:B' + b"9" * 5000 + b'"/>', "converted"),
    ],
)
def test_xlsx_numbers_past_the_sheet(tmp_path, small_xlsx, old, new, expected):
    path = xlsx_with(tmp_path, small_xlsx, replacing(old, new))
    assert both_ways(path) == expected
    merged = (
        convert(path, tmp_path / "merged.csv", Options(fill_merged=True))
        if expected == "converted"
        else None
    )
    assert merged is None or merged.rows == 3


def test_a_far_row_the_scan_cannot_see_is_not_made_all_at_once(tmp_path, small_xlsx):
    """A row number in single quotes (the scan looks for double ones) on the streaming
    path (inline text with padding sends the sheet there): the empty rows before it are
    a count, and the reader stops after the rows the scan found."""

    def edit(data):
        data = data.replace(b'<row r="2"', b"<row r='999999999'", 1)
        return data.replace(
            b'<c r="B2"><v>2</v></c>', b'<c r="B2" t="inlineStr"><is><t> x</t></is></c>', 1
        )

    path = xlsx_with(tmp_path, small_xlsx, edit)
    assert both_ways(path) == "converted"


@pytest.mark.parametrize("count", [b"99999999999999", b"9" * 5000, b"1000000"])
def test_a_text_table_announcing_more_strings_than_it_holds(tmp_path, small_xlsx, count):
    edit = lambda data: re.sub(rb'uniqueCount="\d+"', b'uniqueCount="%s"' % count, data)  # noqa: E731
    path = xlsx_with(tmp_path, small_xlsx, edit, member="xl/sharedStrings.xml")
    assert both_ways(path) == "converted"
    assert read_text(path.with_suffix(".out.csv")).splitlines()[:2] == ["a,b", "1,2"]


# --- xls: calamine, and xlrd for what calamine must not read ---


def xls_with(tmp_path, patch, name="hostile.xls"):
    """mixed.xls with its Workbook stream patched in place (same size)."""
    path = tmp_path / name
    path.write_bytes((FIXTURES / "mixed.xls").read_bytes())
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("Workbook").read())
        patch(stream)
        ole.write_stream("Workbook", bytes(stream))
    return path


def biff_records(stream, kind):
    """Offsets of the bodies of the records of one type."""
    position, found = 0, []
    while position + 4 <= len(stream):
        record, size = struct.unpack_from("<HH", stream, position)
        if record == kind:
            found.append(position + 4)
        position += 4 + size
    return found


def dimensions(rows, first_row=0, columns=6):
    def patch(stream):
        body = biff_records(stream, 0x0200)[0]
        struct.pack_into("<IIHH", stream, body, first_row, rows, 0, columns)

    return patch


def far_cell(kind, row, column):
    def patch(stream):
        struct.pack_into("<HH", stream, biff_records(stream, kind)[0], row, column)

    return patch


@pytest.mark.parametrize(
    "patch",
    [
        dimensions(0xFFFFFFFF, columns=0xFFFF),
        dimensions(1, first_row=5),  # calamine's row count wraps around below zero
        dimensions(99_999_999),
    ],
    ids=["huge", "wrapping", "past BIFF"],
)
def test_an_xls_dimensions_record_is_not_trusted(tmp_path, patch):
    path = xls_with(tmp_path, patch)
    assert both_ways(path) == "converted"
    assert read_text(path.with_suffix(".out.csv")).splitlines()[0].startswith("id,amount")


@pytest.mark.parametrize("kind", [0x00FD, 0x027E, 0x00BD], ids=["LABELSST", "RK", "MULRK"])
@pytest.mark.parametrize("row, column", [(0xFFFF, 0xFFFF), (3, 0xFFFF), (0xFFFF, 3)])
def test_an_xls_cell_past_the_sheet(tmp_path, kind, row, column):
    path = xls_with(tmp_path, far_cell(kind, row, column))
    assert both_ways(path) in ("converted", "DamagedFile", "TooLarge")


# --- xlsb: calamine, after the sheets' cells are measured ---


def xlsb_with(tmp_path, patch, name="hostile.xlsb"):
    def edit(data):
        data = bytearray(data)
        patch(data)
        return bytes(data)

    return rewrite(FIXTURES / "mixed.xlsb", tmp_path / name, {"xl/worksheets/sheet1.bin": edit})


def xlsb_bodies(data, kinds):
    """Offsets of the bodies of the records of the given types in an xlsb part."""
    from app.sheets.error_cells import xlsb_number

    position, found = 0, []
    while position < len(data):
        kind, position = xlsb_number(data, position, 2)
        size, position = xlsb_number(data, position, 4)
        if kind in kinds:
            found.append(position)
        position += size
    return found


def xlsb_column(column):
    def patch(data):
        struct.pack_into("<I", data, xlsb_bodies(data, range(1, 12))[-1], column)

    return patch


def xlsb_row(row):
    def patch(data):
        struct.pack_into("<I", data, xlsb_bodies(data, {0})[-1], row)

    return patch


@pytest.mark.parametrize(
    "patch, expected",
    [
        (xlsb_column(0xFFFFFF00), "TooLarge"),
        (xlsb_column(16_384), "TooLarge"),
        (xlsb_row(0xFFFFFFFF), "converted"),  # past the last row: the sheet ends there
        (xlsb_row(1_048_575), "converted"),  # a sheet of 1,048,576 rows by 6 columns
    ],
    ids=["column 4e9", "column past XFD", "row 4e9", "last row"],
)
def test_xlsb_cells_past_the_sheet(tmp_path, patch, expected):
    assert both_ways(xlsb_with(tmp_path, patch)) == expected
