"""XLSX output keeps what the cells said (issue 23, 4): number formats, bold, column widths
and the frozen header of the input, read back with openpyxl; values only with
keep_formats off; hostile styles bounded."""

import datetime as dt
import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from openpyxl.styles import Font

from app.sheets import Options, convert
from app.sheets.looks import SheetLook, Style
from app.sheets.writers import XlsxWriter

from .test_xlsx_output import FORMATS as XLSX_FORMATS
from .test_xlsx_output import OPTIONS, ROWS, sheet_xml

FORMATS = {  # column: (value, number format)
    "A": (dt.datetime(2024, 3, 15), "dd/mm/yyyy"),
    "B": (0.125, "0.0%"),
    "C": (1234.5, '"$"#,##0.00'),
    "D": (1234567, "#,##0"),
    "E": (3.14159, "0.000"),
    "F": ("00123", "@"),
    "G": (dt.time(8, 30), "h:mm AM/PM"),
    "H": (dt.datetime(2024, 3, 15, 13, 45), "yyyy-mm-dd hh:mm"),
    "I": (-42.5, "#,##0.00;[Red]-#,##0.00"),
    "J": (0.5, 10),  # Excel's built-in 0.00%, named by number
}
HEADINGS = ["Date", "Pct", "Money", "Thousands", "Decimals", "Code", "Time", "When", "Neg", "P"]
WIDTHS = {"A": 20.0, "C": 14.7109375, "E": 9.140625}


def formatted_book(path, frozen="A2"):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    sheet.append(HEADINGS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in (2, 3):
        for column, (value, number_format) in FORMATS.items():
            cell = sheet[f"{column}{row}"]
            cell.value = value
            cell.number_format = (
                openpyxl.styles.numbers.BUILTIN_FORMATS[number_format]
                if isinstance(number_format, int)
                else number_format
            )
    for column, width in WIDTHS.items():
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = frozen
    book.save(path)
    return path


def converted(tmp_path, source, **options):
    target = tmp_path / "out.xlsx"
    convert(source, target, Options(format="xlsx", **options))
    return openpyxl.load_workbook(target).active


def test_number_formats_are_kept(tmp_path):
    sheet = converted(tmp_path, formatted_book(tmp_path / "in.xlsx"))
    for row in (2, 3):
        for column, (value, number_format) in FORMATS.items():
            cell = sheet[f"{column}{row}"]
            expected = (
                openpyxl.styles.numbers.BUILTIN_FORMATS[number_format]
                if isinstance(number_format, int)
                else number_format
            )
            assert cell.number_format == expected, (column, cell.number_format)
            if isinstance(value, dt.time):
                assert cell.value == value
            elif isinstance(value, dt.datetime):
                assert cell.is_date and cell.value == value
            else:
                assert cell.value == value
    assert sheet["F2"].data_type == "s" and sheet["F2"].value == "00123"


def test_header_widths_and_pane_are_kept(tmp_path):
    sheet = converted(tmp_path, formatted_book(tmp_path / "in.xlsx"))
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])
    assert not any(cell.font.b for cell in sheet[2])
    for column, width in WIDTHS.items():
        assert sheet.column_dimensions[column].width == width, column


def test_a_frozen_column_and_rows(tmp_path):
    sheet = converted(tmp_path, formatted_book(tmp_path / "in.xlsx", frozen="B3"))
    assert sheet.freeze_panes == "B3"


def test_skipped_rows_move_the_pane(tmp_path):
    sheet = converted(tmp_path, formatted_book(tmp_path / "in.xlsx", frozen="A3"), skip_rows=1)
    assert sheet.freeze_panes == "A2"
    assert sheet["B1"].number_format == "0.0%"


def test_values_only(tmp_path):
    sheet = converted(tmp_path, formatted_book(tmp_path / "in.xlsx"), keep_formats=False)
    assert sheet.freeze_panes is None
    assert not any(cell.font.b for cell in sheet[1])
    assert sheet["B2"].number_format == "General" and sheet["B2"].value == 0.125
    assert sheet["C2"].number_format == "General"
    assert sheet["A2"].number_format == "yyyy-mm-dd"  # a date stays a date, in the default
    assert sheet["F2"].value == "00123"
    for column in WIDTHS:
        assert sheet.column_dimensions[column].width != WIDTHS[column]


def test_values_are_the_same_either_way(tmp_path):
    source = formatted_book(tmp_path / "in.xlsx")
    kept = [[cell.value for cell in row] for row in converted(tmp_path, source).iter_rows()]
    plain = converted(tmp_path, source, keep_formats=False)
    assert kept == [[cell.value for cell in row] for row in plain.iter_rows()]


def test_several_sheets_each_keep_theirs(tmp_path):
    path = formatted_book(tmp_path / "in.xlsx")
    book = openpyxl.load_workbook(path)
    other = book.create_sheet("Other")
    other.append(["n"])
    other.append([0.25])
    other["A2"].number_format = "0%"
    other.column_dimensions["A"].width = 30
    book.save(path)
    target = tmp_path / "out.xlsx"
    convert(path, target, Options(format="xlsx", all_sheets=True))
    written = openpyxl.load_workbook(target)
    assert written["Data"]["B2"].number_format == "0.0%"
    assert written["Other"]["A2"].number_format == "0%"
    assert written["Other"].column_dimensions["A"].width == 30
    assert written["Other"].freeze_panes is None


def test_text_input_header_is_bold_and_frozen(tmp_path):
    source = tmp_path / "sales.csv"
    source.write_text("when,amount,code\n2024-03-15,12.5,00123\n2024-03-16,3,00124\n")
    sheet = converted(tmp_path, source)
    assert sheet.freeze_panes == "A2"
    assert [cell.font.b for cell in sheet[1]] == [True, True, True]
    assert not sheet["A2"].font.b
    assert sheet["A2"].is_date and sheet["A2"].number_format == "yyyy-mm-dd"
    assert sheet["C2"].value == "00123"
    plain = converted(tmp_path, source, header=False)
    assert plain.freeze_panes is None and not plain["A1"].font.b
    values_only = converted(tmp_path, source, keep_formats=False)
    assert values_only.freeze_panes is None and not values_only["A1"].font.b


# --- hostile styles ------------------------------------------------------------------------


def rewritten(source, target, change):
    """A copy of the package `source` with change(name, bytes) -> bytes applied to its parts."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            new.writestr(item.filename, change(item.filename, old.read(item.filename)))
    return target


def with_styles(tmp_path, change_styles=None, change_sheet=None):
    source = formatted_book(tmp_path / "in.xlsx")

    def change(name, data):
        made = {"xl/styles.xml": change_styles, "xl/worksheets/sheet1.xml": change_sheet}
        if made.get(name) is None:
            return data
        changed = made[name](data)
        assert changed != data, name  # the test changes what it means to
        return changed

    return rewritten(source, tmp_path / "hostile.xlsx", change)


def number_formats(count, code):
    entries = "".join(
        f'<numFmt numFmtId="{200 + i}" formatCode="{code(i)}"/>' for i in range(count)
    )
    return f'<numFmts count="{count}">{entries}</numFmts>'.encode()


def test_a_hundred_thousand_number_formats(tmp_path):
    def change(data):
        data = re.sub(rb"<numFmts.*?</numFmts>", b"", data, flags=re.S)
        return data.replace(
            b"<fonts", number_formats(100_000, lambda i: f"0.{'0' * (i % 9)}") + b"<fonts", 1
        )

    started = time.monotonic()
    sheet = converted(tmp_path, with_styles(tmp_path, change))
    assert time.monotonic() - started < 30
    assert sheet["B2"].value == 0.125  # the cells' styles now point at other formats: any


def test_a_format_code_of_a_hundred_thousand_characters(tmp_path):
    def change(data):
        return re.sub(rb'formatCode="0\.0%"', b'formatCode="' + b"0" * 100_000 + b'"', data)

    sheet = converted(tmp_path, with_styles(tmp_path, change))
    assert sheet["B2"].value == 0.125
    assert sheet["B2"].number_format == "General"  # too long for Excel: dropped
    assert sheet["C2"].number_format == '"$"#,##0.00'


def test_a_style_index_past_the_table(tmp_path):
    def change(data):
        return data.replace(b'<c r="B2" s="', b'<c r="B2" s="99999999', 1).replace(
            b'<c r="C2" s="', b'<c r="C2" s="4000000000', 1
        )

    sheet = converted(tmp_path, with_styles(tmp_path, change_sheet=change))
    assert sheet["B2"].value == 0.125 and sheet["C2"].value == 1234.5
    assert sheet["D2"].number_format == "#,##0"


@pytest.mark.parametrize(
    "width, expected", [("1e308", 255.0), ("-5", None), ("nan", None), ("inf", 255.0), ("x", None)]
)
def test_hostile_widths_are_clamped(tmp_path, width, expected):
    def change(data):
        return data.replace(b'<col width="20"', b'<col width="' + width.encode() + b'"', 1)

    sheet = converted(tmp_path, with_styles(tmp_path, change_sheet=change))
    assert sheet.column_dimensions["A"].width == (expected or 13.0)  # 13: XlsxWriter's default
    assert sheet.column_dimensions["C"].width == WIDTHS["C"]


def test_a_column_range_past_the_sheet_and_a_huge_pane(tmp_path):
    def change(data):
        data = data.replace(
            b'<col width="20" customWidth="1" min="1" max="1"',
            b'<col width="20" min="1" max="99999999999"',
            1,
        )
        return re.sub(rb'ySplit="1"', b'ySplit="1e300"', data)

    sheet = converted(tmp_path, with_styles(tmp_path, change_sheet=change))
    assert sheet.column_dimensions["A"].width == 20.0
    assert sheet["A2"].value == dt.datetime(2024, 3, 15)


def test_twenty_thousand_full_width_columns_are_read_at_once(tmp_path, monkeypatch):
    """Each <col min=1 max=16384> used to be applied column by column: 5,000 took 3 s, and
    a file that converted to CSV in a moment timed out converting to XLSX."""
    full_width = b'<col min="1" max="16384" width="9" customWidth="1"/>' * 20_000
    narrow = b'<col min="2" max="3" width="25" customWidth="1"/>'  # the later one wins

    def change(data):
        return re.sub(rb"<cols>.*?</cols>", b"<cols>" + full_width + narrow + b"</cols>", data)

    source = with_styles(tmp_path, change_sheet=change)
    from app.sheets import looks

    parsed = []
    original = looks.attributes
    monkeypatch.setattr(looks, "attributes", lambda text: parsed.append(1) or original(text))
    with zipfile.ZipFile(source) as archive:
        started = time.monotonic()
        look = looks.ooxml_look(archive, "xl/worksheets/sheet1.xml", [None])
        elapsed = time.monotonic() - started
    assert len(parsed) <= 3 and elapsed < 2  # the last two elements set every column
    assert len(look.widths) == looks.MAX_COLUMNS
    assert look.widths[1] == look.widths[2] != look.widths[0] == look.widths[16_383]
    sheet = converted(tmp_path, source)
    assert sheet.column_dimensions["A"].width == 9.0
    narrowed = sheet.column_dimensions["B"]  # B and C, written as one range
    assert (narrowed.width, narrowed.min, narrowed.max) == (25.0, 2, 3)


# --- the styled rows' XML is XlsxWriter's -------------------------------------------------

STYLES = [Style("0.00%"), Style(None, bold=True), Style("#,##0", bold=True), Style(14)]


def style_of(row, column):
    return None if (row * column) % 5 == 4 else (row + column) % len(STYLES)


def styled_with_xlsxwriter(path, rows):
    workbook = xlsxwriter.Workbook(str(path), OPTIONS)
    defaults = dict(XLSX_FORMATS)
    made = {}
    worksheet = workbook.add_worksheet("One")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            style = style_of(r, c)
            properties = {}
            if style is not None:
                properties = {"bold": True} if STYLES[style].bold else {}
                if STYLES[style].number_format is not None:
                    properties["num_format"] = STYLES[style].number_format
            if "num_format" not in properties and type(value) in defaults:
                properties["num_format"] = defaults[type(value)]
            key = tuple(sorted(properties.items()))
            if key and key not in made:
                made[key] = workbook.add_format(properties)
            cell_format = made.get(key)
            if isinstance(value, str):
                if value:
                    worksheet.write_string(r, c, value, cell_format)
            elif isinstance(value, bool):
                worksheet.write_boolean(r, c, value, cell_format)
            elif isinstance(value, (int, float)):
                worksheet.write_number(r, c, value, cell_format)
            else:
                worksheet.write_datetime(r, c, value, cell_format)
    workbook.close()


def styled_with_sheetport(path, rows):
    cells = [
        (r, {c: style_of(r, c) for c in range(len(row)) if style_of(r, c) is not None})
        for r, row in enumerate(rows)
    ]
    look = SheetLook(styles=STYLES, cells=lambda: iter(cells))
    writer = XlsxWriter(path)
    writer.write_sheet("One", [(0, rows)] if rows else [], look=look)
    writer.close()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS)
def test_styled_sheet_xml_is_xlsxwriters(tmp_path, rows):
    styled_with_xlsxwriter(tmp_path / "reference.xlsx", rows)
    styled_with_sheetport(tmp_path / "ours.xlsx", rows)
    assert sheet_xml(tmp_path / "ours.xlsx") == sheet_xml(tmp_path / "reference.xlsx")


# --- xls and ods ---------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_xls_formats_come_through_xlrd(tmp_path):
    # mixed.xls (LibreOffice's) holds its dates under yyyy\-mm\-dd and states every width.
    sheet = converted(tmp_path, FIXTURES / "mixed.xls")
    assert sheet["D2"].is_date and sheet["D2"].number_format == "yyyy\\-mm\\-dd"
    assert sheet["B2"].number_format == "General"
    assert sheet["F2"].value == "00123"
    assert sheet.column_dimensions["A"].width == pytest.approx(2186 / 256, abs=1 / 7)
    assert converted(tmp_path, FIXTURES / "mixed.xls", keep_formats=False)["D2"].number_format == (
        "yyyy-mm-dd"
    )


ODS_STYLES = """
<number:date-style style:name="Nd"><number:day number:style="long"/><number:text>.</number:text>
  <number:month number:style="long"/><number:text>.</number:text><number:year number:style="long"/>
</number:date-style>
<number:time-style style:name="Nt"><number:hours number:style="long"/><number:text>:</number:text>
  <number:minutes number:style="long"/></number:time-style>
<number:time-style style:name="Nh" number:truncate-on-overflow="false"><number:hours/>
  <number:text>:</number:text><number:minutes number:style="long"/></number:time-style>
<number:percentage-style style:name="Np"><number:number number:decimal-places="1"
  number:min-integer-digits="1"/><number:text>%</number:text></number:percentage-style>
<number:currency-style style:name="NcP0"><number:number number:decimal-places="2"
  number:min-integer-digits="1" number:grouping="true"/><number:text> </number:text>
  <number:currency-symbol>€</number:currency-symbol></number:currency-style>
<number:currency-style style:name="Nc"><style:text-properties fo:color="#ff0000"/>
  <number:text>-</number:text><number:number number:decimal-places="2"
  number:min-integer-digits="1" number:grouping="true"/><number:text> </number:text>
  <number:currency-symbol>€</number:currency-symbol>
  <style:map style:condition="value()&gt;=0" style:apply-style-name="NcP0"/></number:currency-style>
<number:number-style style:name="Ng"><number:number number:decimal-places="0"
  number:min-integer-digits="1" number:grouping="true"/></number:number-style>
<number:number-style style:name="N3"><number:number number:decimal-places="3"
  number:min-integer-digits="1"/></number:number-style>
<number:text-style style:name="Nx"><number:text-content/></number:text-style>
"""
ODS_CELL_STYLES = {
    "d": "Nd",
    "t": "Nt",
    "h": "Nh",
    "p": "Np",
    "c": "Nc",
    "g": "Ng",
    "n": "N3",
    "x": "Nx",
}
ODS_EXPECTED = {  # column: (the cell's XML, the Excel format code expected)
    "A": ('office:value-type="date" office:date-value="2024-03-15"', "dd.mm.yyyy"),
    "B": ('office:value-type="time" office:time-value="PT08H30M00S"', "hh:mm"),
    "C": ('office:value-type="time" office:time-value="PT30H00M00S"', "[h]:mm"),
    "D": ('office:value-type="percentage" office:value="0.125"', "0.0%"),
    "E": (
        'office:value-type="currency" office:currency="EUR" office:value="-1234.5"',
        '#,##0.00 "€";[Red]-#,##0.00 "€"',
    ),
    "F": ('office:value-type="float" office:value="1234567"', "#,##0"),
    "G": ('office:value-type="float" office:value="3.14159"', "0.000"),
    "H": ('office:value-type="string"', "@"),
}
ODS_STYLE_OF = dict(zip(ODS_EXPECTED, "dthpcgnx", strict=True))


def ods_book(path, width="2.5cm", frozen=True):
    """An ods written by hand in the shape LibreOffice writes: data styles in content.xml's
    automatic styles, a bold header style, column widths, the header frozen in settings.xml."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
        'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
        'xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0"'
    )
    cell_styles = "".join(
        f'<style:style style:name="ce{key}" style:family="table-cell" '
        f'style:data-style-name="{data}"/>'
        for key, data in ODS_CELL_STYLES.items()
    )
    cell_styles += (
        '<style:style style:name="bold" style:family="table-cell">'
        '<style:text-properties fo:font-weight="bold"/></style:style>'
        '<style:style style:name="co1" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{width}"/></style:style>'
    )
    header = "".join(
        f'<table:table-cell table:style-name="bold" office:value-type="string">'
        f"<text:p>{column}</text:p></table:table-cell>"
        for column in ODS_EXPECTED
    )
    values = "".join(
        f'<table:table-cell table:style-name="ce{ODS_STYLE_OF[column]}" {cell}>'
        f"<text:p>{'00123' if column == 'H' else 'x'}</text:p></table:table-cell>"
        for column, (cell, _) in ODS_EXPECTED.items()
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.3">'
        f"<office:automatic-styles>{ODS_STYLES}{cell_styles}</office:automatic-styles>"
        '<office:body><office:spreadsheet><table:table table:name="Data">'
        '<table:table-column table:style-name="co1"/>'
        '<table:table-column table:number-columns-repeated="16383"/>'
        f"<table:table-row>{header}</table:table-row><table:table-row>{values}</table:table-row>"
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    settings = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-settings {ns}><office:settings>'
        '<config:config-item-set config:name="ooo:view-settings">'
        '<config:config-item-map-indexed config:name="Views"><config:config-item-map-entry>'
        '<config:config-item-map-named config:name="Tables">'
        '<config:config-item-map-entry config:name="Data">'
        '<config:config-item config:name="VerticalSplitMode" config:type="short">'
        f"{2 if frozen else 0}</config:config-item>"
        '<config:config-item config:name="VerticalSplitPosition" config:type="int">1'
        "</config:config-item></config:config-item-map-entry></config:config-item-map-named>"
        "</config:config-item-map-entry></config:config-item-map-indexed>"
        "</config:config-item-set></office:settings></office:document-settings>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED
        )
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        archive.writestr("settings.xml", settings, zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


def test_ods_data_styles_become_excel_formats(tmp_path):
    sheet = converted(tmp_path, ods_book(tmp_path / "in.ods"))
    for column, (_, code) in ODS_EXPECTED.items():
        assert sheet[f"{column}2"].number_format == code, column
    assert sheet["A2"].value == dt.datetime(2024, 3, 15)
    assert sheet["D2"].value == 0.125 and sheet["E2"].value == -1234.5
    assert sheet["H2"].value == "00123" and sheet["H2"].data_type == "s"
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1]) and not sheet["A2"].font.b
    assert sheet.column_dimensions["A"].width == pytest.approx(2.5 / 2.54 * 96 / 7, abs=1 / 7)


def test_ods_values_only(tmp_path):
    sheet = converted(tmp_path, ods_book(tmp_path / "in.ods"), keep_formats=False)
    assert sheet["D2"].number_format == "General" and sheet.freeze_panes is None
    assert not sheet["A1"].font.b


@pytest.mark.parametrize("width", ["1e308cm", "-3cm", "wide", "9" * 400 + "in"])
def test_ods_hostile_widths(tmp_path, width):
    sheet = converted(tmp_path, ods_book(tmp_path / "in.ods", width=width))
    assert sheet.column_dimensions["A"].width in (13.0, 255.0)
    assert sheet["D2"].value == 0.125
