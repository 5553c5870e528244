"""Workbooks encrypted with Excel's default password.

Excel encrypts an xls whose structure or windows are protected, or that has a password
to modify only, with the built-in password "VelvetSweatshop", and opens it without
asking; so do LibreOffice and Numbers. Such a file is not password-protected for the
person holding it: Sheetport decrypts it (msoffcrypto-tool) to a private temporary file
and reads that. Any other password still refuses the file.

msoffcrypto-tool decrypts BIFF8 (Excel 97 and later) only; Excel 95's BIFF5 workbooks are
XOR-obfuscated the same way ([MS-XLS] 2.2.10, method 1), which biff5_xor() undoes with
msoffcrypto-tool's key and verifier functions.
"""

import os
import shutil
import struct
import tempfile

import olefile

from .errors import DamagedFile

DEFAULT_PASSWORD = "VelvetSweatshop"
# msoffcrypto-tool's names of the kinds of encryption whose key load_key() verifies.
VERIFIED_KINDS = {"agile", "standard", "rc4", "rc4_cryptoapi", "xor"}
DAMAGED_MESSAGE = (
    "The workbook is damaged and cannot be read: it is encrypted with Excel's default "
    "password, which opens it, but what it holds is not a readable workbook."
)


def decrypt_with_default_password(path, into):
    """Write the plain workbook inside `path` to the file `into`. False (and `into`
    removed) when the default password does not open it; DamagedFile when it does, but
    the records cannot be decrypted (a damaged file is not a password-protected one)."""
    import msoffcrypto  # only for the few files that need it

    verified = False
    try:
        if biff5_stream(path):
            if biff5_xor(path, into):
                return True
            raise ValueError("not the default password")
        if padded_stream_copy(path, into):
            path = into + ".whole"  # msoffcrypto reads records whole: see padded_stream_copy
            os.replace(into, path)
        with open(path, "rb") as handle, open(into, "wb") as out:
            office = msoffcrypto.OfficeFile(handle)
            if office.format == "ooxml":
                office.load_key(password=DEFAULT_PASSWORD, verify_password=True)
            else:
                office.load_key(password=DEFAULT_PASSWORD)  # xls: always verified
            # load_key() verifies only the kinds of encryption it knows, and passes others.
            verified = getattr(office, "type", None) in VERIFIED_KINDS
            office.decrypt(out)
        return True
    except Exception as error:  # msoffcrypto raises many kinds: a wrong key, damaged records
        if os.path.exists(into):
            os.remove(into)
        if verified:
            raise damaged_contents(error) from None
        return False
    finally:
        if os.path.exists(into + ".whole"):
            os.remove(into + ".whole")


def damaged_contents(error=None):
    """The error for a file the default password opens, whose contents are damaged."""
    refused = DamagedFile(DAMAGED_MESSAGE)
    refused.detail = str(error)[:200] if error else None
    return refused


def padded_stream_copy(path, into):
    """Write to `into` a copy of the BIFF8 workbook `path` whose Workbook stream ends in
    fewer bytes than a record header (sector padding some writers leave), with the last
    record stretched over them; msoffcrypto-tool stops at such a tail and decrypts
    nothing, where Excel and LibreOffice ignore it. Record headers are not encrypted,
    so the stretch changes no decrypted byte. False (nothing written) when the stream
    ends in whole records."""
    with olefile.OleFileIO(str(path)) as ole:
        if not ole.exists("Workbook"):
            return False
        if ole.get_size("Workbook") > os.path.getsize(path):  # a looping FAT
            return False
        stream = bytearray(ole.openstream("Workbook").read())
    records = list(biff_records(stream))
    if not records:
        return False
    kind, at, size = records[-1]
    tail = len(stream) - (at + 4 + size)
    if not 0 < tail < 4 or size + tail > 8224:
        return False
    struct.pack_into("<H", stream, at + 2, size + tail)
    shutil.copyfile(path, into)
    with olefile.OleFileIO(into, write_mode=True) as copy:
        copy.write_stream("Workbook", bytes(stream))
    return True


# Records never obfuscated: BOF, FILEPASS, INTERFACEHDR, USREXCL, FILELOCK, RRDINFO, RRDHEAD.
PLAIN_RECORDS = {0x0809, 0x002F, 0x00E1, 0x0194, 0x0195, 0x0196, 0x0138}
FILEPASS, BOUNDSHEET = 0x002F, 0x0085


def biff5_stream(path):
    """Whether `path` is an OLE file holding an Excel 95 "Book" stream (and no BIFF8 one)."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            return ole.exists("Book") and not ole.exists("Workbook")
    except Exception:  # olefile raises many kinds on damaged directories
        return False


def biff5_xor(path, into):
    """Write to `into` the BIFF5 workbook `path` with its XOR obfuscation undone, when the
    default password is the one it was obfuscated with. False (`into` not written) when it
    is not, or when the stream holds no FILEPASS record to say so."""
    from msoffcrypto.method.xor_obfuscation import DocumentXOR

    with olefile.OleFileIO(str(path)) as ole:
        if ole.get_size("Book") > os.path.getsize(path):  # a looping FAT, not a workbook
            return False
        stream = bytearray(ole.openstream("Book").read())
    records = list(biff_records(stream))
    filepass = next((at for kind, at, size in records if kind == FILEPASS and size == 4), None)
    if filepass is None:
        return False
    _key, verifier = struct.unpack_from("<HH", stream, filepass + 4)
    if not DocumentXOR.verifypw(DEFAULT_PASSWORD, verifier):
        return False
    key = DocumentXOR.create_xor_array_method1(DEFAULT_PASSWORD)
    for kind, at, size in records:
        if kind in PLAIN_RECORDS:
            continue
        start = at + 8 if kind == BOUNDSHEET else at + 4  # a sheet's stream offset is plain
        end = at + 4 + size
        index = (start + size) % 16  # the key's place depends on where the record ends
        keys = (bytes(key[index:]) + bytes(key[:index])) * ((end - start) // 16 + 1)
        plain = int.from_bytes(stream[start:end]) ^ int.from_bytes(keys[: end - start])
        stream[start:end] = plain.to_bytes(end - start).translate(ROTATE_RIGHT_5)
    # The FILEPASS record becomes one no reader knows, so none takes the copy as encrypted.
    stream[filepass : filepass + 8] = bytes(8)
    shutil.copyfile(path, into)
    with olefile.OleFileIO(into, write_mode=True) as copy:
        copy.write_stream("Book", bytes(stream))
    return True


ROTATE_RIGHT_5 = bytes(((byte >> 5) | (byte << 3)) & 0xFF for byte in range(256))


def biff_records(stream):
    """(type, offset, size) of each whole record of a BIFF stream."""
    position = 0
    while position + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, position)
        if position + 4 + size > len(stream):
            return
        yield kind, position, size
        position += 4 + size


class PlainCopy:
    """A folder holding the decrypted copy of one workbook; remove() deletes it."""

    def __init__(self, path, suffix):
        self.folder = tempfile.mkdtemp(prefix="sheetport-plain-")
        self.path = os.path.join(self.folder, "book" + suffix)
        try:
            self.opened = decrypt_with_default_password(path, self.path)
        except BaseException:  # DamagedFile: the key opened it, the contents did not decrypt
            self.remove()
            raise

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)
