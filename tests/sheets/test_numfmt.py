"""numfmt: Excel number format codes compiled once and rendered as Excel (en-US) shows
them. The cases through whole workbooks are in test_as_displayed.py; these are the
renderer's own rules, each with Excel's answer."""

import datetime as dt
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.sheets import numfmt
from app.sheets.writers import excel_serial

# (value, code, what Excel shows); dates as serials (1900 date system)
CASES = [
    # the sign: in front of everything under a shared section, also when it rounds to 0
    (-5, "$0", "-$5"),
    (-5, '"USD "0.00', "-USD 5.00"),
    (-0.4, "0", "-0"),
    (-0.004, "0.00", "-0.00"),
    (-5, "0;0", "5"),
    (-5, '"neg"', "-neg"),
    (-5, '[<0]"minus "0;0', "minus 5"),  # a condition on negatives drops the sign
    (-5, "[>=100]0;0", "-5"),
    (-150, '[>=100]0;[<=-100]"-"0;0', "-150"),
    (0, "0;-0;", ""),
    # rounding from 15 significant digits, half away from zero; zeros past the 15th
    (0.145, "0%", "15%"),
    (1.005, "0.00E+00", "1.01E+00"),
    (846696725923098.0, "0.00", "846696725923098.00"),
    (123456789012345678, "#,##0", "123,456,789,012,346,000"),
    (1e300, "0", "1" + "0" * 300),
    # placeholders and text between them
    (123456789, "000-00-0000", "123-45-6789"),
    (5551234567, "(000) 000-0000", "(555) 123-4567"),
    (5, "0,000", "0,005"),
    (5, "00.0#", "05.0"),
    (0, "?.??", " .  "),
    (1.5, "0.0?", "1.5 "),
    (1, "#.", "1."),
    (0.25, ".00", ".25"),
    (1234567, "0.00,", "1234.57"),
    (0.5, "0%%", "5000%%"),
    (12.5, '0.0"%"', "12.5%"),  # a quoted % does not scale
    # scientific
    (0, "##0.0E+0", "0.0E+0"),
    (0.5, "##0.0E+0", "500.0E-3"),
    (999999, "##0.0E+0", "1.0E+6"),
    (0.00012345, "##0.0E+0", "123.5E-6"),
    (9.999, "0.00E+0", "1.00E+1"),
    (1234.5678, "0.00E-00", "1.23E03"),
    (0.0012, "0.00E-00", "1.20E-03"),
    (1e100, "0.0E+0", "1.0E+100"),
    (-12345, "0.0E+0", "-1.2E+4"),
    # fractions
    (1.5, "?/?", "3/2"),
    (0, "# ?/?", "0    "),
    (0.99, "# ?/?", "1    "),
    (0.99, "# ?/8", "1    "),
    (0.337, "# ??/100", " 34/100"),
    (0.5, "0 ?/?", "0 1/2"),
    (-0.5, "# ?/?", "- 1/2"),
    (10000000000.5, "# ?/?", "10000000000 1/2"),
    # General inside a code
    (-5, '"x"General', "x-5"),
    (-1, 'General" kg"', "-1 kg"),
    (-0.5, "[Blue]General", "-0.5"),
    (123456.789012, "0;0;0;General", "123457"),
    (1 / 3, "@", "0.333333333"),  # a number under a text code is General
    (1e-10, "General;General", "1E-10"),
    # dates: the 1900 date system, rounding only what a time shows
    (1, "dddd m/d/yyyy", "Sunday 1/1/1900"),
    (60, "dddd d/m/yyyy", "Wednesday 29/2/1900"),
    (61, "d/m/yyyy", "1/3/1900"),
    (0, "m/d/yyyy", "1/0/1900"),
    (45353.999999, "d-mmm-yy", "2-Mar-24"),  # 23:59:59.9: still the 2nd
    (45353.999999, "m/d/yyyy h:mm AM/PM", "3/3/2024 12:00 AM"),
    (0.43749999, "h:mm", "10:30"),
    (1.1574074e-06, "mm:ss.0", "00:00.1"),
    (0.75, "h AM/PM", "6 PM"),
    (0.25, "h:mm a/p", "6:00 a"),
    (2.5, "[hh]:mm", "60:00"),
    (0.5, "[h]:mm;-[h]:mm", "12:00"),
    (-0.5, "[h]:mm;-[h]:mm", "-12:00"),
    (45353, "yyyy-mm-dd", "2024-03-02"),
    (45353, 'yyyy"年"m"月"d"日"', "2024年3月2日"),
    (45353.5, "dd/mm/yy hh:mm:ss", "02/03/24 12:00:00"),
    (45353.5, "[$-F400]h:mm:ss AM/PM", "12:00:00 PM"),
    (45353, "mmm-yy", "Mar-24"),
    (45353, "mmmm", "March"),
    # currency tags, colours, fills, widths
    (5, "[$€-407]0", "€5"),
    (5, "[$-409]0", "5"),
    (5, "[Red][>=0]0", "5"),
    (5, "0**", "5"),
    (5, '_-* #,##0_-;-* #,##0_-;_-* "-"_-;_-@_-', " 5 "),
    (0, '_-* #,##0_-;-* #,##0_-;_-* "-"_-;_-@_-', " - "),
]


def case_id(case):
    value, code, _ = case
    return f"{code}|{value!r}"[:60]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_excel_shows(case):
    value, code, expected = case
    assert numfmt.compiled(code).number(value) == expected


def test_text_sections():
    accounting = '_("$"* #,##0.00_);_("$"* \\(#,##0.00\\);_("$"* "-"??_);_(@_)'
    assert numfmt.compiled(accounting).text("abc") == " abc "
    assert numfmt.compiled('0;0;0;"n/a"').text("abc") == "n/a"
    assert numfmt.compiled('"<"@">"').text("abc") == "<abc>"
    assert numfmt.compiled("0.00").text("abc") is None  # no text section: the text as is
    assert numfmt.compiled("0.00").has_text is False
    assert numfmt.compiled("@").has_text and numfmt.compiled("0;0;0;0").has_text


@pytest.mark.parametrize(
    "value, code",
    [
        (-1, "[s]"),  # negative times and dates: Excel's ####
        (-1, "yyyy"),
        (2958466, "yyyy"),  # past 9999-12-31
        (-5, "[>=0]0;[>=10]0"),  # no section for it
    ],
)
def test_values_no_section_shows(value, code):
    assert numfmt.compiled(code).number(value) is None


@pytest.mark.parametrize(
    "code",
    [
        "General",
        "general",
        "",
        "0" * 256,
        "0;0;0;0;0",
        '"open',
        "[Red0",
        "hhh:mm",
        "ss.0000",
        "yyyy 0",
        "# ?/" + "?" * 10,
        "0.0E+",
        None,
        7,
    ],
)
def test_codes_not_rendered(code):
    assert numfmt.compiled(code) is None


def test_compiled_once_per_code():
    assert numfmt.compiled("#,##0.00") is numfmt.compiled("#,##0.00")
    assert numfmt.compiled.cache_info().maxsize == 4096


def test_fast_enough():
    # a record, not a bound on the machine: a few microseconds a cell (ssf took 13 to 56)
    formats = [numfmt.compiled(code) for code in ("#,##0.00", "0.00%", "dd.mm.yyyy", "# ?/?")]
    values = [index * 1.01 for index in range(5000)]
    started = time.perf_counter()
    for number_format in formats:
        for value in values:
            number_format.number(value)
    assert (time.perf_counter() - started) / (len(values) * len(formats)) < 0.0005


DATE_CODES = [
    "dd.mm.yyyy",
    "yyyy-mm-dd hh:mm",
    "dddd, mmmm d, yyyy h:mm:ss AM/PM",
    "d-mmm-yy h:mm A/P",
    "hh:mm:ss.000",
    "mm:ss.0",
    "m/d/yyyy h:mm;@",
]


@settings(max_examples=200, deadline=None)
@given(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)))
def test_dates_from_their_fields_as_from_their_serials(moment):
    # Not within 100 microseconds of a tie of what a code shows (whole seconds, tenths,
    # thousandths): there the fields round a half up, and a serial's double (about 50 us
    # of error by the year 9999) may fall either side of it.
    for places in (0, 1, 3):
        step = 10 ** (6 - places)
        assume(abs(moment.microsecond % step - step // 2) >= 100)
    for code in DATE_CODES:
        number_format = numfmt.compiled(code)
        for value in (moment, moment.date()):
            shown = number_format.moment(value)
            if shown is not None:  # None: the serial tells (Jan and Feb 1900, a carry)
                assert shown == number_format.number(excel_serial(value)), (code, value)


def test_dates_from_their_fields():
    number_format = numfmt.compiled("yyyy-mm-dd hh:mm:ss")
    assert number_format.moment(dt.datetime(2024, 3, 2, 23, 59, 59, 600000)) is None
    assert number_format.number(excel_serial(dt.datetime(2024, 3, 2, 23, 59, 59, 600000))) == (
        "2024-03-03 00:00:00"
    )
    assert number_format.moment(dt.date(1900, 2, 28)) is None  # before the day Excel adds
    assert numfmt.compiled("[h]:mm").moment is None  # elapsed time needs the serial
    assert numfmt.compiled("[>=1]yyyy;0").moment is None
