"""Cells as the spreadsheet shows them (issue 25, 1; `Options.as_displayed`): each number,
date and time written with its cell's number format, as Excel (en-US) displays it.

The format codes come from the sheet's look (looks.py, read in a pass of its own: the
values' paths never read a style unless this option is on); the rendering is ssf's, a
Python port of SheetJS's SSF (ECMA-376 Part 1, 18.8.31), with the fixes below, each a
test in tests/sheets/test_as_displayed.py:

- fill characters (`*x`) are dropped, as LibreOffice's "as shown" export drops them
  (ssf writes the character once);
- a `.` in a date or time code that is no fraction of a second is literal (`dd.mm.yyyy`;
  ssf refuses it);
- numbers are rounded half away from zero from their 15 significant digits, as Excel
  rounds (`1.005` under `0.00` is `1.01`; ssf's binary arithmetic gave `1.00`), and
  digits past the 15th are zeros (`123456789012345678` under `0`);
- Excel's built-in formats 5 to 8 keep their `$` (ssf's table drops it);
- General beside literal text in a one-section code (`General" kg"`) keeps the text
  (ssf writes the number alone).

A cell whose format is General, or that ssf cannot render (a code it refuses, a date too
early or too late for the calendar, which Excel shows as `####`), is written as the value
rules write it: as displayed never fails a conversion whose values read. Codes longer
than Excel's 255 characters are not rendered at all.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from . import looks
from .writers import StyledRows, excel_serial

MAX_CODE = 255  # Excel's longest number format code
CACHE_ENTRIES = 4096  # rendered texts kept per format, cleared when full
POUNDS = "##########"  # ssf's text for a value its format cannot show
MOMENTS = (dt.date, dt.datetime, dt.time, dt.timedelta)
# Excel's built-in currency formats (en-US): ssf's table gives them without the symbol.
BUILTIN_CURRENCY = {
    5: '"$"#,##0_);\\("$"#,##0\\)',
    6: '"$"#,##0_);[Red]\\("$"#,##0\\)',
    7: '"$"#,##0.00_);\\("$"#,##0.00\\)',
    8: '"$"#,##0.00_);[Red]\\("$"#,##0.00\\)',
}


def round_half_away(number, places=0):
    """ssf's rounding, done on the number's 15 significant digits rather than on its
    binary value: 1.005 to two places is 1.01 (ssf scales it first, to 100.49999999999999),
    as Excel and LibreOffice show it."""
    if isinstance(number, int) and places >= 0:
        return number
    try:
        decimal = Decimal(format(number, ".15g"))
        rounded = float(decimal.scaleb(places).to_integral_value(ROUND_HALF_UP).scaleb(-places))
    except (InvalidOperation, ValueError, OverflowError):
        rounded = number
    return int(rounded) if rounded.is_integer() else rounded


def load_ssf():
    """ssf's SSF class, with its rounding replaced (see round_half_away). ssf is imported
    here, on first use: conversions without as_displayed never load it."""
    from ssf import ssf as module

    module.SSF.round = staticmethod(round_half_away)
    return module.SSF


def renderer():
    """A new ssf formatter: en-US, no locale lookups (ssf's locale support fails with the
    Babel of today and would follow the machine's locale), UTC (ssf's default is the
    machine's zone), errors raised rather than warned. One per sheet: ssf keeps state."""
    return load_ssf()(tzinfo=dt.UTC, locale_support=False, errors="raise", locale=None)


def resolved_code(number_format, ssf):
    """The format code of a look's number format: a code as written, or Excel's built-in
    format `number_format` is the number of; None for General or one ssf lacks."""
    if isinstance(number_format, int):
        number_format = BUILTIN_CURRENCY.get(number_format) or ssf.table_fmt.get(number_format)
    if not isinstance(number_format, str) or not number_format:
        return None
    if len(number_format) > MAX_CODE or number_format.strip().lower() == "general":
        return None
    return prepared(number_format, ssf.fmt_is_date(number_format))


def prepared(code, is_date):
    """The code with its fill characters (`*x`) dropped and, in a date or time code, a
    `.` not followed by `0` (a fraction of a second) made literal."""
    out, index, length = [], 0, len(code)
    while index < length:
        char = code[index]
        if char == '"':
            end = code.find('"', index + 1)
            end = length - 1 if end < 0 else end
            out.append(code[index : end + 1])
            index = end + 1
        elif char == "[":
            end = code.find("]", index + 1)
            end = length - 1 if end < 0 else end
            out.append(code[index : end + 1])
            index = end + 1
        elif char in "\\_":
            out.append(code[index : index + 2])
            index += 2
        elif char == "*":
            index += 2  # the fill and its character
        elif char == "." and is_date and code[index + 1 : index + 2] != "0":
            out.append("\\.")
            index += 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def general_split(code):
    """(the code before General, the code after it) when a one-section code holds one
    General among other parts (`General" kg"`, `[Blue]General`); else None."""
    index, length, found = 0, len(code), None
    while index < length:
        char = code[index]
        if char in '"[':
            end = code.find('"' if char == '"' else "]", index + 1)
            index = length if end < 0 else end + 1
        elif char in "\\_":
            index += 2
        elif char == ";":
            return None
        elif code[index : index + 7].lower() == "general":
            if found is not None:
                return None
            found = index
            index += 7
        else:
            index += 1
    if found is None or length == 7:
        return None
    return code[:found], code[found + 7 :]


def has_text_section(code):
    """Whether a code says how text is shown (`@`, or a fourth section): else a text cell
    is shown as it is, whatever its format."""
    return "@" in code or code.count(";") >= 3


class Formatter:
    """One number format: show(value) is the text it displays, or None to leave the value
    to the value rules."""

    def __init__(self, code, ssf):
        self.code, self.ssf = code, ssf
        self.texts = has_text_section(code)
        self.general = general_split(code)
        self.cache = {}

    def show(self, value):
        kind = type(value)
        if kind is float or kind is int:
            if value - value != 0:  # NaN or infinity: no format shows them
                return None
            number = float(format(value, ".15g")) if kind is float else value
        elif kind is str:
            if not self.texts or not value:
                return None
            number = value
        elif kind in MOMENTS:
            number = excel_serial(value)
            if number is None:  # before 1900: Excel has no serial for it
                return None
            number = float(format(number, ".15g"))
        else:  # booleans show TRUE and FALSE under any format
            return None
        key = (kind is str, number)
        cache = self.cache
        text = cache.get(key)
        if text is None:
            text = self.render(number)
            if len(cache) >= CACHE_ENTRIES:
                cache.clear()
            cache[key] = text
        return None if text is False else text

    def render(self, number):
        try:
            if self.general is not None and type(number) is not str:
                before, after = self.general
                text = "".join(
                    (
                        self.ssf.format(before, number) if before else "",
                        self.ssf.format("General", number),
                        self.ssf.format(after, number) if after else "",
                    )
                )
            else:
                text = self.ssf.format(self.code, number)
        except Exception:  # noqa: BLE001 - any failure of the library leaves the value
            return False
        if not isinstance(text, str) or text == POUNDS:
            return False
        return text


class Displayer:
    """The cells of one sheet as displayed: apply(index, batch) rewrites the batch's
    formatted cells in place as their texts (`index`: the sheet's row of its first row)."""

    def __init__(self, look):
        ssf = renderer()
        formatters, made = [], {}
        for style in look.styles:
            code = None
            if style is not None and style.number_format is not None:
                code = resolved_code(style.number_format, ssf)
            if code is not None and code not in made:
                made[code] = Formatter(code, ssf)
            formatters.append(made[code].show if code is not None else None)
        self.formatters = formatters
        self.rows = StyledRows(look, None)

    def apply(self, index, batch):
        formatters, styled = self.formatters, self.rows.of
        count = len(formatters)
        for offset, row in enumerate(batch):
            cells = styled(index + offset)
            if not cells:
                continue
            width = len(row)
            for column, style in cells.items():
                if column < width and 0 <= style < count:
                    show = formatters[style]
                    if show is not None:
                        text = show(row[column])
                        if text is not None:
                            row[column] = text
        return batch


def for_sheet(book, sheet, options):
    """A Displayer for the sheet, or None when none of its cells has a number format
    that changes what is written (no look, as for text files; only General; or a
    format looks.py cannot read yet: xlsb, flat ODS, SpreadsheetML, Numbers)."""
    look = looks.read(book, sheet, options)
    if look is None or look.cells is None:
        return None
    if not any(style is not None and style.number_format is not None for style in look.styles):
        return None
    try:
        displayer = Displayer(look)
    except Exception:  # noqa: BLE001 - ssf failing to start leaves the values
        return None
    if not any(displayer.formatters):
        return None
    return displayer
