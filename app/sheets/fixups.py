"""Cells calamine reads differently from the value rules, found in an xlsx sheet's XML.

calamine turns a serial number under a date format into a time of day when it is below
1 (so -1.2 loses its sign and days, and 0 is not a date), and one of a day or more
under a time-of-day format into a date-time; it also reads text that is only spaces
as empty when the XML does not say xml:space="preserve". Those cells are rare, so
rather than read every sheet a slower way, the sheet's XML is searched for them
(regular expressions over the bytes, no Python per cell), only when calamine's values
show dates or times, or the shared strings hold blank text, and the values the rules
give are put back.
"""

import datetime as dt
import re

from . import ooxml
from .values import column_index, serial_moment

# A cell's style (one of those given), the rest of its tag and its value (after any
# formula). The pattern starts with a literal, which re searches for quickly.
STYLED_VALUE = rb' s="(%s)"([^>]*)>(?:<f\b[^>]*/>|<f\b[^>]*>[^<]*</f>)?<v>(%s)</v>'
CELL_START = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"([^>]*)$')
DATE_LOSSES = rb"-[^<]*|0[^<]*|\.[^<]*"  # below day 1
TIME_LOSSES = rb"-[^<]*|[1-9][^<]*"  # a day or more, or negative
NOT_A_NUMBER = re.compile(rb'\bt="(?!n")')
BLANK_TEXT = re.compile(rb"<t(?: [^>]*)?>[ \t\r\n]+</t>")
SHARED_CELL = rb'<c r="([A-Z]{1,3})([0-9]{1,7})"[^>]*?\bt="s"[^>]*>(?:<f\b[^>]*/>|<f\b[^>]*>[^<]*</f>)?<v>(%s)</v>'
INLINE_BLANK = re.compile(rb"<is><t(?: [^>]*)?>([ \t\r\n]+)</t></is>")


MOMENTS = frozenset({dt.date, dt.datetime, dt.time})


def read_rows(book, sheet):
    """book.rows(sheet), with the cells calamine misreads put right: in xlsx sheets that
    calamine reads (the streaming reader follows the rules itself) and xls sheets, the
    serials above; in ods, durations of a day or more, which calamine leaves as their
    ISO 8601 text (PT30H00M00S)."""
    rows = book.rows(sheet)
    if book.format == "ods":
        return ods_durations(rows)
    if book.format == "xls" and sheet.rows:
        return patched(rows, lambda: xls_fixups(book.path, sheet.name))
    if not needs_check(book, sheet):
        return rows
    return checked_rows(book, sheet, rows)


def patched(rows, find_fixups):
    """rows, with the fixups find_fixups() gives put in from the first row holding a
    date or a time (the cells to put right are among those)."""
    by_row = None
    for index, row in enumerate(rows):
        if by_row is None and not MOMENTS.isdisjoint(map(type, row)):
            by_row = {}
            for (row_index, column), value in find_fixups().items():
                by_row.setdefault(row_index, []).append((column, value))
        if by_row and index in by_row:
            for column, value in by_row[index]:
                if column < len(row):
                    row[column] = value
        yield row


def xls_fixups(path, sheet_name):
    """The xls cells calamine misreads in one sheet (see sheet_fixups), found with xlrd,
    which gives each number's format; {} when xlrd cannot read the file."""
    try:
        import xlrd  # only for the xls sheets that hold dates or times

        book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    except Exception:  # calamine has read the file: a reader that cannot just finds nothing
        return {}
    fixups = {}
    try:
        sheet = book.sheet_by_name(sheet_name)
        kinds = {}
        for row in range(sheet.nrows):
            types = sheet.row_types(row)
            if xlrd.XL_CELL_DATE not in types:
                continue
            for column, serial in enumerate(sheet.row_values(row)):
                if types[column] != xlrd.XL_CELL_DATE:
                    continue
                xf = sheet.cell_xf_index(row, column)
                if xf not in kinds:
                    key = book.xf_list[xf].format_key
                    number_format = book.format_map.get(key)
                    kinds[xf] = ooxml.BUILTIN_DATE_FORMATS.get(key) or ooxml.classify_format(
                        number_format.format_str if number_format else ""
                    )
                kind = kinds[xf]
                if (kind in ("date", "datetime") and serial < 1) or (
                    kind == "time" and not 0 <= serial < 1
                ):
                    fixups[(row, column)] = serial_moment(serial, kind, book.datemode == 1)
    except Exception:
        return fixups
    finally:
        book.release_resources()
    return fixups


ISO_DURATION = re.compile(r"(-?)PT(\d+)H(\d+)M(\d+(?:\.\d+)?)S")


def ods_durations(rows):
    for row in rows:
        for column, value in enumerate(row):
            if type(value) is str and value[:3] in (
                "PT0",
                "PT1",
                "PT2",
                "PT3",
                "PT4",
                "PT5",
                "PT6",
                "PT7",
                "PT8",
                "PT9",
                "-PT",
            ):
                match = ISO_DURATION.fullmatch(value)
                if match:
                    sign, hours, minutes, seconds = match.groups()
                    delta = dt.timedelta(
                        hours=int(hours), minutes=int(minutes), seconds=float(seconds)
                    )
                    row[column] = -delta if sign else delta
        yield row


def needs_check(book, sheet):
    parts = getattr(book, "parts", None)
    if not parts or sheet.name not in parts or not sheet.rows:
        return False
    return book.xml_sizes[sheet.name] <= book.limits.stream_above_bytes


def checked_rows(book, sheet, rows):
    blanks = blank_shared_strings(book.archive)
    by_row = None
    if blanks:
        by_row = fixups_by_row(book, sheet, blanks)
    for index, row in enumerate(rows):
        if by_row is None and not MOMENTS.isdisjoint(map(type, row)):
            by_row = fixups_by_row(book, sheet, blanks)  # the first date or time
        if by_row and index in by_row:
            for column, value in by_row[index]:
                if column < len(row):
                    row[column] = value
        yield row


def columns_need_fixups(book, sheet, batch):
    """Whether the columnar path must give way: the sheet has cells calamine misreads
    (see read_rows) among columns of dates and times or of text."""
    import pyarrow as pa

    blanks = blank_shared_strings(book.archive)
    if not blanks and not any(pa.types.is_timestamp(array.type) for array in batch.columns):
        return False
    return bool(fixups_by_row(book, sheet, blanks))


def fixups_by_row(book, sheet, blanks):
    fixups = sheet_fixups(book.archive, book.parts[sheet.name], book.date1904, blanks)
    by_row = {}
    for (row, column), value in fixups.items():
        by_row.setdefault(row, []).append((column, value))
    return by_row


def sheet_fixups(archive, part, date1904, blanks=None):
    """{(row, column): value} (0-based) for the cells of one sheet that calamine reads
    otherwise than the value rules say; empty for most sheets."""
    kinds = ooxml.number_format_kinds(archive)
    dates = [str(i).encode() for i, kind in enumerate(kinds) if kind in ("date", "datetime")]
    times = [str(i).encode() for i, kind in enumerate(kinds) if kind == "time"]
    blanks = blank_shared_strings(archive) if blanks is None else blanks
    data = archive.read(part)
    fixups = {}
    for styles, losses in ((dates, DATE_LOSSES), (times, TIME_LOSSES)):
        if not styles:
            continue
        for match in re.finditer(STYLED_VALUE % (b"|".join(styles), losses), data):
            style, after, raw = match.groups()
            cell = cell_before(data, match.start())
            if cell is None or NOT_A_NUMBER.search(cell[2] + after):
                continue  # no reference (rare), or not a number
            try:
                serial = float(raw)
            except ValueError:
                continue
            fixups[cell[:2]] = serial_moment(serial, kinds[int(style)], date1904)
    if blanks:
        indices = b"|".join(str(index).encode() for index in blanks)
        for match in re.finditer(SHARED_CELL % indices, data):
            letters, row, raw = match.groups()
            fixups[(int(row) - 1, column_index(letters.decode()))] = blanks[int(raw)]
    for match in INLINE_BLANK.finditer(data):
        cell = cell_before(data, match.start())
        if cell is not None:
            fixups[cell[:2]] = match.group(1).decode()
    return fixups


def cell_before(data, position):
    """(row, column, attributes) of the <c> tag that ends just before `position`."""
    start = data.rfind(b"<c ", max(0, position - 300), position)
    cell = CELL_START.match(data, start, position) if start >= 0 else None
    if cell is None:
        return None
    letters, row, attributes = cell.groups()
    return int(row) - 1, column_index(letters.decode()), attributes


def blank_shared_strings(archive):
    """{index: text} of the shared strings that are only whitespace."""
    try:
        data = archive.read("xl/sharedStrings.xml")
    except KeyError:
        return {}
    if not BLANK_TEXT.search(data):
        return {}
    return {
        index: text
        for index, text in enumerate(ooxml.shared_strings(archive))
        if text and not text.strip()
    }
