"""ZIP packages (xlsx, xlsm, xltx) that are damaged, read again from their local entries.

A ZIP archive says each member twice: a local header before its data, and an entry in
the central directory at the end. Python's zipfile and calamine trust the directory and
check each member's CRC; when the directory is broken or cut off, or a checksum or size
is wrong, they refuse the whole file. LibreOffice repairs such packages from the local
headers and opens them. So does this module: it walks the local headers from the start,
inflates each member (deflated or stored) as far as its data goes, ignoring checksums,
and writes the members it could read to a fresh archive in a private temporary folder,
which is then read as usual (book.open_book) and removed when the book is closed.

A member whose data fails its checksum is left out, as LibreOffice leaves it out: its
bytes are not what was written. A worksheet so left out is kept as an empty sheet, which
the book's notes name (never an empty sheet passed off as read).

The zip bomb limits hold here as they do for a sound archive (detect.check_zip_sizes):
the total inflated and each member's compression ratio are checked while inflating, so
no member is inflated past them, whatever its headers claim.
"""

import os
import shutil
import struct
import tempfile
import zipfile
import zlib

from .errors import DamagedFile, TooLarge

LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # signature ... name length, extra length
LOCAL_SIGNATURE = b"PK\x03\x04"
STORED, DEFLATED = 0, 8
DATA_DESCRIPTOR = 0x08  # flag: sizes and CRC follow the data instead of the header
ENCRYPTED = 0x01
EMPTY_WORKSHEET = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<sheetData/></worksheet>"
)
SLICE = 1 << 16  # compressed bytes fed to the inflater at a time
MOST_MEMBERS = 10_000


class Salvaged:
    """A folder holding the rebuilt copy of one damaged package; remove() deletes it.
    `members` names the parts read; `lost` how many local entries could not be read;
    `damaged` the parts left out because their data fails its checksum."""

    def __init__(self, path, limits):
        self.folder = tempfile.mkdtemp(prefix="sheetport-plain-")
        self.path = os.path.join(self.folder, "book.xlsx")
        try:
            self.members, self.lost, self.damaged = rebuild(path, self.path, limits)
        except BaseException:
            self.remove()
            raise

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def rebuild(path, into, limits):
    """Write the members of the ZIP archive `path` found by their local headers to a new
    archive `into`: (names written, entries lost, parts left out as damaged). DamagedFile
    when none can be read."""
    members, lost, damaged, total = [], 0, [], 0
    with open(path, "rb") as handle:
        # Read whole rather than mapped: a damaged file is rare, and a new mapping is
        # what fails first in a child whose address space is capped (sandbox.py).
        data = handle.read()
    if len(data) < LOCAL_HEADER.size:
        raise DamagedFile("The file is damaged and cannot be read: it ends early.")
    with zipfile.ZipFile(into, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        seen, visited = set(), 0
        position = data.find(LOCAL_SIGNATURE)
        while position >= 0 and visited < MOST_MEMBERS:  # every header, repeats included
            visited += 1
            entry = read_entry(data, position, limits, limits.max_unpacked_bytes - total)
            if entry is None:
                lost += 1
                position = data.find(LOCAL_SIGNATURE, position + 4)
                continue
            name, copy, size, crc, end, checksum = entry
            total += size
            if name not in seen and not name.endswith("/"):
                seen.add(name)
                if checksum is not None and crc != checksum:
                    damaged.append(name)
                    if "worksheets/" in name.lower():  # the sheet stays listed, empty
                        out.writestr(name, EMPTY_WORKSHEET)
                    continue
                with out.open(name, "w", force_zip64=True) as member:
                    copy(member.write)  # the checked bytes again, never all in memory
                members.append(name)
            position = data.find(LOCAL_SIGNATURE, end)
    if not members:
        raise DamagedFile("The file is damaged and cannot be read: its ZIP container is broken.")
    return members, lost, damaged


def read_entry(data, position, limits, room):
    """(name, copy, size, CRC of the data, offset after it, CRC the file gives or None)
    of the member whose local header is at `position`, or None when it cannot be read.
    copy(write) passes the member's bytes to `write` piece by piece: a member is inflated
    once to measure and check it, and again to copy it, so no member is ever held whole.
    TooLarge past the zip bomb limits. The CRC the file gives is the local header's, or
    the data descriptor's after the data."""
    if position + LOCAL_HEADER.size > len(data):
        return None
    _, _, flags, method, _, _, crc, packed, size, name_length, extra_length = (
        LOCAL_HEADER.unpack_from(data, position)
    )
    start = position + LOCAL_HEADER.size + name_length + extra_length
    if start > len(data) or flags & ENCRYPTED:
        return None
    raw = bytes(data[position + LOCAL_HEADER.size : position + LOCAL_HEADER.size + name_length])
    name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace").replace("\\", "/")
    if method == STORED:
        if flags & DATA_DESCRIPTOR and not packed:
            return None  # no size anywhere but the lost directory
        end = min(start + packed, len(data))
        check_size(end - start, end - start, limits, room)
        view = memoryview(data)[start:end]
        checksum = None if flags & DATA_DESCRIPTOR else crc
        return name, lambda write: write(view), end - start, zlib.crc32(view), end, checksum
    if method != DEFLATED:
        return None
    measured = inflate(data, start, limits, room)
    if measured is None:
        return None
    inflated, found_crc, end = measured
    if flags & DATA_DESCRIPTOR:  # CRC, sizes, after an optional signature
        at = end + 4 if data[end : end + 4] == b"PK\x07\x08" else end
        crc = struct.unpack_from("<I", data, at)[0] if at + 4 <= len(data) else None

    def copy(write):
        inflate(data, start, limits, room, write)

    return name, copy, inflated, found_crc, end, crc


def inflate(data, start, limits, room, write=None):
    """Inflate a raw deflate stream from `start` until it ends (or the file does),
    checking the limits as it goes and passing each piece to `write`: (bytes inflated,
    their CRC, offset after the stream), or None when it is corrupt from the outset."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated, crc, offset = 0, 0, start
    try:
        while offset < len(data) and not inflater.eof:
            chunk = data[offset : offset + SLICE]
            offset += len(chunk)
            piece = inflater.decompress(chunk, SLICE * 64)
            while True:
                inflated += len(piece)
                check_size(inflated, offset - start, limits, room)
                crc = zlib.crc32(piece, crc)
                if write is not None:
                    write(piece)
                if inflater.eof or not inflater.unconsumed_tail:
                    break
                piece = inflater.decompress(inflater.unconsumed_tail, SLICE * 64)
    except zlib.error:
        if not inflated:
            return None  # what inflated before the damage is kept, as LibreOffice does
    end = offset - len(inflater.unused_data)
    return inflated, crc, end


def check_size(inflated, packed, limits, room):
    if inflated > room:
        raise TooLarge(
            f"The file unpacks to more than {limits.max_unpacked_bytes // 2**20} MB, "
            "which is more than Sheetport accepts."
        )
    ratio = inflated / max(packed, 1)
    if inflated > limits.ratio_floor_bytes and ratio > limits.max_compression_ratio:
        raise TooLarge(
            "The file is compressed suspiciously well (it unpacks to "
            f"{ratio:.0f} times its size) and was refused as a possible zip bomb."
        )
