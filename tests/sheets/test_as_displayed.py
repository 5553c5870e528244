"""As displayed (issue 25, 1): each cell written as its number format shows it, as Excel
(en-US) shows it, for the text outputs; off by default; hostile codes never fail a
conversion.

The expected texts are Excel's. Where LibreOffice's "as shown" CSV export (7.4, checked
on this table) writes something else, the case says so: Excel wins."""

import csv
import datetime as dt
import io
import json
import time
from pathlib import Path

import openpyxl
import pytest

from app.sheets import Options, convert, numfmt
from app.sheets.displayed import BUILTIN_CODES, Formatter, resolved_code

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ACCOUNTING = '_("$"* #,##0.00_);_("$"* \\(#,##0.00\\);_("$"* "-"??_);_(@_)'
SATURDAY = dt.date(2024, 3, 2)

# (value, number format code, what Excel shows)
CASES = [
    # sections and conditions
    (-5, "0;(0)", "(5)"),
    (5, "0;(0)", "5"),
    (0, '0;(0);"zero"', "zero"),
    (150, '[>=100]"big";"small"', "big"),
    (50, '[>=100]"big";"small"', "small"),
    (150, "[>=100]0.0;0", "150.0"),
    (5, '[<=9]"small";[>=100]"big";"mid"', "small"),
    (50, '[<=9]"small";[>=100]"big";"mid"', "mid"),
    (500, '[<=9]"small";[>=100]"big";"mid"', "big"),
    (-1234.5, "#,##0.00;;", ""),
    (0, '0.0;-0.0;"-"', "-"),
    # literal text and escapes
    (5, '0" units"', "5 units"),
    (5, "\\$0", "$5"),
    (12.5, "00.00\\%", "12.50%"),
    (5, "\\+0;\\-0", "+5"),
    # 0, # and ? placeholders, rounding from 15 significant digits, half away from zero
    (12, "000", "012"),
    (1.5, "#.##", "1.5"),
    (1, "#.##", "1."),
    (0.5, "#.##", ".5"),
    (1.5, "?.??", "1.5 "),
    (0, "#", ""),
    (1234.5, "0", "1235"),
    (-2.5, "0", "-3"),
    (1.005, "0.00", "1.01"),  # ssf alone: 1.00 (its binary arithmetic)
    (2.675, "0.00", "2.68"),
    (123456789012345678, "0", "123456789012346000"),  # ssf alone: every binary digit
    # thousands separators and scaling commas
    (1234.5, "#,##0.00", "1,234.50"),
    (1234567, "#,##0,", "1,235"),
    (1234567, '#,##0.0,,"M"', "1.2M"),
    (1e20, "#,##0", "100,000,000,000,000,000,000"),
    # percent
    (0.1474, "0.00%", "14.74%"),
    (0.5, "0%", "50%"),
    # scientific
    (1234.5678, "0.00E+00", "1.23E+03"),
    (12345, "##0.0E+0", "12.3E+3"),
    (1e-20, "0.00E+00", "1.00E-20"),
    # fractions, padded as Excel pads them
    (0.5, "# ?/?", " 1/2"),
    (1.5, "# ?/?", "1 1/2"),
    (2, "# ?/?", "2    "),
    (0.3333, "# ??/??", "  1/3 "),
    (3.14159, "# ???/???", "3  16/113"),
    (0.5, "# ?/8", " 4/8"),
    (-1.75, "# ?/?", "-1 3/4"),
    # currency and locale tags
    (1234.5, "$#,##0.00", "$1,234.50"),
    (1234.5, "[$€-407] #,##0.00", "€ 1,234.50"),
    (1234.5, "#,##0.00 [$€-1]", "1,234.50 €"),
    (1234.5, "[$£-809]#,##0.00", "£1,234.50"),
    (5, "[$USD] 0", "USD 5"),
    (SATURDAY, "[$-409]mmmm d, yyyy", "March 2, 2024"),
    (dt.date(2020, 6, 18), "[$-F800]dddd, mmmm dd, yyyy", "Thursday, June 18, 2020"),
    (1234.5, ACCOUNTING, " $1,234.50 "),
    (-1234.5, ACCOUNTING, " $(1,234.50)"),
    (0, ACCOUNTING, " $-   "),
    ("text", ACCOUNTING, " text "),
    # dates and times in the format's own layout
    (SATURDAY, "dd.mm.yyyy", "02.03.2024"),  # ssf alone refuses the dots
    (dt.datetime(2024, 3, 2, 12, 0), "dd.mm.yyyy hh:mm", "02.03.2024 12:00"),
    (SATURDAY, "d.m.yy", "2.3.24"),
    (SATURDAY, "dddd", "Saturday"),
    (SATURDAY, "ddd, mmm d", "Sat, Mar 2"),
    (SATURDAY, "mmmmm", "M"),
    (dt.datetime(2024, 3, 2, 12, 0), "yyyy-mm-dd hh:mm:ss", "2024-03-02 12:00:00"),
    (
        dt.datetime(2024, 3, 2, 6, 0),
        "dddd, mmmm d, yyyy h:mm:ss AM/PM",
        "Saturday, March 2, 2024 6:00:00 AM",
    ),
    (dt.datetime(2024, 3, 2, 12, 0), "m/d/yyyy h:mm AM/PM", "3/2/2024 12:00 PM"),
    (dt.time(18, 0), "h:mm AM/PM", "6:00 PM"),
    (dt.time(6, 0), "h:mm:ss AM/PM", "6:00:00 AM"),
    (dt.time(12, 0), "hh:mm A/P", "12:00 P"),  # LibreOffice: 12:00 p
    (dt.timedelta(days=1, hours=6), "[h]:mm:ss", "30:00:00"),
    (dt.timedelta(days=2, hours=12), "[h]:mm:ss", "60:00:00"),
    (dt.timedelta(days=3, hours=14, minutes=24), "[mm]:ss", "5184:00"),
    (dt.timedelta(hours=12), "[s]", "43200"),
    (dt.datetime(2024, 3, 2, 2, 57, 46, 598000), "hh:mm:ss.000", "02:57:46.598"),
    (dt.time(0, 0, 46, 600000), "ss.00", "46.60"),
    # @ text
    ("abc", "@", "abc"),
    ("abc", '0;0;0;"<"@">"', "<abc>"),
    ("00123", "0.00", "00123"),  # text under a number format is shown as it is
    # colours dropped, fill characters dropped, width padding a space
    (100, "[Blue]0", "100"),
    (100, "[Color10]0", "100"),
    (5, "*-0", "5"),  # ssf alone: -5
    (5, "0*-", "5"),
    (1234.5, "#,##0.00_);[Red](#,##0.00)", "1,234.50 "),
    (-1234.5, "#,##0.00_);[Red](#,##0.00)", "(1,234.50)"),
    # General inside a code: Excel's rule, 11 characters at most (LibreOffice writes every
    # digit: 0.333333333333333, 123456789012 kg)
    (12345678901, 'General" kg"', "12345678901 kg"),  # ssf alone drops " kg"
    (123456789012, 'General" kg"', "1.23457E+11 kg"),
    (1 / 3, "[Blue]General", "0.333333333"),
    (-5, "General;-General", "-5"),
    # General itself: the value rules (as LibreOffice exports them)
    (12345678901, "General", "12345678901"),
    (123456789012, "General", "123456789012"),
    (1 / 3, "General", "0.333333333333333"),
    # what no format changes
    (True, "0.00", "TRUE"),
]


def case_id(case):
    value, code, _ = case
    return f"{code}|{value!r}"[:60]


def write_cases(path, cases):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Cases"
    for row, (value, code, _) in enumerate(cases, 1):
        cell = sheet.cell(row=row, column=1, value=value)
        cell.number_format = code
        sheet.cell(row=row, column=2, value=code)
    book.save(path)
    return path


def csv_rows(path, **options):
    out = path.with_suffix(".out.csv")
    convert(path, out, Options(header=False, **options))
    return list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    path = write_cases(tmp_path_factory.mktemp("displayed") / "cases.xlsx", CASES)
    return csv_rows(path, as_displayed=True)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_each_cell_as_excel_shows_it(shown, case):
    index = CASES.index(case)
    assert shown[index][0] == case[2], case


def test_off_by_default_the_values(tmp_path):
    path = write_cases(tmp_path / "cases.xlsx", CASES[:3] + [(0.1474, "0.00%", "")])
    assert Options().as_displayed is False
    assert [row[0] for row in csv_rows(path)] == ["-5", "5", "0", "0.1474"]


def test_every_text_output(tmp_path):
    path = write_cases(tmp_path / "in.xlsx", [(0.1474, "0.00%", ""), (1234.5, "$#,##0.00", "")])
    for fmt in ("csv", "tsv", "json", "jsonl", "markdown", "html", "sql"):
        out = tmp_path / f"out.{fmt}"
        convert(path, out, Options(format=fmt, header=False, as_displayed=True))
        text = out.read_text(encoding="utf-8")
        assert "14.74%" in text and "$1,234.50" in text, fmt
        assert "0.1474" not in text, fmt
    convert(path, tmp_path / "out.json", Options(format="json", json_style="rows", header=False))
    assert json.loads((tmp_path / "out.json").read_text()) == [
        [0.1474, "0.00%"],
        [1234.5, "$#,##0.00"],
    ]
    convert(
        path,
        tmp_path / "shown.json",
        Options(format="json", json_style="rows", header=False, as_displayed=True),
    )
    shown = json.loads((tmp_path / "shown.json").read_text())
    assert shown == [["14.74%", "0.00%"], ["$1,234.50", "$#,##0.00"]]


def test_not_for_typed_outputs(tmp_path):
    # XLSX and ODS keep the number with its format; Parquet's columns are typed.
    path = write_cases(tmp_path / "in.xlsx", [(0.1474, "0.00%", "")])
    out = tmp_path / "out.xlsx"
    convert(path, out, Options(format="xlsx", header=False, as_displayed=True))
    cell = openpyxl.load_workbook(out).active["A1"]
    assert cell.value == 0.1474 and cell.number_format == "0.00%"


def test_skip_rows_and_header_keep_their_places(tmp_path):
    path = write_cases(
        tmp_path / "in.xlsx", [("title", "General", ""), (0.5, "0%", ""), (0.25, "0.0%", "")]
    )
    out = tmp_path / "out.json"
    convert(path, out, Options(format="json", skip_rows=1, as_displayed=True))
    assert json.loads(out.read_text()) == [{"50%": "25.0%", "0%": "0.0%"}]


def test_csv_input_is_unchanged(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a,b\n0.1474,2024-03-02\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    convert(source, out, Options(as_displayed=True))
    assert out.read_bytes() == b"a,b\r\n0.1474,2024-03-02\r\n"


def test_builtin_formats_by_number(tmp_path):
    # Excel names its own formats by number: 10 is 0.00%, 14 the short date, 7 currency.
    book = openpyxl.Workbook()
    sheet = book.active
    for row, (value, number) in enumerate(
        [(0.5, 10), (SATURDAY, 14), (-1234.5, 7), (dt.datetime(2024, 3, 2, 13, 5), 22)], 1
    ):
        sheet.cell(
            row=row, column=1, value=value
        ).number_format = openpyxl.styles.numbers.BUILTIN_FORMATS[number]
    book.save(tmp_path / "in.xlsx")
    shown = [row[0] for row in csv_rows(tmp_path / "in.xlsx", as_displayed=True)]
    assert shown == ["50.00%", "3/2/2024", "($1,234.50)", "3/2/2024 13:05"]


# --- xls and ods (LibreOffice's, tests/fixtures) ------------------------------------------


# What formats.xls and formats.ods (LibreOffice's, from make_fixtures.py's FORMAT_CELLS)
# show: Excel's text, and LibreOffice's "as shown" export of both files, cell for cell.
FIXTURE_SHOWN = [
    "14.74%",
    "$1,234.50",
    "02.03.2024",
    "(5)",
    "1,235",
    " 1/2",
    "30:00:00",
    "6:00 PM",
    "Saturday, March 2, 2024",
    "1.23E+03",
    "-1,234.50",
    "5 units",
    "1,234.50 €",
]


@pytest.mark.parametrize("name", ["formats.xls", "formats.ods"])
def test_xls_through_xlrd_and_ods(tmp_path, name):
    # xls: xlrd reads the FORMAT and XF records; ods: the data styles become Excel codes
    # (fractions, scientific numbers and display factors too).
    out = tmp_path / "out.csv"
    convert(FIXTURES / name, out, Options(header=False, as_displayed=True))
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [row[0] for row in rows] == FIXTURE_SHOWN


def test_libreoffice_fixtures_dates():
    # mixed.xls and mixed.ods hold their dates under LibreOffice's yyyy\-mm\-dd.
    for name in ("mixed.xls", "mixed.ods"):
        assert csv_rows_fixture(FIXTURES / name)[1][3] == "2024-03-15", name


def csv_rows_fixture(path):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.csv"
        convert(path, out, Options(as_displayed=True))
        return list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))


# --- hostile codes: bounded, never a crash, the value instead --------------------------------

HOSTILE = [
    "0" * 100_000,
    "[" * 200 + "0",
    "[>=1e308]0;0",
    "[<-1e308]0",
    '"' * 255,
    "\\" * 255,
    "0;" * 120,
    "*" * 255,
    "_" * 255,
    "[$-" + "F" * 250 + "]0",
    "E+" * 120,
    "# ?/" + "?" * 250,
    "[h]" * 80,
    "General" * 30,
    "",
]


@pytest.mark.parametrize("code", HOSTILE, ids=lambda code: f"{code[:12]!r}x{len(code)}")
def test_hostile_code_falls_back_or_renders_quickly(code):
    started = time.perf_counter()
    number_format = numfmt.compiled(code)
    if number_format is not None:
        formatter = Formatter(number_format)
        for value in (1234.5678, -1e308, 0, "text", SATURDAY, dt.timedelta(days=-1)):
            text = formatter.show(value)
            assert text is None or isinstance(text, str)
    assert time.perf_counter() - started < 1


def test_hostile_codes_in_a_workbook_leave_the_values(tmp_path):
    path = tmp_path / "in.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    for row, code in enumerate(["[" * 200 + "0", "0;" * 120, "0" * 300], 1):
        sheet.cell(row=row, column=1, value=1234.5).number_format = code
    book.save(path)
    assert [row[0] for row in csv_rows(path, as_displayed=True)] == ["1234.5"] * 3


def test_a_renderer_failure_leaves_the_value():
    formatter = Formatter(numfmt.compiled("0.00"))

    def broken(value):
        raise RecursionError

    formatter.number = broken
    assert formatter.show(1.5) is None


def test_builtin_codes():
    # Excel's en-US built-ins by number: the currency ones keep their $, the accounting
    # ones (41 to 44, which ssf lacked) are read too; General is the value rules'
    assert resolved_code(7).startswith('"$"') and resolved_code("0.0") == "0.0"
    assert resolved_code(30) is None and numfmt.compiled(resolved_code(0) or "General") is None
    assert numfmt.compiled(BUILTIN_CODES[44]).number(-1234.5) == " $(1,234.50)"
    assert numfmt.compiled(BUILTIN_CODES[41]).number(0) == " - "
    assert all(numfmt.compiled(code) is not None for code in BUILTIN_CODES.values())


def test_cached_texts_keep_empty_ones():
    formatter = Formatter(numfmt.compiled("#,##0.00;;"))
    assert formatter.show(-5) == "" and formatter.show(-5) == ""  # the second from the cache
    assert formatter.show(True) is None and formatter.show(1) == "1.00"


def test_speed_per_cell():
    # Not a bound on the machine: a record of what a cell costs, for benchmarks.md.
    formatter = Formatter(numfmt.compiled("#,##0.00"))
    values = [index * 1.01 for index in range(2000)]
    started = time.perf_counter()
    for value in values:
        formatter.show(value)
    assert (time.perf_counter() - started) / len(values) < 0.0005
