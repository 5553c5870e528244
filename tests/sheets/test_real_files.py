"""Workbooks from other projects' test suites (../shared/fixtures/public, see its README):
each converts to the CSV committed beside it, which was checked cell by cell against
LibreOffice's export (compare_with_libreoffice.py; the differences are documented)."""

import csv
import io
import json
import re

import pytest

from app.sheets import EmptyFile, Options, SheetError, convert, inspect

from .books import PUBLIC, read_text
from .books import PUBLIC_EXPECTED as EXPECTED

MANIFEST = json.loads((EXPECTED / "sheets.json").read_text(encoding="utf-8"))
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def same(a, b):
    """Equal text; numbers equal to 15 significant digits (Excel's precision)."""
    if a == b:
        return True
    if NUMBER.fullmatch(a) and NUMBER.fullmatch(b):
        return float(f"{float(a):.15g}") == float(f"{float(b):.15g}")
    return False


def cells(text):
    rows = list(csv.reader(io.StringIO(text)))
    return {(i, j): value for i, row in enumerate(rows) for j, value in enumerate(row) if value}


def test_every_public_fixture_is_in_the_manifest():
    workbooks = {
        p.name for p in PUBLIC.iterdir() if p.suffix in (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
    }
    assert workbooks == set(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_public_file_converts_as_expected(name, tmp_path):
    entry = MANIFEST[name]
    if "refused" in entry:
        with pytest.raises(SheetError) as refused:
            inspect(PUBLIC / name)
        assert type(refused.value).__name__ == entry["refused"]
        return
    sheets = inspect(PUBLIC / name).sheets
    assert [[s.name, s.kind, s.visible] for s in sheets] == entry["sheets"]
    for index, sheet in enumerate(sheets):
        out = tmp_path / f"{index}.csv"
        options = Options(format="csv", line_ending="lf", sheets=[sheet.name], include_hidden=True)
        try:
            convert(PUBLIC / name, out, options)
            mine = read_text(out)
        except EmptyFile:
            mine = ""
        expected = (EXPECTED / f"{name}.{index}.csv").read_text(encoding="utf-8")
        got, wanted = cells(mine), cells(expected)
        differences = [
            (position, got.get(position, ""), wanted.get(position, ""))
            for position in sorted(got.keys() | wanted.keys())
            if not same(got.get(position, ""), wanted.get(position, ""))
        ]
        assert not differences, f"{name} / {sheet.name}: {differences[:5]}"


def test_xlsb_with_its_workbook_outside_xl_is_read_from_a_copy(tmp_path):
    """calamine looks for xl/workbook.bin only; the package names its workbook part in
    _rels/.rels (here wtf/workbook.bin): Sheetport reads a copy with the folder renamed,
    error cells and serials included, and removes the copy."""
    import tempfile
    from pathlib import Path

    before = set(Path(tempfile.gettempdir()).glob("sheetport-plain-*"))
    path = PUBLIC / "sheetjs-wtf_path.xlsb"
    assert [(s.name, s.visible) for s in inspect(path).sheets] == [
        ("SheetJS", True),
        ("Hidden", False),
    ]
    out = tmp_path / "out.csv"
    convert(path, out, Options(format="csv", line_ending="lf", sheets=["SheetJS"]))
    assert read_text(out).splitlines()[2] == "foo    bar,baz,2014-02-19 10:30:00,0.3"
    assert set(Path(tempfile.gettempdir()).glob("sheetport-plain-*")) == before
