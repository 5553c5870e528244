"""Damaged files of every format: the message says what is wrong in the user's words,
never a library's own text (Rust types, record names, zlib or expat wording)."""

import re
import shutil
import zipfile

import olefile
import pytest

from app.sheets import DamagedFile, Options, SheetError, convert, inspect

from .books import FIXTURES

LIBRARY_WORDING = re.compile(
    r"Cfb|EOCD|Expecting|Codepage|XmlError|CalamineError|BoundSheet|Zip archive|zlib|"
    r"Error -\d|invalid token|not well-formed|Bad CRC|index out of|unpack|panicked|"
    r"struct|Text\(|Bytes|\bline \d+, column|[A-Z][a-z]+Error\b",
)


def zip_edit(source, target, edit):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            new.writestr(item.filename, edit(item.filename, old.read(item.filename)))
    return target


def broken_xml(part):
    def edit(name, data):
        return data[: len(data) // 2] + b"<<&" if name == part else data

    return edit


def truncated(source, target, fraction=0.6):
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction) - 30])
    return target


def corrupt_xls_stream(source, target):
    shutil.copy(source, target)
    with olefile.OleFileIO(str(target), write_mode=True) as ole:
        stream = bytearray(ole.openstream("Workbook").read())
        stream[200:] = bytes(len(stream) - 200)  # records after the first few: zeros
        stream[120:200] = b"\xff" * 80
        ole.write_stream("Workbook", bytes(stream))
    return target


@pytest.fixture(
    params=[
        "xlsx sheet XML",
        "xlsx shared strings",
        "xlsx cut short",
        "xlsb workbook cut",
        "xls records",
        "ods content",
        "ods cut short",
    ]
)
def damaged(request, tmp_path, mixed_xlsx):
    kind = request.param
    if kind == "xlsx sheet XML":
        return zip_edit(mixed_xlsx, tmp_path / "a.xlsx", broken_xml("xl/worksheets/sheet1.xml"))
    if kind == "xlsx shared strings":
        return zip_edit(mixed_xlsx, tmp_path / "b.xlsx", broken_xml("xl/sharedStrings.xml"))
    if kind == "xlsx cut short":  # before its workbook part: cut later, it is repaired
        data = mixed_xlsx.read_bytes()
        return truncated(
            mixed_xlsx, tmp_path / "c.xlsx", data.index(b"xl/workbook.xml") / len(data)
        )
    if kind == "xlsb workbook cut":
        return zip_edit(
            FIXTURES / "mixed.xlsb",
            tmp_path / "d.xlsb",
            lambda name, data: data[:40] if name == "xl/workbook.bin" else data,
        )
    if kind == "xls records":
        return corrupt_xls_stream(FIXTURES / "mixed.xls", tmp_path / "e.xls")
    if kind == "ods content":
        return zip_edit(FIXTURES / "mixed.ods", tmp_path / "f.ods", broken_xml("content.xml"))
    return truncated(FIXTURES / "mixed.ods", tmp_path / "g.ods")


def test_damaged_files_are_explained_without_library_text(damaged, tmp_path):
    with pytest.raises(SheetError) as refused:
        inspect(damaged)
        convert(damaged, tmp_path / "out.csv", Options(format="csv", all_sheets=True))
    message = str(refused.value)
    assert isinstance(refused.value, DamagedFile), message
    assert "damaged" in message
    assert not LIBRARY_WORDING.search(message), message
