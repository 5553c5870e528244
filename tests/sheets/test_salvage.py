"""Damaged ZIP packages read again from their local entries (salvage.py), as LibreOffice
repairs them: a broken or missing central directory, a member failing its checksum. The
zip bomb limits hold on that path too, and the rebuilt copy is always removed."""

import struct
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from app.sheets import DamagedFile, Limits, Options, TooLarge, convert, detect_format, inspect

from .books import PUBLIC, read_text, write_xlsx, write_zip_bomb

BAD_CRC = PUBLIC / "poi-clusterfuzz-5937385319563264.xlsx"
REPAIRED = "it was repaired as LibreOffice repairs such files"


def plain_copies():
    return set(Path(tempfile.gettempdir()).glob("sheetport-plain-*"))


def without_directory(path, out):
    """`path` with its central directory cut off (as a download cut short leaves it)."""
    data = path.read_bytes()
    out.write_bytes(data[: data.index(b"PK\x01\x02")])
    return out


def with_bad_checksum(path, out, member):
    """`path` with the CRC of `member` wrong in its local header and in the directory."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 14, info.CRC ^ 0xFFFF)
    directory = data.index(b"PK\x01\x02")
    while True:  # the directory entry naming the member
        name_length = struct.unpack_from("<H", data, directory + 28)[0]
        if data[directory + 46 : directory + 46 + name_length] == member.encode():
            break
        directory = data.index(b"PK\x01\x02", directory + 4)
    struct.pack_into("<I", data, directory + 16, info.CRC ^ 0xFFFF)
    out.write_bytes(bytes(data))
    return out


@pytest.fixture
def two_sheets(tmp_path):
    return write_xlsx(tmp_path / "two.xlsx", {"First": [["a", 1], ["b", 2]], "Second": [["c", 3]]})


def test_a_member_failing_its_checksum_is_left_out_and_named(tmp_path):
    """POI's fuzzed workbook: sheet8.xml fails its CRC. LibreOffice opens the file and
    leaves that sheet empty; so does Sheetport, and says so."""
    before = plain_copies()
    sheets = inspect(BAD_CRC).sheets
    assert len(sheets) == 12 and sheets[7].name == "Exp8" and sheets[7].rows == 0
    out = tmp_path / "out.csv"
    result = convert(BAD_CRC, out, Options(format="csv", line_ending="lf", sheets=["Exp1"]))
    assert read_text(out).startswith("(ii) Examples Showing the Effects")
    assert any(REPAIRED in warning for warning in result.warnings)
    assert any("Sheet 'Exp8' is damaged" in warning for warning in result.warnings)
    assert plain_copies() == before


def test_a_crafted_bad_checksum_leaves_that_sheet_empty(tmp_path, two_sheets):
    path = with_bad_checksum(two_sheets, tmp_path / "crc.xlsx", "xl/worksheets/sheet1.xml")
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    info = inspect(path)
    assert [(s.name, s.rows) for s in info.sheets] == [("First", 0), ("Second", 1)]
    out = tmp_path / "out.csv"
    result = convert(path, out, Options(format="csv", line_ending="lf", sheets=["Second"]))
    assert read_text(out) == "c,3\n"
    assert "Sheet 'First' is damaged (its data fails its checksum)" in " ".join(result.warnings)


def test_a_package_without_its_central_directory_is_read_whole(tmp_path, two_sheets):
    path = without_directory(two_sheets, tmp_path / "cut.xlsx")
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(path)
    before = plain_copies()
    assert detect_format(path).format == "xlsx"
    out = tmp_path / "out.csv"
    result = convert(path, out, Options(format="csv", line_ending="lf"))
    assert read_text(out) == "a,1\nb,2\n"
    assert REPAIRED in result.warnings[0]
    assert plain_copies() == before


def test_a_package_cut_before_its_sheets_is_refused(tmp_path, two_sheets):
    data = two_sheets.read_bytes()
    path = tmp_path / "head.xlsx"
    path.write_bytes(data[: data.index(b"PK\x03\x04", 10) + 10])  # one member and a bit
    before = plain_copies()
    with pytest.raises(DamagedFile, match="damaged"):
        inspect(path)
    assert plain_copies() == before


def test_salvage_keeps_the_unpacked_size_limit(tmp_path, two_sheets):
    path = without_directory(two_sheets, tmp_path / "cut.xlsx")
    before = plain_copies()
    with pytest.raises(TooLarge, match="unpacks to more than"):
        inspect(path, limits=Limits(max_unpacked_bytes=1000))
    assert plain_copies() == before


def test_a_zip_bomb_without_its_directory_is_refused_quickly(tmp_path):
    """The sheet would inflate to 1 GiB of zeros; no directory says so beforehand, so the
    ratio is checked while inflating, and the bomb is refused after a few megabytes."""
    bomb = write_zip_bomb(tmp_path / "bomb.xlsx")
    path = without_directory(bomb, tmp_path / "cut-bomb.xlsx")
    before = plain_copies()
    started = time.perf_counter()
    with pytest.raises(TooLarge, match="zip bomb"):
        inspect(path)
    assert time.perf_counter() - started < 5  # a loose bound: inflating it all takes seconds
    assert plain_copies() == before


def test_a_large_member_is_copied_without_being_held_whole(tmp_path):
    """A 300 MB member (allowed: within the size limits) is measured and then copied piece
    by piece, in a process whose address space could not hold it even once."""
    import subprocess
    import sys

    size = 300 << 20
    package = tmp_path / "big.zip"
    line = b"<row><c><v>12345</v></c></row>\n" * 2048
    with (
        zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("xl/big.xml", "w", force_zip64=True) as member,
    ):
        for _ in range(size // len(line)):
            member.write(line)
    cut = without_directory(package, tmp_path / "cut.zip")
    script = f"""
import resource, zipfile
resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20))
from app.sheets.limits import Limits
from app.sheets.salvage import rebuild
limits = Limits(max_unpacked_bytes=1 << 31, max_compression_ratio=10_000)
members, lost, damaged = rebuild({str(cut)!r}, {str(tmp_path / "out.zip")!r}, limits)
print(members, zipfile.ZipFile({str(tmp_path / "out.zip")!r}).getinfo("xl/big.xml").file_size)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=Path.cwd()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["['xl/big.xml']", str(size // len(line) * len(line))]
