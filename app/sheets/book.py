"""Open any supported file as a Book: a list of sheets, each read as rows anchored at A1."""

import codecs
import contextlib
import os
import shutil
import struct
import tempfile
import threading
import weakref
import zipfile
import zlib
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

import olefile
import python_calamine

from . import columnar, looks, ooxml
from .detect import Detection, stream_head
from .encrypted import PlainCopy
from .error_cells import (
    TooManyCells,
    TooManySpaces,
    ods_counts,
    ods_error_cells,
    ods_sheets,
    xls_error_cells,
    xlsb_error_cells,
    xlsb_extents,
    xlsb_without_macro_sheets,
)
from .errors import DAMAGED_DATA, DamagedFile, PasswordProtected, SheetError, TooLarge
from .limits import MiB
from .salvage import Salvaged
from .text import measure_text, read_sample, sniff_delimiter, text_rows

CONCURRENT_SCAN_ABOVE = 8 * MiB  # smaller sheets are measured first: it costs little


# The extensions calamine reads each format by (the first one is given to links).
READER_SUFFIXES = {
    "xlsx": (".xlsx", ".xlsm", ".xltx", ".xltm", ".xlam"),
    "xlsm": (".xlsm", ".xlsx", ".xltx", ".xltm", ".xlam"),
    "xltx": (".xlsx", ".xltx", ".xlsm", ".xltm", ".xlam"),
    "xlsb": (".xlsb",),
    "xls": (".xls", ".xla"),
    "ods": (".ods",),
    "numbers": (".numbers",),  # numbers-parser reads only files so named
}


@dataclass
class SheetInfo:
    name: str
    visible: bool = True
    rows: int = 0  # rows used, counted from row 1 (leading empty rows included)
    columns: int = 0  # columns used, counted from column A
    # "worksheet"; "macro" or "dialog" (Excel 4 macro and Excel 5 dialog sheets, read as
    # worksheets); or "chart": a chart sheet, listed but holding no cells.
    kind: str = "worksheet"


PASSWORD_MESSAGE = (
    "This workbook is protected with a password. Remove the password in Excel or "
    "LibreOffice, save, and upload it again."
)


# What calamine's messages mean, in words for the person who uploaded the file (its own
# text names Rust types and records, and is kept only as the error's detail, for logs).
CALAMINE_CAUSES = [
    (("codepage",), "it uses a character encoding (code page) Sheetport cannot read"),
    (("zip", "eocd", "crc"), "its ZIP container is broken or cut short"),
    (("file not found", "not found in archive", "worksheetnotfound"), "a part is missing"),
    (("cell limit", "too large", "exceeds"), "it claims a size far larger than its data"),
    (("xml", "expecting", "unexpected", "attribute", "syntax", "tag"), "its XML is malformed"),
    (("eof", "end of file", "end of stream", "truncat"), "it ends early"),
    (("cfb", "ole", "sector", "stream"), "its container (OLE) is broken"),
]


def calamine_errors(error, what="workbook"):
    """calamine's exceptions (and Rust panics) as the user-facing errors they mean."""
    if isinstance(error, python_calamine.PasswordError):
        return PasswordProtected(PASSWORD_MESSAGE)
    text = str(error).strip()
    lowered = text.lower()
    cause = next(
        (cause for marks, cause in CALAMINE_CAUSES if any(m in lowered for m in marks)), None
    )
    refused = DamagedFile(
        f"The {what} is damaged and cannot be read: {cause}."
        if cause
        else f"The {what} is damaged and cannot be read."
    )
    refused.detail = text.splitlines()[0][:200] if text else type(error).__name__
    return refused


def guarded(call, what="workbook"):
    try:
        return call()
    except SheetError:
        raise
    except BaseException as error:  # pyo3 turns Rust panics into a BaseException
        if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        raise calamine_errors(error, what) from None


class Book:
    """Base class. `rows(sheet)` yields exactly sheet.rows lists of sheet.columns values."""

    format = ""
    encoding = None
    delimiter = None
    unread = ()  # (name, kind) of sheets the workbook lists that could not be read
    notes = ()  # what the user should know of how the file was read (a repaired file...)
    alias = None  # see reader_path()
    remove_plain_copy = None  # see open_book(): a decrypted copy, removed on close()

    def __init__(self, path, detection, limits):
        self.path = path
        self.detection = detection
        self.format = detection.format
        self.limits = limits
        self.sheets = []

    def sheet(self, name):
        for sheet in self.sheets:
            if sheet.name == name:
                return sheet
        return None

    def check_size(self, sheet, rows, columns):
        if columns > self.limits.max_columns:
            raise TooLarge(
                f"Sheet '{sheet.name}' has more than {self.limits.max_columns:,} columns."
            )
        if rows * columns > self.limits.max_cells:
            raise TooLarge(
                f"Sheet '{sheet.name}' spans {rows:,} rows by {columns:,} columns, more than the "
                f"{self.limits.max_cells:,} cells Sheetport converts at once."
            )

    def merges(self, sheet):
        return []

    def typed_columns(self, sheet, skip):
        raise columnar.NotColumnar(f"{self.format} files take the row-by-row path")

    def look(self, sheet, options):
        """What the sheet's cells said beside their values (a looks.SheetLook), or None
        when this reader cannot tell. Read only for outputs that keep it."""
        return None

    def reader_path(self):
        """The file's path for calamine, fastexcel and numbers-parser, which choose their
        reader by the name's extension: an xls or ods named .xlsx (detected by its bytes)
        gets a link named as what it is, removed on close()."""
        suffixes = READER_SUFFIXES.get(self.format, ())
        if not suffixes or Path(self.path).suffix in suffixes:
            return str(self.path)
        if self.alias is None:
            folder = tempfile.mkdtemp(prefix="sheetport-")
            # Removed on close(), or when a book whose opening failed is collected.
            self.remove_alias = weakref.finalize(self, shutil.rmtree, folder, True)
            alias = os.path.join(folder, "book" + suffixes[0])
            try:
                os.symlink(os.path.abspath(self.path), alias)
            except OSError:  # no symbolic links here: a copy then
                shutil.copyfile(self.path, alias)
            self.alias = alias
        return self.alias

    def close(self):
        if self.alias is not None:
            self.remove_alias()
            self.alias = None
        if self.remove_plain_copy is not None:
            self.remove_plain_copy()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TextBook(Book):
    def __init__(self, path, detection, limits, sheet_name="Sheet1"):
        super().__init__(path, detection, limits)
        self.encoding = detection.encoding
        self.delimiter = sniff_delimiter(read_sample(path, self.encoding))
        rows, columns = measure_text(path, self.encoding, self.delimiter, limits)
        self.sheets = [SheetInfo(sheet_name, True, rows, columns)]
        self.check_size(self.sheets[0], rows, columns)

    def look(self, sheet, options):
        return looks.header_look(options, sheet.columns)  # text says nothing else

    def rows(self, sheet):
        width, remaining = sheet.columns, sheet.rows
        if not remaining:
            return
        for record in text_rows(self.path, self.encoding, self.delimiter, self.limits):
            if len(record) < width:
                record.extend([""] * (width - len(record)))
            yield record[:width] if len(record) > width else record
            remaining -= 1
            if not remaining:
                return


CALAMINE_KINDS = [  # calamine's sheet types are not hashable
    (python_calamine.SheetTypeEnum.WorkSheet, "worksheet"),
    (python_calamine.SheetTypeEnum.MacroSheet, "macro"),
    (python_calamine.SheetTypeEnum.DialogSheet, "dialog"),
    (python_calamine.SheetTypeEnum.ChartSheet, "chart"),
]


class CalamineBook(Book):
    """xls, xlsb and ods: calamine reads each sheet whole. It reads error cells as empty,
    so those are found separately (error_cells.py)."""

    # Found when a sheet is first read (xlsb's when the workbook is opened, see below).
    ERROR_READERS = {"xls": xls_error_cells, "ods": ods_error_cells}

    def __init__(self, path, detection, limits):
        super().__init__(path, detection, limits)
        try:
            self.workbook = guarded(
                lambda: python_calamine.CalamineWorkbook.from_path(self.reader_path())
            )
        except DamagedFile as refused:
            if self.format != "xlsb":
                raise
            self.workbook = self.without_macro_sheets(refused)
        self.loaded = {}
        self.error_cells = None
        self.xlrd_look_book = None  # see look()
        if self.format == "xlsb":  # calamine leaves formula errors out of a sheet's extent
            self.error_cells = xlsb_error_cells(path)
        metadata = guarded(lambda: self.workbook.sheets_metadata)
        if len(metadata) > limits.max_sheets:
            raise TooLarge(f"The workbook has more than {limits.max_sheets:,} sheets.")
        for entry in metadata:
            kind = next((kind for typ, kind in CALAMINE_KINDS if entry.typ == typ), None)
            if kind is None:
                continue
            visible = entry.visible == python_calamine.SheetVisibleEnum.Visible
            sheet = SheetInfo(entry.name, visible, kind=kind)
            if kind == "chart":
                self.sheets.append(sheet)
                continue
            loaded = self.load(sheet)
            end = guarded(lambda loaded=loaded: loaded.end)
            if end is not None:
                sheet.rows, sheet.columns = end[0] + 1, end[1] + 1
            for row, column in (self.error_cells or {}).get(sheet.name, ()):
                sheet.rows, sheet.columns = max(sheet.rows, row + 1), max(sheet.columns, column + 1)
            if sheet.rows:
                self.check_size(sheet, sheet.rows, sheet.columns)
            self.sheets.append(sheet)
            self.loaded.pop(sheet.name, None)  # keep memory to one sheet at a time

    def without_macro_sheets(self, refused):
        """calamine's workbook for an xlsb it refused for listing a macro or dialog sheet,
        opened from a copy that lists only the others; those are noted in self.unread.
        Any other refusal stands."""
        try:
            patched, self.unread = xlsb_without_macro_sheets(self.path)
        except (KeyError, OSError, IndexError, ValueError, *DAMAGED_DATA):
            patched = None
        if patched is None:
            raise refused
        return guarded(lambda: python_calamine.CalamineWorkbook.from_filelike(patched))

    def load(self, sheet):
        if sheet.name not in self.loaded:
            self.loaded.clear()
            self.loaded[sheet.name] = guarded(
                lambda: self.workbook.get_sheet_by_name(sheet.name), f"sheet '{sheet.name}'"
            )
        return self.loaded[sheet.name]

    def rows(self, sheet):
        if not sheet.rows:
            return iter(())
        loaded = self.load(sheet)
        start_column = (guarded(lambda: loaded.start) or (0, 0))[1]
        if self.error_cells is None:
            reader = self.ERROR_READERS.get(self.format)
            self.error_cells = reader(self.path) if reader else {}
        return calamine_rows(loaded, sheet, start_column, self.error_cells.get(sheet.name, {}))

    def merges(self, sheet):
        ranges = guarded(lambda: self.load(sheet).merged_cell_ranges)
        return list(ranges or [])

    def look(self, sheet, options):
        """xls: calamine reads no formats, so xlrd reads the workbook's again for them
        (a second reading of the file, for the XLSX output only). ods: looks.ods_look."""
        if self.format == "ods":
            return looks.ods_look(self.path, sheet.name)
        if self.format != "xls":
            return None  # xlsb: not read yet
        if self.xlrd_look_book is None:
            self.xlrd_look_book = XlrdBook(self.path, self.detection, self.limits)
        book = self.xlrd_look_book
        found = next((known for known in book.sheets if known.name == sheet.name), None)
        return book.look(found, options) if found is not None else None

    def close(self):
        self.loaded.clear()
        guarded(self.workbook.close)
        if self.xlrd_look_book is not None:
            self.xlrd_look_book.close()
        super().close()


class XlrdBook(Book):
    """xls files calamine refuses: code pages it does not know (Mac Central European,
    Mac Roman, Quattro's 0x8001...), BIFF2 to BIFF4 worksheets, records it trips on.
    xlrd reads them, decoding text with the code page the file names (xls_encoding).
    It holds the whole workbook in memory, as calamine does."""

    def __init__(self, path, detection, limits):
        super().__init__(path, detection, limits)
        import xlrd  # only for the few files calamine refuses

        self.xlrd = xlrd
        self.workbook = open_with_xlrd(path)
        if getattr(self.workbook, "sheetport_repaired", False):
            self.notes = [OLE_REPAIRED_NOTE]
        if len(self.workbook.sheet_names()) > limits.max_sheets:
            raise TooLarge(f"The workbook has more than {limits.max_sheets:,} sheets.")
        self.date1904 = bool(self.workbook.datemode)
        self.formats = xlrd_format_kinds(self.workbook)
        self.styles = None  # see look()
        for index, name in enumerate(self.workbook.sheet_names()):
            if self.workbook.biff_version < 50:  # a bare worksheet names no sheet
                name = f"Sheet{index + 1}"  # as LibreOffice calls it (xlrd: "Sheet 1")
            loaded = self.load(index)
            rows, columns = xlrd_extent(loaded)
            sheet = SheetInfo(name, loaded.visibility == 0, rows, columns)
            self.check_size(sheet, rows, columns)
            self.sheets.append(sheet)

    def load(self, index):
        try:
            return self.workbook.sheet_by_index(index)
        except Exception:  # xlrd raises many kinds on damaged records
            raise DamagedFile("The workbook is damaged: a sheet cannot be read.") from None

    def rows(self, sheet):
        loaded = self.load(self.sheets.index(sheet))
        xlrd = self.xlrd
        for index in range(sheet.rows):
            types = loaded.row_types(index, 0, sheet.columns)
            values = loaded.row_values(index, 0, sheet.columns)
            row = [""] * sheet.columns
            for column, (kind, value) in enumerate(zip(types, values, strict=False)):
                if kind == xlrd.XL_CELL_TEXT or kind == xlrd.XL_CELL_NUMBER:
                    row[column] = value
                elif kind == xlrd.XL_CELL_DATE:
                    row[column] = self.moment(loaded, index, column, value)
                elif kind == xlrd.XL_CELL_BOOLEAN:
                    row[column] = bool(value)
                elif kind == xlrd.XL_CELL_ERROR:
                    row[column] = xlrd.error_text_from_code.get(value, "#N/A")
            yield row

    def moment(self, loaded, row, column, serial):
        kind = None
        if self.workbook.formatting_info:
            try:
                kind = self.formats.get(loaded.cell_xf_index(row, column))
            except (IndexError, AttributeError):
                kind = None
            if kind is None:  # xlrd saw a date where the format shows none ([<100]0, say)
                return serial
        else:  # BIFF2-4 without formats read: by the value, as calamine does
            kind = "time" if 0 <= serial < 1 else "date" if serial == int(serial) else "datetime"
        return ooxml.serial_to_value(serial, kind, self.date1904)

    def merges(self, sheet):
        loaded = self.load(self.sheets.index(sheet))
        return [((r0, c0), (r1 - 1, c1 - 1)) for r0, r1, c0, c1 in loaded.merged_cells]

    def look(self, sheet, options):
        if not self.workbook.formatting_info:  # BIFF2-4: xlrd reads no formats from them
            return None
        if self.styles is None:
            self.styles = looks.xlrd_styles(self.workbook)
        loaded = self.load(self.sheets.index(sheet))
        return looks.xlrd_look(self.workbook, loaded, sheet.rows, self.styles)

    def close(self):
        self.workbook.release_resources()
        super().close()


ODS_FALLBACK_CELLS = 5_000_000  # OdsBook keeps every value in a dict: bound its memory


class OdsBook(Book):
    """ods files calamine cannot parse though the package is sound (pretty-printed XML,
    no mimetype member...): content.xml read with expat (error_cells.ods_sheets)."""

    def __init__(self, path, detection, limits):
        super().__init__(path, detection, limits)
        most = min(limits.max_cells, ODS_FALLBACK_CELLS)
        try:
            with self.open_content() as handle:
                tables = ods_sheets(handle, most)
        except TooManyCells:
            raise TooLarge(
                f"The workbook holds more than the {most:,} cells Sheetport reads from an "
                "ods file written this way."
            ) from None
        except TooManySpaces:
            raise TooLarge(
                "The workbook's text repeats spaces far beyond what its cells can hold."
            ) from None
        except (KeyError, OSError, ValueError, *DAMAGED_DATA):
            raise DamagedFile("The workbook is damaged and cannot be read.") from None
        if len(tables) > limits.max_sheets:
            raise TooLarge(f"The workbook has more than {limits.max_sheets:,} sheets.")
        self.cells = {}
        for name, visible, cells in tables:
            rows = max((row for row, _ in cells), default=-1) + 1
            columns = max((column for _, column in cells), default=-1) + 1
            sheet = SheetInfo(name, visible, rows, columns)
            self.check_size(sheet, rows, columns)
            self.sheets.append(sheet)
            self.cells[name] = cells

    @contextlib.contextmanager
    def open_content(self):
        """content.xml, the XML holding the sheets (a flat ods is that XML alone: inputs/)."""
        with zipfile.ZipFile(self.path) as archive, archive.open("content.xml") as handle:
            yield handle

    def look(self, sheet, options):
        return looks.ods_look(self.path, sheet.name) if self.format == "ods" else None

    def rows(self, sheet):
        by_row = {}
        for (row, column), value in self.cells[sheet.name].items():
            by_row.setdefault(row, []).append((column, value))
        for index in range(sheet.rows):
            row = [""] * sheet.columns
            for column, value in by_row.get(index, ()):
                row[column] = value
            yield row


def calamine_may_read_ods(path, detection, limits):
    """Whether calamine may read an ods: not when its space runs are longer than a cell
    holds (calamine would write them out whole), which the bounded reader reads instead.
    A sheet whose repeated cells would make calamine build more cells than Sheetport
    converts is refused here, before calamine allocates them."""
    try:
        too_many_spaces, extents = ods_counts(path)
    except (KeyError, OSError, ValueError, *DAMAGED_DATA):
        return True  # calamine's own reading says what is wrong with the file
    for name, rows, columns, cells_read in extents or ():
        sheet = SheetInfo(name)
        Book(path, detection, limits).check_size(sheet, rows, columns)
        if cells_read > limits.max_cells:
            raise TooLarge(
                f"Sheet '{name}' holds more than the {limits.max_cells:,} cells Sheetport "
                "converts at once."
            )
    return not too_many_spaces


def open_with_xlrd(path):
    """xlrd's Book for an xls, its text decoded with the code page the file names."""
    import xlrd

    encoding = LENIENT_PREFIX + xls_encoding(path)
    with open(os.devnull, "w") as quiet:  # xlrd writes its warnings to a log file
        for formatting_info in (True, False):
            try:
                return xlrd.open_workbook(
                    str(path),
                    formatting_info=formatting_info,
                    encoding_override=encoding,
                    logfile=quiet,
                )
            except xlrd.XLRDError as error:
                if "encrypted" in str(error).lower():
                    raise PasswordProtected(PASSWORD_MESSAGE) from None
                break
            except NotImplementedError:
                continue  # xlrd reads no formatting from BIFF2-4 files
            except Exception:  # xlrd raises many kinds on damaged records
                break
        stream = workbook_stream(path)
        if stream:
            for formatting_info in (True, False):
                try:
                    book = xlrd.open_workbook(
                        file_contents=stream,
                        formatting_info=formatting_info,
                        encoding_override=encoding,
                        logfile=quiet,
                    )
                    book.sheetport_repaired = True
                    return book
                except Exception:  # as above
                    continue
    raise DamagedFile("The workbook is damaged and cannot be read.")


OLE_REPAIRED_NOTE = (
    "The file is damaged (its OLE container is broken): its workbook stream was read "
    "from what remains of it, as LibreOffice reads it."
)


def workbook_stream(path):
    """The Workbook (or Book) stream of an xls whose OLE container calamine and xlrd
    refuse (a broken sector table), as olefile reads it; None when it cannot. xlrd reads
    a bare BIFF stream as it reads Excel 4.0 files. The stream is no larger than the file."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            name = next((n for n in ("Workbook", "Book") if ole.exists(n)), None)
            if name is None or ole.get_size(name) > os.path.getsize(path):
                return None
            return ole.openstream(name).read()
    except Exception:  # olefile raises many kinds on damaged directories
        return None


def open_decrypted(path, detection, limits, bail_out):
    """A workbook encrypted with Excel's default password, read from a decrypted copy
    in a private temporary folder, removed when the book is closed or collected."""
    plain = PlainCopy(path, READER_SUFFIXES[detection.format][0])
    if not plain.opened:
        plain.remove()
        raise PasswordProtected(PASSWORD_MESSAGE)
    return open_copy(plain, detection, limits, bail_out)


def open_copy(plain, detection, limits, bail_out):
    """The book of a private copy (a PlainCopy), which it removes when closed."""
    try:
        book = open_book(plain.path, Detection(detection.format), limits, bail_out=bail_out)
    except BaseException:
        plain.remove()
        raise
    book.remove_plain_copy = weakref.finalize(book, plain.remove)
    return book


# What a damaged ZIP container raises when a member is read: a bad CRC, a central
# directory that is broken or cut short, deflated data that ends early.
BROKEN_ZIP = (zipfile.BadZipFile, zlib.error, EOFError)
SALVAGED_NOTE = (
    "The file is damaged (its ZIP container is broken): it was repaired as LibreOffice "
    "repairs such files, from the parts' own headers, and what could be read is converted."
)


def open_salvaged(path, detection, limits, bail_out, refused):
    """The book of a package rebuilt from its local entries (salvage.py), with a note
    saying so; `refused` (the first error) when that does not read either. The zip
    bomb limits still refuse it."""
    try:
        salvaged = Salvaged(path, limits)
    except (DamagedFile, OSError):
        raise refused from None
    try:
        book = OoxmlBook(salvaged.path, detection, limits, bail_out)
    except TooLarge:
        salvaged.remove()
        raise
    except (SheetError, OSError, *DAMAGED_DATA):
        salvaged.remove()
        raise refused from None
    except BaseException:
        salvaged.remove()
        raise
    book.remove_plain_copy = weakref.finalize(book, salvaged.remove)
    notes = [SALVAGED_NOTE]
    damaged = {ooxml.part_key(name) for name in salvaged.damaged}
    for name, part in book.parts.items():
        if ooxml.part_key(part) in damaged:
            notes.append(
                f"Sheet '{name}' is damaged (its data fails its checksum) and was left "
                "empty, as LibreOffice leaves it."
            )
    book.notes = notes
    return book


def has_member(path, name):
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo(name)
        return True
    except (KeyError, OSError, zipfile.BadZipFile):
        return False


class StandardXlsb(PlainCopy):
    """A copy of an xlsb whose parts are not where calamine (and Excel's own writer)
    put them: the workbook in another folder than xl/ (SheetJS's wtf_path.xlsb), or
    names with backslashes or in other case. The package names its workbook part in
    _rels/.rels, and relationships are relative to their part, so renaming that part's
    folder to xl/ (and the part to workbook.bin) keeps every reference sound."""

    def __init__(self, path):  # not PlainCopy's: that one decrypts
        self.folder = tempfile.mkdtemp(prefix="sheetport-plain-")
        self.path = os.path.join(self.folder, "book.xlsb")
        try:
            with ooxml.Package(path) as archive:
                workbook = archive.keys.get(ooxml.part_key(archive.workbook_part))
                self.opened = bool(workbook) and standard_xlsb(archive, workbook, self.path)
        except (zipfile.BadZipFile, OSError, KeyError, *DAMAGED_DATA):
            self.opened = False
        if not self.opened:
            self.remove()
            raise DamagedFile("The workbook is damaged and cannot be read: a part is missing.")


def standard_xlsb(archive, workbook, into):
    """Write `archive` to `into` with `workbook`'s folder named xl/ and the part named
    xl/workbook.bin. False when there is nothing to put right."""
    folder, _, name = ooxml.part_key(workbook).rpartition("/")
    old = f"{folder}/" if folder else ""
    if f"{old}_rels/{name}.rels" not in archive.keys:
        return False  # a workbook without its relationships lists no sheets we can find
    renames = {}
    for member in archive.namelist():
        key = member.replace("\\", "/").lstrip("/")
        if key.lower() == ooxml.part_key(workbook):
            key = "xl/workbook.bin"
        elif key.lower() == f"{old}_rels/{name}.rels":
            key = "xl/_rels/workbook.bin.rels"
        elif old and key.lower().startswith(old):
            key = "xl/" + key[len(old) :]
        renames[member] = key
    if renames.get(workbook) != "xl/workbook.bin":
        return False
    with zipfile.ZipFile(into, "w", zipfile.ZIP_DEFLATED) as copy:
        for member, key in renames.items():
            data = archive.read(member)
            if key == "_rels/.rels" or key.lower() == "[content_types].xml":
                data = data.replace(f"/{workbook}".encode(), b"/xl/workbook.bin")
                data = data.replace(f'"{workbook}"'.encode(), b'"xl/workbook.bin"')
                if old:
                    data = data.replace(f"/{old}".encode(), b"/xl/")
            copy.writestr(key, data)
    return True


# Code pages BIFF names by numbers that are not Windows code pages (as xlrd maps them).
XLS_CODE_PAGES = {
    10000: "mac_roman",
    10006: "mac_greek",
    10007: "mac_cyrillic",
    10029: "mac_latin2",
    10079: "mac_iceland",
    10081: "mac_turkish",
    0x8000: "mac_roman",  # Apple Roman, in BIFF2-BIFF5
    0x8001: "cp1252",  # "ANSI Latin I", in BIFF2-BIFF3 and Quattro's files
    1200: "utf_16_le",
}
BIFF_CODEPAGE, BIFF_BOUNDSHEET = 0x0042, 0x0085


def xls_encoding(path):
    """The encoding of an xls file's byte strings, from its CODEPAGE record. Where it
    names none, or one Python lacks, cp1252: what Excel and LibreOffice assume on
    Western systems (xlrd would take latin-1, which turns quotes and dashes into
    control characters)."""
    code_page = xls_code_page(path)
    if code_page is None:
        return "cp1252"
    try:
        return codecs.lookup(XLS_CODE_PAGES.get(code_page, f"cp{code_page}")).name
    except LookupError:
        return "cp1252"


def xls_code_page(path):
    """The number in an xls file's CODEPAGE record, or None."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            name = next((n for n in ("Workbook", "Book") if ole.exists(n)), None)
            stream = stream_head(ole, name) if name else b""
    except Exception:  # not an OLE file: a bare BIFF2-4 stream
        with open(path, "rb") as handle:
            stream = handle.read(1 << 16)
    position = 0
    while position + 6 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, position)
        if kind == BIFF_CODEPAGE and size >= 2:
            return struct.unpack_from("<H", stream, position + 4)[0]
        if kind == BIFF_BOUNDSHEET:  # the CODEPAGE record comes before the sheets
            return None
        position += 4 + size
    return None


# BIFF records calamine places a cell by: row and column (2 bytes each) first. MULRK
# (0x00BD) holds several, from its first column on, 6 bytes each.
BIFF_CELLS = frozenset({0x0006, 0x00FD, 0x0203, 0x0204, 0x0205, 0x027E, 0x00D6})
BIFF_MULRK, BIFF_DIMENSIONS, BIFF_EOF = 0x00BD, 0x0200, 0x000A
CALAMINE_CELL_BYTES = 40  # what calamine reserves for each cell a DIMENSIONS record claims


def check_xlsb_extents(path, detection, limits):
    """Refuse an xlsb whose sheet's cells lie further apart than Sheetport converts,
    before calamine builds the grid between them (it checks rows, not columns: a cell at
    column 4,000,000,000 asks for terabytes and aborts the process)."""
    try:
        extents = xlsb_extents(path)
    except (KeyError, OSError, IndexError, ValueError, *DAMAGED_DATA):
        return  # calamine's own reading says what is wrong with the file
    for name, rows, columns in extents:
        Book(path, detection, limits).check_size(SheetInfo(name), rows, columns)


def calamine_may_read_xls(path, limits):
    """Whether calamine may read an xls: not when a sheet's DIMENSIONS record claims more
    cells than Sheetport converts (calamine reserves memory for them all, and counts
    with wrapping arithmetic), or its cells lie further apart than that (calamine builds
    the grid between them): a column at 65,535 asks for 137 GB and aborts the process.
    xlrd reads those files, within BIFF's own 65,536 rows and 256 columns."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            name = next((n for n in ("Workbook", "Book") if ole.exists(n)), None)
            stream = ole.openstream(name).read() if name else b""
    except Exception:  # not an OLE file (a bare BIFF2-4 stream): xlrd reads it first
        return True
    wrap = 0xFFFFFFFF
    position, extent = 0, None  # extent: [first row, last row, first column, last column]
    while position + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, position)
        body = position + 4
        position = body + size
        if kind in BIFF_CELLS or kind == BIFF_MULRK:
            if size < 4 or position > len(stream):
                continue
            row, column = struct.unpack_from("<HH", stream, body)
            last = column + max((size - 6) // 6 - 1, 0) if kind == BIFF_MULRK else column
            if extent is None:
                extent = [row, row, column, last]
            else:
                extent[0], extent[1] = min(extent[0], row), max(extent[1], row)
                extent[2], extent[3] = min(extent[2], column), max(extent[3], last)
        elif kind == BIFF_DIMENSIONS and size in (10, 14) and position <= len(stream):
            if size == 14:
                first_row, end_row, first_column, end_column = struct.unpack_from(
                    "<IIHH", stream, body
                )
            else:
                first_row, end_row, first_column, end_column = struct.unpack_from(
                    "<HHHH", stream, body
                )
            if first_column > 0xFF or end_column < first_column:
                first_column = 0
            if end_row >= 1 and end_column >= 1:  # calamine's sums, in 32 bits
                rows = ((end_row - 1 - first_row) & wrap) + 1
                columns = ((end_column - 1 - first_column) & wrap) + 1
                if rows * columns > limits.max_cells:
                    return False
        elif kind == BIFF_EOF and extent is not None:  # the end of a sheet
            rows, columns = extent[1] - extent[0] + 1, extent[3] - extent[2] + 1
            if rows * columns > limits.max_cells or columns > limits.max_columns:
                return False
            extent = None
    return True


LENIENT_PREFIX = "sheetport_lenient_"


def lenient_codec(name):
    """Codecs named sheetport_lenient_<encoding>: <encoding>, with bytes it has no
    character for shown as U+FFFD instead of failing the whole file."""
    if not name.startswith(LENIENT_PREFIX):
        return None
    base = codecs.lookup(name[len(LENIENT_PREFIX) :])
    return codecs.CodecInfo(
        base.encode, lambda data, errors="strict": base.decode(data, "replace"), name=name
    )


codecs.register(lenient_codec)


def xlrd_reads_better(path):
    """Whether xlrd should read an xls before calamine: Excel 95 and older files (a
    "Book" stream, or a bare BIFF2-4 one), whose byte strings calamine decodes without
    their code page in places; and BIFF8 files naming a code page other than UTF-16
    (1200), whose 8-bit strings calamine spreads out with NULs ("T\x00i\x00t..."),
    as some writers other than Excel make them."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {entry[0].lower() for entry in ole.listdir(streams=True)}
    except Exception:  # not an OLE file: a bare BIFF2-4 stream
        return True
    return "book" in streams or xls_code_page(path) not in (None, 1200)


def xlrd_format_kinds(book):
    """{XF index: 'date', 'datetime', 'time', 'duration'} for the cell formats that show one."""
    kinds = {}
    for index, xf in enumerate(getattr(book, "xf_list", None) or ()):
        number_format = book.format_map.get(xf.format_key)
        if number_format is not None:
            kind = ooxml.classify_format(number_format.format_str or "")
            if kind:
                kinds[index] = kind
    return kinds


def xlrd_extent(loaded):
    """(rows, columns) holding values: formatting_info makes xlrd count blank cells too."""
    import xlrd

    empty = (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK)
    rows = columns = 0
    for index in range(loaded.nrows):
        types = loaded.row_types(index)
        used = [column for column, kind in enumerate(types) if kind not in empty]
        if used:
            rows, columns = index + 1, max(columns, used[-1] + 1)
    return rows, columns


def calamine_rows(loaded, sheet, start_column, errors):
    """Rows from calamine, which starts its columns at the first used one: pad back to A.

    The common case (data from column A, no error cells) is calamine's own iterator,
    so no Python code runs per row.
    """
    iterator = guarded(loaded.iter_rows, f"sheet '{sheet.name}'")
    if not start_column and not errors:
        return islice(iterator, sheet.rows)
    return padded_rows(iterator, sheet, start_column, errors)


def padded_rows(iterator, sheet, start_column, errors):
    lead = [""] * start_column
    width = sheet.columns
    errors_by_row = {}
    for (row_index, column), text in errors.items():
        errors_by_row.setdefault(row_index, []).append((column, text))
    # Error cells may lie past calamine's last row: empty rows carry them.
    rows = islice(chain(iterator, iter(list, None)), sheet.rows)
    for index, row in enumerate(rows):
        if lead:
            row = lead + row
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        for column, text in errors_by_row.get(index, ()):
            if column < len(row):
                row[column] = text
        yield row


class OoxmlBook(Book):
    """xlsx, xlsm, xltx: each sheet is measured first (see ooxml.py), then read by
    calamine when that is safe and small, or streamed when its XML is large.

    Inside a sandboxed child (`bail_out` given), a large sheet is measured while calamine
    reads it, on the other core: calamine lets go of the GIL while it parses, and if the
    measurement finds a hostile extent, bail_out ends the child before calamine allocates.
    """

    def __init__(self, path, detection, limits, bail_out=None):
        super().__init__(path, detection, limits)
        try:
            self.archive = ooxml.Package(path)
        except OSError:
            raise DamagedFile(
                "The workbook is damaged: it is not a readable ZIP package."
            ) from None  # a BadZipFile goes on to open_book, which may repair the package
        listed, hidden, self.date1904 = ooxml.sheet_parts(self.archive)
        self.parts = {name: part for name, part, kind in listed if kind != "chart"}
        self.missing_indices = None  # see scan()
        self.padded_strings = None  # see calamine_trims()
        self.bail_out = bail_out
        self.workbook = None  # calamine's, opened when a sheet is read through it
        self.scans = {}
        self.xml_sizes = {}
        self.streaming_parts = None
        self.styles = None  # see look()
        # calamine and fastexcel would reserve memory for every string it announces.
        self.strings_overstated = ooxml.text_table_overstated(self.archive)
        if len(listed) > limits.max_sheets:
            raise TooLarge(f"The workbook has more than {limits.max_sheets:,} sheets.")
        for name, part, kind in listed:
            sheet = SheetInfo(name, name not in hidden, kind=kind)
            if kind == "chart":
                self.sheets.append(sheet)
                continue
            try:
                size = self.xml_sizes[name] = self.archive.getinfo(part).file_size
            except KeyError:
                raise DamagedFile(f"The workbook is damaged: {part} is missing.") from None
            extent = None
            if bail_out and CONCURRENT_SCAN_ABOVE < size <= limits.stream_above_bytes:
                extent = ooxml.dimension_extent(self.archive, part)
            if extent:  # an estimate for now; measured exactly beside calamine in rows()
                sheet.rows, sheet.columns = extent
            else:
                scan = self.scans[name] = self.scan(name)
                self.check_scan(sheet, scan)
                sheet.rows, sheet.columns = scan.rows, scan.columns
            self.sheets.append(sheet)

    def scan(self, name):
        """Measure a sheet (ooxml.scan_sheet). For a sheet the columnar fast path may read,
        also note where texts such as NA are, which needs the shared strings searched."""
        size = self.xml_sizes[name]
        missing = None
        if self.limits.columnar_above_bytes < size <= self.limits.stream_above_bytes:
            if self.missing_indices is None:
                self.missing_indices, self.padded_strings = ooxml.missing_text_indices(self.archive)
            missing = self.missing_indices
        return ooxml.scan_sheet(self.archive, self.parts[name], missing)

    def calamine_trims(self, scan):
        """Whether calamine would trim text of this sheet (ooxml.PADDED_TEXT), or copy
        one long shared string into a great many cells (ooxml.repeats_long_text): then
        the streaming reader reads it, slower but keeping the text as stored, in flat
        memory."""
        if self.padded_strings is None:
            self.padded_strings = ooxml.padded_shared_strings(self.archive)
        if scan.padded_text or self.padded_strings:
            return True
        if scan.repeats_long_text is None:
            name = next((n for n, known in self.scans.items() if known is scan), None)
            scan.repeats_long_text = name is not None and ooxml.repeats_long_text(
                self.archive, self.parts[name], scan.xml_bytes
            )
        return scan.repeats_long_text

    def check_scan(self, sheet, scan):
        """Refuse a sheet whose extent is too large. The quick scan bounds it by every row
        and cell named, values or not; a sheet that fails that bound (Gnumeric writes
        styled empty cells out to XFD1048576) is measured exactly, by its values, which
        is what calamine allocates for."""
        try:
            self.check_size(sheet, scan.max_row, scan.columns or scan.column_bound)
        except TooLarge:
            if scan.parse:
                raise
            scan.parse = True
            ooxml.scan_in_order(self.archive, self.parts[sheet.name], scan)
            self.check_size(sheet, scan.max_row, scan.columns or scan.column_bound)

    def calamine_workbook(self):
        if self.workbook is None:
            self.workbook = python_calamine.CalamineWorkbook.from_path(self.reader_path())
        return self.workbook

    def rows(self, sheet):
        if sheet.kind == "chart":
            return iter(())
        if self.xml_sizes[sheet.name] > self.limits.stream_above_bytes:
            return self.stream(sheet, self.scans[sheet.name])
        if self.strings_overstated:
            scan = self.scans.get(sheet.name)
            if scan is None:
                scan = self.scans[sheet.name] = self.scan(sheet.name)
                self.check_scan(sheet, scan)
            sheet.rows, sheet.columns = scan.rows, scan.columns or scan.column_bound
            return self.stream(sheet, scan)
        scan = self.scans.get(sheet.name)
        if scan is not None and self.calamine_trims(scan):
            sheet.rows, sheet.columns = scan.rows, scan.columns or scan.column_bound
            return self.stream(sheet, scan)
        try:
            if sheet.name in self.scans:
                loaded = self.load(sheet)
            else:
                loaded, _ = self.load_while_scanning(sheet)
            end = guarded(lambda: loaded.end)
        except DamagedFile:  # calamine cannot read it, but the package may be sound
            end = None
        scan = self.scans[sheet.name]
        if end is None or self.calamine_trims(scan):
            # calamine failed, or found nothing where the XML has values: read it here.
            # This reader fails loudly if the XML is damaged; it never yields a
            # half-read sheet as if that were all.
            if not scan.rows:
                return iter(())
            sheet.rows, sheet.columns = scan.rows, scan.columns or scan.column_bound
            return self.stream(sheet, scan)
        # calamine's own extent is exact; the scan's was an estimate.
        sheet.rows, sheet.columns = end[0] + 1, end[1] + 1
        return calamine_rows(loaded, sheet, (loaded.start or (0, 0))[1], scan.errors)

    def load(self, sheet):
        return guarded(
            lambda: self.calamine_workbook().get_sheet_by_name(sheet.name), f"sheet '{sheet.name}'"
        )

    def load_while_scanning(self, sheet, load=None):
        """Read the sheet with `load` (calamine by default) while the other core measures it."""
        outcome = {}

        def measure():
            try:
                scan = self.scan(sheet.name)
                self.check_scan(sheet, scan)
                outcome["scan"] = scan
            except SheetError as error:
                self.bail_out(error)  # does not return: the process ends here
            except BaseException as error:  # handed to the reading thread
                outcome["error"] = error

        measuring = threading.Thread(target=measure, daemon=True)
        measuring.start()
        try:
            loaded = load() if load else self.load(sheet)
        finally:
            measuring.join()
            if "error" in outcome:
                raise outcome["error"]
            self.scans[sheet.name] = outcome["scan"]
        return loaded, outcome["scan"]

    def typed_columns(self, sheet, skip):
        """The fast path's reading (see columnar.py): the first `skip` rows as lists of
        values, and the rest of the sheet as Arrow columns. Raises NotColumnar when the
        sheet does not suit it; rows() still reads it then, without measuring it again."""
        if sheet.kind == "chart":
            raise columnar.NotColumnar("a chart sheet has no cells")
        size = self.xml_sizes[sheet.name]
        if size > self.limits.stream_above_bytes:
            raise columnar.NotColumnar("a sheet this large is streamed")
        if size <= self.limits.columnar_above_bytes:
            raise columnar.NotColumnar("a sheet this small is done sooner row by row")
        if self.strings_overstated:
            raise columnar.NotColumnar("the text table announces more strings than it holds")

        def load():
            return columnar.load_columns(self.reader_path(), sheet.name, skip)

        scan = self.scans.get(sheet.name)
        if scan is not None and self.calamine_trims(scan):
            raise columnar.NotColumnar("text with white space at its ends, which fastexcel trims")
        if scan is None:
            batch, scan = self.load_while_scanning(sheet, load)
        else:
            batch = load()
        if self.calamine_trims(scan):
            raise columnar.NotColumnar("text with white space at its ends, which fastexcel trims")
        # fastexcel reads a text such as NA among numbers as an empty cell.
        gaps, missing = columnar.gap_columns(batch), scan.missing_text_columns
        if gaps and (missing is None or gaps & missing):
            raise columnar.NotColumnar("a text such as NA among numbers, dates or booleans")
        width = batch.num_columns
        leading = list(islice(self.first_rows(sheet, width), skip))
        # fastexcel, like calamine, starts at the first used row and column: A1 must be used.
        if not leading or leading[0][0] == "" or any(len(row) > width for row in leading):
            raise columnar.NotColumnar("the sheet does not start at A1")
        if any(type(value) not in (str, float, bool) for row in leading for value in row):
            raise columnar.NotColumnar("dates above the columns")  # read as calamine would
        sheet.rows, sheet.columns = len(leading) + batch.num_rows, width
        for (row, column), text in scan.errors.items():
            if row < len(leading) and column < width:
                leading[row][column] = text
        errors = {
            (row - skip, column): text
            for (row, column), text in scan.errors.items()
            if row >= skip and column < width
        }
        return columnar.TypedSheet(leading, batch, errors, self.date1904)

    def first_rows(self, sheet, width):
        """The sheet's first rows, read from its XML as far as they go: no table is read whole."""
        return ooxml.stream_rows(
            self.archive,
            self.parts[sheet.name],
            width,
            ooxml.SharedStrings(self.archive),
            ooxml.number_format_kinds(self.archive),
            self.date1904,
            chunk_size=1 << 14,
        )

    def stream(self, sheet, scan):
        if self.streaming_parts is None:
            self.streaming_parts = (
                ooxml.read_shared_strings(self.archive),
                ooxml.number_format_kinds(self.archive),
            )
        shared_strings, kinds = self.streaming_parts
        if not sheet.columns:
            sheet.columns = scan.column_bound
        rows = ooxml.stream_rows(
            self.archive,
            self.parts[sheet.name],
            sheet.columns,
            shared_strings,
            kinds,
            self.date1904,
        )
        return islice(rows, sheet.rows)

    def look(self, sheet, options):
        if sheet.kind == "chart":
            return None
        if self.styles is None:
            self.styles = looks.ooxml_styles(self.archive)
        return looks.ooxml_look(self.archive, self.parts[sheet.name], self.styles)

    def merges(self, sheet):
        if sheet.kind == "chart":
            return []
        if self.xml_sizes[sheet.name] > self.limits.stream_above_bytes or self.strings_overstated:
            return ooxml.scan_merges(self.archive, self.parts[sheet.name])
        try:
            loaded = self.load(sheet)
            return list(guarded(lambda: loaded.merged_cell_ranges) or [])
        except DamagedFile:  # as in rows(): calamine's failure is not the package's
            return ooxml.scan_merges(self.archive, self.parts[sheet.name])

    def close(self):
        if self.workbook is not None:
            guarded(self.workbook.close)
        self.archive.close()
        super().close()


def open_book(path, detection: Detection, limits, text_sheet_name="Sheet1", bail_out=None):
    if detection.default_password:
        return open_decrypted(path, detection, limits, bail_out)
    if detection.format == "csv":
        return TextBook(path, detection, limits, text_sheet_name)
    from .inputs import BOOKS, open_input  # here: those readers import this module

    if detection.format in BOOKS:
        return open_input(path, detection, limits, text_sheet_name)
    if detection.format in ("xlsx", "xlsm", "xltx"):
        try:
            return OoxmlBook(path, detection, limits, bail_out)
        except BROKEN_ZIP as refused:
            return open_salvaged(path, detection, limits, bail_out, refused)
    if detection.format == "ods":
        if not calamine_may_read_ods(path, detection, limits):
            return OdsBook(path, detection, limits)
        try:
            return CalamineBook(path, detection, limits)
        except DamagedFile as refused:
            try:  # the package may be sound where calamine's parser is strict
                return OdsBook(path, detection, limits)
            except DamagedFile:
                raise refused from None
    if detection.format == "xlsb" and not has_member(path, "xl/workbook.bin"):
        return open_copy(StandardXlsb(path), detection, limits, bail_out)
    if detection.format == "xlsb":
        check_xlsb_extents(path, detection, limits)
    if detection.format != "xls":
        return CalamineBook(path, detection, limits)
    # Excel 95 and older are small files, whose byte strings calamine decodes without
    # their code page in places (rich text, files naming none): xlrd reads them first.
    # Otherwise calamine does, and what it refuses, xlrd may read.
    readers = [XlrdBook, CalamineBook] if xlrd_reads_better(path) else [CalamineBook, XlrdBook]
    if not calamine_may_read_xls(path, limits):
        return XlrdBook(path, detection, limits)  # within BIFF's 65,536 rows, 256 columns
    try:
        return readers[0](path, detection, limits)
    except DamagedFile as refused:
        try:
            return readers[1](path, detection, limits)
        except DamagedFile:
            raise refused from None
