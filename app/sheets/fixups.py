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
import functools
import io
import os
import posixpath
import re
import struct
import zipfile
from itertools import chain, islice

import olefile
from defusedxml import ElementTree

from . import columnar, ooxml
from .error_cells import (
    OdsGrid,
    member_contains,
    space_run,
    xlrd_cells,
    xlsb_records,
    xlsb_sheets,
    xlsb_text,
)
from .values import column_index, serial_moment

# A cell's style (one of those given), the rest of its tag and its value (after any
# formula). The pattern starts with a literal, which re searches for quickly.
STYLED_VALUE = rb' s="(%s)"([^>]*)>(?:<f\b[^>]*/>|<f\b[^>]*>[^<]*</f>)?<v>(%s)</v>'
CELL_START = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"([^>]*)$')
# What may be a value below day 1, and a day or more or negative (checked once parsed).
DATE_LOSSES = rb"-[^<]*|0[^<]*|\.[^<]*|[^<]*[eE]-[^<]*"
TIME_LOSSES = rb"-[^<]*|[1-9][^<]*"
ANY_NUMBER = rb"[^<]+"
NOT_A_NUMBER = re.compile(rb'\bt="(?!n")')
BLANK_TEXT = re.compile(rb"<t(?: [^>]*)?>[ \t\r\n]+</t>")
SHARED_CELL = rb'<c r="([A-Z]{1,3})([0-9]{1,7})"[^>]*?\bt="s"[^>]*>(?:<f\b[^>]*/>|<f\b[^>]*>[^<]*</f>)?<v>(%s)</v>'
INLINE_BLANK = re.compile(rb"<is><t(?: [^>]*)?>([ \t\r\n]+)</t></is>")


MOMENTS = frozenset({dt.date, dt.datetime, dt.time})
# The first date or time token of a format: a bracket ([h], [Red], [$-409]) or a letter.
FIRST_TOKEN = re.compile(r"\[[^\]]*\]|[dmhysDMHYS]")
ELAPSED = {"h", "hh", "m", "mm", "s", "ss"}


def fixup_kind(code):
    """classify_format's kind of a custom format, but "elapsed" for an elapsed-time
    format that calamine reads as a date-time: it takes a format for a duration only
    when its first date or time token is [h], [m] or [s] (so HH[M] or h:[mm] read as
    dates and times)."""
    kind = ooxml.classify_format(code)
    if kind != "duration":
        return kind
    section = ooxml.QUOTED.sub("", code.split(";")[0])
    for token in FIRST_TOKEN.findall(section):
        if not token.startswith("["):
            return "elapsed"
        if token[1:-1].lower() in ELAPSED:
            return "duration"
    return "duration"


def read_rows(book, sheet):
    """book.rows(sheet), with the cells calamine misreads put right: in xlsx sheets that
    calamine reads (the streaming reader follows the rules itself) and xls sheets, the
    serials above; in ods, durations of a day or more, which calamine leaves as their
    ISO 8601 text (PT30H00M00S)."""
    rows = book.rows(sheet)
    if book.format == "ods":
        tabbed = ods_tabbed_texts(book.path).get(sheet.name)
        if tabbed:
            rows = patched(rows, frozenset(), lambda: tabbed, now=True)
        return ods_durations(rows)
    if book.format == "xls" and sheet.rows:
        watch = watched_types(xls_format_kinds(book.path))
        return patched(rows, watch, lambda: xls_fixups(book.path, sheet.name))
    if book.format == "xlsb" and sheet.rows:
        styles = xlsb_styles(book.path)
        watch = watched_types(styles[0]) if styles else frozenset()
        return patched(rows, watch, lambda: xlsb_fixups(book.path, sheet.name, *styles))
    if not needs_check(book, sheet):
        return rows
    blanks = blank_shared_strings(book.archive)
    watch = watched_types(ooxml.number_format_kinds(book.archive, fixup_kind))
    return patched(rows, watch, lambda: sheet_fixups(book, sheet, blanks), now=bool(blanks))


def watched_types(kinds):
    """The value types that show a sheet may hold misread cells, by the kinds of number
    format the workbook has: any date or time when it has time-of-day formats (a day or
    more under one reads as a date-time), a time when it has date formats (below day 1
    under one reads as a time), else none."""
    kinds = set(kinds)
    if kinds & {"time", "elapsed"}:
        return MOMENTS
    if kinds & {"date", "datetime"}:
        return frozenset({dt.time})
    return frozenset()


def patched(rows, watch, find_fixups, now=False, chunk_rows=512):
    """rows, with the fixups that find_fixups() gives put in: at once when `now`, else
    from the first chunk of rows holding a value of a `watch`ed type (the cells to put
    right are among those, so the rows before need nothing)."""
    if not now and not watch:
        yield from rows
        return
    by_row = group_by_row(find_fixups()) if now else None
    rows, index = iter(rows), 0
    while chunk := list(islice(rows, chunk_rows)):
        # Types are looked at a chunk of rows at a time: one pass in C, not one per row.
        if by_row is None and not watch.isdisjoint(map(type, chain.from_iterable(chunk))):
            by_row = group_by_row(find_fixups())
        if by_row:
            for offset, row in enumerate(chunk):
                for column, value in by_row.get(index + offset, ()):
                    if column < len(row):
                        row[column] = value
        yield from chunk
        index += len(chunk)


def group_by_row(fixups):
    by_row = {}
    for (row, column), value in fixups.items():
        by_row.setdefault(row, []).append((column, value))
    return by_row


# BIFF records of an xls workbook's globals: BOF, FORMAT, XF, EOF.
BIFF_BOF, BIFF_FORMAT, BIFF_XF, BIFF_EOF = 0x0809, 0x041E, 0x00E0, 0x000A


def xls_format_kinds(path):
    """The kind of number format ('date', 'time'...) of each XF of an xls workbook, read
    from its globals (FORMAT and XF records) without parsing the sheets; [] when the
    file cannot be read so (BIFF5 and BIFF8 are)."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            name = next((n for n in ("Workbook", "Book") if ole.exists(n)), None)
            data = ole.openstream(name).read() if name else b""
    except Exception:  # calamine has read the file: a reader that cannot just finds nothing
        return []
    formats, xf_formats, wide, position = {}, [], True, 0
    while position + 4 <= len(data):
        kind, size = struct.unpack_from("<HH", data, position)
        body = data[position + 4 : position + 4 + size]
        position += 4 + size
        try:
            if kind == BIFF_BOF:
                wide = struct.unpack_from("<H", body)[0] >= 0x0600  # BIFF8 strings
            elif kind == BIFF_FORMAT:
                (index,) = struct.unpack_from("<H", body)
                if wide:
                    (length,), flags = struct.unpack_from("<H", body, 2), body[4]
                    text = body[5 : 5 + 2 * length] if flags & 1 else body[5 : 5 + length]
                    formats[index] = text.decode("utf-16-le" if flags & 1 else "latin-1")
                else:
                    formats[index] = body[3 : 3 + body[2]].decode("latin-1")
            elif kind == BIFF_XF:
                xf_formats.append(struct.unpack_from("<H", body, 2)[0])
            elif kind == BIFF_EOF:
                break
        except (struct.error, IndexError, UnicodeDecodeError):
            continue
    return [
        fixup_kind(formats[i]) if i in formats else ooxml.BUILTIN_DATE_FORMATS.get(i)
        for i in xf_formats
    ]


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
        for row, column, serial in xlrd_cells(sheet, xlrd.XL_CELL_DATE):
            xf = sheet.cell_xf_index(row, column)
            if xf not in kinds:
                key = book.xf_list[xf].format_key
                number_format = book.format_map.get(key)
                kinds[xf] = ooxml.BUILTIN_DATE_FORMATS.get(key) or fixup_kind(
                    number_format.format_str if number_format else ""
                )
            kind = kinds[xf]
            if kind in FIXED_KINDS and misread(serial, kind):
                fixups[(row, column)] = moment(serial, kind, book.datemode == 1)
    except Exception:
        return fixups
    finally:
        book.release_resources()
    return fixups


# xlsb records ([MS-XLSB] 2.4): BrtFmt, BrtXF between BrtBeginCellXFs and BrtEndCellXFs,
# BrtWbProp; in a sheet BrtRowHdr, the number cells BrtCellRk, BrtCellReal, BrtFmlaNum,
# and BrtEndSheetData.
XLSB_FORMAT, XLSB_XF, XLSB_CELL_XFS, XLSB_END_CELL_XFS, XLSB_WORKBOOK_PROPERTIES = (
    44,
    47,
    617,
    618,
    153,
)
XLSB_ROW, XLSB_RK, XLSB_REAL, XLSB_FORMULA_NUMBER, XLSB_END_CELLS = 0, 2, 5, 9, 146


def xlsb_styles(path):
    """(kind of number format of each cell XF, whether dates count from 1904) of an
    xlsb workbook, or None when it cannot be read so."""
    try:
        with zipfile.ZipFile(path) as archive:
            styles = archive.read("xl/styles.bin")
            workbook = archive.read("xl/workbook.bin")
    except Exception:  # calamine has read the file: a reader that cannot just finds nothing
        return None
    formats, xf_formats, in_cell_xfs = {}, [], False
    try:
        for kind, data in xlsb_records(io.BytesIO(styles)):
            if kind == XLSB_FORMAT:
                formats[struct.unpack_from("<H", data)[0]] = xlsb_text(data, 2)[0]
            elif kind in (XLSB_CELL_XFS, XLSB_END_CELL_XFS):
                in_cell_xfs = kind == XLSB_CELL_XFS
            elif kind == XLSB_XF and in_cell_xfs:
                xf_formats.append(struct.unpack_from("<H", data, 2)[0])
        date1904 = any(
            struct.unpack_from("<I", data)[0] & 1
            for kind, data in xlsb_records(io.BytesIO(workbook))
            if kind == XLSB_WORKBOOK_PROPERTIES
        )
    except Exception:
        return None
    kinds = [
        fixup_kind(formats[i]) if i in formats else ooxml.BUILTIN_DATE_FORMATS.get(i)
        for i in xf_formats
    ]
    return kinds, date1904


def xlsb_fixups(path, sheet_name, kinds, date1904):
    """The xlsb cells calamine misreads in one sheet (see sheet_fixups), from the number
    records of the sheet and the formats of their styles."""
    fixups = {}
    try:
        with zipfile.ZipFile(path) as archive:
            sheets = dict(xlsb_sheets(archive.read("xl/workbook.bin")))
            part = xlsb_part(archive, sheets.get(sheet_name))
            if not part:
                return {}
            with archive.open(part) as handle:
                row = 0
                for kind, data in xlsb_records(handle):
                    if kind == XLSB_ROW:
                        (row,) = struct.unpack_from("<I", data)
                    elif kind in (XLSB_RK, XLSB_REAL, XLSB_FORMULA_NUMBER):
                        column, style = struct.unpack_from("<II", data)
                        style &= 0xFFFFFF
                        number_kind = kinds[style] if style < len(kinds) else None
                        if number_kind not in FIXED_KINDS:
                            continue
                        serial = (
                            rk_number(struct.unpack_from("<I", data, 8)[0])
                            if kind == XLSB_RK
                            else struct.unpack_from("<d", data, 8)[0]
                        )
                        if misread(serial, number_kind):
                            fixups[(row, column)] = moment(serial, number_kind, date1904)
                    elif kind == XLSB_END_CELLS:
                        break
    except Exception:  # calamine has read the file: a reader that cannot just finds less
        return fixups
    return fixups


def xlsb_part(archive, rel_id):
    """The part a relationship of xl/workbook.bin points to (relative to xl/, or from the
    package's root when it starts with /), or None."""
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.bin.rels"))
    for rel in rels:
        if rel.get("Id") == rel_id and rel.get("Target"):
            target = rel.get("Target")
            return target[1:] if target.startswith("/") else posixpath.normpath("xl/" + target)
    return None


def rk_number(rk):
    """[MS-XLSB] 2.5.122 RkNumber: a 30-bit integer or the top of a double, maybe x100."""
    if rk & 2:
        number = (rk >> 2) - (1 << 30 if rk & 0x80000000 else 0)
    else:
        number = struct.unpack("<d", struct.pack("<Q", (rk & 0xFFFFFFFC) << 32))[0]
    return number / 100 if rk & 1 else number


ODS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
ODS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
MAX_TABBED_CELLS = 1_000_000


def ods_tabbed_texts(path):
    """{sheet: {(row, column): text}} of the ods text cells holding a tab, which calamine
    drops ("a<text:tab/>b" reads as "ab"); {} soon for the usual file without tabs."""
    try:
        stat = os.stat(path)
    except OSError:
        return {}
    return tabbed_texts_of(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)  # one file read once for all its sheets
def tabbed_texts_of(path, _modified, _size):
    try:
        with zipfile.ZipFile(path) as archive:
            if not member_contains(archive, "content.xml", b"<text:tab"):
                return {}
            with archive.open("content.xml") as handle:
                return parse_tabbed_texts(handle)
    except Exception:  # calamine has read the file: a reader that cannot just finds nothing
        return {}


class TabbedTexts:
    """OdsGrid's listener keeping the text of the cells with a tab: paragraphs joined by
    line breaks, <text:s text:c="n"/> as n spaces, annotations left out."""

    PARAGRAPH, ANNOTATION = f"{ODS_TEXT} p", f"{ODS_OFFICE} annotation"
    SPACE, TAB, LINE_BREAK = f"{ODS_TEXT} s", f"{ODS_TEXT} tab", f"{ODS_TEXT} line-break"

    def __init__(self):
        self.found, self.sheet, self.recorded = {}, "", 0
        self.parts, self.paragraphs, self.tabbed, self.hidden = [], [], False, 0

    def table(self, name):
        self.sheet = name

    def cell_start(self, attributes):
        self.tabbed = False
        self.parts.clear()
        self.paragraphs.clear()

    def inner_start(self, name, attributes):
        if name == self.ANNOTATION:
            self.hidden += 1
        elif self.hidden:
            return
        elif name == self.SPACE:
            self.parts.append(" " * space_run(attributes))
        elif name == self.TAB:
            self.parts.append("\t")
            self.tabbed = True
        elif name == self.LINE_BREAK:
            self.parts.append("\n")

    def inner_end(self, name):
        if name == self.ANNOTATION:
            self.hidden -= 1
        elif name == self.PARAGRAPH and not self.hidden:
            self.paragraphs.append("".join(self.parts))
            self.parts.clear()

    def characters(self, data):
        if not self.hidden:
            self.parts.append(data)

    def cell_end(self, row, rows_repeat, first, repeat):
        if not self.tabbed or self.recorded >= MAX_TABBED_CELLS:
            return
        sheet = self.found.setdefault(self.sheet, {})
        text = "\n".join(self.paragraphs)
        for row_index in range(row, row + min(rows_repeat, 1024)):
            for column in range(first, first + min(repeat, 1024)):
                sheet[(row_index, column)] = text
                self.recorded += 1


def parse_tabbed_texts(handle):
    """Walk content.xml's tables as the error cell reader does (error_cells.OdsGrid), and
    keep the text of the cells with a tab."""
    listener = TabbedTexts()
    OdsGrid(listener).parse(handle)
    return listener.found


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


def columns_need_fixups(book, sheet, batch):
    """Whether the columnar path must give way: the sheet has cells calamine misreads
    (see read_rows). Looked for only when the columns show suspects (see suspects())."""
    import pyarrow as pa
    import pyarrow.compute as pc

    blanks = blank_shared_strings(book.archive)
    if not blanks:
        watch = watched_types(ooxml.number_format_kinds(book.archive, fixup_kind))
        moments = [a for a in batch.columns if pa.types.is_timestamp(a.type)]
        if not watch or not moments:
            return False
        if dt.datetime not in watch:  # times only: what the fast path reads as times of day
            day_one = columnar.literal(columnar.DAY_ZERO_MS[book.date1904] + columnar.DAY_MS)
            as_millis = [a.cast(pa.timestamp("ms")).cast(pa.int64()) for a in moments]
            if not any(pc.any(pc.less(millis, day_one)).as_py() for millis in as_millis):
                return False
    return bool(sheet_fixups(book, sheet, blanks))


def sheet_fixups(book, sheet, blanks=None):
    """{(row, column): value} (0-based) for the cells of one xlsx sheet that calamine
    reads otherwise than the value rules say; empty for most sheets."""
    archive, part, date1904 = book.archive, book.parts[sheet.name], book.date1904
    kinds = ooxml.number_format_kinds(archive, fixup_kind)
    dates = [str(i).encode() for i, kind in enumerate(kinds) if kind in ("date", "datetime")]
    times = [str(i).encode() for i, kind in enumerate(kinds) if kind == "time"]
    durations = [str(i).encode() for i, kind in enumerate(kinds) if kind == "elapsed"]
    blanks = blank_shared_strings(archive) if blanks is None else blanks
    data = archive.read(part)
    fixups = {}
    for styles, losses in ((dates, DATE_LOSSES), (times, TIME_LOSSES), (durations, ANY_NUMBER)):
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
            kind = kinds[int(style)]
            if misread(serial, kind):
                fixups[cell[:2]] = moment(serial, kind, date1904)
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


def misread(serial, kind):
    """Whether calamine reads this serial under this kind of format otherwise than the
    rules: below day 1 under a date format, outside one day under a time format, and any
    under an elapsed-time format, which calamine takes for a time when it is not [h] or
    [hh] (see fixup_kind)."""
    if kind == "elapsed":
        return True
    if kind == "time":
        return not 0 <= serial < 1
    return serial < 1


FIXED_KINDS = frozenset({"date", "datetime", "time", "elapsed"})


def moment(serial, kind, date1904):
    return serial_moment(serial, "duration" if kind == "elapsed" else kind, date1904)


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
