"""Excel 2003 XML (SpreadsheetML) in: recognised by its root element whatever its name,
read as typed cells, and refused quickly when hostile."""

import json
import shutil

import pytest

from app.sheets import DamagedFile, Limits, Options, TooLarge, convert, detect_format, inspect
from app.sheets.book import open_book

from .books import FIXTURES, read_text
from .input_checks import csv_of, read_everywhere, refused_everywhere

LIBREOFFICE = FIXTURES / "inputs-excel2003.xml"  # and inputs.ods: the same workbook
SHEETS = ["Data", "Layout", "Moments", "Errors", "Hidden"]


def spreadsheet(path, worksheets, styles=""):
    """A SpreadsheetML workbook shaped as Excel 2003 writes it."""
    path.write_text(
        '<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"\n'
        ' xmlns:o="urn:schemas-microsoft-com:office:office"\n'
        ' xmlns:x="urn:schemas-microsoft-com:office:excel"\n'
        ' xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"\n'
        ' xmlns:html="http://www.w3.org/TR/REC-html40">\n'
        f"<Styles>{styles}</Styles>\n{worksheets}</Workbook>\n",
        encoding="utf-8",
    )
    return path


def test_libreoffice_export_reads_as_the_same_workbook_saved_as_ods(tmp_path):
    info = inspect(LIBREOFFICE)
    assert (info.format, info.description) == (
        "spreadsheetml",
        "Excel 2003 XML spreadsheet (.xml, .xls)",
    )
    assert [sheet.name for sheet in info.sheets] == SHEETS
    source = tmp_path / LIBREOFFICE.name
    shutil.copy(LIBREOFFICE, source)
    for sheet in SHEETS:
        assert csv_of(source, sheet) == csv_of(FIXTURES / "inputs.ods", sheet), sheet
    assert csv_of(source, "Data") == (
        "id,amount,name,when,flag,code\n"
        '1,12.5,"Zoë, ""quoted""",2024-03-15,1,00123\n'
        '2,-0.1,"plain\nsecond line",2023-12-31,0,NA\n'
        "3,1234567,last,2000-02-29,1,007\n"
    )
    assert csv_of(source, "Moments") == (
        "kind,value\ndatetime,2024-03-15 13:45:30\ntime,06:30:00\nduration,30:15:00\n"
    )


@pytest.mark.parametrize("name", ["report.xls", "report.xml", "report.csv", "report"])
def test_recognised_whatever_its_name(tmp_path, name):
    path = tmp_path / name
    shutil.copy(LIBREOFFICE, path)
    assert detect_format(path).format == "spreadsheetml"
    assert csv_of(path, "Errors") == "formula,result\n1/0,#DIV/0!\nNA(),#N/A\n"


EXCEL_SHEETS = """
<Worksheet ss:Name="Typed">
 <Table ss:ExpandedColumnCount="99999999" ss:ExpandedRowCount="5">
  <Column ss:Index="2" ss:Width="80"/>
  <Row>
   <Cell><Data ss:Type="String">text</Data></Cell>
   <Cell><Data ss:Type="Number">1.5E3</Data></Cell>
   <Cell><Data ss:Type="Boolean">1</Data></Cell>
   <Cell ss:StyleID="date"><Data ss:Type="DateTime">2024-03-15T00:00:00.000</Data></Cell>
   <Cell ss:StyleID="time"><Data ss:Type="DateTime">1899-12-31T13:45:30.000</Data></Cell>
   <Cell ss:Formula="=1/0"><Data ss:Type="Error">#DIV/0!</Data></Cell>
  </Row>
  <Row ss:Index="3">
   <Cell ss:Index="2"><Data ss:Type="String">B3 after a gap</Data><Comment
     ss:Author="me"><ss:Data xmlns="http://www.w3.org/TR/REC-html40">a note</ss:Data></Comment></Cell>
   <Cell ss:StyleID="stamp"><Data ss:Type="DateTime">2024-03-15T13:45:30.000</Data></Cell>
   <Cell><ss:Data ss:Type="String" xmlns="http://www.w3.org/TR/REC-html40"><B>bold</B>
     and <Font html:Color="#FF0000">red</Font>&#10;line</ss:Data></Cell>
   <Cell ss:Index="6"><Data ss:Type="Number">00042</Data></Cell>
  </Row>
 </Table>
</Worksheet>
<Worksheet ss:Name="Merged">
 <Table>
  <Row><Cell ss:MergeAcross="2"><Data ss:Type="String">across</Data></Cell>
   <Cell><Data ss:Type="String">D1</Data></Cell></Row>
  <Row><Cell ss:MergeDown="1"><Data ss:Type="String">down</Data></Cell>
   <Cell><Data ss:Type="Number">2</Data></Cell></Row>
  <Row><Cell ss:Index="2"><Data ss:Type="Number">3</Data></Cell></Row>
 </Table>
</Worksheet>
<Worksheet ss:Name="Secret">
 <Table><Row><Cell><Data ss:Type="String">hidden</Data></Cell></Row></Table>
 <WorksheetOptions xmlns="urn:schemas-microsoft-com:office:excel">
  <Visible>SheetHidden</Visible>
 </WorksheetOptions>
</Worksheet>
"""
EXCEL_STYLES = """
<Style ss:ID="Default" ss:Name="Normal"><NumberFormat/></Style>
<Style ss:ID="date"><NumberFormat ss:Format="Short Date"/></Style>
<Style ss:ID="time"><NumberFormat ss:Format="Long Time"/></Style>
<Style ss:ID="base"><NumberFormat ss:Format="yyyy\\-mm\\-dd\\ hh:mm:ss"/></Style>
<Style ss:ID="stamp" ss:Parent="base"><Font ss:Bold="1"/></Style>
"""


def test_excel_cells_types_gaps_merges_and_hidden_sheets(tmp_path):
    path = spreadsheet(tmp_path / "excel.xml", EXCEL_SHEETS, EXCEL_STYLES)
    info = inspect(path)
    assert [(s.name, s.visible, s.rows, s.columns) for s in info.sheets] == [
        ("Typed", True, 3, 6),
        ("Merged", True, 3, 4),
        ("Secret", False, 1, 1),
    ]
    assert csv_of(path, "Typed") == (
        "text,1500,TRUE,2024-03-15,13:45:30,#DIV/0!\n"
        ",,,,,\n"
        ',B3 after a gap,2024-03-15 13:45:30,"bold\n     and red\nline",,42\n'
    )
    assert csv_of(path, "Merged") == "across,,,D1\ndown,2,,\n,3,,\n"
    assert csv_of(path, "Merged", fill_merged=True) == (
        "across,across,across,D1\ndown,2,,\ndown,3,,\n"
    )
    target = tmp_path / "typed.json"
    convert(path, target, Options(format="json", sheets=["Typed"], header=False))
    first = json.loads(read_text(target))[0]
    assert list(first.values())[:4] == ["text", 1500, True, "2024-03-15"]


def test_every_sheet_and_the_hidden_one(tmp_path):
    path = spreadsheet(tmp_path / "excel.xml", EXCEL_SHEETS, EXCEL_STYLES)
    result = convert(path, tmp_path / "all.zip", Options(format="csv", all_sheets=True))
    assert result.sheets == ["Typed", "Merged"]
    assert any("Hidden sheets left out: 'Secret'" in w for w in result.warnings)


def test_sheets_with_one_name_are_told_apart(tmp_path):
    sheet = '<Worksheet ss:Name="Same"><Table><Row><Cell><Data ss:Type="Number">{}</Data></Cell></Row></Table></Worksheet>'
    path = spreadsheet(tmp_path / "twice.xml", sheet.format(1) + sheet.format(2))
    assert [s.name for s in inspect(path).sheets] == ["Same", "Same (2)"]
    assert csv_of(path, "Same (2)") == "2\n"


def test_dates_before_march_1900_as_excel_counts_them(tmp_path):
    cells = "".join(
        f'<Row><Cell ss:StyleID="d"><Data ss:Type="DateTime">{text}</Data></Cell></Row>'
        for text in (
            "1900-01-01T00:00:00.000",
            "1900-02-28T00:00:00.000",
            "1900-03-01T00:00:00.000",
        )
    )
    path = spreadsheet(
        tmp_path / "early.xml",
        f'<Worksheet ss:Name="S"><Table>{cells}</Table></Worksheet>',
        '<Style ss:ID="d"><NumberFormat ss:Format="Short Date"/></Style>',
    )
    assert csv_of(path) == "1900-01-01\n1900-02-28\n1900-03-01\n"


# Hostile files


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">
<Worksheet ss:Name="S"><Table><Row><Cell><Data ss:Type="String">&lol4;</Data></Cell></Row>
</Table></Worksheet></Workbook>
"""


def test_billion_laughs_is_refused(tmp_path):
    path = tmp_path / "lol.xml"
    path.write_text(BILLION_LAUGHS)
    assert detect_format(path).format == "spreadsheetml"
    refused_everywhere(path, DamagedFile, "XML entity declarations and was refused for safety")


def test_malformed_or_cut_short_xml_is_damaged(tmp_path):
    path = tmp_path / "cut.xml"
    path.write_bytes(LIBREOFFICE.read_bytes()[:6000])
    refused_everywhere(path, DamagedFile, "its XML is malformed")


@pytest.mark.parametrize(
    "cell",
    [
        '<Row ss:Index="99999999999999999999"><Cell ss:Index="99999999999999999999">'
        '<Data ss:Type="Number">1</Data></Cell></Row>',
        '<Row><Cell ss:Index="16385"><Data ss:Type="Number">1</Data></Cell></Row>'
        '<Row ss:Index="1048577"><Cell><Data ss:Type="Number">1</Data></Cell></Row>',
        f'<Row ss:Index="{"9" * 5000}"><Cell ss:Index="20000"><Data ss:Type="Number">1</Data></Cell></Row>',
    ],
)
def test_indexes_far_out_are_clamped_and_refused_by_size(tmp_path, cell):
    path = spreadsheet(
        tmp_path / "far.xml", f'<Worksheet ss:Name="S"><Table>{cell}</Table></Worksheet>'
    )
    refused_everywhere(path, TooLarge, "more than the 60,000,000 cells")


def test_huge_merges_and_spans_are_clamped(tmp_path):
    big = "99999999999999999999"
    first = (
        f'<Row ss:Span="{big}"><Cell ss:MergeAcross="{big}" ss:MergeDown="{big}">'
        '<Data ss:Type="String">a</Data></Cell></Row>'
    )
    path = spreadsheet(
        tmp_path / "m.xml", f'<Worksheet ss:Name="S"><Table>{first}</Table></Worksheet>'
    )
    assert read_everywhere(path)[-1] == "a\r\n"
    with open_book(path, detect_format(path), Limits()) as book:
        assert book.merges(book.sheets[0]) == [((0, 0), (1_048_575, 16_383))]  # clamped
    assert csv_of(path, fill_merged=True) == "a\n"
    # What comes after them is placed past them: at the last row and column a sheet has.
    after = first.replace("</Row>", '<Cell><Data ss:Type="String">b</Data></Cell></Row>')
    after += '<Row><Cell><Data ss:Type="String">c</Data></Cell></Row>'
    path = spreadsheet(
        tmp_path / "m2.xml", f'<Worksheet ss:Name="S"><Table>{after}</Table></Worksheet>'
    )
    refused_everywhere(path, TooLarge, "spans 1,048,576 rows by 16,384 columns")


def test_deep_nesting_and_many_merges_are_bounded(tmp_path):
    deep = "<b>" * 100_000 + "deep" + "</b>" * 100_000
    rows = f'<Row><Cell><ss:Data ss:Type="String" xmlns="http://www.w3.org/TR/REC-html40">{deep}</ss:Data></Cell></Row>'
    path = spreadsheet(
        tmp_path / "deep.xml", f'<Worksheet ss:Name="S"><Table>{rows}</Table></Worksheet>'
    )
    assert read_everywhere(path)[-1] == "deep\r\n"
    merges = "".join(
        f'<Row><Cell ss:MergeAcross="1"><Data ss:Type="Number">{n}</Data></Cell></Row>'
        for n in range(30)
    )
    path = spreadsheet(
        tmp_path / "merges.xml", f'<Worksheet ss:Name="S"><Table>{merges}</Table></Worksheet>'
    )
    refused_everywhere(path, TooLarge, "more than 20 merged ranges", Limits(max_merges=20))


def test_a_long_cell_is_refused(tmp_path):
    rows = f'<Row><Cell><Data ss:Type="String">{"x" * 2000}</Data></Cell></Row>'
    path = spreadsheet(
        tmp_path / "long.xml", f'<Worksheet ss:Name="S"><Table>{rows}</Table></Worksheet>'
    )
    refused_everywhere(path, TooLarge, "more than 1,000 characters", Limits(max_text_length=1000))
