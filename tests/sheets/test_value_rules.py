"""The value rules for files nobody here wrote: serials under date and time formats,
numbers as Excel shows them, text of only spaces, empty sheets. Each rule is checked
through every reader path an xlsx sheet can take (calamine, the streaming reader, the
columnar fast path), which must write the same bytes."""

import csv
import dataclasses
import io
import json
import zipfile

import openpyxl
import pytest
import xlsxwriter

from app.sheets import DEFAULT_LIMITS, BadOptions, Options, convert, preview
from app.sheets.values import serial_moment

from .books import FIXTURES

PATHS = {
    "calamine": DEFAULT_LIMITS,
    "streaming": dataclasses.replace(DEFAULT_LIMITS, stream_above_bytes=0),
    "columnar": dataclasses.replace(DEFAULT_LIMITS, columnar_above_bytes=0),
}


def numbers_book(path, cells):
    """An xlsx with one column: a header, then (number, number format or None) cells."""
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("S")
    sheet.write_string(0, 0, "value")
    for row, (number, code) in enumerate(cells, 1):
        style = workbook.add_format({"num_format": code}) if code else None
        sheet.write_number(row, 0, number, style)
    workbook.close()
    return path


def csv_lines(book, path_name, tmp_path, **options):
    out = tmp_path / f"{path_name}.csv"
    convert(book, out, Options(line_ending="lf", **options), limits=PATHS[path_name])
    return out.read_text("utf-8").splitlines()


# (rule, number, number format, CSV text, JSON value)
SERIALS = [
    ("negative serial under a year format", -1.2, "yy", "1899-12-28 19:12:00"),
    (
        "negative serial under a date-time format",
        -1.2,
        "yyyy-mm-dd hh:mm:ss",
        "1899-12-28 19:12:00",
    ),
    ("serial 0 under a date format is a date", 0, "yyyy-mm-dd", "1899-12-30"),
    ("serial 0 under a date-time format", 0, "yyyy-mm-dd hh:mm:ss", "1899-12-30 00:00:00"),
    ("below day 1 under a date-time format", 0.5, "yyyy-mm-dd hh:mm", "1899-12-30 12:00:00"),
    ("day 1 is 1900-01-01", 1, "yyyy-mm-dd", "1900-01-01"),
    ("Excel's 29 February 1900", 61, "yyyy-mm-dd", "1900-03-01"),
    ("a day or more under a time format is elapsed", 12.3, "h:mm:ss AM/PM", "295:12:00"),
    ("the same under hh:mm:ss", 12.3, "hh:mm:ss", "295:12:00"),
    ("negative under a time format is elapsed", -0.25, "hh:mm:ss", "-6:00:00"),
    ("a date-time shown as a time is a date-time", 45000.25, "hh:mm", "2023-03-15 06:00:00"),
    ("time of day below a day", 0.75, "hh:mm:ss", "18:00:00"),
    ("negative duration", -1.5, "[h]:mm:ss", "-36:00:00"),
    ("32,766 hours and more under a time format", 32766.5 / 24, "hh:mm:ss", "32766:30:00"),
    ("from 32,767 hours LibreOffice writes a date-time", 32767 / 24, "h:mm", "1903-09-26 07:00:00"),
    ("the same for a duration", -32767 / 24, "[h]:mm:ss", "1896-04-03 17:00:00"),
    ("an elapsed format calamine takes for a time", 1.5, "HH[M]", "36:00:00"),
    ("A/P alone is a time-of-day format", 1.5, "A/P", "36:00:00"),
    ("so is a/p, below a day", 0.75, "a/p", "18:00:00"),
]
IN_FIXTURES = 13  # serials.xls/.ods/.xlsb hold the first rows


@pytest.mark.parametrize("path_name", PATHS)
def test_serials_under_date_and_time_formats(tmp_path, path_name):
    book = numbers_book(tmp_path / "serials.xlsx", [(n, code) for _, n, code, _ in SERIALS])
    lines = csv_lines(book, path_name, tmp_path)
    assert dict(zip([r[0] for r in SERIALS], lines[1:], strict=True)) == {
        rule: text for rule, _, _, text in SERIALS
    }


@pytest.mark.parametrize("rule, number, code, text", SERIALS, ids=[r[0] for r in SERIALS])
def test_serial_rule_in_json_and_preview(tmp_path, rule, number, code, text):
    book = numbers_book(tmp_path / "one.xlsx", [(number, code)])
    out = tmp_path / "o.json"
    convert(book, out, Options(format="json"))
    assert json.loads(out.read_text()) == [{"value": text}]
    assert preview(book).rows[1] == [text]


def test_serials_in_xls_and_ods_written_by_libreoffice(tmp_path):
    # serials.xls/.ods: LibreOffice's conversions of the cells of SERIALS (fixtures/README).
    expected = [text for _, _, _, text in SERIALS[:IN_FIXTURES]]
    for name in ("serials.xls", "serials.ods"):
        out = tmp_path / "o.csv"
        convert(FIXTURES / name, out, Options(line_ending="lf"))
        lines = out.read_text().splitlines()[1:]
        if name.endswith(".ods"):
            # An ods stores dates, not serials: LibreOffice counts day 1 as 1899-12-31
            # (no 29 February 1900), and a date at midnight is a date.
            expected[3], expected[5] = "1899-12-30", "1899-12-31"
        assert lines == expected, name


def test_serials_in_xlsb(tmp_path):
    # serials.xlsb: mixed.xlsb with its dates patched into such serials (fixtures/README).
    out = tmp_path / "o.csv"
    convert(FIXTURES / "serials.xlsb", out, Options(line_ending="lf"))
    when = [row[3] for row in csv.reader(io.StringIO(out.read_text(), newline=""))]
    assert when == ["when", "1899-12-28 19:12:00", "1899-12-30", "295:12:00"]


def test_serials_in_the_1904_date_system():
    assert str(serial_moment(0, "date", date1904=True)) == "1904-01-01"
    assert str(serial_moment(-1.5, "datetime", date1904=True)) == "1903-12-30 12:00:00"
    assert str(serial_moment(1, "date", date1904=True)) == "1904-01-02"


def test_columnar_path_gives_way_to_misread_serials(tmp_path):
    # A long date column with one serial below day 1: the fast path would write 12:00:00.
    cells = [(45000 + day, "yyyy-mm-dd") for day in range(300)] + [(0.5, "yyyy-mm-dd hh:mm")]
    book = numbers_book(tmp_path / "long.xlsx", cells)
    lines = {name: csv_lines(book, name, tmp_path) for name in PATHS}
    assert lines["columnar"] == lines["calamine"] == lines["streaming"]
    assert lines["columnar"][-1] == "1899-12-30 12:00:00"


# Numbers as Excel shows them


def float_book(path, numbers):
    """Numbers stored with every digit of the double (repr), as Excel and LibreOffice
    store them (XlsxWriter and openpyxl keep 16 significant digits)."""
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("S")
    sheet.write_string(0, 0, "value")
    for row, number in enumerate(numbers, 1):
        sheet.write_number(row, 0, number)
    workbook.close()
    with zipfile.ZipFile(path) as source:
        parts = {item: source.read(item.filename) for item in source.infolist()}
    with zipfile.ZipFile(path, "w") as target:
        for item, data in parts.items():
            if item.filename == "xl/worksheets/sheet1.xml":
                for number in numbers:
                    data = data.replace(
                        f"<v>{number:.16G}</v>".encode(), f"<v>{number!r}</v>".encode()
                    )
            target.writestr(item, data)
    return path


NUMBERS = [
    # (rule, number, CSV text, with full precision)
    ("float noise from a BIFF8 total", 645.81000000000006, "645.81", "645.8100000000001"),
    ("0.1 + 0.2", 0.1 + 0.2, "0.3", "0.30000000000000004"),
    ("15 significant digits", 1 / 3, "0.333333333333333", "0.3333333333333333"),
    ("integers up to 2**53 exact", 2.0**53, "9007199254740992", "9007199254740992"),
    ("16-digit integer exact", 1234567890123456.0, "1234567890123456", "1234567890123456"),
    ("no exponent, small", 1.234e-7, "0.0000001234", "0.0000001234"),
    ("no exponent, large", 1.5e17, "150000000000000000", "150000000000000000"),
    ("plain decimal", 12.5, "12.5", "12.5"),
]


@pytest.mark.parametrize("path_name", PATHS)
@pytest.mark.parametrize("full_precision", [False, True])
def test_numbers_as_excel_shows_them(tmp_path, path_name, full_precision):
    book = float_book(tmp_path / "numbers.xlsx", [n for _, n, _, _ in NUMBERS])
    lines = csv_lines(book, path_name, tmp_path, full_precision=full_precision)
    expected = [full if full_precision else text for _, _, text, full in NUMBERS]
    assert lines[1:] == expected


def test_numbers_in_json_and_preview(tmp_path):
    book = float_book(tmp_path / "numbers.xlsx", [n for _, n, _, _ in NUMBERS])
    out = tmp_path / "o.json"
    convert(book, out, Options(format="json", json_style="rows"))
    assert [row[0] for row in json.loads(out.read_text())[1:]] == [
        float(text) if "." in text else int(text) for _, _, text, _ in NUMBERS
    ]
    assert "[645.81]," in out.read_text() and "[0.3]," in out.read_text()
    convert(book, out, Options(format="json", json_style="rows", full_precision=True))
    assert json.loads(out.read_text())[2] == [0.1 + 0.2]
    assert [row[0] for row in preview(book).rows[1:]] == [text for _, _, text, _ in NUMBERS]


# Text of only spaces


def blank_text_book(path, preserve):
    """An xlsx whose shared strings hold blank text, with or without xml:space."""
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("S")
    for row, values in enumerate([["h", "k"], [" ", "a"], ["  ", "b"], ["\t", "c"], ["x", " "]]):
        for column, value in enumerate(values):
            sheet.write_string(row, column, value)
    workbook.close()
    if not preserve:
        with zipfile.ZipFile(path) as source:
            parts = {item: source.read(item.filename) for item in source.infolist()}
        with zipfile.ZipFile(path, "w") as target:
            for item, data in parts.items():
                target.writestr(item, data.replace(b' xml:space="preserve"', b""))
    return path


@pytest.mark.parametrize("path_name", PATHS)
@pytest.mark.parametrize("preserve", [True, False])
def test_text_of_only_spaces_is_kept(tmp_path, path_name, preserve):
    book = blank_text_book(tmp_path / "blank.xlsx", preserve)
    out = tmp_path / "o.csv"
    convert(book, out, Options(line_ending="lf"), limits=PATHS[path_name])
    assert out.read_text() == "h,k\n ,a\n  ,b\n\t,c\nx, \n"
    assert preview(book).rows[1:] == [[" ", "a"], ["  ", "b"], ["\t", "c"], ["x", " "]]
    convert(book, tmp_path / "o.json", Options(format="json"))
    assert json.loads((tmp_path / "o.json").read_text())[0] == {"h": " ", "k": "a"}


def test_text_of_only_spaces_from_a_text_file(tmp_path):
    source = tmp_path / "t.csv"
    source.write_text("a,b\n ,x\n")
    convert(source, tmp_path / "o.json", Options(format="json"))
    assert json.loads((tmp_path / "o.json").read_text()) == [{"a": " ", "b": "x"}]


# Empty sheets


@pytest.mark.parametrize("output, content", [("csv", b""), ("tsv", b""), ("json", b"[]\n")])
def test_empty_sheet_converts_to_an_empty_file(tmp_path, output, content):
    workbook = xlsxwriter.Workbook(str(tmp_path / "empty.xlsx"))
    workbook.add_worksheet("Blank")
    workbook.close()
    out = tmp_path / f"o.{output}"
    result = convert(tmp_path / "empty.xlsx", out, Options(format=output))
    assert out.read_bytes() == content
    assert result.rows == 0 and result.sheets == ["Blank"]
    assert result.warnings == ["Sheet 'Blank' is empty: the file written is empty."]


def test_empty_sheet_to_xlsx_and_empty_text_file(tmp_path):
    source = tmp_path / "nothing.csv"
    source.write_text("\n\n")
    result = convert(source, tmp_path / "o.xlsx", Options(format="xlsx"))
    workbook = openpyxl.load_workbook(tmp_path / "o.xlsx")
    assert workbook.sheetnames == ["nothing"] and workbook.active.max_row == 1
    assert workbook.active["A1"].value is None
    assert "is empty" in result.warnings[0]
    workbook = xlsxwriter.Workbook(str(tmp_path / "two.xlsx"))
    workbook.add_worksheet("A")
    workbook.add_worksheet("B")
    workbook.close()
    result = convert(tmp_path / "two.xlsx", tmp_path / "o.zip", Options(all_sheets=True))
    with zipfile.ZipFile(tmp_path / "o.zip") as archive:
        assert sorted(archive.namelist()) == ["A.csv", "B.csv"]
        assert archive.read("A.csv") == b""
    assert result.warnings == ["Sheets 'A', 'B' are empty: the files written are empty."]


def test_stored_options_of_earlier_versions_still_load():
    # The web app keeps each job's options as JSON; those stored before these options
    # existed must still make Options.
    stored = {
        "format": "xlsx",
        "sheets": ["sales"],
        "all_sheets": False,
        "include_hidden": False,
        "delimiter": ",",
        "quoting": "minimal",
        "line_ending": "crlf",
        "encoding": "utf-8",
        "skip_rows": 0,
        "header": True,
        "json_style": "records",
        "date_style": "iso",
        "fill_merged": False,
        "protect_formulas": False,
        "infer_types": True,
        "name_stem": "sales",
    }
    options = Options(**stored).validate()
    assert (options.input_encoding, options.decimal_separator, options.date_order) == ("", "", "")
    assert options.full_precision is False


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("decimal_separator", ";", "The decimal separator must be"),
        ("date_order", "ydm", "Unknown date order 'ydm'"),
        ("input_encoding", "base64", "Unknown encoding to read the file as"),
    ],
)
def test_bad_input_options_are_refused(field, value, message):
    with pytest.raises(BadOptions, match=message):
        Options(**{field: value}).validate()


@pytest.mark.parametrize("name", ["tabs.ods", "tabs.xls"])
def test_tabs_spaces_and_line_breaks_in_text_are_kept(tmp_path, name):
    # tabs.ods (fixtures/README): LibreOffice writes a tab as <text:tab/>, which calamine
    # drops; a cell of only a tab then read as empty.
    out = tmp_path / "o.json"
    convert(FIXTURES / name, out, Options(format="json", json_style="rows"))
    assert json.loads(out.read_text()) == [
        ["a\tb"],
        ["\t"],
        ["line1\nline2"],
        ["  two  spaces  "],
        ["x\t\ty"],
    ]
