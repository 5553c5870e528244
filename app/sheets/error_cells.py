"""Error cells (#DIV/0!, #N/A, ...) of xls, xlsb and ods workbooks, which calamine reads
as empty.

Each reader first looks for a sign of an error cell with one cheap pass over the bytes,
so workbooks without any (nearly all) cost almost nothing; only then is the file parsed
to find where they are. Both return {sheet name: {(row, column): text}}, 0-based.
"""

import datetime as dt
import io
import re
import struct
import zipfile

import olefile

from .errors import DAMAGED_DATA, SheetError
from .limits import CELL_TEXT, SHEET_COLUMNS, SHEET_ROWS, file_count
from .ooxml import iso_value, part_relations, safe_expat, worksheet_targets

# Excel's error codes ([MS-XLS] 2.5.97.2 BErr) and the BIFF records that hold an error:
# FORMULA (0x0006) with a cached error (byte 0 of the value 0x02, bytes 6-7 0xFFFF),
# and BOOLERR (0x0205) with its error flag set.
ERROR_CODES = rb"[\x00\x07\x0f\x17\x1d\x24\x2a]"
XLS_ERROR_RECORD = re.compile(
    rb"\x06\x00..(?:.{6})\x02." + ERROR_CODES + rb".{3}\xff\xff"
    rb"|\x05\x02\x08\x00(?:.{6})" + ERROR_CODES + rb"\x01",
    re.S,
)
# What the xlsb and ods readers may raise on a file calamine could read but they cannot.
UNREADABLE = (SheetError, KeyError, OSError, IndexError, ValueError, *DAMAGED_DATA)
ERROR_TEXTS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
    0x2B: "#GETTING_DATA",
}
# xlsb ([MS-XLSB] 2.4): a record is its type and its size, each a little-endian number
# in 7-bit groups (the high bit says another byte follows), then its data. A sheet's
# cells follow the BrtRowHdr (type 0) of their row, up to BrtEndSheetData (146);
# BrtCellError (3) and BrtFmlaError (11) start with the column (4 bytes), a style
# (4 bytes) and the error code.
XLSB_ROW, XLSB_CELL_ERROR, XLSB_FORMULA_ERROR, XLSB_END_CELLS, XLSB_SHEET = 0, 3, 11, 146, 156
XLSB_ERROR_RECORD = re.compile(  # the header, a column under 16,384, a style, the code
    rb"(?:\x03\x09|\x0b(?:[\x13-\x7f]|[\x80-\xff][\x00-\x7f]))"
    rb".[\x00-\x3f]\x00\x00.{4}[" + re.escape(bytes(ERROR_TEXTS)) + rb"]",
    re.S,
)
ODS_ERROR_MARK = b'calcext:value-type="error"'
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
CALCEXT = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
# Repeats can make one element stand for billions of cells; errors past this stay empty.
MAX_ERROR_CELLS = 1_000_000


def xlrd_cells(sheet, cell_type):
    """(row, column, value) of an xlrd sheet's cells of one type; rows without any are
    passed over by their types alone."""
    for row in range(sheet.nrows):
        types = sheet.row_types(row)
        if cell_type in types:
            for column, value in enumerate(sheet.row_values(row)):
                if types[column] == cell_type:
                    yield row, column, value


def xls_error_cells(path):
    try:
        with olefile.OleFileIO(str(path)) as ole:
            stream = next((n for n in ("Workbook", "Book") if ole.exists(n)), None)
            if stream is None or not XLS_ERROR_RECORD.search(ole.openstream(stream).read()):
                return {}
        import xlrd  # only for the rare workbook that has error cells

        book = xlrd.open_workbook(str(path), on_demand=True)
    except Exception:  # calamine has read the file: a reader that cannot just finds nothing
        return {}
    found = {}
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            cells = {
                (row, column): xlrd.error_text_from_code.get(code, "#N/A")
                for row, column, code in xlrd_cells(sheet, xlrd.XL_CELL_ERROR)
            }
            if cells:
                found[sheet.name] = cells
            book.unload_sheet(index)
    except Exception:
        return found
    finally:
        book.release_resources()
    return found


def xlsb_error_cells(path):
    try:
        with zipfile.ZipFile(path) as archive:
            targets = worksheet_targets(archive, "xl/workbook.bin")
            found = {}
            for name, rel_id in xlsb_sheets(archive.read("xl/workbook.bin")):
                part = targets.get(rel_id)
                if part and member_matches(archive, part, XLSB_ERROR_RECORD, 64, xlsb_record_at):
                    with archive.open(part) as handle:
                        if cells := xlsb_sheet_errors(handle):
                            found[name] = cells
            return found
    except UNREADABLE:  # calamine has read the file: a reader that cannot just finds nothing
        return {}


def xlsb_extents(path):
    """[(sheet, rows, columns)] of an xlsb's worksheets as calamine lays them out: from
    the first to the last row and column holding a cell. Rows past Excel's last end a
    sheet, as in calamine; columns it does not check, so they are counted here."""
    extents = []
    with zipfile.ZipFile(path) as archive:
        targets = worksheet_targets(archive, "xl/workbook.bin")
        for name, rel_id in xlsb_sheets(archive.read("xl/workbook.bin")):
            part = targets.get(rel_id)
            if part:
                with archive.open(part) as handle:
                    extents.append((name, *xlsb_sheet_extent(handle)))
    return extents


XLSB_CELLS = range(1, 12)  # BrtCellBlank to BrtFmlaError: each starts with its column


def xlsb_sheet_extent(handle):
    row, extent = 0, None  # extent: [first row, last row, first column, last column]
    for kind, data in xlsb_records(handle):
        if kind == XLSB_ROW and len(data) >= 4:
            (row,) = struct.unpack_from("<I", data)
            if row > SHEET_ROWS:  # calamine stops reading the sheet here
                break
        elif kind in XLSB_CELLS and len(data) >= 4:
            (column,) = struct.unpack_from("<I", data)
            if extent is None:
                extent = [row, row, column, column]
            else:
                extent[0], extent[1] = min(extent[0], row), max(extent[1], row)
                extent[2], extent[3] = min(extent[2], column), max(extent[3], column)
        elif kind == XLSB_END_CELLS:
            break
    if extent is None:
        return 0, 0
    return extent[1] - extent[0] + 1, extent[3] - extent[2] + 1


# The sizes of the records that may follow a cell in sheet data: BrtRowHdr, the cells
# BrtCellBlank to BrtFmlaError, BrtEndSheetData.
XLSB_EXACT_SIZES = {1: 8, 2: 12, 3: 9, 4: 9, 5: 16, 7: 12, XLSB_END_CELLS: 0}
XLSB_LEAST_SIZES = {0: 17, 6: 12, 8: 22, 9: 26, 10: 19, 11: 19}


def xlsb_record_at(data, match):
    """Whether a match of XLSB_ERROR_RECORD is a whole error record: in the bytes of
    numbers, zeros and small integers match its pattern now and then. A BrtFmlaError's
    size must be that of its parts; a BrtCellError must be followed by a record that can
    follow a cell. True when the bytes to tell run out."""
    kind, position = xlsb_number(data, match.start(), 2)  # the pattern holds the header
    size, position = xlsb_number(data, position, 4)
    if kind == XLSB_FORMULA_ERROR:
        if position + size > len(data):
            return True
        (formula_size,) = struct.unpack_from("<I", data, position + 11)
        if 19 + formula_size > size:
            return False
        (extra_size,) = struct.unpack_from("<I", data, position + 15 + formula_size)
        return 19 + formula_size + extra_size == size
    if position + size + 6 > len(data):
        return True
    following, at = xlsb_number(data, position + size, 2)
    following_size, _ = xlsb_number(data, at, 4)
    if following in XLSB_EXACT_SIZES:
        return following_size == XLSB_EXACT_SIZES[following]
    return following_size >= XLSB_LEAST_SIZES.get(following, 0)  # other records: any size


def xlsb_records(handle, chunk=1 << 20):
    """(type, data) of each record of an xlsb part, read in chunks; a truncated last
    record ends it."""
    buffer, position, ended = b"", 0, False
    while True:
        while not ended and len(buffer) - position < 6:  # the longest header
            more = handle.read(chunk)
            ended = not more
            buffer, position = buffer[position:] + more, 0
        if position >= len(buffer):
            return
        try:
            kind, position = xlsb_number(buffer, position, 2)
            size, position = xlsb_number(buffer, position, 4)
        except IndexError:
            return
        while not ended and len(buffer) - position < size:
            more = handle.read(max(chunk, size))
            ended = not more
            buffer, position = buffer[position:] + more, 0
        if len(buffer) - position < size:
            return
        yield kind, buffer[position : position + size]
        position += size


def xlsb_number(buffer, position, most_bytes):
    value = 0
    for shift in range(0, 7 * most_bytes, 7):
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
    return value, position


def xlsb_sheets(workbook_bin):
    """(name, relationship id) of each BrtBundleSh of xl/workbook.bin: a state and a tab
    id (4 bytes each), then the id and the name as UTF-16 text after their length."""
    for kind, data in xlsb_records(io.BytesIO(workbook_bin)):
        if kind != XLSB_SHEET:
            continue
        rel_id, position = xlsb_text(data, 8)
        name, _ = xlsb_text(data, position)
        yield name, rel_id


def xlsb_text(data, position):
    (length,) = struct.unpack_from("<I", data, position)
    position += 4
    if length == 0xFFFFFFFF:
        return "", position
    end = position + 2 * length
    return data[position:end].decode("utf-16-le"), end


def xlsb_sheet_errors(handle):
    cells, row = {}, 0
    for kind, data in xlsb_records(handle):
        if kind == XLSB_ROW:
            (row,) = struct.unpack_from("<I", data)
            if row >= 1_048_576:  # past Excel's last row: calamine stops reading here too
                break
        elif kind in (XLSB_CELL_ERROR, XLSB_FORMULA_ERROR):
            (column,) = struct.unpack_from("<I", data)
            if column < 16_384:
                cells[(row, column)] = ERROR_TEXTS.get(data[8], "#N/A")
            if len(cells) >= MAX_ERROR_CELLS:
                break
        elif kind == XLSB_END_CELLS:
            break
    return cells


def ods_error_cells(path):
    try:
        with zipfile.ZipFile(path) as archive:
            if not member_contains(archive, "content.xml", ODS_ERROR_MARK):
                return {}
            with archive.open("content.xml") as handle:
                return parse_ods_errors(handle)
    except UNREADABLE:
        return {}


def member_contains(archive, name, needle):
    return member_matches(archive, name, re.compile(re.escape(needle)), len(needle))


def member_matches(archive, name, pattern, longest=32, accept=None):
    """Whether a pattern occurs in a zip member (and `accept(data, match)` agrees).
    A match may be cut off at the end of a chunk, but not one `longest` bytes long."""
    tail = b""
    with archive.open(name) as handle:
        while chunk := handle.read(1 << 20):
            data = tail + chunk
            for match in pattern.finditer(data):
                if accept is None or accept(data, match):
                    return True
            tail = data[-longest:]
    return False


class OdsGrid:
    """Walks the tables of an ods content.xml with expat, counting repeated rows and
    cells, and tells a listener where each cell is: the one place that counting lives.

    The listener's methods: table(name) at each sheet; cell_start(attributes) and
    cell_end(row, rows_repeat, first_column, repeat) around each cell; inner_start(name,
    attributes), inner_end(name) and characters(data) for what a cell holds. Tables
    inside a cell are not part of the sheet's grid and are not passed on."""

    ROW, CELLS = f"{TABLE} table-row", (f"{TABLE} table-cell", f"{TABLE} covered-table-cell")

    def __init__(self, listener):
        self.listener = listener
        self.depth = 0  # of nested tables
        self.row, self.rows_repeat, self.column = -1, 1, 0
        self.cell = None  # (first column, repeat) while inside a cell

    def parse(self, handle):
        parser = safe_expat(namespace_separator=" ")
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.characters
        parser.ParseFile(handle)

    def start(self, name, attributes):
        if name == f"{TABLE} table":
            self.depth += 1
            if self.depth == 1:
                self.row, self.rows_repeat = -1, 1
                self.listener.table(attributes.get(f"{TABLE} name", ""))
        elif self.depth != 1:
            return
        elif name == self.ROW:
            self.row += self.rows_repeat
            self.rows_repeat = rows_repeated(attributes)
            self.column = 0
        elif name in self.CELLS:
            repeat = columns_repeated(attributes)
            self.cell = (self.column, repeat)
            self.column += repeat
            self.listener.cell_start(attributes)
        elif self.cell is not None:
            self.listener.inner_start(name, attributes)

    def end(self, name):
        if name == f"{TABLE} table":
            self.depth -= 1
        elif self.depth != 1:
            return
        elif name in self.CELLS:
            if self.cell is not None:
                first, repeat = self.cell
                self.cell = None
                self.listener.cell_end(self.row, self.rows_repeat, first, repeat)
        elif self.cell is not None:
            self.listener.inner_end(name)

    def characters(self, data):
        if self.cell is not None and self.depth == 1:
            self.listener.characters(data)


class OdsErrors:
    """OdsGrid's listener keeping the text of each cell marked as an error."""

    def __init__(self):
        self.found, self.sheet, self.error, self.text, self.recorded = {}, None, False, [], 0

    def table(self, name):
        self.sheet = name

    def cell_start(self, attributes):
        self.error = attributes.get(f"{CALCEXT} value-type") == "error"
        self.text.clear()

    def inner_start(self, name, attributes):
        pass

    def inner_end(self, name):
        pass

    def characters(self, data):
        if self.error:
            self.text.append(data)

    def cell_end(self, row, rows_repeat, first, repeat):
        if not self.error:
            return
        self.error = False
        value = "".join(self.text).strip() or "#N/A"
        sheet = self.found.setdefault(self.sheet, {})
        for row_index in range(row, row + min(rows_repeat, 1_048_576)):
            for column in range(first, first + min(repeat, 16_384)):
                if self.recorded >= MAX_ERROR_CELLS:
                    return
                sheet[(row_index, column)] = value
                self.recorded += 1


def parse_ods_errors(handle):
    """Walk the tables of content.xml, counting repeated rows and cells, and keep the
    text of each cell marked as an error."""
    listener = OdsErrors()
    OdsGrid(listener).parse(handle)
    return listener.found


OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
ISO_DURATION = re.compile(r"-?P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?")


class TooManyCells(Exception):
    """More cells with values than the caller allows."""


class TooManySpaces(Exception):
    """More spaces written as <text:s text:c="n"/> than SPACES_MOST."""


# What the space runs of one content.xml may add up to: far beyond any real file (a run
# is clamped to what a cell holds), and within what the reader's memory allows.
SPACES_MOST = 64 * 1024 * 1024


def rows_repeated(attributes):
    """table:number-rows-repeated, clamped to a sheet's rows: a file may say anything."""
    return file_count(attributes.get(f"{TABLE} number-rows-repeated"), most=SHEET_ROWS)


def columns_repeated(attributes):
    return file_count(attributes.get(f"{TABLE} number-columns-repeated"), most=SHEET_COLUMNS)


def space_run(attributes):
    """The spaces of <text:s text:c="n"/>, at most what a cell holds: n comes from the
    file, and " " * n of a huge n would ask for all memory (or overflow)."""
    return file_count(attributes.get(f"{TEXT} c"), least=0, most=CELL_TEXT)


def ods_sheets(handle, max_cells):
    """Every table of an ods content.xml as (name, visible, {(row, column): value}), read with
    expat: the second reader, for files calamine cannot parse (pretty-printed XML, say).
    Values as calamine gives them: floats, dates and datetimes, times (or timedeltas
    from a day up), booleans, text, and error cells as their text."""
    sheets = []
    state = {"depth": 0, "row": -1, "rows_repeat": 1, "column": 0, "cell": None, "skip": 0}
    text, paragraphs = [], []
    table, row = f"{TABLE} table", f"{TABLE} table-row"
    cells = (f"{TABLE} table-cell", f"{TABLE} covered-table-cell")
    paragraph_names = (f"{TEXT} p", f"{TEXT} h")
    skipped = (f"{OFFICE} annotation", f"{TEXT} note")  # comments are not the cell's text
    counted, spent = [0], [0]
    hidden_styles, style = set(), [None]

    def start(name, attributes):
        if name == table:
            state["depth"] += 1
            if state["depth"] == 1:
                visible = attributes.get(f"{TABLE} style-name") not in hidden_styles
                sheets.append((attributes.get(f"{TABLE} name", ""), visible, {}))
                state["row"], state["rows_repeat"] = -1, 1
            return
        if name == f"{STYLE} style":
            style[0] = attributes.get(f"{STYLE} name")
        elif name == f"{STYLE} table-properties" and attributes.get(f"{TABLE} display") == "false":
            hidden_styles.add(style[0])
        if state["depth"] != 1:
            return  # a table inside a cell is not part of the sheet's grid
        if name in skipped:
            state["skip"] += 1
        elif state["skip"]:
            return
        elif name == row:
            state["row"] += state["rows_repeat"]
            state["rows_repeat"] = rows_repeated(attributes)
            state["column"] = 0
        elif name in cells:
            repeat = columns_repeated(attributes)
            state["cell"] = (state["column"], repeat, attributes)
            state["column"] += repeat
            paragraphs.clear()
        elif state["cell"] is not None:
            if name in paragraph_names:
                text.clear()
            elif name == f"{TEXT} s":
                spaces = space_run(attributes)
                spent[0] += spaces
                if spent[0] > SPACES_MOST:
                    raise TooManySpaces
                text.append(" " * spaces)
            elif name == f"{TEXT} tab":
                text.append("\t")
            elif name == f"{TEXT} line-break":
                text.append("\n")

    def end(name):
        if name == table:
            state["depth"] -= 1
            return
        if state["depth"] != 1:
            return
        if name in skipped:
            state["skip"] -= 1
        elif state["skip"]:
            return
        elif name in paragraph_names and state["cell"] is not None:
            paragraphs.append("".join(text))
        elif name in cells and state["cell"] is not None:
            first, repeat, attributes = state["cell"]
            state["cell"] = None
            value = ods_value(attributes, "\n".join(paragraphs))
            if value == "":
                return
            top, rows = state["row"], min(state["rows_repeat"], 1_048_576 - state["row"])
            counted[0] += rows * min(repeat, 16_384)
            if counted[0] > max_cells:
                raise TooManyCells
            found = sheets[-1][2]
            for row_index in range(top, top + rows):
                for column in range(first, min(first + repeat, 16_384)):
                    found[(row_index, column)] = value

    def characters(data):
        if state["cell"] is not None and not state["skip"]:
            text.append(data)

    parser = safe_expat(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.ParseFile(handle)
    return sheets


def ods_value(attributes, text):
    kind = attributes.get(f"{OFFICE} value-type")
    if attributes.get(f"{CALCEXT} value-type") == "error":
        return text.strip() or "#N/A"
    if kind in ("float", "percentage", "currency"):
        try:
            return float(attributes.get(f"{OFFICE} value", ""))
        except ValueError:
            return text
    if kind == "boolean":
        return attributes.get(f"{OFFICE} boolean-value") == "true"
    if kind == "date":
        return iso_value(attributes.get(f"{OFFICE} date-value", "")) or text
    if kind == "time":
        return iso_duration(attributes.get(f"{OFFICE} time-value", "")) or text
    return attributes.get(f"{OFFICE} string-value", text)


def iso_duration(value):
    """An ISO 8601 duration (PT10H10M10.5S) as a time of day, or a timedelta from a day up."""
    found = ISO_DURATION.fullmatch(value)
    if not found or not value:
        return None
    days, hours, minutes, seconds = (float(part or 0) for part in found.groups())
    span = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if value.startswith("-"):
        span = -span
    if dt.timedelta(0) <= span < dt.timedelta(days=1):
        return (dt.datetime.min + span).time()
    return span


def xlsb_without_macro_sheets(path):
    """An xlsb package (in memory) whose workbook.bin lists only its worksheets and chart
    sheets, and the (name, kind) of the sheets left out; None if nothing is left out.

    calamine refuses a whole xlsb that lists an Excel 4 macro sheet or a dialog sheet
    ("Unrecognized BoundSheet8"); without them it reads the rest."""
    with zipfile.ZipFile(path) as archive:
        kinds = {rel_id: kind for rel_id, kind, _ in part_relations(archive, "xl/workbook.bin")}
        workbook = archive.read("xl/workbook.bin")
        kept, dropped, position = [], [], 0
        while position < len(workbook):
            start = position
            kind, position = xlsb_number(workbook, position, 2)
            size, position = xlsb_number(workbook, position, 4)
            data = workbook[position : position + size]
            position += size
            if kind == XLSB_SHEET:
                rel_id, at = xlsb_text(data, 8)
                name, _ = xlsb_text(data, at)
                if kinds.get(rel_id) not in ("worksheet", "chartsheet"):
                    dropped.append((name, kinds.get(rel_id)))
                    continue
            kept.append(workbook[start:position])
        if not dropped:
            return None, []
        patched = io.BytesIO()
        with zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as copy:
            for item in archive.infolist():
                data = b"".join(kept) if item.filename == "xl/workbook.bin" else archive.read(item)
                copy.writestr(item, data)
    patched.seek(0)
    return patched, dropped


# What calamine does with counts of an ods content.xml (calamine 0.36): it expands each
# <text:s text:c="n"/> into n spaces, unbounded; it caps repeated rows and cells at a
# sheet's size, but builds every repeated cell with a value, and the empty ones before
# a value, in memory: a few bytes of XML can ask for billions of cells. ods_counts()
# looks for both before calamine reads the file.
SPACE_COUNT = re.compile(rb'text:c="\s*\+?0*([0-9]{5,})')
SPACES_FOR_CALAMINE = 16 * 1024 * 1024
NO_VALUE = rb"(?:(?!office:|table:formula)[^>])*"  # attributes of an empty cell
REPEATED_CELL = re.compile(rb"<table:(?:covered-)?table-cell\b[^>]*table:number-columns-repeated=")
# An empty repeated cell ending its row, as LibreOffice writes the rest of each row.
TRAILING_CELLS = re.compile(
    rb"<table:(?:covered-)?table-cell\b" + NO_VALUE + rb"table:number-columns-repeated="
    + NO_VALUE + rb"/></table:table-row>"
)  # fmt: skip
REPEATED_ROW = re.compile(rb"<table:table-row\b[^>]*table:number-rows-repeated=")
# Empty repeated rows ending their table, as LibreOffice writes the rest of a sheet.
TRAILING_ROWS = re.compile(
    rb"<table:table-row\b[^>]*table:number-rows-repeated=[^>]*>"
    rb"(?:<table:(?:covered-)?table-cell\b" + NO_VALUE + rb"/>)*</table:table-row></table:table>"
)  # fmt: skip
WHOLE_CONTENT_BYTES = 64 * 1024 * 1024  # a larger content.xml is measured by parsing it


def ods_counts(path):
    """What calamine would build from an ods content.xml: (whether its space runs go past
    what a cell holds or add up beyond SPACES_FOR_CALAMINE, [(sheet, rows, columns,
    cells read)] of the sheets whose repeats may make them large, or None when none may).

    Most files repeat only the empty cells and rows that end each row and sheet, as
    LibreOffice writes them: one search of the bytes tells, and nothing is parsed."""
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo("content.xml").file_size
        data = archive.read("content.xml") if size <= WHOLE_CONTENT_BYTES else None
        if data is not None:
            runs = [file_count(n, least=0, most=10**9) for n in SPACE_COUNT.findall(data)]
            spaces = sum(runs) + data.count(b'text:c="') * 9_999
            too_many_spaces = any(n > CELL_TEXT for n in runs) or spaces > SPACES_FOR_CALAMINE
            harmless = len(REPEATED_CELL.findall(data)) == len(TRAILING_CELLS.findall(data))
            harmless = harmless and len(REPEATED_ROW.findall(data)) == len(
                TRAILING_ROWS.findall(data)
            )
            if harmless:
                return too_many_spaces, None
        listener = OdsExtent()
        with archive.open("content.xml") as handle:
            OdsGrid(listener).parse(handle)
        listener.finish()
        if data is None:
            too_many_spaces = listener.longest_run > CELL_TEXT or (
                listener.spaces > SPACES_FOR_CALAMINE
            )
        return too_many_spaces, listener.sheets


class OdsExtent:
    """OdsGrid's listener measuring each table as calamine lays it out: from the first
    to the last row and column holding a value (repeats counted), and the cells it holds
    while reading (each row element up to its last value); and the space runs."""

    VALUES = tuple(
        f"{OFFICE} {name}"
        for name in ("value", "string-value", "date-value", "time-value", "boolean-value")
    )
    SPACE = f"{TEXT} s"

    def __init__(self):
        self.sheets, self.spaces, self.longest_run = [], 0, 0
        self.valued = False
        self.extent = None  # [first row, last row, first column, last column, cells read]
        self.row_ends = {}

    def table(self, name):
        self.finish()
        self.extent, self.row_ends = None, {}
        self.sheets.append([name, 0, 0, 0])

    def finish(self):
        if self.sheets and self.extent:
            first_row, last_row, first_column, last_column = self.extent
            sheet = self.sheets[-1]
            sheet[1] = last_row - first_row + 1
            sheet[2] = last_column - first_column + 1
            sheet[3] = sum(self.row_ends.values())

    def cell_start(self, attributes):
        self.valued = (
            any(key in attributes for key in self.VALUES)
            or attributes.get(f"{OFFICE} value-type") == "string"
            or f"{TABLE} formula" in attributes
        )

    def inner_start(self, name, attributes):
        if name == self.SPACE:
            run = file_count(attributes.get(f"{TEXT} c"), least=0, most=10**9)
            self.spaces += run
            self.longest_run = max(self.longest_run, run)

    def inner_end(self, name):
        pass

    def characters(self, data):
        pass

    def cell_end(self, row, rows_repeat, first, repeat):
        if not self.valued or first >= SHEET_COLUMNS or row >= SHEET_ROWS:
            return
        last_row = min(row + rows_repeat, SHEET_ROWS) - 1
        last_column = min(first + repeat, SHEET_COLUMNS) - 1
        if self.extent is None:
            self.extent = [row, last_row, first, last_column]
        else:
            extent = self.extent
            extent[0], extent[1] = min(extent[0], row), max(extent[1], last_row)
            extent[2], extent[3] = min(extent[2], first), max(extent[3], last_column)
        self.row_ends[row] = max(self.row_ends.get(row, 0), last_column + 1)
