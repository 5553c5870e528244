"""Cells as the spreadsheet shows them (issue 25, 1; `Options.as_displayed`): each number,
date and time written with its cell's number format, as Excel (en-US) displays it.

The format codes come from the sheet's look (looks.py, read in a pass of its own: the
values' paths never read a style unless this option is on): a code as written, or the
number of one of Excel's built-in formats (BUILTIN_CODES). The rendering is numfmt's,
Sheetport's own, which parses each code once; dates, times and durations the readers
made of serials are turned back into serials (`excel_serial`), so the code's own layout
applies. Each format keeps the last texts it wrote (repeated dates, amounts, categories).

A cell whose format is General, a boolean, a date before 1900, a code numfmt does not
render (more than four sections, an unclosed quote or bracket, over Excel's 255
characters) and a value no section shows (a negative time, a date past 9999: Excel's
`####`) are written as the value rules write them: as displayed never fails a conversion
whose values read. Text is shown as it is unless the code has a text section.
"""

import datetime as dt

from . import looks, numfmt
from .writers import StyledRows, excel_serial

CACHE_ENTRIES = 4096  # texts kept per format, cleared when full
MOMENTS = frozenset({dt.date, dt.datetime, dt.time, dt.timedelta})
FIELDED = frozenset({dt.date, dt.datetime})  # shown from their fields, not their serials
# Excel's built-in formats (en-US) that a file names by number (ECMA-376 18.8.30); the
# East Asian ones (27 to 36, 50 to 58) are left to the value rules.
BUILTIN_CODES = {
    1: "0",
    2: "0.00",
    3: "#,##0",
    4: "#,##0.00",
    5: '"$"#,##0_);\\("$"#,##0\\)',
    6: '"$"#,##0_);[Red]\\("$"#,##0\\)',
    7: '"$"#,##0.00_);\\("$"#,##0.00\\)',
    8: '"$"#,##0.00_);[Red]\\("$"#,##0.00\\)',
    9: "0%",
    10: "0.00%",
    11: "0.00E+00",
    12: "# ?/?",
    13: "# ??/??",
    14: "m/d/yyyy",
    15: "d-mmm-yy",
    16: "d-mmm",
    17: "mmm-yy",
    18: "h:mm AM/PM",
    19: "h:mm:ss AM/PM",
    20: "h:mm",
    21: "h:mm:ss",
    22: "m/d/yyyy h:mm",
    37: "#,##0_);(#,##0)",
    38: "#,##0_);[Red](#,##0)",
    39: "#,##0.00_);(#,##0.00)",
    40: "#,##0.00_);[Red](#,##0.00)",
    41: '_(* #,##0_);_(* \\(#,##0\\);_(* "-"_);_(@_)',
    42: '_("$"* #,##0_);_("$"* \\(#,##0\\);_("$"* "-"_);_(@_)',
    43: '_(* #,##0.00_);_(* \\(#,##0.00\\);_(* "-"??_);_(@_)',
    44: '_("$"* #,##0.00_);_("$"* \\(#,##0.00\\);_("$"* "-"??_);_(@_)',
    45: "mm:ss",
    46: "[h]:mm:ss",
    47: "mm:ss.0",
    48: "##0.0E+0",
    49: "@",
}


def resolved_code(number_format):
    """The format code of a look's number format: a code as written, or the code of
    Excel's built-in format `number_format` is the number of."""
    if isinstance(number_format, int):
        return BUILTIN_CODES.get(number_format)
    return number_format if isinstance(number_format, str) else None


class Formatter:
    """One number format: show(value) is the text it displays, or None to leave the value
    to the value rules."""

    def __init__(self, number_format):
        self.number = number_format.number
        self.moment = number_format.moment
        self.text = number_format.text if number_format.has_text else None
        self.cache = {}

    def show(self, value):
        kind = type(value)
        if kind is bool:  # TRUE and FALSE under any format (and 1 == True in the cache)
            return None
        cache = self.cache
        text = cache.get(value)
        if text is not None:
            return None if text is False else text
        if kind is float or kind is int:
            if value - value != 0:  # NaN or infinity: no format shows them
                return None
        elif kind is str:
            if self.text is None or not value:
                return None
        elif kind not in MOMENTS:
            return None
        try:
            if kind is str:
                text = self.text(value)
            elif kind in MOMENTS:
                text = None
                if self.moment is not None and kind in FIELDED:
                    text = self.moment(value)
                if text is None:
                    serial = excel_serial(value)  # None before 1900: Excel has no serial
                    text = None if serial is None else self.number(serial)
            else:
                text = self.number(value)
        except Exception:  # noqa: BLE001 - a renderer's slip leaves the value, never fails
            text = None
        if len(cache) >= CACHE_ENTRIES:
            cache.clear()
        cache[value] = False if text is None else text
        return text


class Displayer:
    """The cells of one sheet as displayed: apply(index, batch) rewrites the batch's
    formatted cells in place as their texts (`index`: the sheet's row of its first row)."""

    def __init__(self, look):
        formatters, made = [], {}
        for style in look.styles:
            code = None
            if style is not None and style.number_format is not None:
                code = resolved_code(style.number_format)
            number_format = numfmt.compiled(code) if code is not None else None
            if number_format is not None and code not in made:
                made[code] = Formatter(number_format)
            formatters.append(made[code].show if number_format is not None else None)
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
    displayer = Displayer(look)
    if not any(displayer.formatters):
        return None
    return displayer
