"""Apple Numbers documents (.numbers): a ZIP of IWA archives (Snappy-compressed protobuf),
told apart from other ZIP containers by its `Index/Document.iwa` (detect.py), read with
numbers-parser.

numbers-parser decodes the whole document into memory, and builds a Python object for every
cell of a table's grid, empty ones included. So before it is handed the file, everything it
would decode is measured from what the file states, without decoding it: the ZIP's declared
sizes (the usual zip-bomb rules, also for an Index.zip inside it), and each IWA chunk's
Snappy header, which states how large the chunk inflates to. Their sum is bounded by
`decoded_bound`. Then the tables' declared extents are checked (limits and `cell_bound`)
before a table's cells are built. Each table of each sheet is a sheet here: named after the
sheet, or "Sheet - Table" when the sheet holds several. A table's values are held as plain
values once read, and the document is let go.
"""

import io
import warnings
import zipfile
import zlib
from pathlib import Path

from ..book import Book, SheetInfo
from ..detect import check_zip_sizes
from ..errors import DamagedFile, NotASpreadsheet, PasswordProtected, SheetError, TooLarge
from .common import Deadline, check_merges, unique_name

# numbers-parser's objects per cell, measured at about 2.6 KB (a 100,000-cell table held
# 260 MB): the cells of all tables are at most the child's memory over this.
BYTES_PER_CELL = 4096
# What the decoded document may take, as a share of the child's memory: its protobuf
# objects are several times the bytes they decode from.
DECODED_SHARE = 16
ENCRYPTED_MEMBERS = (".iwph", ".iwpv2")  # the password's hint and verifier
MAX_NESTING = 2  # a document as a package (Index.zip) inside the ZIP; no deeper
PASSWORD_MESSAGE = (
    "This Numbers document is protected with a password. Open it in Numbers, remove the "
    "password (File > Set Password), save, and upload it again."
)
DAMAGED_MESSAGE = "The file looks like an Apple Numbers document but is damaged and cannot be read."


def decoded_bound(limits):
    """The most bytes numbers-parser may decode a document to."""
    return min(limits.max_unpacked_bytes, limits.max_memory_bytes // DECODED_SHARE)


def cell_bound(limits):
    """The most cells (empty ones included) of all tables numbers-parser may build."""
    return min(limits.max_held_cells, limits.max_memory_bytes // BYTES_PER_CELL)


def snappy_length(chunk):
    """The inflated size a raw Snappy block states first (a little-endian varint of at
    most five bytes)."""
    length = 0
    for position, byte in enumerate(chunk[:5]):
        length |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            return length
    raise DamagedFile(DAMAGED_MESSAGE)


def iwa_length(blob):
    """What an IWA archive inflates to, from its chunks' headers: a zero byte, the chunk's
    length in three bytes, then a Snappy block (or, as numbers-parser also reads it, the
    chunk as it is)."""
    total, position = 0, 0
    while position < len(blob):
        if blob[position] != 0 or position + 4 > len(blob):
            return len(blob)  # not an IWA archive: numbers-parser keeps it as it is
        length = int.from_bytes(blob[position + 1 : position + 4], "little")
        chunk = blob[position + 4 : position + 4 + length]
        total += max(snappy_length(chunk), len(chunk)) if chunk else 0
        position += 4 + length
    return total


def measure(archive, limits, spent=0, depth=1):
    """The bytes numbers-parser would decode `archive` to, added to `spent`; TooLarge past
    decoded_bound, PasswordProtected when it is encrypted."""
    check_zip_sizes(archive, limits)
    bound = decoded_bound(limits)
    names = {name.lower() for name in archive.namelist()}
    if any(name in names for name in ENCRYPTED_MEMBERS):
        raise PasswordProtected(PASSWORD_MESSAGE)
    for member in archive.infolist():
        # What a member holds is decoded at least to its size (an IWA archive's chunks
        # inflate further): refused before it is read when that is already too much.
        if member.file_size + spent > bound:
            too_large(bound)
        blob = archive.read(member)
        if member.filename.lower().endswith(".zip"):
            if depth >= MAX_NESTING:
                raise DamagedFile(DAMAGED_MESSAGE)
            with zipfile.ZipFile(io.BytesIO(blob)) as inner:
                spent = measure(inner, limits, spent, depth + 1)
            continue
        spent += iwa_length(blob) if member.filename.lower().endswith(".iwa") else len(blob)
        if spent > bound:
            too_large(bound)
    return spent


def too_large(bound):
    raise TooLarge(
        f"The Numbers document unpacks to more than {bound // 2**20} MB, more than "
        "Sheetport reads of one."
    )


def load_model(path, limits):
    """numbers-parser's model of the document at `path` (named .numbers, which it asks
    for), once what it would decode is measured."""
    try:
        with zipfile.ZipFile(path) as archive:
            measure(archive, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError):
        raise DamagedFile(DAMAGED_MESSAGE) from None
    # The model, not numbers_parser.Document: a Document builds every table's cells at
    # once, before their extents can be checked. numbers-parser is pinned for this.
    from numbers_parser.model import _NumbersModel

    with warnings.catch_warnings():  # "unsupported version" and kin: read it all the same
        warnings.simplefilter("ignore")
        return guarded(lambda: _NumbersModel(Path(path), None))


def guarded(call):
    """`call()`, with numbers-parser's failures (its own, protobuf's, Snappy's, a KeyError
    on a missing object) as a DamagedFile."""
    try:
        return call()
    except (SheetError, MemoryError):
        raise
    except Exception as error:
        refused = DamagedFile(DAMAGED_MESSAGE)
        refused.detail = f"{type(error).__name__}: {str(error)[:200]}"
        raise refused from None


def cell_value(cell):
    """A numbers-parser cell as the engine's value: numbers, text, booleans, datetimes and
    durations as they are; a formula's cached value; an error as its text; else empty."""
    from numbers_parser import EmptyCell, ErrorCell, MergedCell

    if isinstance(cell, EmptyCell | MergedCell):
        return ""
    if isinstance(cell, ErrorCell):
        shown = cell.formatted_value or ""
        return shown if shown.startswith("#") else "#ERROR!"
    value = cell.value
    return "" if value is None else value


class NumbersBook(Book):
    def __init__(self, path, detection, limits):
        super().__init__(path, detection, limits)
        deadline = Deadline(limits)
        model = load_model(self.reader_path(), limits)
        deadline.check()
        tables = guarded(lambda: self.list_tables(model))
        self.values, self.merged = {}, {}
        for sheet, table_id in tables:
            self.values[sheet.name], self.merged[sheet.name] = guarded(
                lambda table_id=table_id: read_table(model, table_id, limits, deadline)
            )
            rows = self.values[sheet.name]
            sheet.rows, sheet.columns = len(rows), len(rows[0]) if rows else 0
            self.sheets.append(sheet)
        self.close_alias()

    def list_tables(self, model):
        """(SheetInfo, table id) of every table, checked against the limits from the
        extents the document states, before any cell is built."""
        tables, taken, cells = [], set(), 0
        most = cell_bound(self.limits)
        for sheet_id in model.sheet_ids():
            table_ids = model.table_ids(sheet_id)
            for table_id in table_ids:
                name = model.sheet_name(sheet_id) or "Sheet"
                if len(table_ids) > 1:
                    name = f"{name} - {model.table_name(table_id)}"
                sheet = SheetInfo(unique_name(name, taken))
                rows = model.number_of_rows(table_id)
                columns = model.number_of_columns(table_id)
                self.check_size(sheet, rows, columns)
                cells += rows * columns
                if cells > most:
                    raise TooLarge(
                        f"The Numbers document's tables hold more than {most:,} cells, "
                        "more than Sheetport reads of one."
                    )
                tables.append((sheet, table_id))
                if len(tables) > self.limits.max_sheets:
                    raise TooLarge(f"The workbook has more than {self.limits.max_sheets:,} sheets.")
        if not tables:
            raise NotASpreadsheet("This Numbers document holds no tables.")
        return tables

    def close_alias(self):
        """The link reader_path() made is not needed once the document is read."""
        if self.alias is not None:
            self.remove_alias()
            self.alias = None

    def rows(self, sheet):
        yield from self.values[sheet.name]

    def merges(self, sheet):
        return list(self.merged.get(sheet.name, ()))


def read_table(model, table_id, limits, deadline):
    """(rows, merges) of a table: its values as plain values, cut to the rows and columns
    used, with every row as wide; merged ranges as ((first row, column), (last row, column))."""
    from numbers_parser import Table

    table = Table(model, table_id)
    rows, merges, used_rows, used_columns = [], [], 0, 0
    for index, cells in enumerate(table.rows()):
        if index % 1024 == 0:
            deadline.check()
        row = []
        for cell in cells:
            value = cell_value(cell)
            if isinstance(value, str) and len(value) > limits.max_text_length:
                raise TooLarge(
                    f"A cell holds more than {limits.max_text_length:,} characters, more "
                    "than Sheetport reads of one."
                )
            if value != "":
                used_rows, used_columns = index + 1, max(used_columns, len(row) + 1)
            if getattr(cell, "is_merged", False):
                height, width = cell.size
                merges.append(((index, len(row)), (index + height - 1, len(row) + width - 1)))
                check_merges(len(merges), limits)
            row.append(value)
        rows.append(row)
    rows = [row[:used_columns] for row in rows[:used_rows]]
    merges = [
        (first, (min(last[0], used_rows - 1), min(last[1], used_columns - 1)))
        for first, last in merges
        if first[0] < used_rows and first[1] < used_columns
    ]
    return rows, merges
