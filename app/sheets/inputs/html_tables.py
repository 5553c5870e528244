"""HTML tables: what banks, ERPs and most web apps call "Export to Excel" is a web page
holding a <table>, often saved as .xls. Each top-level table is a sheet, named after its
caption or id, else Table 1, Table 2...; colspan and rowspan become merged ranges with the
value in their top-left cell. Entities are decoded, <br> is a line break, white space runs
are one space as a browser shows them, and scripts, styles and tables nested in a cell are
left out. Excel's own HTML gives a cell's number in x:num, which is taken as a number.

Read with the standard library's html.parser, which is a tokenizer: the table structure
(implied ends of cells, rows and row groups) is built here, as the HTML table model says.
The whole page's cells are held (limits.max_held_cells), and spans are clamped as browsers
clamp them: colspan to 1,000, rowspan to 65,534 and to the rows its row group has.
"""

import codecs
import re
from html.parser import HTMLParser

from ..book import Book, SheetInfo
from ..errors import NotASpreadsheet, TooLarge
from ..limits import file_count
from ..names import visible_text
from .common import Deadline, check_merges, first_tag, unique_name

# The elements a page may open with; a text file rarely starts with one of these tags.
PAGE_STARTS = frozenset(
    [
        "html",
        "head",
        "body",
        "meta",
        "title",
        "style",
        "link",
        "base",
        "script",
        "table",
        "caption",
        "colgroup",
        "thead",
        "tbody",
        "tr",
        "div",
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "center",
        "font",
        "form",
    ]
)
CHARSET = re.compile(rb"""<meta[^>]{0,1024}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I)
# What WHATWG's encoding standard reads labels as: Latin-1 and ASCII pages are cp1252.
WINDOWS_1252 = {"latin-1", "iso8859-1", "ascii"}
MOST_COLUMNS_SPANNED = 1_000  # HTML's own clamps (the table processing model)
MOST_ROWS_SPANNED = 65_534
CHUNK = 1 << 16  # characters fed to the parser at once
SKIPPED = frozenset({"script", "style", "template", "noscript"})
BLOCKS = frozenset({"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6"})
SPACES = re.compile(r"[ \t\n\r\f]+")  # HTML's white space: not the no-break space
NO_TABLE = "This web page holds no table: there is nothing in it to convert."
EMPTY_TABLES = "This web page's tables hold no text: there is nothing in them to convert."


def recognise(text, complete):
    tag = first_tag(text)
    if tag is None:
        return None
    name, _, prologue = tag
    if "<!doctype html" in prologue.lower() or name.lower() in PAGE_STARTS:
        return "html"
    return None


def page_encoding(head, encoding):
    """How to read a page: its byte order mark, else the charset its meta tag declares
    (as a browser reads it), else the encoding detected."""
    if encoding in ("utf-8-sig", "utf-16", "utf-32"):
        return encoding
    declared = CHARSET.search(head[:4096])
    if not declared:
        return encoding
    try:
        name = codecs.lookup(declared.group(1).decode("ascii")).name
    except LookupError:
        return encoding
    if name.startswith(("utf-16", "utf-32")):  # a page with no BOM is not UTF-16 (WHATWG)
        return "utf-8"
    return "cp1252" if name in WINDOWS_1252 else name


class Table:
    """One top-level table as it is read: its cells, spans and row groups."""

    def __init__(self, number, table_id, limits):
        self.number, self.id, self.caption = number, table_id, None
        self.limits = limits
        self.grid = []  # a list per row, as long as its last value: "" where none is
        self.values = 0
        self.merges = []  # [first row, first column, last row, last column]
        self.rows = 0  # rows begun
        self.width = 0  # columns the grid has, spans included
        self.group_start = 0  # the current row group's first row
        self.group_merges = []  # merges of this group, clipped to its rows when it ends
        self.covered = []  # by column: the last row a rowspan from above covers it to
        self.column = 0
        self.in_row = False

    def start_row(self):
        self.rows += 1
        self.grid.append([])
        self.column = 0
        self.in_row = True
        self.check_grid()

    def end_group(self):
        last = self.rows - 1
        for merge in self.group_merges:
            merge[2] = min(merge[2], last)
        self.group_merges = []
        self.covered = []
        self.group_start = self.rows
        self.in_row = False

    def add(self, value, colspan, rowspan):
        if not self.in_row:
            self.start_row()
        row, column, covered = self.rows - 1, self.column, self.covered
        while column < len(covered) and covered[column] >= row:
            column += 1
        end = column + colspan
        if end > self.limits.max_columns:
            raise TooLarge(
                f"Table '{self.name}' has more than {self.limits.max_columns:,} columns."
            )
        if value != "":
            cells = self.grid[row]
            if len(cells) <= column:
                cells.extend([""] * (column + 1 - len(cells)))
            cells[column] = value
            self.values += 1
        last = row
        if rowspan != 1:
            last = row + (rowspan - 1 if rowspan else MOST_ROWS_SPANNED)  # 0: to the group's end
            if len(covered) < end:
                covered.extend([-1] * (end - len(covered)))
            covered[column:end] = [last] * colspan
        if colspan > 1 or last > row:
            merge = [row, column, last, end - 1]
            self.merges.append(merge)
            if last > row:
                self.group_merges.append(merge)  # clipped to the group's rows when it ends
        self.column = end
        if end > self.width:
            self.width = end
            self.check_grid()

    def check_grid(self):
        most = min(self.limits.max_cells, self.limits.max_held_cells)
        if self.rows * self.width > most:
            raise TooLarge(
                f"Table '{self.name}' spans more than {most:,} cells, more than Sheetport "
                "reads from a web page."
            )

    @property
    def name(self):
        return self.caption or self.id or f"Table {self.number}"


class TableParser(HTMLParser):
    """Collects the page's top-level tables; html.parser gives tags and text, this class
    closes what HTML leaves implied (a <td> ends the cell before it, a <tr> the row...)."""

    def __init__(self, limits):
        super().__init__(convert_charrefs=True)
        self.limits = limits
        self.tables = []
        self.table = None  # the top-level table being read
        self.depth = 0  # tables open, nested ones included
        self.skipping = 0  # inside a script or style
        self.cell = None  # (text parts, colspan, rowspan, x:num) while in a cell
        self.caption = None  # text parts while in the caption
        self.length = 0
        self.held = 0
        self.merges = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED:
            self.skipping += 1
            return
        if tag == "table":
            self.depth += 1
            if self.depth == 1:
                attributes = dict(attrs)
                self.table = Table(
                    len(self.tables) + 1, visible_text(attributes.get("id")), self.limits
                )
            return
        if self.depth != 1 or self.skipping:
            return  # a table in a cell is not part of the sheet's grid
        if tag in ("td", "th"):
            self.end_cell()
            colspan = rowspan = 1
            number = False  # x:num not stated (stated bare, it is None)
            if attrs:
                attributes = dict(attrs)
                colspan = file_count(attributes.get("colspan"), most=MOST_COLUMNS_SPANNED)
                rowspan = file_count(
                    attributes.get("rowspan"), least=0, most=MOST_ROWS_SPANNED, default=1
                )
                number = attributes.get("x:num", False)
            self.cell = ([], colspan, rowspan, number)
            self.length = 0
        elif tag == "tr":
            self.end_row()
            self.table.start_row()
        elif tag in ("thead", "tbody", "tfoot"):
            self.end_row()
            self.table.end_group()
        elif tag == "br" and self.cell is not None:
            self.cell[0].append(None)  # a line break
        elif tag in BLOCKS and self.cell is not None and self.cell[0]:
            self.cell[0].append(None)
        elif tag == "caption" and self.table.caption is None:
            self.caption, self.length = [], 0

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)  # <br/> is one line break; <td/> opens a cell
        if tag in ("td", "th", "caption", "table", "tr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in SKIPPED:
            self.skipping = max(self.skipping - 1, 0)
            return
        if tag == "table" and self.depth:
            self.depth -= 1
            if self.depth == 0:
                self.end_table()
            return
        if self.depth != 1 or self.skipping:
            return
        if tag in ("td", "th"):
            self.end_cell()
        elif tag == "tr":
            self.end_row()
        elif tag in ("thead", "tbody", "tfoot"):
            self.end_row()
            self.table.end_group()
        elif tag == "br" and self.cell is not None:  # </br> reads as <br>, as browsers do
            self.cell[0].append(None)
        elif tag == "caption" and self.caption is not None:
            self.table.caption = visible_text(cell_text(self.caption))[:200] or None
            self.caption = None

    def handle_data(self, data):
        if self.depth != 1 or self.skipping:
            return
        parts = self.cell[0] if self.cell is not None else self.caption
        if parts is None:
            return
        self.length += len(data)
        if self.length > self.limits.max_text_length:
            raise TooLarge(
                f"A cell of table '{self.table.name}' holds more than "
                f"{self.limits.max_text_length:,} characters."
            )
        parts.append(data)

    def end_cell(self):
        if self.cell is None:
            return
        parts, colspan, rowspan, number = self.cell
        self.cell = None
        value = cell_text(parts)
        if number is not False:
            value = excel_number(number, value)
        if value != "":
            self.held += 1
            if self.held > self.limits.max_held_cells:
                raise TooLarge(
                    f"The page holds more than the {self.limits.max_held_cells:,} cells "
                    "Sheetport reads from a web page."
                )
        self.table.add(value, colspan, rowspan)
        if colspan > 1 or rowspan != 1:
            self.merges += 1
            check_merges(self.merges, self.limits)

    def end_row(self):
        self.end_cell()
        self.table.in_row = False

    def end_table(self):
        self.end_row()
        self.caption = None
        self.table.end_group()
        self.tables.append(self.table)
        self.table = None

    def close(self):
        super().close()
        while self.depth:  # a table left open at the end of the page ends there
            self.depth -= 1
            if self.depth == 0:
                self.end_table()


def cell_text(parts):
    """A cell's text as a browser shows it: white space runs one space, no-break spaces
    plain ones, a line break (None) at each <br>, each line's ends trimmed."""
    if len(parts) == 1 and parts[0] is not None:  # the usual cell: one piece of text
        return SPACES.sub(" ", parts[0]).replace("\xa0", " ").strip(" ")
    lines, line = [], []
    for part in parts:
        if part is None:
            lines.append(line)
            line = []
        else:
            line.append(part)
    lines.append(line)
    texts = [SPACES.sub(" ", "".join(line)).replace("\xa0", " ").strip(" ") for line in lines]
    return "\n".join(texts).strip("\n")


def excel_number(stated, shown):
    """The number Excel's HTML states in x:num (x:num alone: the text shown is the number)."""
    try:
        return float(stated or shown)
    except ValueError:
        return shown


class HtmlBook(Book):
    def __init__(self, path, detection, limits):
        super().__init__(path, detection, limits)
        parser = TableParser(limits)
        deadline = Deadline(limits)
        with open(path, encoding=detection.encoding, errors="replace", newline="") as handle:
            while chunk := handle.read(CHUNK):
                parser.feed(chunk)
                deadline.check()
        parser.close()
        if not parser.tables:
            raise NotASpreadsheet(NO_TABLE)
        # Tables without text (a layout table around a logo) are no sheets.
        tables = [table for table in parser.tables if table.values]
        if not tables:
            raise NotASpreadsheet(EMPTY_TABLES)
        if len(tables) > limits.max_sheets:
            raise TooLarge(f"The page has more than {limits.max_sheets:,} tables.")
        self.grids, self.merged = {}, {}
        taken = set()
        for table in tables:
            sheet = SheetInfo(unique_name(table.name, taken))
            rows = columns = 0
            for index, cells in enumerate(table.grid):
                if cells:
                    rows, columns = index + 1, max(columns, len(cells))
            # A value's merged range reaches as far as the range does.
            for first_row, first_column, last_row, last_column in table.merges:
                if has_value(table.grid, first_row, first_column):
                    rows, columns = max(rows, last_row + 1), max(columns, last_column + 1)
            sheet.rows, sheet.columns = rows, columns
            self.check_size(sheet, rows, columns)
            self.sheets.append(sheet)
            self.grids[sheet.name] = table.grid
            self.merged[sheet.name] = [
                ((r0, c0), (r1, c1)) for r0, c0, r1, c1 in table.merges if r1 > r0 or c1 > c0
            ]

    def rows(self, sheet):
        width = sheet.columns
        for cells in self.grids[sheet.name][: sheet.rows]:
            yield cells + [""] * (width - len(cells)) if len(cells) < width else cells[:width]

    def merges(self, sheet):
        return list(self.merged[sheet.name])


def has_value(grid, row, column):
    return row < len(grid) and column < len(grid[row]) and grid[row][column] != ""
