"""How cell values are written: as text (CSV/TSV), as JSON, and typed (from text files).

Readers hand over Python values: str, float, int, bool, date, datetime, time, timedelta;
an empty cell is "". The rules (see docs/engine.md, "Value rules"):

- numbers: integral values without ".0"; other floats in the shortest form that round-trips;
  no scientific notation; large integers exactly as stored
- dates YYYY-MM-DD, date-times YYYY-MM-DD HH:MM:SS[.ffffff], times HH:MM:SS, durations H:MM:SS
- booleans TRUE / FALSE; text exactly as stored; empty cells empty
"""

import datetime as dt
import re
from decimal import Decimal
from itertools import repeat

DATE_STYLES = {
    "iso": ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"),
    "dmy": ("%d/%m/%Y", "%d/%m/%Y %H:%M:%S"),
    "mdy": ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S"),
}
# Written as they are: csv turns int, date, datetime and time into exactly the text we want.
PASS_THROUGH = frozenset({str, int, dt.date, dt.datetime, dt.time})
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Text that Sheetport turns into a typed cell when a text file becomes XLSX or JSON:
# plain decimals without leading zeros (so "00123" stays text) and at most 15 digits.
CANONICAL_NUMBER = re.compile(r"-?(?:0|[1-9]\d{0,14})(?:\.\d{1,15})?")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
EXACT_INTEGERS = 2**53  # every integer up to here is a float exactly
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?")


def positional(number):
    """A float as plain decimal digits: 1e-07 -> '0.0000001', 1.5e+16 -> '15000000000000000'."""
    return plain_digits(repr(number))


def plain_digits(text):
    """Number text without an exponent and without trailing zeros after the point."""
    text = format(Decimal(text), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def number_for_text(number):
    """A float as Excel shows it and LibreOffice exports it: at most 15 significant
    digits, the shortest form, no exponent (645.8100000000001 -> '645.81', 0.1+0.2 ->
    '0.3'), and integers up to 2**53 exact. An int or a str."""
    if number.is_integer() and -EXACT_INTEGERS <= number <= EXACT_INTEGERS:
        return int(number)
    if number - number != 0:  # NaN, infinities (a cell cannot hold them)
        return positional(number)
    text = format(number, ".15g")
    return plain_digits(text) if "e" in text else text


def full_number_for_text(number):
    """A float with every digit it holds: the shortest text that reads back the same
    (0.30000000000000004), without an exponent. An int, a float (csv writes its
    shortest repr) or positional text."""
    if number.is_integer():
        return int(number) if -1e16 < number < 1e16 else positional(number)
    if -1e-4 < number < 1e-4 or not -1e16 < number < 1e16:
        return positional(number)  # where repr() would switch to scientific notation
    return number


EPOCH_1900 = dt.datetime(1899, 12, 30)  # day 0, as LibreOffice counts (Excel's "1900-01-00")
EPOCH_1904 = dt.datetime(1904, 1, 1)
DAY_MS = 86_400_000


def serial_moment(serial, kind, date1904=False):
    """An Excel serial number under a date or time format, as the value it stands for.

    kind is "date", "datetime", "time" or "duration" (what the number format shows):
    - durations ([h]:mm:ss) are elapsed time, negative ones too;
    - under a time-of-day format (h:mm:ss) a time of day below one day, and elapsed
      time from one day up or below zero (12.3 is 295:12:00, -0.25 is -6:00:00), as
      LibreOffice exports them: no days are lost (Excel would show 07:12:00);
    - under a date format a date (a date-time when it has a time), counted from
      1899-12-30 below day 1, as LibreOffice does: 0 is 1899-12-30 and -1.2 is
      1899-12-28 19:12:00. From day 1 Excel's count holds: 1 is 1900-01-01, and days
      before 1900-03-01 are one less, for the 29 February 1900 Excel counts.
    A serial too far out for a date stays a number.
    """
    if kind == "time" and 0 <= serial < 1:
        millis = round(serial * DAY_MS)
        if millis < DAY_MS:
            return (dt.datetime.min + dt.timedelta(milliseconds=millis)).time()
    if kind in ("time", "duration"):
        try:
            return dt.timedelta(milliseconds=round(serial * DAY_MS))
        except OverflowError:
            return serial
    if not date1904 and 1 <= serial < 60:
        serial += 1
    try:
        moment = (EPOCH_1904 if date1904 else EPOCH_1900) + dt.timedelta(
            milliseconds=round(serial * DAY_MS)
        )
    except OverflowError:
        return serial
    if kind == "date" and moment.time() == dt.time(0):
        return moment.date()
    return moment


# From 32,767 hours on (about 1365.3 days, either sign) LibreOffice writes a number under
# a time or duration format as a date-time, not as elapsed hours: so does Sheetport.
LONG_DURATION = dt.timedelta(hours=32767)


def long_duration_moment(delta):
    """The date-time a duration of 32,767 hours or more stands for (counted from
    1899-12-30, as LibreOffice does), or None for a shorter one."""
    if abs(delta) < LONG_DURATION:
        return None
    try:
        return EPOCH_1900 + delta
    except OverflowError:
        return None


def duration_text(delta, datetime_format=None):
    """H:MM:SS[.ffffff] elapsed time; a date-time from 32,767 hours on (LONG_DURATION)."""
    moment = long_duration_moment(delta)
    if moment is not None:
        return moment.strftime(datetime_format) if datetime_format else str(moment)
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    whole, fraction = divmod(abs(seconds), 1)
    hours, rest = divmod(int(whole), 3600)
    text = f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    if fraction:
        text += f"{fraction:.6f}"[1:].rstrip("0")
    return text


def bool_text(value):
    return "TRUE" if value else "FALSE"


def is_number_text(text):
    return NUMBER_TEXT.fullmatch(text.strip()) is not None


def protect_formula(text):
    """Neutralise text a spreadsheet would run as a formula, leaving numbers such as -5 alone."""
    if text.startswith(FORMULA_TRIGGERS) and not is_number_text(text):
        return "'" + text
    return text


def text_row_formatter(date_style="iso", protect_formulas=False, full_precision=False):
    """A function turning a row of values into what csv.writer should write."""
    passing, converters = _text_rules(date_style, protect_formulas, full_precision)

    def format_row(row):
        return [
            value if type(value) in passing else converters[type(value)](value) for value in row
        ]

    return format_row


def text_batch_formatter(date_style="iso", protect_formulas=False, full_precision=False):
    """A function turning a batch of rows into rows for csv.writer, a column at a time.

    The hot loop of every CSV conversion. Columns are checked with C-level builtins
    (zip, map, set, all, min, max): a column of text or dates passes untouched, a column
    of whole numbers becomes ints in one map(); only mixed columns are done cell by cell.
    """
    passing, converters = _text_rules(date_style, protect_formulas, full_precision)
    format_row = text_row_formatter(date_style, protect_formulas, full_precision)
    is_integer, bool_texts = float.is_integer, {True: "TRUE", False: "FALSE"}
    # Below this, ints are exact; between 1e-4 and 1e15, format(.15g) uses no exponent.
    largest = 1e16 if full_precision else EXACT_INTEGERS

    def format_column(column, kinds):
        if kinds == {float} and min(column) >= -largest and max(column) <= largest:
            if all(map(is_integer, column)):
                return list(map(int, column))
            if not any(map(is_integer, column)) and min(map(abs, column)) >= 1e-4:
                if full_precision:
                    return column  # csv writes repr(): already the shortest round-trip form
                if max(map(abs, column)) < 1e15:
                    return list(map(format, column, repeat(".15g", len(column))))
        if kinds == {bool}:
            return list(map(bool_texts.__getitem__, column))
        return [
            value if type(value) in passing else converters[type(value)](value) for value in column
        ]

    def format_batch(batch):
        if len(set(map(len, batch))) != 1:  # not a rectangle: row by row
            return list(map(format_row, batch))
        columns = list(zip(*batch, strict=False))
        for index, column in enumerate(columns):
            kinds = set(map(type, column))
            if not kinds <= passing:
                columns[index] = format_column(column, kinds)
        return zip(*columns, strict=False)

    return format_batch


def _text_rules(date_style, protect_formulas, full_precision=False):
    """The types csv.writer may write as they are, and converters for the rest."""
    numbers = full_number_for_text if full_precision else number_for_text
    converters = {float: numbers, bool: bool_text, dt.timedelta: duration_text}
    passing = set(PASS_THROUGH)
    if date_style != "iso":
        date_format, datetime_format = DATE_STYLES[date_style]
        converters[dt.date] = lambda value: value.strftime(date_format)
        converters[dt.datetime] = lambda value: value.strftime(datetime_format)
        converters[dt.timedelta] = lambda value: duration_text(value, datetime_format)
        passing -= {dt.date, dt.datetime}
    if protect_formulas:
        converters[str] = protect_formula
        passing.discard(str)
    return frozenset(passing), converters


def display_text(value):
    """One value as a person should see it in a preview."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        return str(number_for_text(value))
    if kind is bool:
        return bool_text(value)
    if kind is dt.timedelta:
        return duration_text(value)
    return str(value)


def json_value(value, date_style="iso", full_precision=False):
    kind = type(value)
    if kind is str:
        return value if value != "" else None
    if kind is float:
        if value - value != 0:  # NaN, infinities: JSON has no such numbers
            return None
        if value.is_integer():
            if not full_precision and not -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
                value = float(format(value, ".15g"))
            return int(value) if -1e16 < value < 1e16 else value
        return value if full_precision else float(format(value, ".15g"))  # json: 645.81
    if kind is bool or kind is int:
        return value
    if kind is dt.timedelta:
        return duration_text(value, DATE_STYLES[date_style][1] if date_style != "iso" else None)
    if date_style != "iso" and kind in (dt.date, dt.datetime):
        date_format, datetime_format = DATE_STYLES[date_style]
        return value.strftime(datetime_format if kind is dt.datetime else date_format)
    return str(value)


def typed_value(text):
    """A cell from a text file, typed the way a careful person would type it."""
    if not text:
        return text
    first = text[0]
    if first.isdigit() or first == "-":
        if CANONICAL_NUMBER.fullmatch(text):
            number = float(text)
            return int(text) if "." not in text else number
        if len(text) == 10 and ISO_DATE.fullmatch(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                return text
        if ISO_DATETIME.fullmatch(text):
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                return text
        return text
    if text == "TRUE":
        return True
    if text == "FALSE":
        return False
    return text


# With a decimal comma: 47,91 and 1.234,56 (thousands in threes); no leading zeros.
COMMA_NUMBER = re.compile(r"-?(?:0|[1-9]\d{0,14}|[1-9]\d{0,2}(?:\.\d{3}){1,4})(?:,\d{1,15})?")
# Dates such as 02/03/2024, 2.3.2024, 02-03-2024 (with a time: 13:45 or 13:45:30), whose
# day and month the date order places; and 2024/03/02 in year-month-day order.
DAY_MONTH_YEAR = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
YEAR_MONTH_DAY = re.compile(
    r"(\d{4})([/.])(\d{1,2})\2(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)


def text_typer(decimal_separator=".", date_order=""):
    """typed_value, also reading numbers with a decimal comma (`47,91` -> 47.91) and
    dates in the given order (`02/03/2024` -> 2 March under "dmy", 3 February under
    "mdy"). Text that does not fit stays text."""
    comma = decimal_separator == ","
    if not comma and not date_order:
        return typed_value

    def typed(text):
        if not text or not (text[0].isdigit() or text[0] == "-"):
            return typed_value(text)
        if comma:
            if COMMA_NUMBER.fullmatch(text):
                plain = text.replace(".", "").replace(",", ".")
                return float(plain) if "." in plain else int(plain)
            if "." in text and CANONICAL_NUMBER.fullmatch(text):
                return text  # 12.5 under a decimal comma is not twelve and a half
        value = typed_value(text)
        if date_order and type(value) is str:
            return slashed_date(text, date_order)
        return value

    return typed


def slashed_date(text, date_order):
    """A date (or date-time) written with separators, read in `date_order`; else the text."""
    if date_order == "ymd":
        match = YEAR_MONTH_DAY.fullmatch(text)
        if not match:
            return text
        year, _, month, day, *clock = match.groups()
    else:
        match = DAY_MONTH_YEAR.fullmatch(text)
        if not match:
            return text
        first, _, second, year, *clock = match.groups()
        day, month = (first, second) if date_order == "dmy" else (second, first)
    try:
        if clock[0] is None:
            return dt.date(int(year), int(month), int(day))
        hour, minute, second = (int(part or 0) for part in clock)
        return dt.datetime(int(year), int(month), int(day), hour, minute, second)
    except ValueError:  # 31/02/2024, 25:00
        return text


def column_letter(index):
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA'."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


BEYOND_COLUMNS = 26**4  # a column index past any sheet's, for names of four letters or more


def column_index(letters):
    """'A' -> 0, 'AA' -> 26. A name of more than three letters (a file may hold any) is
    BEYOND_COLUMNS, never a number as long as the name."""
    if len(letters) > 3:
        return BEYOND_COLUMNS
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index - 1


def cell_name(row_index, column_index_):
    return f"{column_letter(column_index_)}{row_index + 1}"
