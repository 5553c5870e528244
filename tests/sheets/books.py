"""Workbooks and text files built by the tests themselves."""

import datetime as dt
import zipfile
from pathlib import Path

import xlsxwriter

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
# Workbooks taken from other projects live beside the checkout, never in the repository
# (../shared/fixtures/README.md names each one's source and licence); tests/conftest.py
# stops the run if the folder is missing. What Sheetport wrote from them stays here.
PUBLIC = REPO.parent / "shared" / "fixtures" / "public"
PUBLIC_EXPECTED = FIXTURES / "public" / "expected"

FORMATS = {
    dt.datetime: "yyyy-mm-dd hh:mm:ss",
    dt.date: "yyyy-mm-dd",
    dt.time: "hh:mm:ss",
    dt.timedelta: "[h]:mm:ss",
}


def write_xlsx(path, sheets, date_1904=False, hidden=(), merges=None, constant_memory=False):
    """sheets: {name: rows}. Cells may be (row, col, value) triples via a dict of positions.

    A sheet's rows may be a list of lists (from A1) or a dict {(row, col): value}.
    """
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "date_1904": date_1904,
            "constant_memory": constant_memory,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    formats = {kind: workbook.add_format({"num_format": code}) for kind, code in FORMATS.items()}
    for name, rows in sheets.items():
        sheet = workbook.add_worksheet(name)
        cells = (
            rows.items()
            if isinstance(rows, dict)
            else (((r, c), value) for r, row in enumerate(rows) for c, value in enumerate(row))
        )
        for (r, c), value in cells:
            write_cell(sheet, r, c, value, formats)
        if name in hidden:
            sheet.hide()
        for first, last, value in (merges or {}).get(name, []):
            sheet.merge_range(*first, *last, value)
    workbook.close()
    return Path(path)


def write_cell(sheet, r, c, value, formats):
    if value is None or value == "":
        return
    if isinstance(value, Formula):
        sheet.write_formula(r, c, value.formula, None, value.cached)
    elif isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    elif isinstance(value, (int, float)):
        sheet.write_number(r, c, value)
    elif isinstance(value, str):
        sheet.write_string(r, c, value)
    else:
        sheet.write_datetime(r, c, value, formats[type(value)])


class Formula:
    def __init__(self, formula, cached):
        self.formula, self.cached = formula, cached


def retype_package(source, target, content_type):
    """Copy an xlsx with another main content type (to make xlsm/xltx packages)."""
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(main.encode(), content_type.encode())
            new.writestr(item, data)
    return Path(target)


def write_zip_bomb(path):
    """A real xlsx package whose sheet inflates to 1 GiB of zeros (about 1 MB on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 24)
            for _ in range(64):
                member.write(block)
    return path


def write_text(path, text, encoding="utf-8"):
    Path(path).write_bytes(text.encode(encoding))
    return Path(path)


def read_text(path, encoding="utf-8-sig"):
    return Path(path).read_bytes().decode(encoding)
