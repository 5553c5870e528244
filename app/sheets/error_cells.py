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
            self.rows_repeat = int(attributes.get(f"{TABLE} number-rows-repeated", 1))
            self.column = 0
        elif name in self.CELLS:
            repeat = int(attributes.get(f"{TABLE} number-columns-repeated", 1))
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
    counted = [0]
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
            state["rows_repeat"] = int(attributes.get(f"{TABLE} number-rows-repeated", 1))
            state["column"] = 0
        elif name in cells:
            repeat = int(attributes.get(f"{TABLE} number-columns-repeated", 1))
            state["cell"] = (state["column"], repeat, attributes)
            state["column"] += repeat
            paragraphs.clear()
        elif state["cell"] is not None:
            if name in paragraph_names:
                text.clear()
            elif name == f"{TEXT} s":
                text.append(" " * int(attributes.get(f"{TEXT} c", 1)))
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
