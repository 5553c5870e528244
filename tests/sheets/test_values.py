"""The value rules, one test per row of the table in docs/engine.md ("Value rules"), through a real workbook."""

import datetime as dt
import json

import pytest

from app.sheets import Options, convert
from app.sheets.values import (
    column_index,
    column_letter,
    duration_text,
    full_number_for_text,
    number_for_text,
    positional,
    protect_formula,
    typed_value,
)

from .books import Formula, read_text, write_xlsx

# (rule, value written to the workbook, CSV text, JSON value)
RULES = [
    ("integral number without .0", 42, "42", 42),
    ("negative integral number", -7.0, "-7", -7),
    ("shortest round-trip float", 0.1, "0.1", 0.1),
    ("no scientific notation, small", 1e-7, "0.0000001", 1e-7),
    ("no scientific notation, large", 1.5e17, "150000000000000000", 1.5e17),
    ("15-digit integer exact", 123456789012345, "123456789012345", 123456789012345),
    ("16-digit integer as stored", 1234567890123456, "1234567890123456", 1234567890123456),
    ("date", dt.date(2024, 3, 15), "2024-03-15", "2024-03-15"),
    (
        "date-time",
        dt.datetime(2024, 3, 15, 13, 45, 30),
        "2024-03-15 13:45:30",
        "2024-03-15 13:45:30",
    ),
    (
        "date-time with fraction",
        dt.datetime(2024, 3, 15, 13, 45, 30, 500000),
        "2024-03-15 13:45:30.500000",
        "2024-03-15 13:45:30.500000",
    ),
    ("time", dt.time(8, 30, 5), "08:30:05", "08:30:05"),
    ("duration past 24 hours", dt.timedelta(hours=36, minutes=5), "36:05:00", "36:05:00"),
    ("boolean true", True, "TRUE", True),
    ("boolean false", False, "FALSE", False),
    ("error cell as its text", Formula("=1/0", "#DIV/0!"), "#DIV/0!", "#DIV/0!"),
    ("formula gives its cached value", Formula("=6*7", 42), "42", 42),
    ("leading zeros stay", "00123", "00123", "00123"),
    ("spaces stay", "  padded  ", "  padded  ", "  padded  "),
    ("NA stays text", "NA", "NA", "NA"),
    ("NULL stays text", "NULL", "NULL", "NULL"),
    ("number-like text stays text", "1e5", "1e5", "1e5"),
    ("empty cell is empty", "", "", None),
]


def convert_one(tmp_path, value, output_format, **options):
    book = write_xlsx(tmp_path / "one.xlsx", {"S": [["head"], [value]]})
    out = tmp_path / f"out.{output_format}"
    convert(book, out, Options(format=output_format, **options))
    return out


@pytest.mark.parametrize("rule, value, text, _", RULES, ids=[r[0] for r in RULES])
def test_value_rule_in_csv(tmp_path, rule, value, text, _):
    out = convert_one(tmp_path, value, "csv", line_ending="lf")
    assert read_text(out) == (f"head\n{text}\n" if text else "head\n")


@pytest.mark.parametrize("rule, value, _, expected", RULES, ids=[r[0] for r in RULES])
def test_value_rule_in_json(tmp_path, rule, value, _, expected):
    out = convert_one(tmp_path, value, "json")
    records = json.loads(read_text(out))
    assert records == ([{"head": expected}] if expected is not None else [])


def test_1904_date_system_is_honoured(tmp_path):
    for system in (False, True):
        book = write_xlsx(
            tmp_path / f"d{system}.xlsx", {"S": [[dt.date(2024, 3, 15)]]}, date_1904=system
        )
        out = tmp_path / f"d{system}.csv"
        convert(book, out, Options(line_ending="lf"))
        assert read_text(out) == "2024-03-15\n"


def test_date_styles(tmp_path):
    day = dt.datetime(2024, 3, 5, 7, 8, 9)
    assert (
        read_text(convert_one(tmp_path, day, "csv", date_style="dmy")).splitlines()[1]
        == "05/03/2024 07:08:09"
    )
    assert (
        read_text(convert_one(tmp_path, day, "csv", date_style="mdy")).splitlines()[1]
        == "03/05/2024 07:08:09"
    )


@pytest.mark.parametrize(
    "number, text",
    [
        (1.0, 1),
        (2.5, "2.5"),
        (0.1 + 0.2, "0.3"),
        (645.81000000000006, "645.81"),
        (1 / 3, "0.333333333333333"),
        (1e-5, "0.00001"),
        (-3.2e-9, "-0.0000000032"),
        # 15 significant digits however small, in plain decimals (LibreOffice stops at
        # 20 decimal places, -0.00000000408935547319, and writes 1.22E-016 in General)
        (-4.089355473190934e-09, "-0.00000000408935547319093"),
        (1.22514845490862e-16, "0.000000000000000122514845490862"),
        (6.02214076e23, "602214076000000000000000"),
        (2.0**53, 2**53),
        (2.0**53 + 2, "9007199254740990"),
        (1e16, "10000000000000000"),
        (1e300, "1" + "0" * 300),
    ],
)
def test_number_for_text(number, text):
    assert number_for_text(number) == text


@pytest.mark.parametrize(
    "number, text",
    [(2.5, 2.5), (0.1 + 0.2, 0.30000000000000004), (1e-5, "0.00001"), (1e16, "10000000000000000")],
)
def test_full_number_for_text(number, text):
    assert full_number_for_text(number) == text


def test_positional_never_uses_exponent():
    for number in (1e-20, 6.02e23, -1.5e-10, 123.456):
        assert "e" not in positional(number).lower()
        assert float(positional(number)) == number


def test_duration_text():
    assert duration_text(dt.timedelta(seconds=59)) == "0:00:59"
    assert duration_text(dt.timedelta(days=2, seconds=1.5)) == "48:00:01.5"
    assert duration_text(dt.timedelta(seconds=-90)) == "-0:01:30"


@pytest.mark.parametrize(
    "text, protected",
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@import", "'@import"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-5", "-5"),
        ("+3.25", "+3.25"),
        ("-1e3", "-1e3"),
        ("plain", "plain"),
    ],
)
def test_protect_formula(text, protected):
    assert protect_formula(text) == protected


def test_formula_protection_leaves_numbers_alone(tmp_path):
    book = write_xlsx(tmp_path / "f.xlsx", {"S": [['=HYPERLINK("x")', -5, "-5", "@SUM(1)"]]})
    out = tmp_path / "f.csv"
    convert(book, out, Options(protect_formulas=True, line_ending="lf"))
    assert read_text(out) == '"\'=HYPERLINK(""x"")",-5,-5,\'@SUM(1)\n'


@pytest.mark.parametrize(
    "text, value",
    [
        ("12", 12),
        ("-3.5", -3.5),
        ("0", 0),
        ("0.25", 0.25),
        ("00123", "00123"),
        ("1234567890123456", "1234567890123456"),
        ("1e5", "1e5"),
        ("2024-03-15", dt.date(2024, 3, 15)),
        ("2024-02-30", "2024-02-30"),
        ("2024-03-15 13:45:30", dt.datetime(2024, 3, 15, 13, 45, 30)),
        ("TRUE", True),
        ("false", "false"),
        ("", ""),
        ("NA", "NA"),
    ],
)
def test_typed_value_from_text(text, value):
    assert typed_value(text) == value and type(typed_value(text)) is type(value)


def test_column_letters():
    for index, letters in [
        (0, "A"),
        (25, "Z"),
        (26, "AA"),
        (701, "ZZ"),
        (702, "AAA"),
        (16383, "XFD"),
    ]:
        assert column_letter(index) == letters and column_index(letters) == index
