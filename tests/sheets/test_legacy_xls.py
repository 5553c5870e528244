"""xls files from before Excel 97, and code pages: text decoded with the code page the
file names (Mac ones too), falling back to cp1252 rather than refusing; password
protection found however the workbook is encrypted."""

import shutil
import struct
from pathlib import Path

import olefile
import pytest

from app.sheets import Options, PasswordProtected, convert, detect_format, inspect, preview

from .books import FIXTURES, PUBLIC, read_text

MAC_BIFF5 = PUBLIC / "phpspreadsheet-maccentraleurope.biff5.xls"
CODEPAGE = 0x0042
HEADER = "Ładowność"  # cell I1, stored in Mac Central European (code page 10029)
HEADER_BYTES = HEADER.encode("mac_latin2")


def records(stream):
    position = 0
    while position + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, position)
        yield kind, position
        position += 4 + size


def with_code_page(tmp_path, code_page):
    """The Mac Central European BIFF5 workbook, its CODEPAGE record saying `code_page`."""
    path = tmp_path / f"cp{code_page}.xls"
    shutil.copy(MAC_BIFF5, path)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("Book").read())
        position = next(at for kind, at in records(stream) if kind == CODEPAGE)
        struct.pack_into("<H", stream, position + 4, code_page)
        ole.write_stream("Book", bytes(stream))
    return path


def test_mac_central_european_biff5_file():
    """calamine refuses it ("Codepage 272D not found"); xlrd reads it, decoding 10029."""
    info = inspect(MAC_BIFF5)
    assert info.format == "xls"
    [sheet] = info.sheets
    assert (sheet.rows, sheet.columns) == (3, 16)
    first = preview(MAC_BIFF5).rows
    assert first[0][8] == HEADER
    assert first[2][:4] == ["220695536930", "0000002", "WB2581K", "TMBAG7NE7F0136678"]


@pytest.mark.parametrize(
    ("code_page", "encoding"),
    [
        (10000, "mac_roman"),
        (10007, "mac_cyrillic"),
        (10029, "mac_latin2"),
        (0x8000, "mac_roman"),  # Apple Roman as BIFF2-BIFF5 name it
        (0x8001, "cp1252"),  # "ANSI Latin I", as Quattro writes it
        (1250, "cp1250"),
        (1251, "cp1251"),
        (1253, "cp1253"),
        (1257, "cp1257"),
        (1258, "cp1258"),
        (12345, "cp1252"),  # no such code page: fall back, do not refuse
    ],
)
def test_text_decoded_with_the_code_page_the_file_names(tmp_path, code_page, encoding):
    path = with_code_page(tmp_path, code_page)
    assert preview(path).rows[0][8] == HEADER_BYTES.decode(encoding, errors="replace")


def test_biff5_without_a_code_page_is_read_as_windows_western(tmp_path):
    """Excel and LibreOffice take cp1252 when a BIFF5 file names no code page; latin-1
    would turn its quotes and bullets into control characters."""
    path = PUBLIC / "calamine-biff5-rich-text-string.xls"
    rows = preview(path).rows
    assert rows[0][0] == "ELECTORAL DIVISION OF SOMERSET EAST ; FIELD-CÓRNËTCY No. 5, ZWAGERSHÓÊN."
    assert rows[2][7] == "ri ■ s g •rM S ’"
    assert not any("\x80" <= char <= "\x9f" for row in rows for text in row for char in text)


def test_bare_biff4_worksheet_is_read(tmp_path):
    """Excel 4.0 worksheets are a bare BIFF stream, with no OLE container around it."""
    path = PUBLIC / "xlrd-biff4_no_format_no_window2.xls"
    assert detect_format(path).format == "xls"
    out = tmp_path / "out.csv"
    convert(path, out, Options(format="csv", line_ending="lf"))
    lines = read_text(out).splitlines()
    assert inspect(path).sheets[0].name == "Sheet1"
    assert lines[0] == "ID,TOTAL,MAIN,SUB"
    assert lines[1] == "A,DOG & CAT PRODUCTS,Dog & Cat Product,"
    assert len(lines) == 27


def test_xor_obfuscated_xls_is_password_protected():
    """calamine reads the encrypted CODEPAGE record and says "Codepage D7D4 not found"."""
    with pytest.raises(PasswordProtected):
        detect_format(PUBLIC / "sheetjs-password_2002_40_xor.xls")


@pytest.mark.parametrize(
    "name",
    [
        "phpspreadsheet-pwtest3.xls",  # RC4 CryptoAPI
        "calamine-issue_385.xls",  # RC4
        "phpspreadsheet-pwtest.xls",  # RC4 CryptoAPI, its stream ending in 2 bytes of padding
    ],
)
def test_xls_encrypted_with_excels_default_password_is_read(name, tmp_path):
    """Excel encrypts a workbook whose structure is protected with "VelvetSweatshop" and
    opens it without asking, as LibreOffice does: so does Sheetport, from a decrypted
    copy that is removed afterwards."""
    import tempfile

    path = PUBLIC / name
    assert detect_format(path).default_password
    before = set(Path(tempfile.gettempdir()).glob("sheetport-plain-*"))
    assert [s.name for s in inspect(path).sheets][0] == "Sheet1"
    out = tmp_path / "out.csv"
    convert(path, out, Options(format="csv", line_ending="lf"))
    assert read_text(out) == {
        "phpspreadsheet-pwtest3.xls": "x\n",
        "phpspreadsheet-pwtest.xls": "x\n",
    }.get(name, "")
    assert set(Path(tempfile.gettempdir()).glob("sheetport-plain-*")) == before


XOR_BIFF5 = PUBLIC / "poi-60284.xls"


def test_biff5_obfuscated_with_excels_default_password_is_read(tmp_path):
    """Excel 95 obfuscates (XOR) a workbook with protected structure with "VelvetSweatshop"
    and LibreOffice opens it without asking; msoffcrypto-tool reads BIFF8 only, so the
    BIFF5 stream is undone here, and the decrypted copy removed afterwards."""
    import tempfile

    assert detect_format(XOR_BIFF5).default_password
    before = set(Path(tempfile.gettempdir()).glob("sheetport-plain-*"))
    info = inspect(XOR_BIFF5)
    assert [s.name for s in info.sheets][:2] == ["Pipad", "Tpad"]
    assert preview(XOR_BIFF5).rows[2][1] == "PI PAD Attenuator (ver 3.2)"
    out = tmp_path / "out.csv"
    convert(XOR_BIFF5, out, Options(format="csv", line_ending="lf", sheets=["Notes"]))
    assert read_text(out).strip()
    assert set(Path(tempfile.gettempdir()).glob("sheetport-plain-*")) == before


def test_biff5_obfuscated_with_another_password_is_password_protected(tmp_path):
    path = tmp_path / "xor.xls"
    shutil.copy(XOR_BIFF5, path)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("Book").read())
        position = next(at for kind, at in records(stream) if kind == 0x002F)
        struct.pack_into("<H", stream, position + 6, 0x1234)  # another password's verifier
        ole.write_stream("Book", bytes(stream))
    with pytest.raises(PasswordProtected, match="protected with a password"):
        inspect(path)


def test_any_encrypted_biff_stream_is_password_protected(tmp_path):
    """A FILEPASS record among the workbook's first records (XOR or RC4 alike)."""
    path = tmp_path / "filepass.xls"
    shutil.copy(FIXTURES / "mixed.xls", path)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("Workbook").read())
        # Make the record after BOF a FILEPASS of the same size (the stream keeps its length).
        kind, position = list(records(stream))[1]
        struct.pack_into("<H", stream, position, 0x002F)
        ole.write_stream("Workbook", bytes(stream))
    with pytest.raises(PasswordProtected, match="protected with a password"):
        inspect(path)


def test_biff8_naming_a_windows_code_page_reads_like_utf16(tmp_path):
    """Some writers put 1252 in a BIFF8 file's CODEPAGE record (Excel writes 1200);
    calamine then spreads 8-bit strings out with NULs ("T\\x00i\\x00t\\x00..."): xlrd reads them."""
    import python_calamine

    path = tmp_path / "cp1252.xls"
    shutil.copy(FIXTURES / "mixed.xls", path)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("Workbook").read())
        position = next(at for kind, at in records(stream) if kind == CODEPAGE)
        assert struct.unpack_from("<H", stream, position + 4) == (1200,)
        struct.pack_into("<H", stream, position + 4, 1252)
        ole.write_stream("Workbook", bytes(stream))
    spread = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    assert "\x00" in spread.to_python()[0][0]  # what calamine makes of it
    assert preview(path).rows == preview(FIXTURES / "mixed.xls").rows


BROKEN_OLE = PUBLIC / "poi-clusterfuzz-5436547081830400.xls"


def test_xls_with_a_broken_sector_table_is_read_from_its_stream(tmp_path):
    """POI's fuzzed workbook: its OLE sector table points past the file, so calamine and
    xlrd refuse it; olefile still reads the Workbook stream, which xlrd reads as a bare
    BIFF stream, with a note (LibreOffice opens it too)."""
    assert [s.name for s in inspect(BROKEN_OLE).sheets] == ["Sheet1"]
    out = tmp_path / "out.csv"
    result = convert(BROKEN_OLE, out, Options(format="csv", line_ending="lf"))
    assert read_text(out).startswith("PADS FIGURE: (chn_8_via_sub_35v2_0.bmp)\n")
    assert "OLE container is broken" in result.warnings[0]
