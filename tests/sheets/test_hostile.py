"""Hostile and broken files: each gets its message, fast, and nothing is left behind."""

import random
import tempfile
import time
import zipfile
from pathlib import Path

import olefile
import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from app.sheets import (
    DamagedFile,
    EmptyFile,
    Limits,
    NotASpreadsheet,
    Options,
    PasswordProtected,
    TimedOut,
    TooLarge,
    convert,
    detect_format,
    inspect,
)

from .books import write_text, write_xlsx, write_zip_bomb


def refused(path, error, match, limits=None, options=None):
    """convert() raises `error` with `match` and leaves no output behind."""
    options = options or Options()
    destination = path.parent / f"out.{options.format}"
    kwargs = {"limits": limits} if limits else {}
    with pytest.raises(error, match=match):
        convert(path, destination, options, **kwargs)
    assert not destination.exists()
    assert [p.name for p in path.parent.iterdir() if ".partial" in p.name] == []


def test_empty_file(tmp_path):
    refused(write_text(tmp_path / "e.xlsx", ""), EmptyFile, "The file is empty")


def test_random_bytes(tmp_path):
    data = random.Random(7).randbytes(4096)
    path = tmp_path / "r.xlsx"
    path.write_bytes(data)
    refused(path, NotASpreadsheet, "not a spreadsheet")


@pytest.mark.parametrize(
    "head, kind",
    [
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff\xe0", "a JPEG image"),
        (b"MZ\x90\x00", "a Windows program"),
    ],
)
def test_other_files_named_as_spreadsheets(tmp_path, head, kind):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(head + bytes(range(256)) * 8)
    refused(path, NotASpreadsheet, f"This file is {kind}, not a spreadsheet.")


def test_truncated_workbook(tmp_path, mixed_xlsx):
    """Cut before its workbook part: refused. (Cut later, it is repaired: test_salvage.py.)"""
    data = mixed_xlsx.read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(data[: data.index(b"xl/workbook.xml", 100) - 30])
    refused(path, DamagedFile, "damaged")


def test_xls_header_on_garbage(tmp_path):
    path = tmp_path / "fake.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random.Random(3).randbytes(3000))
    refused(path, DamagedFile, "Excel 97-2003 workbook but is damaged")


def test_plain_zip_and_word_document(tmp_path):
    archive = tmp_path / "a.xlsx"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "hello")
    refused(archive, NotASpreadsheet, "This is a ZIP archive, not a spreadsheet.")
    word = tmp_path / "w.xlsx"
    with zipfile.ZipFile(word, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    refused(word, NotASpreadsheet, "This is a Word document, not a spreadsheet.")


def test_password_protected_xlsx(tmp_path, mixed_xlsx):
    encrypted = tmp_path / "locked.xlsx"
    with mixed_xlsx.open("rb") as plain, encrypted.open("wb") as out:
        OOXMLFile(plain).encrypt("secret", out)
    refused(encrypted, PasswordProtected, "protected with a password")


def test_xlsx_encrypted_with_excels_default_password_is_read(tmp_path, mixed_xlsx):
    """Encrypted with "VelvetSweatshop", which Excel and LibreOffice open without asking."""
    encrypted = tmp_path / "structure-protected.xlsx"
    with mixed_xlsx.open("rb") as plain, encrypted.open("wb") as out:
        OOXMLFile(plain).encrypt("VelvetSweatshop", out)
    assert detect_format(encrypted).format == "xlsx"
    assert [s.name for s in inspect(encrypted).sheets] == ["Data", "Other"]


def default_password_copy(tmp_path, package, damage=None):
    """A package (mixed_xlsx, say) encrypted with Excel's default password; `damage`
    rewrites the bytes of its EncryptedPackage stream (same length), as a bad disk or
    transfer would."""
    encrypted = tmp_path / "structure-protected.xlsx"
    with package.open("rb") as plain, encrypted.open("wb") as out:
        OOXMLFile(plain).encrypt("VelvetSweatshop", out)
    if damage:
        with olefile.OleFileIO(str(encrypted), write_mode=True) as ole:
            stream = bytearray(ole.openstream("EncryptedPackage").read())
            ole.write_stream("EncryptedPackage", bytes(damage(stream)))
    return encrypted


def flip_every_97th_byte(stream):
    for at in range(100, len(stream), 97):
        stream[at] ^= 0x55
    return stream


def zero_the_contents(stream):
    return stream[:8] + bytes(len(stream) - 8)  # the declared size kept


@pytest.mark.parametrize("damage", [flip_every_97th_byte, zero_the_contents])
def test_damaged_workbook_under_the_default_password_is_damaged_not_protected(
    tmp_path, mixed_xlsx, damage
):
    """The default password opens it, so asking the user to remove a password would send
    them after one they never set: the file is damaged, and says so."""
    encrypted = default_password_copy(tmp_path, mixed_xlsx, damage)
    with pytest.raises(DamagedFile, match="damaged"):
        detect_format(encrypted)
    refused(encrypted, DamagedFile, "damaged")


def test_default_password_with_its_package_missing_is_damaged(tmp_path, mixed_xlsx):
    """The key is verified, then the encrypted stream is not there to decrypt; the
    private folder for the decrypted copy goes too."""
    encrypted = default_password_copy(tmp_path, mixed_xlsx)
    name = "EncryptedPackage".encode("utf-16-le")
    encrypted.write_bytes(
        encrypted.read_bytes().replace(name, "EncryptedPackagX".encode("utf-16-le"))
    )
    before = set(Path(tempfile.gettempdir()).glob("sheetport-plain-*"))
    refused(encrypted, DamagedFile, "encrypted with Excel's default password, which opens it")
    assert set(Path(tempfile.gettempdir()).glob("sheetport-plain-*")) == before


CONTENT_TYPES = '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
# msoffcrypto-tool decrypts no package under a few KB: a member to make it one.
FILLER = ("docProps/filler.txt", "x" * 5000)


def test_a_package_under_the_default_password_that_is_no_workbook_is_damaged(tmp_path):
    """Damaged contents that still read as a package are no "Office file, but not a
    spreadsheet": the password opened a workbook, which is damaged."""
    package = tmp_path / "package.xlsx"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr(*FILLER)
    with pytest.raises(NotASpreadsheet, match="Office file, but not a spreadsheet"):
        detect_format(package)  # unencrypted, it is told as what it is
    refused(default_password_copy(tmp_path, package), DamagedFile, "damaged")


def test_a_word_document_under_the_default_password_is_told_as_one(tmp_path):
    document = tmp_path / "letter.docx"
    with zipfile.ZipFile(document, "w") as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr(*FILLER)
    encrypted = default_password_copy(tmp_path, document)
    refused(encrypted, NotASpreadsheet, "This is a Word document, not a spreadsheet.")


def test_another_password_on_a_damaged_package_is_still_protected(tmp_path, mixed_xlsx):
    """Damage does not matter when the password is not the default: that is asked first."""
    encrypted = tmp_path / "locked.xlsx"
    with mixed_xlsx.open("rb") as plain, encrypted.open("wb") as out:
        OOXMLFile(plain).encrypt("secret", out)
    with olefile.OleFileIO(str(encrypted), write_mode=True) as ole:
        stream = bytearray(ole.openstream("EncryptedPackage").read())
        ole.write_stream("EncryptedPackage", bytes(zero_the_contents(stream)))
    refused(encrypted, PasswordProtected, "protected with a password")


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory):
    return write_zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.xlsx")


def test_zip_bomb_refused_quickly(tmp_path, zip_bomb):
    assert zip_bomb.stat().st_size < 2_000_000
    started = time.perf_counter()
    with pytest.raises(TooLarge, match="zip bomb"):
        inspect(zip_bomb)
    # Refused from the zip directory, before inflating: a loose bound, not a benchmark
    # (inflating the gigabyte alone takes seconds).
    assert time.perf_counter() - started < 5


def test_unpacked_size_limit(tmp_path, mixed_xlsx):
    refused(mixed_xlsx, TooLarge, "unpacks to more than", Limits(max_unpacked_bytes=1000))


def test_xml_entities_refused(tmp_path, mixed_xlsx):
    bomb = tmp_path / "entities.xlsx"
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheets><sheet name="&lol2;" sheetId="1"/></sheets></workbook>'
    )
    with zipfile.ZipFile(mixed_xlsx) as source, zipfile.ZipFile(bomb, "w") as out:
        for item in source.infolist():
            data = laughs.encode() if item.filename == "xl/workbook.xml" else source.read(item)
            out.writestr(item, data)
    refused(bomb, DamagedFile, "damaged|refused for safety")


def test_far_away_cell_does_not_allocate_the_grid(tmp_path):
    import resource

    book = write_xlsx(tmp_path / "far.xlsx", {"S": {(0, 0): "a", (1048575, 16383): "far"}})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    refused(book, TooLarge, "spans 1,048,576 rows by 16,384 columns")
    assert time.perf_counter() - started < 5  # a loose bound: the grid is never built
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_far_cell_hidden_in_a_short_row_is_found(tmp_path, mixed_xlsx):
    sneaky = tmp_path / "sneaky.xlsx"
    with zipfile.ZipFile(mixed_xlsx) as source, zipfile.ZipFile(sneaky, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<c r="A1"', b'<c r="XFD1048576"', 1)
            out.writestr(item, data)
    refused(sneaky, TooLarge, "spans 1,048,576 rows by 16,384 columns")


def test_cell_limit(tmp_path):
    book = write_xlsx(tmp_path / "w.xlsx", {"S": [[1] * 30] * 40})
    refused(book, TooLarge, "more than the 1,000 cells", Limits(max_cells=1000))


def test_sheet_limit(tmp_path):
    book = write_xlsx(tmp_path / "many.xlsx", {f"S{i}": [[i]] for i in range(5)})
    refused(book, TooLarge, "more than 3 sheets", Limits(max_sheets=3))


def test_column_limit_in_text(tmp_path):
    source = write_text(tmp_path / "wide.csv", ",".join(["x"] * 50) + "\n")
    refused(source, TooLarge, "more than 20 columns", Limits(max_columns=20))


def test_text_cell_length_limit(tmp_path):
    source = write_text(tmp_path / "long.csv", "a,b\n" + "x" * 500 + ",1\n")
    refused(source, TooLarge, "more than 100 characters", Limits(max_text_length=100))


def test_xlsx_cell_length_limit(tmp_path):
    source = write_text(tmp_path / "long.csv", "a\n" + "y" * 40_000 + "\n")
    message = "Cell A2 of sheet 'long' holds 40,000 characters"
    refused(source, TooLarge, message, options=Options(format="xlsx"))


def test_time_limit(tmp_path):
    book = write_xlsx(tmp_path / "slow.xlsx", {"S": [[i] for i in range(5000)]})
    refused(book, TimedOut, "took longer than 0 seconds", Limits(max_seconds=0))


def test_empty_sheet_among_others_is_left_out(tmp_path):
    # An empty sheet converted alone gives an empty file (see test_value_rules.py).
    book = write_xlsx(tmp_path / "blank.xlsx", {"Blank": [], "Full": [["x"]]})
    result = convert(book, tmp_path / "all.zip", Options(all_sheets=True))
    assert result.sheets == ["Full"] and any("'Blank' is empty" in w for w in result.warnings)


def test_text_that_is_not_text(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"a,b\n" + bytes(range(1, 32)) * 20)
    refused(path, NotASpreadsheet, "not a spreadsheet or a text file")


@pytest.fixture
def repeated_long_text(tmp_path):
    """2,000 cells referring to one shared string of 10,000 characters: a 30 kB file
    whose cells hold 20 MB of text (POI's poc-shared-strings.xlsx does it with 1 MB)."""
    text = "".join(random.Random(5).choice("abcdefgh") for _ in range(10_000))
    return write_xlsx(tmp_path / "repeat.xlsx", {"Sheet1": [[text] * 4 for _ in range(500)]})


@pytest.mark.parametrize("output", ["csv", "json", "xlsx"])
def test_output_many_times_the_input_is_stopped(repeated_long_text, output):
    assert repeated_long_text.stat().st_size < 100_000
    limits = Limits(output_floor_bytes=1 << 20, max_output_ratio=20)
    refused(repeated_long_text, TooLarge, "grew past 1 MB", limits, Options(format=output))


def test_output_within_its_budget_is_written(tmp_path, repeated_long_text):
    out = tmp_path / "out.csv"
    result = convert(repeated_long_text, out, Options(format="csv"))
    assert result.rows == 500 and out.stat().st_size > 20_000_000


@pytest.mark.parametrize("shared_type", [b't="s"', b"t = 's'"])
def test_cells_repeating_a_long_shared_string_are_read_in_flat_memory(tmp_path, shared_type):
    """1,100 cells naming one 1 MB shared string (as POI's poc-shared-strings.xlsx does
    with 12,000): calamine would copy it into each, 1.1 GB; the streaming reader shares
    it, so the preview fits in the address space left and takes no time. XML allows
    either quote and spaces around "=" (calamine reads both)."""
    import re

    from app.sheets import preview

    book = write_xlsx(tmp_path / "s.xlsx", {"Sheet1": [["short"] * 2 for _ in range(550)]})
    long_text = "abcdefgh" * (1 << 17)
    rebuilt = tmp_path / "long.xlsx"
    with (
        zipfile.ZipFile(book) as source,
        zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/sharedStrings.xml":
                data = re.sub(rb"<t>short</t>", long_text.encode().join([b"<t>", b"</t>"]), data)
            if info.filename.startswith("xl/worksheets/"):
                data = data.replace(b't="s"', shared_type)
            out.writestr(info, data)
    assert rebuilt.stat().st_size < 200_000
    # The forked child starts with the caller's address space (pytest's is large): the
    # limit leaves it 768 MiB more, less than calamine's copies would need.
    limits = Limits(max_memory_bytes=address_space() + (768 << 20))
    started = time.perf_counter()
    shown = preview(rebuilt, rows=3, limits=limits, isolate=True)
    assert shown.total_rows == 550 and shown.rows[0][0].startswith("abcdefgh")
    assert time.perf_counter() - started < 10  # a loose bound, not a benchmark


def address_space():
    """This process's virtual memory size in bytes (Linux)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmSize:"))
    return int(line.split()[1]) * 1024


def test_shared_string_references_are_counted_across_chunks():
    from app.sheets.ooxml import SHARED_TYPE, count_matches

    xml = b"".join(b'<c r="A%d" t="s"><v>0</v></c>' % n for n in range(1, 301))
    xml += b"<c r='B1' t = 's'><v>0</v></c><c r=\"B2\" t=\"n\"><v>1</v></c>"
    for size in (1, 7, 13, 4096):
        chunks = [xml[i : i + size] for i in range(0, len(xml), size)]
        assert count_matches(SHARED_TYPE, chunks) == 301
