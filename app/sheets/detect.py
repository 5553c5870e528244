"""Tell what a file really is from its bytes, never from its name."""

import codecs
import re
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import olefile

from .encrypted import PlainCopy, damaged_contents
from .errors import (
    DamagedFile,
    EmptyFile,
    NotASpreadsheet,
    OtherDocument,
    PasswordProtected,
    TooLarge,
)
from .formats import INPUTS
from .limits import DEFAULT_LIMITS
from .ooxml import Package
from .salvage import Salvaged

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TEXT_SAMPLE = 1 << 20

# Things people upload by mistake, named so the message can say what the file is.
OTHER_KINDS = [
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"{\\rtf", "an RTF document"),
]
BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xlsm",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "xltx",
    "application/vnd.ms-excel.template.macroEnabled.main+xml": "xlsm",
}
# What detection can find, with how pages and messages name it: the registry's inputs.
FORMAT_NAMES = {found.name: found.description for found in INPUTS.values()}


@dataclass(frozen=True)
class Detection:
    format: str  # one of FORMAT_NAMES
    encoding: str | None = None  # text files only
    default_password: bool = False  # encrypted with Excel's default password (encrypted.py)

    @property
    def description(self):
        return FORMAT_NAMES[self.format]

    @property
    def is_text(self):
        return self.format == "csv"


def detect_format(path, limits=DEFAULT_LIMITS):
    """Return the Detection for `path`, or raise a SheetError saying what is wrong."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(TEXT_SAMPLE)
    if not head:
        raise EmptyFile("The file is empty.")
    if head.startswith(ZIP_MAGIC):
        return Detection(detect_zip(path, limits))
    if head.startswith(OLE_MAGIC):
        kind = detect_ole(path)
        if kind == ENCRYPTED:
            return Detection(default_password_format(path, limits), default_password=True)
        return Detection(kind)
    if bare_biff(head):
        return Detection("xls")
    for magic, kind in OTHER_KINDS:
        if head.startswith(magic):
            raise OtherDocument(f"This file is {kind}, not a spreadsheet.")
    complete = len(head) < TEXT_SAMPLE
    encoding = detect_text_encoding(head, complete)
    from .inputs import recognise  # here: the readers there import book.py, which imports this

    recognised = recognise(head, encoding, complete)
    if recognised:
        return Detection(*recognised)
    return Detection("csv", encoding)


def check_zip_sizes(archive, limits):
    """Refuse zip bombs from the central directory, before anything is inflated.

    The readers (Python's zipfile and calamine's zip crate) stop at each member's
    declared size, so checking the declared sizes bounds what they will inflate.
    """
    total = 0
    for member in archive.infolist():
        total += member.file_size
        if total > limits.max_unpacked_bytes:
            raise TooLarge(
                f"The file unpacks to more than {limits.max_unpacked_bytes // 2**20} MB, "
                "which is more than Sheetport accepts."
            )
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > limits.ratio_floor_bytes and ratio > limits.max_compression_ratio:
            raise TooLarge(
                "The file is compressed suspiciously well (it unpacks to "
                f"{ratio:.0f} times its size) and was refused as a possible zip bomb."
            )


def detect_zip(path, limits):
    try:
        with Package(path) as archive:
            check_zip_sizes(archive, limits)
            keys = archive.keys
            if "xl/workbook.bin" in keys:
                return "xlsb"
            if keys.keys() & {"xl/workbook.xml", "[content_types].xml", "_rels/.rels"}:
                return ooxml_kind(archive, keys)
            if numbers_kind(keys):
                return "numbers"
            if "mimetype" in keys:
                mimetype = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if mimetype.startswith("application/vnd.oasis.opendocument.spreadsheet"):
                    return "ods"
                raise OtherDocument(
                    "This is an OpenDocument file, but not a spreadsheet "
                    f"({mimetype[:60] or 'unknown kind'})."
                )
            if "content.xml" in keys and "meta-inf/manifest.xml" in keys:
                return "ods"
    except (zipfile.BadZipFile, zlib.error):
        return salvaged_kind(path, limits)
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError):
        raise DamagedFile(
            "The file looks like a workbook but cannot be opened: its ZIP archive uses "
            "features Sheetport cannot read."
        ) from None
    raise NotASpreadsheet("This is a ZIP archive, not a spreadsheet.")


def numbers_kind(keys):
    """Whether a ZIP's members are an Apple Numbers document's: its Index/Document.iwa (at
    the top, or in a folder as some copies have it), or a package's Index.zip beside its
    properties. Keynote's presentations are iWork ZIPs too, told by their slides."""
    if "index.zip" in keys and "metadata/properties.plist" in keys:
        return True
    if not any(key == IWORK_DOCUMENT or key.endswith("/" + IWORK_DOCUMENT) for key in keys):
        return False
    if any(key.startswith(("index/slide", "index/masterslide")) for key in keys):
        raise OtherDocument("This is a Keynote presentation, not a spreadsheet.")
    return True


IWORK_DOCUMENT = "index/document.iwa"


def salvaged_kind(path, limits):
    """The kind of a ZIP archive whose central directory is broken, from its members
    found by their local headers (salvage.py); book.open_book repairs it again to read
    it. Only the OOXML kinds are read so: others are refused as damaged."""
    salvaged = None
    try:
        salvaged = Salvaged(path, limits)
        kind = detect_zip(salvaged.path, limits)
    except (DamagedFile, NotASpreadsheet, OSError):
        kind = None
    finally:
        if salvaged is not None:
            salvaged.remove()
    if kind not in OOXML_KINDS:
        raise DamagedFile(
            "The file looks like a workbook but is damaged: it is not a readable ZIP archive."
        )
    return kind


OOXML_KINDS = ("xlsx", "xlsm", "xltx")


def ooxml_kind(archive, keys):
    if "word/document.xml" in keys:
        raise OtherDocument("This is a Word document, not a spreadsheet.")
    if "ppt/presentation.xml" in keys:
        raise OtherDocument("This is a PowerPoint presentation, not a spreadsheet.")
    if not archive.has(archive.workbook_part):
        raise NotASpreadsheet("This is an Office file, but not a spreadsheet.")
    if archive.workbook_part.lower().endswith(".bin"):  # an xlsb's workbook kept elsewhere
        return "xlsb"
    try:
        content_types = archive.read("[Content_Types].xml")[:200_000].decode("utf-8", "replace")
    except KeyError:
        return "xlsx"
    for content_type, kind in OOXML_MAIN.items():
        if content_type in content_types:
            return kind
    return "xlsx"


PASSWORD_MESSAGE = (
    "This workbook is protected with a password. Open it in Excel, remove the "
    "password (File > Info > Protect Workbook), save, and upload it again."
)
BIFF_FILEPASS, BIFF_BOUNDSHEET, BIFF_EOF = 0x002F, 0x0085, 0x000A


ENCRYPTED = "encrypted"


def default_password_format(path, limits):
    """The format of the workbook inside an encrypted one, when Excel's default password
    opens it (Excel and LibreOffice open those without asking); else PasswordProtected.
    When the password opens it but what it holds is not a document, the file is damaged."""
    plain = PlainCopy(path, ".bin")
    try:
        if not plain.opened:
            raise PasswordProtected(PASSWORD_MESSAGE)
        with open(plain.path, "rb") as handle:
            document = handle.read(8).startswith((*ZIP_MAGIC, OLE_MAGIC))
        try:
            inner = detect_format(plain.path, limits)
        except OtherDocument:
            raise  # a Word document encrypted so, say: that error says so
        except (NotASpreadsheet, EmptyFile) as error:  # a ZIP, or bytes, that are no document
            raise damaged_contents(error) from None
        if inner.default_password or not document:  # text: the bytes did not decrypt
            raise damaged_contents()
        return inner.format
    finally:
        plain.remove()


def detect_ole(path):
    """The format of an OLE2 file: "xls", or ENCRYPTED (an xls with a FILEPASS record, or
    an encrypted OOXML package); other Office files are refused."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            entries = {"/".join(entry).lower(): entry for entry in ole.listdir(streams=True)}
            book = entries.get("workbook") or entries.get("book")
            head = stream_head(ole, book) if book else b""
    except Exception:  # olefile raises many kinds on damaged directories (even recursion)
        raise DamagedFile(
            "The file looks like an Excel 97-2003 workbook but is damaged: its "
            "container cannot be read."
        ) from None
    if "encryptedpackage" in entries or "encryptioninfo" in entries or has_filepass(head):
        return ENCRYPTED
    if book:
        return "xls"
    if "worddocument" in entries:
        raise OtherDocument("This is a Word 97-2003 document, not a spreadsheet.")
    if "powerpoint document" in entries:
        raise OtherDocument("This is a PowerPoint 97-2003 presentation, not a spreadsheet.")
    raise NotASpreadsheet("This is an Office file, but not a spreadsheet.")


def stream_head(ole, name, size=1 << 16):
    """The first `size` bytes of an OLE stream. olefile's openstream reads a stream whole
    (an xls's Workbook stream is the whole file), so a large one is followed sector by
    sector through the FAT for just its start."""
    try:
        entry = ole.direntries[ole._find(name)]
        if entry.size >= ole.minisectorcutoff:
            head, sector = bytearray(), entry.isectStart
            while len(head) < min(size, entry.size) and sector < olefile.MAXREGSECT:
                ole.fp.seek(ole.sectorsize * (sector + 1))
                head += ole.fp.read(ole.sectorsize)
                sector = ole.fat[sector]
            return bytes(head[: min(size, entry.size)])
    except (AttributeError, IndexError, OSError):  # olefile's insides changed: read it whole
        pass
    return ole.openstream(name).read(size)


def bare_biff(head):
    """Excel 2.x to 4.0 worksheets (and some Quattro and Works exports) are a bare BIFF
    stream, not in an OLE container: a BOF record (type 0x0009, 0x0209, 0x0409 or
    0x0809, 4 to 20 bytes), then records whose sizes walk on through the bytes."""
    if len(head) < 8 or head[0] != 0x09 or head[1] not in (0x00, 0x02, 0x04, 0x08):
        return False
    position, records = 0, 0
    while position + 4 <= len(head) and records < 8:
        kind, size = struct.unpack_from("<HH", head, position)
        if records == 0 and not 4 <= size <= 20:
            return False
        if kind == 0 or size > 8224:  # no record type 0; BIFF records are short
            return False
        position += 4 + size
        records += 1
    return records >= 3 or position == len(head)


def has_filepass(stream):
    """Whether a BIFF workbook stream is encrypted (XOR obfuscation or RC4): a FILEPASS
    record among the first records, before the sheets are listed. The rest of the
    stream is then unreadable, so readers that miss it report nonsense."""
    position = 0
    while position + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, position)
        if kind == BIFF_FILEPASS:
            return True
        if kind in (BIFF_BOUNDSHEET, BIFF_EOF):
            return False
        position += 4 + size
    return False


def detect_text_encoding(sample, complete):
    """The encoding of a text file from its first bytes: BOM, else UTF-8, else detected."""
    for bom, encoding in BOMS:
        if sample.startswith(bom):
            return encoding
    if b"\x00" in sample:
        encoding = bomless_utf16(sample, complete)
        if encoding is None:
            raise NotASpreadsheet("This file is not a spreadsheet or a text file.")
        return encoding
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = guess_legacy_encoding(sample)
        text = sample.decode(encoding, errors="replace")
    # Single-byte encodings decode anything; binary data shows itself by control characters.
    controls = sum(1 for char in text if char < " " and char not in "\t\n\r\f\v")
    if controls > max(2, len(text) // 200):
        raise NotASpreadsheet("This file is not a spreadsheet or a text file.")
    return encoding


# What marks text as a table: a UTF-16 sample read in the wrong byte order has none of them
# ('a,b\n' in UTF-16LE read as big-endian is three CJK ideographs).
TABLE_MARKS = ("\n", "\r", "\t", ",", ";")


def bomless_utf16(sample, complete):
    """'utf-16-le' or 'utf-16-be' for UTF-16 text without a byte order mark (Windows tools
    and some exports write it so), told by which order decodes to text with line breaks or
    separators and no NULs or other controls; None for anything else."""
    best, best_marks = None, 0
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=complete)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for char in text if char < " " and char not in "\t\n\r\f\v")
        marks = sum(text.count(mark) for mark in TABLE_MARKS)
        if controls <= max(2, len(text) // 200) and marks > best_marks:
            best, best_marks = encoding, marks
    return best


# A legacy file that could be Western European is read as that: Windows-1252 (a superset
# of latin-1's letters) decodes most such files people meet, and detectors, which weigh
# short samples by letter frequencies, too often pick a code page that merely decodes the
# same bytes ("Jérôme" read as cp775 became "Jķr¶me").
WESTERN = "cp1252"
CHAOS_MARGIN = 0.02  # how much messier than the best guess cp1252 may read and still win
COHERENCE_MARGIN = 0.15
ODD_SAMPLE = 16 * 1024


NON_ASCII = re.compile(r"[^\x00-\x7f]")


def odd_letters(text):
    """How many non-ASCII characters sit oddly in words: a symbol inside a word (Za¿ó³æ,
    Wis³a), a currency sign before a letter (£ukasz) or a capital after a small letter
    (£ódŸ). Polish read as cp1252 looks like that; no language is written so. (¿Qué,
    m², 25°C are fine.)"""
    odd = 0
    for match in NON_ASCII.finditer(text):
        at = match.start()
        char, before, after = match.group(), text[at - 1 : at], text[at + 1 : at + 2]
        if not char.isalpha():
            odd += (before.isalpha() and after.isalpha()) or (
                after.isalpha() and unicodedata.category(char) == "Sc"
            )
        elif char.isupper() and before.islower():
            odd += 1
    return odd


def guess_legacy_encoding(sample):
    """The code page of text that is not UTF-8: cp1252 unless the detector is clearly
    surer of another (Central European, Cyrillic, Greek...), latin-1 when no code page fits."""
    from charset_normalizer import from_bytes  # here: most files never need it

    matches = list(from_bytes(sample))[:8]
    if matches:
        best = matches[0]
        head = sample[:ODD_SAMPLE]  # enough words to judge; the loop is Python's
        odd = {m.encoding: odd_letters(head.decode(m.encoding, "replace")) for m in matches}
        fewest = min(odd.values())
        western = next((m for m in matches if WESTERN in m.could_be_from_charset), None)
        if (
            western is not None
            and odd[western.encoding] == fewest
            and western.chaos <= best.chaos + CHAOS_MARGIN
            and western.coherence >= best.coherence - COHERENCE_MARGIN
        ):
            return WESTERN
        return codecs.lookup(next(m for m in matches if odd[m.encoding] == fewest).encoding).name
    try:
        sample.decode(WESTERN)
        return WESTERN
    except UnicodeDecodeError:
        return "latin-1"
