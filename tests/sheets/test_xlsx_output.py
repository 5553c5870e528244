"""XLSX output: Sheetport writes the sheet XML itself, and it must be XlsxWriter's, byte for
byte, except where XlsxWriter is wrong (each such case has a test of its own)."""

import datetime as dt
import re
import zipfile

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sheets import Options, TooLarge, convert
from app.sheets.writers import XlsxWriter

from .books import write_text

FIRST_SAFE_DAY = dt.date(1900, 3, 1)  # XlsxWriter is wrong on some days before this
TRICKY_TEXT = st.sampled_from(
    [" lead", "trail ", "\ttab", "line\n", "a&b<c>d", "_x000D_", "_x00e9_ and _xZZZZ_", "\x1f"]
    + ["\x00nul", "\ufffe\uffff", "\u00a0nbsp", "\u2028", "é😀", '"quoted"', "=1+1", "  "]
)
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), TRICKY_TEXT
).filter(lambda text: not (text.startswith("<r>") and text.endswith("</r>")))
VALUE = st.one_of(
    TEXT,
    st.just(""),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),  # NaN and infinities included
    st.booleans(),
    st.dates(min_value=FIRST_SAFE_DAY),
    st.datetimes(min_value=dt.datetime.combine(FIRST_SAFE_DAY, dt.time())),
    st.times(),
    st.timedeltas(min_value=dt.timedelta(days=-1000), max_value=dt.timedelta(days=100_000)),
)
ROWS = st.lists(st.lists(VALUE, max_size=8), max_size=10)
OPTIONS = {
    "constant_memory": True,
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "nan_inf_to_errors": True,
}
FORMATS = [
    (dt.date, "yyyy-mm-dd"),
    (dt.datetime, "yyyy-mm-dd hh:mm:ss"),
    (dt.time, "hh:mm:ss"),
    (dt.timedelta, "[h]:mm:ss"),
]


def with_xlsxwriter(path, sheets):
    """The reference: XlsxWriter's own constant-memory writer, through its public API."""
    workbook = xlsxwriter.Workbook(str(path), OPTIONS)
    formats = {kind: workbook.add_format({"num_format": code}) for kind, code in FORMATS}
    for name, rows in sheets.items():
        worksheet = workbook.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    if value:
                        worksheet.write_string(r, c, value)
                elif isinstance(value, bool):
                    worksheet.write_boolean(r, c, value)
                elif isinstance(value, (int, float)):
                    worksheet.write_number(r, c, value)
                else:
                    worksheet.write_datetime(r, c, value, formats[type(value)])
    workbook.close()


def with_sheetport(path, sheets):
    writer = XlsxWriter(path)
    for name, rows in sheets.items():
        writer.write_batches(writer.add_sheet(name), [(0, rows)] if rows else [], name)
    writer.close()


def sheet_xml(path):
    """Each sheet's XML, its style numbers replaced by their number formats: XlsxWriter
    numbers styles in an order that depends on when it flushes rows, which says nothing."""
    with zipfile.ZipFile(path) as archive:
        styles = archive.read("xl/styles.xml").decode()
        codes = dict(re.findall(r'<numFmt numFmtId="(\d+)" formatCode="([^"]*)"/>', styles))
        cell_xfs = re.search(r"<cellXfs.*?</cellXfs>", styles).group()
        formats = [
            codes.get(number, number) for number in re.findall(r'numFmtId="(\d+)"', cell_xfs)
        ]
        return {
            name: re.sub(
                r' s="(\d+)"', lambda m: f' s="{formats[int(m[1])]}"', archive.read(name).decode()
            )
            for name in archive.namelist()
            if name.startswith("xl/worksheets/")
        }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=ROWS, second=ROWS)
def test_sheet_xml_is_xlsxwriters(tmp_path, first, second):
    sheets = {"One": first, "Two": second}
    with_xlsxwriter(tmp_path / "reference.xlsx", sheets)
    with_sheetport(tmp_path / "ours.xlsx", sheets)
    assert sheet_xml(tmp_path / "ours.xlsx") == sheet_xml(tmp_path / "reference.xlsx")


def round_trip(tmp_path, text):
    """A CSV converted to XLSX, then the XLSX back to CSV; returns both workbooks' views."""
    source = write_text(tmp_path / "in.csv", text)
    convert(source, tmp_path / "out.xlsx", Options(format="xlsx"))
    convert(tmp_path / "out.xlsx", tmp_path / "back.csv", Options(line_ending="lf"))
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    return values, (tmp_path / "back.csv").read_text(encoding="utf-8")


def test_text_that_looks_like_rich_text_stays_text(tmp_path):
    # XlsxWriter copies such text into the XML unescaped, making a damaged workbook.
    text = 'a\n<r>x</r>\n"<r><t>hi & bye</t></r>"\n'
    values, back = round_trip(tmp_path, text)
    assert values == [["a"], ["<r>x</r>"], ["<r><t>hi & bye</t></r>"]]
    assert back == "a\n<r>x</r>\n<r><t>hi & bye</t></r>\n"


def test_dates_early_in_1900(tmp_path):
    # XlsxWriter writes a date-time on 1900-01-01 as a bare time of day, and one on
    # 1900-02-28 as the day Excel calls 1900-02-29.
    text = "d\n1900-01-01 10:00:00\n1900-01-01\n1900-02-28 18:00:00\n1900-03-01 06:00:00\n"
    values, back = round_trip(tmp_path, text)
    assert values[1:] == [
        [dt.datetime(1900, 1, 1, 10)],
        [dt.datetime(1900, 1, 1)],
        [dt.datetime(1900, 2, 28, 18)],
        [dt.datetime(1900, 3, 1, 6)],
    ]
    assert back.splitlines()[1:] == [
        "1900-01-01 10:00:00",
        "1900-01-01",
        "1900-02-28 18:00:00",
        "1900-03-01 06:00:00",
    ]


def test_dates_before_1900_stay_text(tmp_path):
    # Excel holds no date before 1900-01-01; typed into Excel such a date stays text,
    # where a negative serial number would show as ##### or as a time of day.
    values, back = round_trip(tmp_path, "d,n\n1850-06-01 12:00:00,1\n1899-12-31,2\n")
    assert values[1:] == [["1850-06-01 12:00:00", 1], ["1899-12-31", 2]]
    assert back == "d,n\n1850-06-01 12:00:00,1\n1899-12-31,2\n"


@pytest.mark.parametrize(
    ("cell", "count"),
    [
        ("y" * 32_768, "32,768 characters"),
        ("😀" * 16_384, r"16,384 characters \(32,768 as Excel counts them"),
    ],
)
def test_text_too_long_for_an_xlsx_cell(tmp_path, cell, count):
    # Excel counts in UTF-16 units: 16,384 emoji are 32,768 of them.
    source = write_text(tmp_path / "long.csv", f"a\n{cell}\n")
    with pytest.raises(TooLarge, match=f"Cell A2 of sheet 'long' holds {count}"):
        convert(source, tmp_path / "out.xlsx", Options(format="xlsx"))
    assert not (tmp_path / "out.xlsx").exists()


def test_longest_text_an_xlsx_cell_holds(tmp_path):
    cell = "😀" * 16_383 + "y"
    values, _ = round_trip(tmp_path, f"a\n{cell}\n")
    assert values[1] == [cell]
