"""Excel 2003 XML spreadsheets (SpreadsheetML): `<Workbook xmlns="urn:schemas-microsoft-com:
office:spreadsheet">`, still written by reporting tools and saved as .xml or .xls.

Read with defusedxml's parser (a DTD or entity is refused: no billion laughs) into a target
that keeps no tree: the workbook is measured once when opened (sheets, visibility, extents,
merged ranges), and a sheet's rows are read again when asked for, a piece of XML at a time,
so memory stays flat whatever the file's size. Every index, span and merge a file states is
clamped (limits.file_count) before it is used.
"""

import datetime as dt
import re
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import XMLParser

from ..book import Book, SheetInfo
from ..errors import DamagedFile, TooLarge
from ..limits import SHEET_COLUMNS, SHEET_ROWS, file_count
from ..ooxml import classify_format
from ..values import serial_moment
from .common import Deadline, check_merges, first_tag, unique_name

SS = "urn:schemas-microsoft-com:office:spreadsheet"
EXCEL = "urn:schemas-microsoft-com:office:excel"
WORKSHEET, TABLE, ROW, CELL, DATA = (
    f"{{{SS}}}{name}" for name in ("Worksheet", "Table", "Row", "Cell", "Data")
)
STYLES, STYLE, NUMBER_FORMAT = (f"{{{SS}}}{name}" for name in ("Styles", "Style", "NumberFormat"))
COMMENT = f"{{{SS}}}Comment"
VISIBLE = f"{{{EXCEL}}}Visible"
NAME, INDEX, SPAN, TYPE = (f"{{{SS}}}{name}" for name in ("Name", "Index", "Span", "Type"))
ACROSS, DOWN, STYLE_ID, ID = (
    f"{{{SS}}}{name}" for name in ("MergeAcross", "MergeDown", "StyleID", "ID")
)
PARENT, FORMAT = f"{{{SS}}}Parent", f"{{{SS}}}Format"
CHUNK = 1 << 16  # bytes of XML fed to the parser at once

# Excel's named number formats that show dates or times; the others show numbers.
NAMED_FORMATS = {
    "general date": "datetime",
    "long date": "date",
    "medium date": "date",
    "short date": "date",
    "long time": "time",
    "medium time": "time",
    "short time": "time",
}
NUMBER_FORMATS = {"general", "general number", "fixed", "standard", "percent", "scientific"}
MOMENT = re.compile(r"(-?\d{4})-(\d{2})-(\d{2})(?:T(\d{1,6}):(\d{2})(?::(\d{2}(?:\.\d{1,9})?))?)?")
EXCEL_DAY_ZERO = dt.date(1899, 12, 31)  # SpreadsheetML writes times on day 0, "1900-01-00"
LEAP_BUG_FROM = dt.date(1900, 3, 1)  # Excel counts a 29 February 1900 before this day


def recognise(text, complete):
    tag = first_tag(text)
    if tag and tag[0].rpartition(":")[2] == "Workbook" and SS in tag[1]:
        return "spreadsheetml"
    return None


class Sheet:
    """What the measuring pass finds of one worksheet."""

    def __init__(self, name):
        self.name, self.visible = name, True
        self.rows = self.columns = 0
        self.merges = []


class Walker:
    """The parser's target: follows rows and cells as SpreadsheetML places them (ss:Index,
    ss:Span, ss:MergeAcross) and hands each cell with a value to `found(sheet index, row,
    column, value)`. When `measuring`, it also notes each sheet's merged ranges."""

    def __init__(self, limits, found, kinds=None, measuring=True):
        self.limits, self.found, self.measuring = limits, found, measuring
        self.kinds = dict(kinds or {})  # style ID -> "date", "time"... (format_kind)
        self.formats, self.parents = {}, {}  # style ID -> number format, parent style
        self.style = None
        self.sheets = []
        self.sheet = -1  # index of the worksheet being read
        self.row = self.column = -1
        self.row_span = self.across = 0
        self.cell = None  # [ss:Type, style ID] while in a cell
        self.text = None  # the parts of the cell's Data text, once it has one
        self.in_data = self.in_comment = False
        self.length = 0
        self.visible_text = None
        self.merges = 0

    def start(self, tag, attributes):
        if tag == CELL:
            self.column = placed(attribute(attributes, INDEX), self.column, SHEET_COLUMNS)
            self.cell = [None, attribute(attributes, STYLE_ID)]
            self.text = None
            self.across = count(attribute(attributes, ACROSS), SHEET_COLUMNS)
            down = count(attribute(attributes, DOWN), SHEET_ROWS)
            if (self.across or down) and self.measuring:
                self.merges += 1
                check_merges(self.merges, self.limits)
                last = (
                    min(self.row + down, SHEET_ROWS - 1),
                    min(self.column + self.across, SHEET_COLUMNS - 1),
                )
                self.sheets[-1].merges.append(((self.row, self.column), last))
        elif tag == DATA and self.cell is not None and not self.in_comment:
            self.cell[0] = attribute(attributes, TYPE)
            self.text, self.length, self.in_data = [], 0, True
        elif tag == COMMENT:  # a note on the cell: its ss:Data is not the cell's
            self.in_comment = True
        elif tag == ROW:
            self.row = placed(attribute(attributes, INDEX), self.row, SHEET_ROWS)
            self.row_span = count(attribute(attributes, SPAN), SHEET_ROWS)
            self.column = -1
        elif tag == TABLE:
            self.row = -1
        elif tag == WORKSHEET:
            self.sheet += 1
            name = attribute(attributes, NAME) or f"Sheet{self.sheet + 1}"
            self.sheets.append(Sheet(name))
        elif tag == VISIBLE:
            self.visible_text = []
        elif tag == STYLE:
            self.style = attribute(attributes, ID)
            if attribute(attributes, PARENT):
                self.parents[self.style] = attribute(attributes, PARENT)
        elif tag == NUMBER_FORMAT and self.style is not None:
            self.formats[self.style] = attribute(attributes, FORMAT) or ""

    def data(self, text):
        if self.in_data:
            self.length += len(text)
            if self.length > self.limits.max_text_length:
                raise TooLarge(
                    f"A cell of sheet '{self.sheets[-1].name}' holds more than "
                    f"{self.limits.max_text_length:,} characters."
                )
            self.text.append(text)
        elif self.visible_text is not None:
            self.visible_text.append(text)

    def end(self, tag):
        if tag == CELL:
            kind, style = self.cell
            self.cell = None
            if self.text is not None:
                value = cell_value(kind, "".join(self.text), self.kinds.get(style))
                self.text = None
                if value != "":
                    self.found(self.sheet, self.row, self.column, value)
            self.column = min(self.column + self.across, SHEET_COLUMNS - 1)
        elif tag == DATA and self.in_data:
            self.in_data = False
        elif tag == COMMENT:
            self.in_comment = False
        elif tag == ROW:
            self.row = min(self.row + self.row_span, SHEET_ROWS - 1)
        elif tag == VISIBLE:
            if "".join(self.visible_text).strip() in ("SheetHidden", "SheetVeryHidden"):
                self.sheets[-1].visible = False
            self.visible_text = None
        elif tag == STYLE:
            self.style = None
        elif tag == STYLES:
            self.kinds.update({style: self.style_kind(style) for style in self.formats})

    def style_kind(self, style):
        """What a style's number format shows, its own or the nearest parent's."""
        for _ in range(100):  # parents may name each other in a loop
            if style in self.formats:
                return format_kind(self.formats[style])
            style = self.parents.get(style)
        return None

    def close(self):
        return None


def attribute(attributes, name):
    """An ss: attribute; some writers leave the prefix out (ss:Index as Index)."""
    value = attributes.get(name)
    return value if value is not None else attributes.get(name.rpartition("}")[2])


def count(text, most):
    """A merge's or span's extent past its first row or column: 0 unless stated."""
    return file_count(text, least=0, most=most, default=0)


def placed(index, previous, most):
    """A row's or cell's 0-based position: its ss:Index, or the one after the previous.
    An index before the previous (a broken file) counts as the next one."""
    if index is None:
        return min(previous + 1, most - 1)
    return max(file_count(index, most=most) - 1, min(previous + 1, most - 1))


def format_kind(number_format):
    named = number_format.strip().lower()
    if named in NAMED_FORMATS:
        return NAMED_FORMATS[named]
    if named in NUMBER_FORMATS or not named:
        return None
    return classify_format(number_format)


def cell_value(kind, text, shows):
    """A cell's value by its ss:Type: numbers, booleans, dates and times typed, the rest
    (String, Error) text. `shows` is what the cell's number format shows."""
    if kind == "Number":
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "Boolean":
        return text.strip().lower() in ("1", "true")
    if kind == "DateTime":
        return moment(text.strip(), shows) if text.strip() else ""
    return text


def moment(text, shows):
    """A DateTime cell as the date, time or duration its format shows. Excel writes times
    on day 0 (1899-12-31T06:30:00) and durations as hours past it (1899-12-31T30:15:00),
    so the value goes through Excel's serial number, as the other readers' do."""
    found = MOMENT.fullmatch(text.rstrip("Z"))
    if not found:
        return text
    year, month, day, hours, minutes, seconds = found.groups()
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return text
    days = (date - EXCEL_DAY_ZERO).days + (date >= LEAP_BUG_FROM)
    fraction = (int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)) / 86400
    return serial_moment(days + fraction, shows or "date")


class SpreadsheetMlBook(Book):
    def __init__(self, path, detection, limits):
        super().__init__(path, detection, limits)
        extents = {}

        def found(sheet, row, column, value):
            rows, columns = extents.get(sheet, (0, 0))
            if row >= rows or column >= columns:
                extents[sheet] = (max(rows, row + 1), max(columns, column + 1))

        walker = Walker(limits, found)
        for _ in pieces(path, walker, Deadline(limits)):
            if len(walker.sheets) > limits.max_sheets:
                raise TooLarge(f"The workbook has more than {limits.max_sheets:,} sheets.")
        self.kinds = walker.kinds
        self.merged = {}
        taken = set()
        for index, measured in enumerate(walker.sheets):
            sheet = SheetInfo(unique_name(measured.name, taken), measured.visible)
            sheet.rows, sheet.columns = extents.get(index, (0, 0))
            self.check_size(sheet, sheet.rows, sheet.columns)
            self.sheets.append(sheet)
            self.merged[sheet.name] = measured.merges

    def rows(self, sheet):
        """The sheet's rows, read again from the file: rows are handed on once the parser
        has gone past them, so no more than a piece of the file is held."""
        wanted = self.sheets.index(sheet)
        pending = {}  # row -> [(column, value)] read but not yet handed on

        def found(index, row, column, value):
            if index == wanted and row < sheet.rows and column < sheet.columns:
                pending.setdefault(row, []).append((column, value))

        walker = Walker(self.limits, found, self.kinds, measuring=False)
        next_row = 0
        for _ in pieces(self.path, walker, Deadline(self.limits)):
            if walker.sheet < wanted:
                continue
            # SpreadsheetML's rows come in order: those before the current one are whole.
            done = walker.row if walker.sheet == wanted else sheet.rows
            while next_row < min(done, sheet.rows):
                yield row_of(pending.pop(next_row, ()), sheet.columns)
                next_row += 1
            if next_row >= sheet.rows:
                return
        while next_row < sheet.rows:
            yield row_of(pending.pop(next_row, ()), sheet.columns)
            next_row += 1

    def merges(self, sheet):
        return list(self.merged.get(sheet.name, ()))


def row_of(cells, width):
    row = [""] * width
    for column, value in cells:
        row[column] = value
    return row


def pieces(path, walker, deadline):
    """Feed the file to a parser with `walker` as its target, a piece at a time, yielding
    after each. A DTD or entity declaration is refused before anything is expanded."""
    parser = XMLParser(target=walker, forbid_dtd=True, forbid_entities=True)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                parser.feed(chunk)
                deadline.check()
                yield
            parser.close()
    except DefusedXmlException:
        raise DamagedFile(
            "The workbook contains XML entity declarations and was refused for safety."
        ) from None
    except ParseError as error:
        refused = DamagedFile("The workbook is damaged and cannot be read: its XML is malformed.")
        refused.detail = str(error)[:200]
        raise refused from None
