"""What a sheet's cells said beside their values (issue 23, 4): each cell's number format
and boldness, the columns' widths and the frozen pane, for the XLSX writer to keep.

A reader's book offers `look(sheet, options)`, returning a SheetLook or None. Only the
XLSX writer asks for one, when `Options.keep_formats` is on, and the text outputs when
`Options.as_displayed` is (displayed.py): else the values' paths (CSV above all) never
read a style. Each look is read from the file apart from its values,
in a pass of its own, so no reader's row loop pays for it; the cells' styles come as a
stream of rows in the sheet's order, so memory stays flat however large the sheet.

Everything read here is bounded, as a hostile file may say anything: at most
MAX_STYLE_ENTRIES styles and number formats are read, a format code longer than Excel's
255 characters is dropped, a style index past the table is no style, widths are clamped
to Excel's 0 to 255 characters, frozen panes to the sheet's rows and columns.
"""

import math
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain

from .errors import DAMAGED_DATA, SheetError
from .ooxml import children_named, inflated_chunks, local_name, read_xml
from .values import column_index

MAX_STYLE_ENTRIES = 65_536  # Excel holds at most 64,000 cell styles
MAX_FORMAT_CODE = 255  # Excel's longest number format code
MAX_WIDTH = 255.0  # Excel's widest column, in characters
DIGIT_PIXELS = 7  # the width of a digit in Calibri 11, Excel's and XlsxWriter's unit
MAX_ROWS, MAX_COLUMNS = 1_048_576, 16_384
HEAD_BYTES = 4 << 20  # a sheet's XML before <sheetData> read for its columns and panes
# Excel's own number formats, which a file names by number (ECMA-376 18.8.30), that
# XlsxWriter writes by number too.
BUILTIN_FORMATS = frozenset(range(1, 50))


@dataclass(frozen=True)
class Style:
    """What a cell shows beside its value: a number format (a code, or Excel's built-in
    number for one; None for General) and whether its font is bold."""

    number_format: str | int | None = None
    bold: bool = False


@dataclass
class SheetLook:
    """How a sheet looked in its file. Rows and columns are the sheet's (0-based), as its
    rows are read, before skip_rows."""

    styles: list = field(default_factory=list)  # Style (or None: as a value's type) by id
    # () -> (row index, {column: style id}) in the sheet's order, styled cells only
    cells: Callable[[], Iterator[tuple[int, dict]]] | None = None
    widths: dict = field(default_factory=dict)  # column -> (width in pixels, hidden)
    frozen: tuple = (0, 0)  # rows and columns frozen at the top and left


def read(book, sheet, options):
    """book.look(sheet, options), or None when the look cannot be read: a look never
    fails a conversion whose values read."""
    try:
        return book.look(sheet, options)
    except (SheetError, OSError, KeyError, ValueError, IndexError, *DAMAGED_DATA):
        return None


def header_look(options, columns):
    """A text file's look: its header row bold and frozen when `header` is on."""
    if not options.header or not columns:
        return None
    row = options.skip_rows
    return SheetLook(
        styles=[Style(bold=True)],
        cells=lambda: iter([(row, dict.fromkeys(range(columns), 0))]),
        frozen=(row + 1, 0),
    )


def width_pixels(width, hidden=False):
    """(pixels, hidden) for a width in characters, Excel's unit (padding included, as it
    stores them); None for a width that is no number, or below zero."""
    try:
        width = float(width)
    except (TypeError, ValueError):
        return None
    if math.isnan(width) or width < 0:
        return None
    return round(min(width, MAX_WIDTH) * DIGIT_PIXELS), hidden


def clamp_frozen(rows, columns):
    return max(0, min(int(rows), MAX_ROWS - 1)), max(0, min(int(columns), MAX_COLUMNS - 1))


def bounded_code(code):
    """A number format code as written, or None when it says General or is too long."""
    if not isinstance(code, str) or not code or len(code) > MAX_FORMAT_CODE:
        return None
    return None if code.lower() == "general" else code


# --- xlsx, xlsm, xltx -------------------------------------------------------------------


def ooxml_styles(archive):
    """[Style or None] by cell style index (cellXfs) of a package's styles part."""
    styles = read_xml(archive, archive.styles_part)
    if styles is None:
        return []
    custom = {}
    for formats in children_named(styles, "numFmts")[:1]:
        for number_format in formats[:MAX_STYLE_ENTRIES]:
            try:
                custom[int(number_format.get("numFmtId"))] = number_format.get("formatCode")
            except (TypeError, ValueError):
                continue
    bold = []
    for fonts in children_named(styles, "fonts")[:1]:
        for font in fonts[:MAX_STYLE_ENTRIES]:
            flags = [child for child in font if local_name(child.tag) == "b"]
            bold.append(bool(flags) and flags[0].get("val", "1").lower() not in ("0", "false"))
    found, known = [], {}
    cell_formats = children_named(styles, "cellXfs")
    for xf in (cell_formats[0] if cell_formats else [])[:MAX_STYLE_ENTRIES]:
        format_id, font_id = whole(xf.get("numFmtId")), whole(xf.get("fontId"))
        if format_id in custom:
            number_format = bounded_code(custom[format_id])
        else:
            number_format = format_id if format_id in BUILTIN_FORMATS else None
        is_bold = font_id is not None and 0 <= font_id < len(bold) and bold[font_id]
        style = Style(number_format, is_bold) if number_format is not None or is_bold else None
        found.append(known.setdefault(style, style))
    return found


def whole(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


SHEET_DATA = re.compile(rb"<(?:\w+:)?sheetData\b")
COLUMN = re.compile(rb"<(?:\w+:)?col\s([^>]*)>")
PANE = re.compile(rb"<(?:\w+:)?pane\s([^>]*)>")
ATTRIBUTE = re.compile(rb"""\s([A-Za-z]+)\s*=\s*["']([^"']*)["']""")
STYLED_CELL = re.compile(rb"""<(?:\w+:)?c\s[^>]*?\ss\s*=\s*["']0*([1-9][0-9]{0,8})["'][^>]*>""")
CELL_REFERENCE = re.compile(rb"""\sr\s*=\s*["']([A-Z]{1,3})([0-9]{1,7})["']""")


def attributes(text):
    return {
        name.decode(): value.decode("utf-8", "replace")
        for name, value in ATTRIBUTE.findall(b" " + text)
    }


def ooxml_look(archive, part, styles):
    """The SheetLook of one worksheet part, `styles` being ooxml_styles() of its package."""
    head = b""
    for chunk in inflated_chunks(archive, part):
        head += chunk
        if SHEET_DATA.search(head) or len(head) >= HEAD_BYTES:
            break
    found = SHEET_DATA.search(head)
    head = head[: found.start()] if found else head[:HEAD_BYTES]
    look = SheetLook(styles=styles, widths=ooxml_widths(head))
    for match in PANE.finditer(head):
        said = attributes(match.group(1))
        if said.get("state") in ("frozen", "frozenSplit"):
            look.frozen = clamp_frozen(number(said.get("ySplit")), number(said.get("xSplit")))
        break  # the first sheet view's
    if any(style is not None for style in styles):
        look.cells = lambda: ooxml_styled_cells(archive, part, styles)
    return look


def ooxml_widths(head):
    """{column: (pixels, hidden)} of the <col> elements in a sheet's XML before its cells.
    Where ranges overlap (a valid file's do not) the later element wins, as if each were
    applied in turn; but the work is bounded whatever the file says, so that thousands of
    full-width elements cost no more than one: only the last MAX_COLUMNS elements are
    looked at (a valid sheet has no more), from the last back, each setting only the
    columns no later one set, until every column is set."""
    elements = deque(COLUMN.finditer(head), maxlen=MAX_COLUMNS)
    widths = {}
    # next_unset[c]: a column >= c, at or before the first one not set yet (MAX_COLUMNS:
    # none); followed with path halving, so each column is stepped over about once.
    next_unset = list(range(MAX_COLUMNS + 1))

    def unset_from(column):
        while next_unset[column] != column:
            next_unset[column] = next_unset[next_unset[column]]
            column = next_unset[column]
        return column

    for match in reversed(elements):
        said = attributes(match.group(1))
        first, last = whole(said.get("min")), whole(said.get("max"))
        width = width_pixels(said.get("width"), said.get("hidden", "0").lower() in ("1", "true"))
        if first is None or width is None:
            continue
        last = first if last is None else last
        first, last = max(first, 1), min(last, MAX_COLUMNS)
        column = unset_from(first - 1) if first <= last else MAX_COLUMNS
        while column < last:
            widths[column] = width
            next_unset[column] = column + 1
            column = unset_from(column + 1)
        if unset_from(0) == MAX_COLUMNS:
            break  # every column is set: the elements before this one change nothing
    return widths


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return 0
    return value if math.isfinite(value) else 0


def ooxml_styled_cells(archive, part, styles):
    """(row index, {column: style index}) of the cells whose style shows something, from
    the sheet XML, a chunk at a time. A styled cell without a reference ends the stream:
    its place is known only to a parse."""
    count, carry = len(styles), b""
    row, cells = -1, {}
    chunks = inflated_chunks(archive, part)
    for chunk in chain(chunks, [b"<"]):  # "<": the last tag's end
        data = carry + chunk
        cut = data.rfind(b"<")
        data, carry = data[:cut], data[cut:]  # a tag is never cut in two
        for match in STYLED_CELL.finditer(data):
            index = int(match.group(1))
            if index >= count or styles[index] is None:
                continue
            reference = CELL_REFERENCE.search(match.group())
            if reference is None:
                break
            at = int(reference.group(2)) - 1
            if at != row:
                if cells:
                    yield row, cells
                row, cells = at, {}
            cells[column_index(reference.group(1).decode())] = index
        else:
            continue
        break
    if cells:
        yield row, cells


# --- xls (BIFF), through xlrd, which reads its FORMAT, FONT, XF and COLINFO records -----

# Excel's built-in formats whose look depends on the system's settings (short date,
# date-time): kept by number, so Excel shows them as the system says, as it did.
SYSTEM_FORMATS = frozenset({14, 22})


def xlrd_styles(workbook):
    """[Style or None] by XF index of an xlrd Book opened with formatting_info."""
    found, known = [], {}
    fonts = workbook.font_list or []
    for xf in (workbook.xf_list or [])[:MAX_STYLE_ENTRIES]:
        key = xf.format_key
        if key in SYSTEM_FORMATS:
            number_format = key
        else:
            said = workbook.format_map.get(key)
            number_format = bounded_code(said.format_str if said is not None else None)
        font = fonts[xf.font_index] if 0 <= xf.font_index < len(fonts) else None
        is_bold = bool(font is not None and (font.bold or font.weight >= 700))
        style = Style(number_format, is_bold) if number_format is not None or is_bold else None
        found.append(known.setdefault(style, style))
    return found


def xlrd_look(workbook, loaded, rows, styles):
    """The SheetLook of an xlrd sheet (`rows`: how many the sheet's values use)."""
    look = SheetLook(styles=styles)
    for column, info in list(loaded.colinfo_map.items())[:MAX_COLUMNS]:
        width = width_pixels(info.width / 256, bool(info.hidden))
        if width is not None and 0 <= column < MAX_COLUMNS:
            look.widths[column] = width
    if loaded.panes_are_frozen:
        look.frozen = clamp_frozen(loaded.horz_split_pos or 0, loaded.vert_split_pos or 0)
    if any(style is not None for style in styles):
        look.cells = lambda: xlrd_styled_cells(loaded, min(rows, loaded.nrows), styles)
    return look


def xlrd_styled_cells(loaded, rows, styles):
    count = len(styles)
    for index in range(rows):
        cells = {}
        for column, cell in enumerate(loaded.row(index)):
            xf = cell.xf_index
            if xf is not None and 0 <= xf < count and styles[xf] is not None and cell.ctype:
                cells[column] = xf
        if cells:
            yield index, cells


# --- ods: data styles (number:*-style) as Excel format codes ------------------------------

ODS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
    "config": "urn:oasis:names:tc:opendocument:xmlns:config:1.0",
}
DATA_STYLES = {"number-style", "percentage-style", "currency-style", "date-style", "time-style"}
DATA_STYLES |= {"text-style"}
LITERAL = re.compile(r"[-/:., ()]*")  # shown as they are in an Excel format code
LENGTH = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(in|cm|mm|pt|pc|px)\s*")
PIXELS_PER = {"in": 96, "cm": 96 / 2.54, "mm": 96 / 25.4, "pt": 96 / 72, "pc": 16, "px": 1}


def q(prefix, name):
    return f"{ODS[prefix]} {name}"


class OdsDataStyle:
    """An ODS data style being read: its parts as Excel format code pieces."""

    def __init__(self, kind, attributes):
        self.kind = kind
        self.elapsed = attributes.get(q("number", "truncate-on-overflow")) == "false"
        self.pieces = []
        self.positive = None  # the style a style:map applies to values >= 0
        self.red = False

    def add(self, name, attributes):
        said = {key.rpartition(" ")[2]: value for key, value in attributes.items()}
        long = said.get("style") == "long"
        if name == "number":
            self.pieces.append(number_code(said))
        elif name == "scientific-number":
            exponent = min(whole(said.get("min-exponent-digits")) or 1, 30)
            self.pieces.append(number_code(said) + "E+" + "0" * max(exponent, 1))
        elif name == "fraction":
            self.pieces.append(fraction_code(said))
        elif name == "year":
            self.pieces.append("yyyy" if long else "yy")
        elif name == "month":
            textual = said.get("textual") == "true"
            self.pieces.append(("mmmm" if long else "mmm") if textual else "mm" if long else "m")
        elif name == "day":
            self.pieces.append("dd" if long else "d")
        elif name == "day-of-week":
            self.pieces.append("dddd" if long else "ddd")
        elif name == "hours":
            hours = "hh" if long else "h"
            self.pieces.append(f"[{hours}]" if self.elapsed and not self.pieces else hours)
        elif name == "minutes":
            self.pieces.append("mm" if long else "m")
        elif name == "seconds":
            places = min(whole(said.get("decimal-places")) or 0, 9)
            self.pieces.append(("ss" if long else "s") + ("." + "0" * places if places else ""))
        elif name == "am-pm":
            self.pieces.append("AM/PM")
        elif name == "text-content":
            self.pieces.append("@")

    def text(self, text):
        percent = self.kind == "percentage-style" and text.strip() == "%"
        if percent or (text and LITERAL.fullmatch(text)):
            self.pieces.append(text)
        elif text:
            self.pieces.append('"' + text.replace('"', "") + '"')

    def code(self, styles, depth=0):
        own = "".join(self.pieces)
        if self.kind == "text-style":
            own = own or "@"
        if self.red:
            own = "[Red]" + own
        positive = styles.get(self.positive) if self.positive and depth < 4 else None
        if positive is not None:
            return bounded_code(f"{positive.code(styles, depth + 1)};{own}")
        return bounded_code(own)


def number_code(said):
    places = min(whole(said.get("decimal-places")) or 0, 30)
    integers = min(whole(said.get("min-integer-digits")) or 0, 30)
    if said.get("grouping") == "true":
        integer = "#,##" + "0" * max(integers, 1) if integers <= 1 else "#," + "0" * integers
    else:
        integer = "0" * integers or "#"
    # number:display-factor: 1000 shows thousands, as Excel's scaling commas do (#,##0,)
    factor = whole(said.get("display-factor")) or 1
    scaling = ""
    while factor >= 1000 and factor % 1000 == 0 and len(scaling) < 5:
        scaling, factor = scaling + ",", factor // 1000
    return integer + ("." + "0" * places if places else "") + scaling


def fraction_code(said):
    """number:fraction as an Excel fraction: `# ?/?`, `# ??/??`, or a fixed denominator
    (`# ?/8`)."""
    integers = min(whole(said.get("min-integer-digits")) or 0, 30)
    numerator = min(max(whole(said.get("min-numerator-digits")) or 1, 1), 30)
    fixed = whole(said.get("denominator-value"))
    if fixed is not None and 0 < fixed < 10**9:
        denominator = str(fixed)
    else:
        denominator = "?" * min(max(whole(said.get("min-denominator-digits")) or 1, 1), 30)
    return ("0" * integers or "#") + " " + "?" * numerator + "/" + denominator


class OdsStyles:
    """The data styles, cell styles and column styles of an ODS's styles.xml and
    content.xml (fed one after the other, through expat's handlers)."""

    def __init__(self):
        self.data = {}  # name -> OdsDataStyle
        self.cells = {}  # name -> (data style name, bold, parent name)
        self.column_widths = {}  # name -> pixels
        self.current = None  # the data style being read
        self.style = None  # the style:style being read: [name, family, data, bold, parent]
        self.in_text = False
        self.count = 0

    def start(self, name, attributes):
        namespace, _, local = name.partition(" ")
        if namespace == ODS["number"] and local in DATA_STYLES:
            self.count += 1
            if self.count <= MAX_STYLE_ENTRIES:
                self.current = OdsDataStyle(local, attributes)
                self.data[attributes.get(q("style", "name"), "")] = self.current
        elif self.current is not None:
            if namespace == ODS["number"]:
                self.in_text = local in ("text", "currency-symbol")
                if not self.in_text:
                    self.current.add(local, attributes)
            elif name == q("style", "map"):
                condition = attributes.get(q("style", "condition"), "").replace(" ", "")
                if condition in ("value()>=0", "value()>0"):
                    self.current.positive = attributes.get(q("style", "apply-style-name"))
            elif name == q("style", "text-properties"):
                color = attributes.get(q("fo", "color"), "").lower()
                self.current.red = color in ("#ff0000", "#c9211e")
        elif name == q("style", "style"):
            self.count += 1
            if self.count <= MAX_STYLE_ENTRIES:
                self.style = [
                    attributes.get(q("style", "name"), ""),
                    attributes.get(q("style", "family")),
                    attributes.get(q("style", "data-style-name")),
                    False,
                    attributes.get(q("style", "parent-style-name")),
                ]
        elif self.style is not None:
            if name == q("style", "text-properties"):
                weight = attributes.get(q("fo", "font-weight"), "")
                self.style[3] = weight == "bold" or (weight.isdigit() and int(weight) >= 600)
            elif name == q("style", "table-column-properties"):
                pixels = length_pixels(attributes.get(q("style", "column-width")))
                if pixels is not None:
                    self.column_widths[self.style[0]] = pixels

    def end(self, name):
        namespace, _, local = name.partition(" ")
        if namespace == ODS["number"] and local in DATA_STYLES:
            self.current = None
        elif namespace == ODS["number"] and local in ("text", "currency-symbol"):
            self.in_text = False
        elif name == q("style", "style") and self.style is not None:
            style_name, family, data, bold, parent = self.style
            if family == "table-cell":
                self.cells[style_name] = (data, bold, parent)
            self.style = None

    def characters(self, text):
        if self.current is not None and self.in_text:
            self.current.text(text)

    def resolved(self):
        """(ids by cell style name, [Style or None] by id)."""
        ids, styles, known = {}, [], {}
        for name in list(self.cells)[:MAX_STYLE_ENTRIES]:
            data, bold, parent = self.cells[name]
            for _ in range(8):  # a chain of parents, bounded
                if (data is not None and bold) or parent not in self.cells:
                    break
                parent_data, parent_bold, parent = self.cells[parent]
                data, bold = data or parent_data, bold or parent_bold
            said = self.data.get(data)
            number_format = said.code(self.data) if said is not None else None
            style = Style(number_format, bold) if number_format is not None or bold else None
            if style is not None:
                if style not in known:
                    known[style] = len(styles)
                    styles.append(style)
                ids[name] = known[style]
        return ids, styles


def length_pixels(text):
    """A length such as 2.258cm or 0.8299in as pixels at 96 per inch, clamped to Excel's
    widest column; None for anything else."""
    match = LENGTH.fullmatch(text or "")
    if not match:
        return None
    pixels = float(match.group(1)) * PIXELS_PER[match.group(2)]
    if not math.isfinite(pixels):
        return None
    return round(min(pixels, MAX_WIDTH * DIGIT_PIXELS))


class EnoughRead(Exception):
    """Ends an expat pass early: what was wanted has been read."""


class OdsSheet:
    """Expat handlers over content.xml: the styles (through OdsStyles), then one table's
    columns (widths, default cell styles) and, when `cells` is on, its styled value cells,
    put in `rows` as (row index, {column: style id})."""

    def __init__(self, styles, table_name, cells):
        self.styles, self.table_name, self.cells = styles, table_name, cells
        self.ids = self.found = None
        self.widths, self.defaults = {}, {}
        self.depth = 0  # tables open; > 0 once inside the one wanted
        self.row = self.column = 0
        self.repeat, self.row_default, self.row_cells = 1, None, {}
        self.rows = []

    def start(self, name, attributes):
        if self.depth == 0:
            if name == q("table", "table"):
                if attributes.get(q("table", "name")) == self.table_name:
                    self.depth = 1
                    self.ids, self.found = self.styles.resolved()
            elif self.ids is None:
                self.styles.start(name, attributes)
            return
        if name == q("table", "table"):
            self.depth += 1
        if self.depth != 1:
            return
        if name == q("table", "table-column"):
            repeat = repeats(attributes.get(q("table", "number-columns-repeated")))
            width = self.styles.column_widths.get(attributes.get(q("table", "style-name")))
            default = attributes.get(q("table", "default-cell-style-name"))
            for column in range(self.column, min(self.column + repeat, MAX_COLUMNS)):
                if width is not None:
                    self.widths[column] = (
                        width,
                        attributes.get(q("table", "visibility")) == "collapse",
                    )
                if default in self.ids:
                    self.defaults[column] = default
            self.column = min(self.column + repeat, MAX_COLUMNS)
        elif name == q("table", "table-row"):
            if not self.cells:
                raise EnoughRead
            self.repeat = repeats(attributes.get(q("table", "number-rows-repeated")))
            self.row_default = attributes.get(q("table", "default-cell-style-name"))
            self.column, self.row_cells = 0, {}
        elif name in (q("table", "table-cell"), q("table", "covered-table-cell")):
            repeat = repeats(attributes.get(q("table", "number-columns-repeated")))
            if q("office", "value-type") in attributes:
                own = attributes.get(q("table", "style-name"))
                for column in range(self.column, min(self.column + repeat, MAX_COLUMNS)):
                    style = own or self.defaults.get(column) or self.row_default
                    if style in self.ids:
                        self.row_cells[column] = self.ids[style]
            self.column = min(self.column + repeat, MAX_COLUMNS)

    def end(self, name):
        if self.depth == 0:
            if self.ids is None:
                self.styles.end(name)
            return
        if name == q("table", "table"):
            self.depth -= 1
            if self.depth == 0:
                raise EnoughRead
        elif self.depth == 1 and name == q("table", "table-row"):
            if self.row_cells:
                for row in range(self.row, min(self.row + self.repeat, MAX_ROWS)):
                    self.rows.append((row, self.row_cells))
            self.row = min(self.row + self.repeat, MAX_ROWS)

    def characters(self, text):
        if self.depth == 0 and self.ids is None:
            self.styles.characters(text)


def repeats(text):
    count = whole(text)
    return count if count is not None and count >= 1 else 1


def ods_parse(handle, handlers, chunks=False):
    """Feed `handle` to expat with `handlers`' start, end and characters; with `chunks`,
    yields after each piece so that the caller can take what was found. Stops at
    EnoughRead."""
    from .ooxml import safe_expat

    parser = safe_expat(namespace_separator=" ")
    parser.StartElementHandler = handlers.start
    parser.EndElementHandler = handlers.end
    parser.CharacterDataHandler = handlers.characters
    try:
        while piece := handle.read(1 << 20):
            parser.Parse(piece, False)
            if chunks:
                yield
        parser.Parse(b"", True)
    except EnoughRead:
        pass
    if chunks:
        yield


def ods_look(path, sheet_name):
    """The SheetLook of one sheet of an ods: its data styles as Excel format codes, bold
    cell styles, column widths and the frozen pane LibreOffice saves in settings.xml."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        styles = OdsStyles()
        if "styles.xml" in archive.namelist():
            with archive.open("styles.xml") as handle:
                for _ in ods_parse(handle, styles):
                    pass
        common = styles.count
        sheet = OdsSheet(styles, sheet_name, cells=False)
        with archive.open("content.xml") as handle:
            for _ in ods_parse(handle, sheet):
                pass
        frozen = ods_frozen(archive, sheet_name)
    if sheet.ids is None:
        return None
    look = SheetLook(styles=sheet.found, widths=sheet.widths, frozen=frozen)
    if sheet.found:
        look.cells = lambda: ods_styled_cells(path, sheet_name, styles, common)
    return look


def ods_styled_cells(path, sheet_name, styles, common):
    import zipfile

    styles.count = common  # content.xml's own styles are read again
    sheet = OdsSheet(styles, sheet_name, cells=True)
    with zipfile.ZipFile(path) as archive, archive.open("content.xml") as handle:
        for _ in ods_parse(handle, sheet, chunks=True):
            yield from sheet.rows
            sheet.rows = []


def ods_frozen(archive, sheet_name):
    """(rows, columns) frozen in LibreOffice's view settings (split mode 2: frozen)."""
    from defusedxml.ElementTree import fromstring

    try:
        settings = fromstring(archive.read("settings.xml"))
    except Exception:  # no settings, or unreadable ones: nothing frozen said
        return (0, 0)
    named = f"{{{ODS['config']}}}name"
    for entry in settings.iter(f"{{{ODS['config']}}}config-item-map-entry"):
        if entry.get(named) != sheet_name:
            continue
        items = {
            item.get(named): (item.text or "")
            for item in entry.findall(f"{{{ODS['config']}}}config-item")
        }
        rows = (
            number(items.get("VerticalSplitPosition"))
            if items.get("VerticalSplitMode") == "2"
            else 0
        )
        columns = (
            number(items.get("HorizontalSplitPosition"))
            if items.get("HorizontalSplitMode") == "2"
            else 0
        )
        return clamp_frozen(rows, columns)
    return (0, 0)
