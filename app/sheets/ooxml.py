"""Direct reading of xlsx/xlsm/xltx packages: sheet bounds, error cells, and a streaming reader.

calamine reads a whole sheet into a dense grid, which is fast but sized by the sheet's
extent: one value at XFD1048576 asks for billions of cells and aborts the process.
So before calamine sees a sheet, `scan_sheet` streams its XML once, cheaply, to learn
its extent (and the error cells, which calamine reports as empty). Sheets whose XML is
large are then read here row by row (`stream_rows`) in flat memory.
"""

import datetime as dt
import functools
import posixpath
import queue
import re
import threading
import zipfile
from dataclasses import dataclass, field
from xml.parsers import expat

from defusedxml.ElementTree import fromstring

from .errors import DamagedFile
from .limits import SHEET_COLUMNS, SHEET_ROWS, file_count
from .values import column_index, serial_moment

# Row numbers read from a sheet, clamped here: far past any sheet, so the size checks
# still refuse them, but never a 5,000-digit int().
FAR_ROW = SHEET_ROWS * SHEET_COLUMNS


def row_number(digits):
    return file_count(digits, least=0, most=FAR_ROW, default=0)


CHUNK = 1 << 20
OVERLAP = 512  # bytes carried between chunks so no pattern is cut in two

ROW_ATTRIBUTE = re.compile(rb'\sr="([0-9]+)"')
ROW_OR_CELL_NUMBER = re.compile(rb' r="[A-Z]{0,3}([0-9]+)"')
WIDE_COLUMN = re.compile(rb' r="[A-Z]{2}')
ANY_COLUMN = re.compile(rb' r="([A-Z]{1,3})[0-9]')
LONG_COLUMN = re.compile(rb' r="[A-Z]{4}')  # past XFD: calamine would wrap it around
NARROW_COLUMN = re.compile(rb' r="([A-Z])[0-9]')
ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?\st="e"[^>]*?)>(.*?)</(?:\w+:)?c>', re.S)
CELL_REF = re.compile(rb'\sr="([A-Z]{1,3})(\d+)"')
VALUE_TEXT = re.compile(rb"<(?:\w+:)?v>([^<]*)</")
MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\sref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')
DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\sref="([A-Z]+)?(\d+)?(?::([A-Z]+)(\d+))?"')
LAST_VALUE_MARKERS = (b"</v>", b"</is>")
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# pandas' list of texts meaning "missing". fastexcel reads them as empty cells in a column
# of numbers, dates or booleans, so a sheet holding one cannot take the columnar fast path.
MISSING_TEXTS = (
    "#N/A N/A", "#N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "&lt;NA&gt;", "&lt;NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
MISSING_TEXT = re.compile(rb">(?:%s)<" % b"|".join(re.escape(t.encode()) for t in MISSING_TEXTS))
TEXT_CELL_MARKERS = (b"inlineStr", b't="str"')  # cells holding their text in the sheet XML
# Text starting or ending with white space in a <t> not marked xml:space="preserve".
# calamine trims such text ("  WOODLEY AV" -> "WOODLEY AV", rich-text runs "Example" +
# " text" -> "Exampletext"); Excel and LibreOffice keep it, and so does the streaming reader.
PADDED_TEXT = re.compile(
    rb"<(?:\w+:)?t(?:\s(?![^>]*preserve)[^>]*)?>(?:%(ws)s[^<]*|[^<]*%(ws)s)</(?:\w+:)?t>"
    % {b"ws": rb"(?:\s|&#(?:9|10|13|32|x9|x[aAdD]|x20);)"}  # white space, or its reference
)
PADDED_HINTS = (
    b"t> ",
    b"t>\t",
    b"t>\n",
    b"t>\r",
    b" </",
    b"\t</",
    b"\n</",
    b"\r</",
    b"t>&#",
    b";</",
)
PREFIXED_VALUE_MARKERS = (b":v>", b":is>")

# Built-in number formats that show dates and times (ECMA-376 18.8.30, plus the CJK ones).
BUILTIN_DATE_FORMATS = {
    **{i: "date" for i in (14, 15, 16, 17, *range(27, 32), *range(34, 37), *range(50, 59))},
    **{i: "time" for i in (18, 19, 20, 21, 32, 33, 45, 47)},
    22: "datetime",
    46: "duration",
}
EPOCH_1900 = dt.datetime(1899, 12, 30)
EPOCH_1904 = dt.datetime(1904, 1, 1)


@dataclass
class SheetScan:
    rows: int = 0  # last row holding a value (1-based), so trailing empty rows are trimmed
    max_row: int = 0  # largest row number seen anywhere (for the safety bound)
    wide_columns: int = 0  # largest column if beyond Z, else 0
    narrow_columns: int = 0  # largest column up to Z named by a cell reference
    # Rows or cells without an r attribute (placed by order), or XML not in UTF-8 (as
    # Excel for Windows Phone writes it): measured by parsing, see scan_in_order.
    parse: bool = False
    padded_text: bool = False  # inline text calamine would trim (see PADDED_TEXT)
    repeats_long_text: bool | None = None  # see repeats_long_text(); None: not asked yet
    xml_bytes: int = 0
    errors: dict = field(default_factory=dict)  # (row, col) -> "#DIV/0!"
    # Columns where a text cell says "NA" or the like (see MISSING_TEXTS); None: any column.
    missing_text_columns: set | None = field(default_factory=set)

    @property
    def column_bound(self):
        """An upper bound on the columns used."""
        return self.wide_columns or self.narrow_columns or 26

    @property
    def columns(self):
        """Columns used, as the cell references name them (never the <dimension>, which
        writers may leave out or get wrong)."""
        return self.wide_columns or self.narrow_columns


def safe_expat(namespace_separator=None):
    """An expat parser that refuses DTDs and entities, as defusedxml's parsers do."""
    parser = expat.ParserCreate(namespace_separator=namespace_separator)

    def refuse(*_):
        raise DamagedFile(
            "The workbook contains XML entity declarations and was refused for safety."
        )

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.buffer_text = True
    return parser


class Package(zipfile.ZipFile):
    """An xlsx/xlsm/xltx package (a ZipFile), with its parts found as the package says, not by fixed
    names: the workbook through _rels/.rels, its sheets, text table and styles through the
    workbook's relationships. Part names match without regard to case (as OPC says) or to
    backslashes, which some Windows writers store instead of slashes."""

    @functools.cached_property
    def keys(self):
        keys = {}
        for name in self.namelist():
            keys.setdefault(part_key(name), name)
        return keys

    @functools.cached_property
    def workbook_part(self):
        return main_part(self)

    @functools.cached_property
    def relations(self):
        return part_relations(self, self.workbook_part)

    @property
    def shared_strings_part(self):
        return self.related("sharedStrings") or "xl/sharedStrings.xml"

    @property
    def styles_part(self):
        return self.related("styles") or "xl/styles.xml"

    def getinfo(self, name):  # ZipFile.open and read look members up through this
        try:
            return super().getinfo(name)
        except KeyError:
            actual = self.keys.get(part_key(name))
            if actual is None:
                raise
            return super().getinfo(actual)

    def has(self, name):
        return part_key(name) in self.keys

    def related(self, kind):
        """The first part of the workbook's relationships of this kind, or None."""
        return next((target for _, found, target in self.relations if found == kind), None)


def part_key(name):
    return name.replace("\\", "/").lstrip("/").lower()


def local_name(tag):
    """An element's or attribute's name without its namespace: Strict OOXML
    (purl.oclc.org) and transitional (schemas.openxmlformats.org) alike."""
    return tag.rpartition("}")[2]


def children_named(element, name):
    return [child for child in element.iter() if local_name(child.tag) == name]


def relationship_id(element):
    """The r:id attribute, whichever relationships namespace (transitional or Strict) it is in."""
    for key, value in element.attrib.items():
        if key.startswith("{") and local_name(key) == "id":
            return value
    return None


def main_part(archive):
    """The workbook part, as _rels/.rels names it (xl/workbook.xml by convention)."""
    for _, kind, target in part_relations(archive, ""):
        if kind == "officeDocument" and archive.has(target):
            return target
    return "xl/workbook.xml"


def part_relations(archive, part):
    """[(id, kind, target part)] of a part's relationships file; kind is the last word of
    the relationship type (worksheet, chartsheet, styles...), whose namespace differs
    between transitional and Strict."""
    folder, _, base = part.replace("\\", "/").rpartition("/")
    rels = read_xml(archive, posixpath.join(folder, "_rels", f"{base}.rels"))
    found = []
    for rel in children_named(rels, "Relationship") if rels is not None else ():
        if rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "").replace("\\", "/")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
        kind = rel.get("Type", "").rstrip("/").rpartition("/")[2]
        found.append((rel.get("Id"), kind, posixpath.normpath(path)))
    return found


def read_xml(archive, name):
    try:
        return fromstring(archive.read(name))
    except KeyError:
        return None
    except Exception:  # defusedxml's refusals and ParseError alike
        raise DamagedFile(f"The workbook is damaged: {name} cannot be read.") from None


def worksheet_targets(archive, workbook_part):
    """{relationship id: part name} of the worksheets a workbook part refers to."""
    return {
        rel_id: target
        for rel_id, kind, target in part_relations(archive, workbook_part)
        if kind == "worksheet"
    }


# Relationship kinds of the sheets a workbook lists. Macro and dialog sheets hold cells
# in a worksheet's markup (LibreOffice shows them as sheets); chart sheets hold none.
SHEET_KINDS = {
    "worksheet": "worksheet",
    "xlMacrosheet": "macro",
    "xlIntlMacrosheet": "macro",
    "dialogsheet": "dialog",
    "chartsheet": "chart",
}


def sheet_parts(archive):
    """The sheets in workbook order, as (name, XML part, kind), kind one of SHEET_KINDS'
    values; the names of the hidden ones; and whether dates count from 1904."""
    workbook = read_xml(archive, archive.workbook_part)
    if workbook is None:
        raise DamagedFile("The workbook is damaged: it has no list of sheets.")
    kinds = {rel_id: (kind, target) for rel_id, kind, target in archive.relations}
    sheets, names, hidden = [], set(), set()
    for sheet in children_named(workbook, "sheet"):
        name = sheet.get("name")
        kind, part = kinds.get(relationship_id(sheet), (None, None))
        if name is None or name in names or kind not in SHEET_KINDS:
            continue
        names.add(name)
        sheets.append((name, part, SHEET_KINDS[kind]))
        if sheet.get("state", "visible") != "visible":
            hidden.add(name)
    if not sheets and children_named(workbook, "sheet"):
        raise DamagedFile(
            "The workbook is damaged: it lists sheets but not the parts that hold them."
        )
    properties = children_named(workbook, "workbookPr")
    date1904 = bool(properties) and properties[0].get("date1904") in ("1", "true")
    return sheets, hidden, date1904


def scan_sheet(archive, part, missing_indices=None):
    """Stream one sheet's XML and measure it without parsing every cell.

    `missing_indices`: the shared strings that say "NA" or the like (missing_text_indices),
    to note the columns of such texts; without it, they are not looked for.
    """
    scan = SheetScan()
    if missing_indices is None:
        scan.missing_text_columns = None  # unknown: anywhere
    needles = [b"<v>%d</v>" % index for index in missing_indices or ()]
    tail = b""
    for chunk in inflated_chunks(archive, part):
        if not scan.xml_bytes and (chunk[:2] in UTF16_BOMS or b"\x00" in chunk[:64]):
            scan.parse = True  # UTF-16: the byte patterns below would find nothing
            break
        window = tail + chunk
        # Writers leave out r for all their rows and cells or for none: the first and
        # the last windows tell (counting in every one would cost a tenth of the scan).
        if not scan.xml_bytes and unreferenced(window):
            scan.parse = True
        scan.xml_bytes += len(chunk)
        scan_window(window, scan)
        if scan.missing_text_columns is not None:
            find_missing_texts(window, scan, needles)
        tail = window[-OVERLAP:]
    if not scan.parse and tail and unreferenced(window):
        scan.parse = True
    if scan.parse:
        scan_in_order(archive, part, scan)
    return scan


def unreferenced(window):
    """Whether some row or cell in the window may lack its r attribute (optional in the
    standard). Counts only: every row and cell has one, so fewer means some lack it.
    A tag cut at the window's edge may be miscounted: then the exact pass just runs."""
    tags = window.count(b"<c ") + window.count(b"<c>") + window.count(b"<row")
    if not tags:  # namespace-prefixed markup, as some writers produce: <x:row>
        tags = window.count(b":c ") + window.count(b":row ")
    return tags > window.count(b' r="') + 1


def scan_in_order(archive, part, scan):
    """Measure a sheet exactly by parsing it, when its rows or cells lack references
    (a row without r follows the one before, a cell without r the cell before) or its
    XML is not UTF-8. Rare, so slower than scan_window; the extent cannot outgrow
    the XML, so it is safe to do."""
    state = {"row": 0, "column": -1, "value": False, "error": None, "in_value": False}
    rows = columns = 0
    errors = {}

    def start(name, attributes):
        name = name.rpartition(":")[2]
        if name == "row":
            number = attributes.get("r")
            state["row"] = row_number(number) if number and number.isdigit() else state["row"] + 1
            state["column"] = -1
        elif name == "c":
            ref = attributes.get("r") or ""
            letters = ref.rstrip("0123456789")
            digits = ref[len(letters) :]
            state["column"] = column_index(letters) if letters else state["column"] + 1
            # A cell's own reference wins over its row's, as in calamine (whose grid this
            # measures for): a far reference in a short row must not hide.
            state["cell_row"] = row_number(digits) if digits.isdigit() else state["row"]
            state["value"] = False
            state["error"] = [] if attributes.get("t") == "e" else None
        elif name in ("v", "is"):
            state["value"] = state["in_value"] = True

    def end(name):
        nonlocal rows, columns
        name = name.rpartition(":")[2]
        if name in ("v", "is"):
            state["in_value"] = False
        elif name == "c" and state["value"]:
            rows = max(rows, state["cell_row"])
            columns = max(columns, state["column"] + 1)
            if state["error"] is not None:
                errors[(state["cell_row"] - 1, state["column"])] = "".join(state["error"])

    def text(data):
        if state["error"] is not None and state["in_value"]:
            state["error"].append(data)

    parser = safe_expat()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        for chunk in inflated_chunks(archive, part):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError:
        raise DamagedFile("The workbook is damaged: a sheet's XML cannot be read.") from None
    scan.xml_bytes = parser.CurrentByteIndex
    # The extent of the values: what calamine allocates for (empty rows and cells, even
    # styled ones far out, it leaves out).
    scan.rows = scan.max_row = rows
    scan.wide_columns = columns if columns > 26 else 0
    scan.narrow_columns = min(columns, 26)
    scan.errors = errors
    scan.missing_text_columns = None  # not looked for here: anywhere


def inflated_chunks(archive, part):
    """The member's bytes, inflated by a helper thread (zlib lets go of the GIL),
    so inflating the next chunk overlaps with searching this one."""
    try:
        handle = archive.open(part)
    except KeyError:
        raise DamagedFile(f"The workbook is damaged: {part} is missing.") from None
    chunks = queue.Queue(maxsize=4)
    stop = threading.Event()

    def inflate():
        try:
            with handle:
                while not stop.is_set() and (chunk := handle.read(CHUNK)):
                    chunks.put(chunk)
            chunks.put(None)
        except Exception as error:  # handed to the reader, which raises it
            chunks.put(error)

    worker = threading.Thread(target=inflate, daemon=True)
    worker.start()
    try:
        while (chunk := chunks.get()) is not None:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                chunks.get_nowait()
            except queue.Empty:
                worker.join(0.01)


def scan_merges(archive, part):
    """Merged ranges of a sheet, 0-based ((r0, c0), (r1, c1)); they follow the cell data."""
    merges, tail = [], b""
    for chunk in inflated_chunks(archive, part):
        window = tail + chunk
        if b"mergeCell " in window:
            for c0, r0, c1, r1 in MERGE.findall(window):
                merge = (
                    (row_number(r0) - 1, column_index(c0.decode())),
                    (row_number(r1) - 1, column_index(c1.decode())),
                )
                if merge not in merges:
                    merges.append(merge)
        tail = window[-OVERLAP:]
    return merges


def dimension_extent(archive, part):
    """(rows, columns) from the sheet's <dimension> element, or None. An estimate only:
    writers may omit it, and a hostile file may lie in it."""
    for chunk in inflated_chunks(archive, part):
        found = DIMENSION.search(chunk, 0, 4096)
        if not found or not found.group(3):
            return None
        # Clamped to a sheet's size: the sheet is measured beside calamine all the same.
        rows = min(row_number(found.group(4)), SHEET_ROWS)
        return rows, min(column_index(found.group(3).decode()) + 1, SHEET_COLUMNS)
    return None


def scan_window(window, scan):
    # Every pattern starts with a literal, so each is one fast pass over the bytes.
    last_row = window.rfind(b"<row ")
    if last_row < 0:  # namespace-prefixed markup, as some writers produce: <x:row>
        last_row = window.rfind(b":row ")
    if last_row >= 0:
        found = ROW_ATTRIBUTE.search(window, last_row, last_row + 400)
        if found:
            scan.max_row = max(scan.max_row, row_number(found.group(1)))
    # Rows come in order, so the last is the largest, unless a row or cell claims a
    # number with more digits than that: then read every number in this window.
    digits = len(str(scan.max_row)) + 1
    if anything_new(digits, scan.narrow_columns).search(window):  # mostly not: one pass
        if further_rows(digits).search(window):
            scan.max_row = max(scan.max_row, *map(row_number, ROW_OR_CELL_NUMBER.findall(window)))
        if WIDE_COLUMN.search(window):
            # A name of four letters or more (past XFD) matches no ANY_COLUMN: beyond.
            widest = max(ANY_COLUMN.findall(window), key=lambda c: (len(c), c), default=b"AAAA")
            if LONG_COLUMN.search(window):
                widest = b"AAAA"
            scan.wide_columns = max(scan.wide_columns, column_index(widest.decode()) + 1)
        elif scan.narrow_columns < 26 and columns_after(scan.narrow_columns).search(window):
            widest = max(NARROW_COLUMN.findall(window))
            scan.narrow_columns = max(scan.narrow_columns, widest[0] - ord("A") + 1)
    if not scan.padded_text and b"inlineStr" in window and padded_text(window):
        scan.padded_text = True
    if b't="e"' in window:
        for attributes, body in ERROR_CELL.findall(window):
            ref = CELL_REF.search(b" " + attributes)
            value = VALUE_TEXT.search(body)
            if ref and value:
                position = (row_number(ref.group(2)) - 1, column_index(ref.group(1).decode()))
                scan.errors[position] = value.group(1).decode("utf-8", "replace")
    last_value = last_value_end(window)
    if last_value >= 0:
        cell_start = max(window.rfind(b"<c ", 0, last_value), window.rfind(b":c ", 0, last_value))
        ref = CELL_REF.search(window, max(cell_start, 0), last_value)
        if ref is not None:
            scan.rows = max(scan.rows, row_number(ref.group(2)))


def padded_text(data):
    """Whether XML holds text calamine would trim (see PADDED_TEXT); literal hints first."""
    return any(hint in data for hint in PADDED_HINTS) and PADDED_TEXT.search(data) is not None


def padded_shared_strings(archive):
    """Whether the shared string table holds text calamine would trim."""
    try:
        return padded_text(archive.read(archive.shared_strings_part))
    except KeyError:
        return False


def find_missing_texts(window, scan, needles):
    """Note the columns of cells saying "NA" or the like: shared strings by their index,
    text held in the sheet XML by a search of it."""
    hits = [found.start() for needle in needles for found in re.finditer(re.escape(needle), window)]
    if any(marker in window for marker in TEXT_CELL_MARKERS):
        if b"<is><r" in window:  # rich inline text: runs may split "NA" in two
            scan.missing_text_columns = None
            return
        hits.extend(found.start() for found in MISSING_TEXT.finditer(window))
    for position in hits:
        if position < OVERLAP and scan.xml_bytes > len(window):
            continue  # in the tail of the window before, and seen there
        reach = max(position - OVERLAP, 0)
        start = max(window.rfind(b"<c ", reach, position), window.rfind(b":c ", reach, position))
        ref = CELL_REF.search(window, start, position) if start >= 0 else None
        if ref is None:
            scan.missing_text_columns = None  # cannot tell where: assume anywhere
            return
        tag_end = window.find(b">", start, position)
        if (
            needles
            and window[position : position + 3] == b"<v>"
            and b't="s"' not in window[start:tag_end]
        ):
            continue  # a number that happens to equal the index
        scan.missing_text_columns.add(column_index(ref.group(1).decode()))


def last_value_end(window):
    """Where the last cell value in the window ends (-1 if none); looks at the tail first."""
    tail_start = max(len(window) - 65536, 0)
    for markers in (LAST_VALUE_MARKERS, PREFIXED_VALUE_MARKERS):
        for start in (tail_start, 0) if tail_start else (0,):
            found = max(window.rfind(marker, start) for marker in markers)
            if found >= 0:
                return found
    return -1


@functools.cache
def columns_after(count):
    """Cell references to a column past the first `count` (count under 26)."""
    return re.compile(rb' r="[%c-Z][0-9]' % (ord("A") + count))


@functools.cache
def anything_new(digits, narrow):
    """One search for what the three in scan_window look for: a row number of `digits`
    digits or more, a column past Z, or (when `narrow` is under 26) one past the first
    `narrow`."""
    alternatives = [rb"[A-Z]{0,3}[0-9]{%d}" % digits, rb"[A-Z]{2}"]
    if narrow < 26:
        alternatives.append(rb"[%c-Z][0-9]" % (ord("A") + narrow))
    return re.compile(rb' r="(?:%s)' % b"|".join(alternatives))


@functools.cache
def further_rows(digits):
    return re.compile(rb' r="[A-Z]{0,3}[0-9]{%d}' % digits)


def number_format_kinds(archive, classify=None):
    """For each cell style index: 'date', 'datetime', 'time', 'duration' or None (or what
    `classify`, given a custom format's code, says instead of classify_format)."""
    classify = classify or classify_format
    styles = read_xml(archive, archive.styles_part)
    if styles is None:
        return []
    custom = {}
    for formats in children_named(styles, "numFmts")[:1]:
        for number_format in formats:
            try:
                custom[int(number_format.get("numFmtId"))] = number_format.get("formatCode", "")
            except (TypeError, ValueError):
                continue
    kinds = []
    cell_formats = children_named(styles, "cellXfs")
    for xf in cell_formats[0] if cell_formats else []:
        try:
            format_id = int(xf.get("numFmtId", "0"))
        except ValueError:
            format_id = 0
        if format_id in custom:
            kinds.append(classify(custom[format_id]))
        else:
            kinds.append(BUILTIN_DATE_FORMATS.get(format_id))
    return kinds


QUOTED = re.compile(r'"[^"]*"|\\.|_.|\*.')
BRACKETS = re.compile(r"\[([^\]]*)\]")


def classify_format(code):
    """What a custom number format shows: 'date', 'datetime', 'time', 'duration' or None."""
    section = code.split(";")[0]
    section = QUOTED.sub("", section)
    elapsed = any(b.lower() in ("h", "hh", "m", "mm", "s", "ss") for b in BRACKETS.findall(section))
    section = BRACKETS.sub("", section).lower()
    if elapsed:
        return "duration"
    has_date = "y" in section or "d" in section
    has_time = "h" in section or "s" in section or "am/pm" in section or "a/p" in section
    if "m" in section and not has_time:
        has_date = True
    if has_date and has_time:
        return "datetime"
    if has_date:
        return "date"
    if has_time:
        return "time"
    return None


def serial_to_value(serial, kind, date1904):
    """An Excel serial number as the date, datetime, time or duration it shows."""
    return serial_moment(serial, kind, date1904)  # the rules live in values.py


SHARED_TEXT_BOUND = 1 << 30  # text calamine may copy out of the shared strings for one sheet
SMALLEST_CELL = 20  # bytes of XML a shared-string cell takes at least: <c r="A1" t="s"><v>0</v></c>


def repeats_long_text(archive, part, xml_bytes):
    """Whether the sheet's cells may refer to more than SHARED_TEXT_BOUND of shared text.
    calamine copies a shared string into every cell that refers to it: 12,000 cells
    naming one 1 MB string ask for 12 GB (POI's poc-shared-strings.xlsx). The streaming
    reader shares one string among them. Sizes tell most sheets apart without reading."""
    try:
        table = archive.getinfo(archive.shared_strings_part).file_size
    except KeyError:
        return False
    if table * (xml_bytes // SMALLEST_CELL) <= SHARED_TEXT_BOUND:
        return False
    references = count_matches(SHARED_TYPE, inflated_chunks(archive, part))
    if table * references <= SHARED_TEXT_BOUND:
        return False
    longest = max(map(len, archive.read(archive.shared_strings_part).split(b"</")), default=0)
    return longest * references > SHARED_TEXT_BOUND


# A cell's type attribute naming a shared string: either quote, spaces around "=".
SHARED_TYPE = re.compile(rb"""\bt\s*=\s*["']s["']""")


def count_matches(pattern, chunks, overlap=64):
    """Matches of `pattern` over a stream of chunks, those across a boundary included:
    each chunk is searched with the previous one's tail, counting what ends past it."""
    count, tail = 0, b""
    for chunk in chunks:
        text = tail + chunk
        count += sum(1 for match in pattern.finditer(text) if match.end() > len(tail))
        tail = text[-overlap:]
    return count


# calamine reserves room for the strings the table's uniqueCount announces before it reads
# any: a count of 10**11 in a 1 kB table asks for terabytes and aborts the process.
UNIQUE_COUNT = re.compile(rb'<(?:\w+:)?sst\b[^>]*?\suniqueCount\s*=\s*["\']\s*\+?([0-9]+)')
SMALLEST_STRING = 5  # bytes of XML one string takes at least: <si/>


def text_table_overstated(archive):
    """Whether the shared string table announces more strings than its size can hold:
    calamine would reserve memory for them all, so it must not read the workbook."""
    try:
        info = archive.getinfo(archive.shared_strings_part)
        with archive.open(info) as handle:
            head = handle.read(8192)
    except (KeyError, OSError, zipfile.BadZipFile):
        return False
    found = UNIQUE_COUNT.search(head)
    if found is None:
        return False
    most = info.file_size // SMALLEST_STRING + 1
    return file_count(found.group(1), least=0, most=most + 1, default=0) > most


def read_shared_strings(archive):
    """The shared string table, parsed as a stream (it can be tens of megabytes)."""
    return list(shared_strings(archive))


class SharedStrings:
    """The shared string table, read only as far as the cells asked for so far need:
    the first rows of a sheet mostly use the first strings."""

    def __init__(self, archive):
        self.strings = []
        self.source = shared_strings(archive, chunk_size=1 << 16)

    def __getitem__(self, index):
        while index >= len(self.strings):
            try:
                self.strings.append(next(self.source))
            except StopIteration:
                raise IndexError(f"no text number {index}") from None
        return self.strings[index]


def missing_text_indices(archive):
    """The indices of shared strings saying "NA" or the like (see MISSING_TEXTS); and
    whether the table holds text calamine would trim (padded_text), found in the same
    read of it."""
    try:
        data = archive.read(archive.shared_strings_part)
    except KeyError:
        return [], False
    return missing_in(archive, data), padded_text(data)


def missing_in(archive, data):
    plain = b"<si>" in data and b"<r>" not in data and b"<r " not in data
    if plain:  # the usual table: find the few matches, count the strings before each
        return [data.count(b"<si>", 0, found.start()) - 1 for found in MISSING_TEXT.finditer(data)]
    texts = {text.replace("&lt;", "<").replace("&gt;", ">") for text in MISSING_TEXTS}
    return [index for index, text in enumerate(shared_strings(archive)) if text in texts]


def shared_strings(archive, chunk_size=CHUNK):
    """Yield the strings of the shared string table as its XML streams past."""
    try:
        handle = archive.open(archive.shared_strings_part)
    except KeyError:
        return
    strings = []
    parts = []
    state = {"text": False, "phonetic": 0}

    def start(name, attributes):
        name = name.rpartition(":")[2]
        if name == "t" and not state["phonetic"]:
            state["text"] = True
        elif name == "rPh":
            state["phonetic"] += 1
        elif name == "si":
            parts.clear()

    def end(name):
        name = name.rpartition(":")[2]
        if name == "t":
            state["text"] = False
        elif name == "rPh":
            state["phonetic"] -= 1
        elif name == "si":
            strings.append(unescape("".join(parts)))

    def text(data):
        if state["text"]:
            parts.append(data)

    parser = safe_expat()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    with handle:
        try:
            while chunk := handle.read(chunk_size):
                parser.Parse(chunk, False)
                yield from strings
                strings.clear()
            parser.Parse(b"", True)
        except expat.ExpatError as error:
            raise DamagedFile(
                "The workbook is damaged: its text table cannot be read (malformed XML at "
                f"line {error.lineno})."
            ) from None
    yield from strings


def stream_rows(
    archive, part, width, shared_strings, format_kinds, date1904, chunk_size=CHUNK, position=None
):
    """Yield the rows of one sheet as lists of values, anchored at A1 and `width` wide.

    Rows are produced as the XML streams past, so memory stays flat however long the sheet.
    Trailing empty rows are left out; the caller stops after the last row it expects.
    `position` ({"row": number of the row before, "next_row": the next row to yield}),
    when given, is where the XML starts and is updated at the end (blocks.py reads a
    sheet in parts).
    """
    ready = []  # finished rows, handed out after each chunk is parsed
    state = {"row": 0, "next_row": 1, "column": 0, "type": None, "style": None, "text": None}
    if position is not None:
        state.update(position)
    cells = {}
    text_parts = []
    column_cache = {}
    kinds = format_kinds

    def start(name, attributes):
        if ":" in name:
            name = name.rpartition(":")[2]
        if name == "c":
            ref = attributes.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                column = column_cache.get(letters)
                if column is None:
                    column = column_cache[letters] = column_index(letters)
                state["column"] = column
            else:
                state["column"] += 1
            state["type"] = attributes.get("t")
            state["style"] = attributes.get("s")
            state["text"] = None
        elif name == "v" or name == "t":
            text_parts.clear()
            state["capture"] = True
        elif name == "row":
            number = attributes.get("r")
            if not number:
                state["row"] += 1
            else:  # a number past any sheet is not made an int; what is no number fails
                state["row"] = row_number(number) if number.isdigit() else int(number)
            state["column"] = -1
            cells.clear()
        elif name == "is":
            state["inline"] = []

    def end(name):
        if ":" in name:
            name = name.rpartition(":")[2]
        if name == "v":
            state["capture"] = False
            state["text"] = "".join(text_parts)
        elif name == "t":
            state["capture"] = False
            if state.get("inline") is not None:
                state["inline"].append("".join(text_parts))
        elif name == "is":
            state["text"] = "".join(state.pop("inline"))
            state["inline"] = None
        elif name == "c":
            raw = state["text"]
            if raw is None:
                return
            kind = state["type"]
            if kind is None or kind == "n":
                value = float(raw)
                style = state["style"]
                if style is not None and kinds:
                    index = int(style)
                    if index < len(kinds) and kinds[index]:
                        value = serial_to_value(value, kinds[index], date1904)
            elif kind == "s":
                value = shared_strings[int(raw)]
            elif kind == "b":
                value = raw == "1"
            elif kind == "d":
                value = iso_value(raw)
            elif kind == "e":
                value = raw
            else:  # str (formula text), inlineStr
                value = unescape(raw)
            if 0 <= state["column"] < SHEET_COLUMNS:  # past XFD: left out, as LibreOffice does
                cells[state["column"]] = value
        elif name == "row" and cells:
            emit_row(state["row"])

    def emit_row(number):
        # The empty rows before it, as a count: the caller stops after the rows it
        # expects, so a far row number must not make them all at once.
        if state["next_row"] < number:
            ready.append(number - state["next_row"])
            state["next_row"] = number
        row = [""] * max(width, max(cells) + 1)
        for column, value in cells.items():
            row[column] = value
        ready.append(row)
        state["next_row"] = number + 1

    def text(data):
        if state.get("capture"):
            text_parts.append(data)

    parser = safe_expat()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        with archive.open(part) as handle:
            while chunk := handle.read(chunk_size):
                parser.Parse(chunk, False)
                if ready:
                    yield from expanded(ready, width)
                    ready.clear()
            parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise DamagedFile(
            f"The workbook is damaged: a sheet cannot be read (malformed XML at line {error.lineno})."
        ) from None
    except (ValueError, IndexError):
        raise DamagedFile(
            "The workbook is damaged: a cell holds a value that does not fit its type, "
            "or refers to text that is not there."
        ) from None
    if position is not None:
        position.update(row=state["row"], next_row=state["next_row"])
    yield from expanded(ready, width)


def expanded(ready, width):
    """stream_rows' finished rows, a count standing for that many empty rows."""
    for row in ready:
        if type(row) is int:
            for _ in range(row):
                yield [""] * width
        else:
            yield row


# calamine undoes only escapes up to _x00FF_ (Excel writes them for control characters);
# the streaming reader does the same, so that both paths read a sheet alike.
ESCAPED_CHARACTER = re.compile(r"_x(00[0-9A-Fa-f]{2})_")


def unescape(text):
    """Text as stored, with OOXML's escapes undone: "_x000D_" is a carriage return
    (XML cannot carry it), "_x005F_" an underscore."""
    if "_x" not in text:
        return text
    return ESCAPED_CHARACTER.sub(lambda found: chr(int(found.group(1), 16)), text)


def iso_value(text):
    try:
        moment = dt.datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        return text
    return moment.date() if len(text) <= 10 else moment
