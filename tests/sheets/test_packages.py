"""xlsx packages as other writers make them: Strict OOXML namespaces, parts in other
places or spelt with backslashes, rows and cells without references, a <dimension>
that is wrong, chart sheets. Each is read like the plain workbook it was made from,
by every reading path (calamine, the columnar fast path, the streaming reader)."""

import datetime as dt
import re
import struct
import zipfile

import pytest
import xlsxwriter

from app.sheets import Limits, Options, convert, inspect, preview
from app.sheets.errors import EmptyFile

from .books import FIXTURES, PUBLIC, read_text, write_xlsx

PATHS = {
    "calamine": Limits(),
    "columnar": Limits(columnar_above_bytes=0),
    "streamed": Limits(stream_above_bytes=0),
}
ROWS = [
    ["id", "name", "when", "amount"],
    [1, "Zoë", dt.date(2024, 3, 15), 12.5],
    [2, "plain", dt.datetime(2024, 3, 15, 13, 45, 30), -0.25],
    [3, "", None, 7],
]
EXPECTED = "id,name,when,amount\n1,Zoë,2024-03-15,12.5\n2,plain,2024-03-15 13:45:30,-0.25\n3,,,7\n"

TRANSITIONAL_TO_STRICT = {
    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main": (
        b"http://purl.oclc.org/ooxml/spreadsheetml/main"
    ),
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": (
        b"http://purl.oclc.org/ooxml/officeDocument/relationships"
    ),
}


def rewrite(source, target, edit):
    """Copy a zip package through edit(name, data) -> (name, data), or None to drop a member."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            edited = edit(item.filename, old.read(item.filename))
            if edited is not None:
                new.writestr(edited[0], edited[1])
    return target


def to_csv(path, tmp_path, limits, sheet=None):
    out = tmp_path / "out.csv"
    options = Options(format="csv", line_ending="lf", sheets=[sheet] if sheet else [])
    convert(path, out, options, limits=limits)
    return read_text(out)


@pytest.fixture
def plain(tmp_path):
    return write_xlsx(tmp_path / "plain.xlsx", {"Data": ROWS, "Hidden": [["h"]]}, hidden=["Hidden"])


def strict(data):
    for old, new in TRANSITIONAL_TO_STRICT.items():
        data = data.replace(old, new)
    return data


@pytest.mark.parametrize("path", PATHS)
def test_strict_ooxml_reads_like_transitional(plain, tmp_path, path):
    book = rewrite(plain, tmp_path / "strict.xlsx", lambda name, data: (name, strict(data)))
    assert b"purl.oclc.org" in zipfile.ZipFile(book).read("xl/workbook.xml")
    info = inspect(book)
    assert [(s.name, s.visible, s.rows, s.columns) for s in info.sheets] == [
        ("Data", True, 4, 4),
        ("Hidden", False, 1, 1),
    ]
    assert to_csv(book, tmp_path, PATHS[path]) == EXPECTED


def test_strict_ooxml_dates_from_1904(tmp_path):
    source = write_xlsx(tmp_path / "plain.xlsx", {"Data": [[dt.date(2024, 3, 15)]]}, date_1904=True)
    book = rewrite(source, tmp_path / "strict.xlsx", lambda name, data: (name, strict(data)))
    for limits in PATHS.values():
        assert to_csv(book, tmp_path, limits) == "2024-03-15\n"


def move_workbook(name, data):
    """The workbook part at the package root, named in _rels/.rels, spelt with backslashes
    and another case, as a few Windows and hand-made writers store them."""
    moves = {"xl/workbook.xml": "Book.xml", "xl/_rels/workbook.xml.rels": "_rels/Book.xml.rels"}
    if name == "_rels/.rels":
        data = data.replace(b'Target="xl/workbook.xml"', b'Target="Book.xml"')
    elif name == "[Content_Types].xml":
        data = data.replace(b'PartName="/xl/workbook.xml"', b'PartName="/Book.xml"')
    elif name == "xl/_rels/workbook.xml.rels":
        data = re.sub(rb'Target="(?!/)', b'Target="xl/', data)
    name = moves.get(name, name)
    if name.startswith("xl/worksheets/"):
        name = name.replace("/", "\\").replace("sheet", "Sheet")
    return name, data


@pytest.mark.parametrize("path", PATHS)
def test_parts_found_through_relationships_not_fixed_names(plain, tmp_path, path):
    book = rewrite(plain, tmp_path / "moved.xlsx", move_workbook)
    names = zipfile.ZipFile(book).namelist()
    assert "Book.xml" in names and "xl\\workSheets\\Sheet1.xml" in names
    assert "xl/workbook.xml" not in names
    assert inspect(book).format == "xlsx"
    assert to_csv(book, tmp_path, PATHS[path]) == EXPECTED


def without_references(name, data, dimension=b'<dimension ref="A1"/>'):
    if name.startswith("xl/worksheets/"):
        data = re.sub(rb'(<(?:row|c)\b[^>]*?) r="[A-Z]*[0-9]+"', rb"\1", data)
        data = re.sub(rb"<dimension [^>]*/>", dimension, data)
    return name, data


@pytest.mark.parametrize("path", PATHS)
def test_cells_without_references_placed_by_order(tmp_path, path):
    # Empty cells are left out of the XML, so only dense rows keep their places by order.
    rows = [["id", "name", "amount"], [1, "Zoë", 12.5], [2, "plain", -0.25]]
    source = write_xlsx(tmp_path / "plain.xlsx", {"Data": rows})
    book = rewrite(source, tmp_path / "bare.xlsx", without_references)
    xml = zipfile.ZipFile(book).read("xl/worksheets/sheet1.xml")
    assert b' r="' not in xml and b'<dimension ref="A1"/>' in xml
    [sheet] = inspect(book).sheets
    assert (sheet.rows, sheet.columns) == (3, 3)
    expected = "id,name,amount\n1,Zoë,12.5\n2,plain,-0.25\n"
    assert to_csv(book, tmp_path, PATHS[path]) == expected


@pytest.mark.parametrize("path", PATHS)
def test_rows_without_references_and_cells_with_them(tmp_path, path):
    """Rows numbered by order, cells by their own references (with gaps); no <dimension>."""
    source = write_xlsx(tmp_path / "plain.xlsx", {"Data": {(0, 0): "a", (1, 2): "c", (2, 1): 2}})

    def edit(name, data):
        if name.startswith("xl/worksheets/"):
            data = re.sub(rb'(<row\b[^>]*?) r="[0-9]+"', rb"\1", data)
            data = re.sub(rb"<dimension [^>]*/>", b"", data)
        return name, data

    book = rewrite(source, tmp_path / "rows.xlsx", edit)
    assert to_csv(book, tmp_path, PATHS[path]) == "a,,\n,,c\n,2,\n"


@pytest.mark.parametrize("path", PATHS)
def test_dimension_smaller_than_the_data_is_not_trusted(tmp_path, path):
    rows = [["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    source = write_xlsx(tmp_path / "plain.xlsx", {"Data": rows})

    def edit(name, data):
        if name.startswith("xl/worksheets/"):
            data = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:B2"/>', data)
        return name, data

    book = rewrite(source, tmp_path / "small_dimension.xlsx", edit)
    [sheet] = inspect(book).sheets
    assert (sheet.rows, sheet.columns) == (3, 5)
    assert to_csv(book, tmp_path, PATHS[path]) == "a,b,c,d,e\n1,2,3,4,5\n6,7,8,9,10\n"


def test_error_cells_without_references_keep_their_place(tmp_path):
    workbook = xlsxwriter.Workbook(str(tmp_path / "plain.xlsx"))
    sheet = workbook.add_worksheet("Data")
    sheet.write_row(0, 0, ["x", "y"])
    sheet.write_formula(1, 0, "=1/0", None, "#DIV/0!")
    sheet.write_number(1, 1, 4)
    workbook.close()
    book = rewrite(tmp_path / "plain.xlsx", tmp_path / "bare.xlsx", without_references)
    for limits in PATHS.values():
        assert to_csv(book, tmp_path, limits) == "x,y\n#DIV/0!,4\n"


@pytest.fixture
def with_chart(tmp_path):
    path = tmp_path / "chart.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    data = workbook.add_worksheet("Data")
    data.write_column(0, 0, [1, 2, 3])
    chart = workbook.add_chart({"type": "line"})
    chart.add_series({"values": "=Data!$A$1:$A$3"})
    chartsheet = workbook.add_chartsheet("Chart1")
    chartsheet.set_chart(chart)
    workbook.close()
    return path


def test_chart_sheets_are_listed_with_no_cells(with_chart, tmp_path):
    info = inspect(with_chart)
    assert [(s.name, s.kind, s.rows) for s in info.sheets] == [
        ("Data", "worksheet", 3),
        ("Chart1", "chart", 0),
    ]
    assert preview(with_chart).sheet == "Data"
    assert preview(with_chart, sheet="Chart1").rows == []
    result = convert(with_chart, tmp_path / "all.csv", Options(format="csv", all_sheets=True))
    assert result.sheets == ["Data"]
    assert any("'Chart1' is a chart" in warning for warning in result.warnings)
    with pytest.raises(EmptyFile, match="'Chart1' is a chart"):
        convert(with_chart, tmp_path / "c.csv", Options(format="csv", sheets=["Chart1"]))


def utf16(name, data):
    """Every XML part in UTF-16, as Excel for Windows Phone writes them (calamine cannot
    read those: the workbook must not come out as empty sheets)."""
    if name.endswith((".xml", ".rels")):
        text = data.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
        if not text.startswith("<?xml"):
            text = '<?xml version="1.0" encoding="UTF-16" standalone="yes"?>\n' + text
        data = text.encode("utf-16")
    return name, data


@pytest.mark.parametrize("path", PATHS)
def test_xml_parts_in_utf16(plain, tmp_path, path):
    book = rewrite(plain, tmp_path / "utf16.xlsx", utf16)
    assert zipfile.ZipFile(book).read("xl/worksheets/sheet1.xml")[:2] == b"\xff\xfe"
    info = inspect(book)
    assert [(s.name, s.rows, s.columns) for s in info.sheets] == [("Data", 4, 4), ("Hidden", 1, 1)]
    assert to_csv(book, tmp_path, PATHS[path]) == EXPECTED


@pytest.mark.parametrize("extension", ["xlsx", "xlsb", "xls"])
def test_chart_sheets_of_every_format_are_listed(extension):
    """calamine's any_sheets workbooks: visible, hidden, very hidden and chart sheets."""
    info = inspect(PUBLIC / f"calamine-any_sheets.{extension}")
    assert [(s.name, s.kind, s.visible) for s in info.sheets] == [
        ("Visible", "worksheet", True),
        ("Hidden", "worksheet", False),
        ("VeryHidden", "worksheet", False),
        ("Chart", "chart", True),
    ]
    assert preview(PUBLIC / f"calamine-any_sheets.{extension}").rows[0] == ["1", "2"]


def test_macro_and_dialog_sheets_of_an_xlsm_are_read_as_sheets():
    info = inspect(PUBLIC / "sheetjs-BlankSheetTypes.xlsm")
    assert [(s.name, s.kind) for s in info.sheets] == [
        ("Sheet1", "worksheet"),
        ("Chart1", "chart"),
        ("Macro1", "macro"),
        ("Dialog1", "dialog"),
    ]


def test_xlsb_listing_a_macro_sheet_is_read_and_the_sheet_named(tmp_path):
    """calamine refuses the whole file ("Unrecognized BoundSheet8"); the others are read."""
    info = inspect(PUBLIC / "sheetjs-BlankSheetTypes.xlsb")
    assert [(s.name, s.kind) for s in info.sheets] == [("Sheet1", "worksheet"), ("Chart1", "chart")]
    book = with_macro_sheet(FIXTURES / "mixed.xlsb", tmp_path / "macro.xlsb")
    options = Options(format="csv", line_ending="lf", sheets=["Data"])
    result = convert(book, tmp_path / "out.csv", options)
    convert(FIXTURES / "mixed.xlsb", tmp_path / "plain.csv", options)
    assert read_text(tmp_path / "out.csv") == read_text(tmp_path / "plain.csv")
    warnings = " ".join(result.warnings)
    assert "Sheet 'Macro1' is an Excel 4 macro sheet, which Sheetport cannot read" in warnings
    assert "BoundSheet" not in warnings


def xlsb_text(text):
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def with_macro_sheet(source, target):
    """An xlsb whose workbook lists an Excel 4 macro sheet after its other sheets: a
    BrtBundleSh record (type 156, state, tab id, relationship id, name) and its part."""
    data = struct.pack("<II", 0, 99) + xlsb_text("rId99") + xlsb_text("Macro1")
    bundle = bytes([0x9C, 0x01, len(data)]) + data
    relationship = (
        b'<Relationship Id="rId99" Target="macrosheets/sheet1.bin" Type="http://schemas.'
        b'microsoft.com/office/2006/relationships/xlMacrosheet"/></Relationships>'
    )

    def edit(name, content):
        if name == "xl/workbook.bin":
            end_sheets = bytes([0x90, 0x01, 0x00])  # BrtEndBundleShs
            at = content.index(end_sheets)
            content = content[:at] + bundle + content[at:]
        elif name == "xl/_rels/workbook.bin.rels":
            content = content.replace(b"</Relationships>", relationship)
        return name, content

    rewrite(source, target, edit)
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr("xl/macrosheets/sheet1.bin", archive.read("xl/worksheets/sheet1.bin"))
    return target


@pytest.mark.parametrize(
    ("fixture", "named"),
    [
        ("mixed.xls", "book.xlsx"),
        ("mixed.ods", "book.xlsx"),
        ("mixed.xlsb", "book.xls"),
        ("mixed.xls", "book"),
    ],
)
def test_files_named_as_another_format_are_read_as_what_they_are(tmp_path, fixture, named):
    """calamine picks its reader by the extension; Sheetport by the bytes, for both."""
    import tempfile
    from pathlib import Path

    renamed = tmp_path / named
    renamed.write_bytes((FIXTURES / fixture).read_bytes())
    before = set(Path(tempfile.gettempdir()).glob("sheetport-*"))
    options = Options(format="csv", line_ending="lf", all_sheets=True)
    convert(FIXTURES / fixture, tmp_path / "plain.zip", options)
    convert(renamed, tmp_path / "renamed.zip", options)
    with (
        zipfile.ZipFile(tmp_path / "plain.zip") as plain,
        zipfile.ZipFile(tmp_path / "renamed.zip") as other,
    ):
        assert [plain.read(name) for name in plain.namelist()] == [
            other.read(name) for name in other.namelist()
        ]
    assert set(Path(tempfile.gettempdir()).glob("sheetport-*")) == before  # links removed


def test_styled_empty_cells_far_out_do_not_make_a_sheet_too_large(tmp_path):
    """Gnumeric writes styled empty cells out to XFD1048576; only values make the extent.
    (A value out there is still refused: test_hostile.py.)"""
    source = write_xlsx(tmp_path / "plain.xlsx", {"Data": [["a", "b"], [1, 2]]})

    def edit(name, data):
        if name == "xl/worksheets/sheet1.xml":
            far = b'<row r="1048576"><c r="A1048576" s="0"/><c r="XFD1048576" s="0"/></row>'
            data = data.replace(b"</sheetData>", far + b"</sheetData>")
        return name, data

    book = rewrite(source, tmp_path / "styled.xlsx", edit)
    [sheet] = inspect(book).sheets
    assert (sheet.rows, sheet.columns) == (2, 2)
    for limits in PATHS.values():
        assert to_csv(book, tmp_path, limits) == "a,b\n1,2\n"


def test_xlsb_with_its_workbook_elsewhere_is_detected_as_xlsb(tmp_path):
    from app.sheets import DamagedFile, detect_format

    def edit(name, data):
        if name == "_rels/.rels":
            data = data.replace(b'Target="xl/workbook.bin"', b'Target="wb/workbook.bin"')
        return ("wb/workbook.bin" if name == "xl/workbook.bin" else name), data

    book = rewrite(FIXTURES / "mixed.xlsb", tmp_path / "moved.xlsb", edit)
    assert detect_format(book).format == "xlsb"
    with pytest.raises(DamagedFile, match="a part is missing"):  # its rels stayed in xl/
        inspect(book)


@pytest.mark.parametrize("path", PATHS)
def test_text_with_white_space_at_its_ends_is_kept_without_xml_space(tmp_path, path):
    """Many writers leave out xml:space="preserve"; calamine then trims the text (and the
    space between rich-text runs). Excel and LibreOffice keep it, and so does Sheetport."""
    source = tmp_path / "plain.xlsx"
    workbook = xlsxwriter.Workbook(str(source))
    sheet = workbook.add_worksheet("Data")
    bold = workbook.add_format({"bold": True})
    sheet.write_string(0, 0, "  WOODLEY   AV")
    sheet.write_string(0, 1, "tail\t")
    sheet.write_rich_string(0, 2, bold, "Example", " richtext")
    sheet.write_string(0, 3, "plain")
    sheet.write_string(0, 4, " ")  # a cell holding one space
    sheet.write_string(0, 5, "NEWLINE")  # becomes a line break written as &#10;
    workbook.close()

    def edit(name, data):
        data = data.replace(b' xml:space="preserve"', b"")
        return name, data.replace(b"<t>NEWLINE</t>", b"<t>&#10;</t>")

    book = rewrite(source, tmp_path / "bare.xlsx", edit)
    assert b"preserve" not in zipfile.ZipFile(book).read("xl/sharedStrings.xml")
    expected = '  WOODLEY   AV,tail\t,Example richtext,plain, ,"\n"\n'
    assert to_csv(book, tmp_path, PATHS[path]) == expected


def test_workbook_listing_sheets_without_relationships_is_damaged(plain, tmp_path):
    from app.sheets import DamagedFile

    book = rewrite(
        plain,
        tmp_path / "norels.xlsx",
        lambda name, data: None if name == "xl/_rels/workbook.xml.rels" else (name, data),
    )
    with pytest.raises(DamagedFile, match="lists sheets but not the parts"):
        inspect(book)
