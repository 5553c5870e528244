"""Every format in, every format out."""

import csv
import io
import json
import random
import struct
import zipfile

import olefile
import openpyxl
import pytest

from app.sheets import Options, SheetError, convert, error_cells, inspect, preview

from .books import FIXTURES, read_text, retype_package, write_text, write_xlsx
from .conftest import MIXED

EXPECTED_DATA = [
    ["id", "amount", "name", "when", "flag", "code"],
    ["1", "12.5", 'Zoë, "quoted"', "2024-03-15", "TRUE", "00123"],
    ["2", "-0.1", "plain", "2023-12-31", "FALSE", "NA"],
    ["3", "1234567", "last", "2000-02-29", "TRUE", "007"],
]


def parse_csv(text, delimiter=","):
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


@pytest.mark.parametrize(
    "name, kind",
    [("mixed.xls", "xls"), ("mixed.xlsb", "xlsb"), ("mixed.ods", "ods")],
)
def test_fixtures_read_faithfully(tmp_path, name, kind):
    info = inspect(FIXTURES / name)
    assert info.format == kind
    assert [(s.name, s.visible) for s in info.sheets] == [
        ("Data", True),
        ("Second sheet", True),
        ("Hidden", False),
    ]
    assert (info.sheets[0].rows, info.sheets[0].columns) == (4, 6)
    out = tmp_path / "out.csv"
    convert(FIXTURES / name, out)
    expected = EXPECTED_DATA
    if kind == "ods":  # LibreOffice stores booleans as numbers (see fixtures/README.md)
        expected = [[{"TRUE": "1", "FALSE": "0"}.get(v, v) for v in row] for row in expected]
    assert parse_csv(read_text(out)) == expected


# errors.xls, .ods and .xlsb (see fixtures/README.md): error cells, which calamine reads as empty.
EXPECTED_ERRORS = [
    ["kind", "value", "after"],
    ["", "", ""],
    ["1/0", "#DIV/0!", "2"],
    ["NA()", "#N/A", "3"],
    ['"a"+1', "#VALUE!", "4"],
    ["NOSUCHFUNCTION()", "#NAME?", "5"],
    ["SQRT(-1)", "#VALUE!", "6"],
    ["#DIV/0!", "", ""],
]


@pytest.mark.parametrize("kind", ["xls", "ods", "xlsb"])
def test_error_cells_of_xls_ods_and_xlsb_keep_their_text(tmp_path, kind):
    out = tmp_path / "out.zip"
    convert(FIXTURES / f"errors.{kind}", out, Options(all_sheets=True))
    with zipfile.ZipFile(out) as archive:
        errors = parse_csv(archive.read("Errors.csv").decode())
        more = parse_csv(archive.read("More.csv").decode())
    expected = [list(row) for row in EXPECTED_ERRORS]
    if kind == "ods":  # LibreOffice recalculated SQRT(-1) and stores its own error text
        expected[6][1] = "Err:502"
    if kind == "xlsb":  # written directly, not through LibreOffice
        expected[6][1] = "#NUM!"
    assert errors == expected
    if kind == "xlsb":  # and a formula error past calamine's extent (fixtures/README.md)
        assert more == [["", "#N/A", "#N/A", ""], [""] * 4, ["", "", "", "#DIV/0!"]]
        assert inspect(FIXTURES / "errors.xlsb").sheets[1].columns == 4
    else:
        assert more == [["", "#N/A", "#N/A"]]
    assert preview(FIXTURES / f"errors.{kind}", "Errors").rows[2][1] == "#DIV/0!"


@pytest.mark.parametrize("kind", ["xls", "ods", "xlsb"])
def test_error_cells_typed_outputs(tmp_path, kind):
    out = tmp_path / "out.json"
    convert(FIXTURES / f"errors.{kind}", out, Options(format="json"))
    assert [record["value"] for record in json.loads(read_text(out))][1:4] == [
        "#DIV/0!",
        "#N/A",
        "#VALUE!",
    ]


def test_error_cells_are_looked_for_only_when_the_file_has_some(monkeypatch):
    def workbook_stream(name):
        with olefile.OleFileIO(str(FIXTURES / name)) as ole:
            return ole.openstream("Workbook").read()

    assert not error_cells.XLS_ERROR_RECORD.search(workbook_stream("mixed.xls"))
    assert error_cells.XLS_ERROR_RECORD.search(workbook_stream("errors.xls"))
    assert error_cells.xls_error_cells(FIXTURES / "errors.xls")["More"] == {
        (0, 1): "#N/A",
        (0, 2): "#N/A",
    }
    assert error_cells.ods_error_cells(FIXTURES / "errors.ods")["Errors"][(7, 0)] == "#DIV/0!"

    def must_not_parse(handle):
        raise AssertionError("content.xml parsed though it marks no error cell")

    monkeypatch.setattr(error_cells, "parse_ods_errors", must_not_parse)
    assert error_cells.ods_error_cells(FIXTURES / "mixed.ods") == {}

    assert error_cells.xlsb_error_cells(FIXTURES / "errors.xlsb")["More"] == {
        (0, 1): "#N/A",
        (0, 2): "#N/A",
        (2, 3): "#DIV/0!",
    }
    monkeypatch.setattr(error_cells, "xlsb_sheet_errors", must_not_parse)
    assert error_cells.xlsb_error_cells(FIXTURES / "mixed.xlsb") == {}


def test_xlsb_first_pass_tells_error_records_from_numbers():
    # Sheet data as pyxlsbwriter writes it: row headers, shared strings, random floats.
    # Row numbers such as 2,307 (03 09 00 00) and the bytes of floats match the pattern.
    rng = random.Random(7)
    records = []
    for row in range(20_000):
        header = struct.pack("<IIIBBBBBII", row, 0, 300, 0, 1, 0, 0, 0, 0, 2)
        records.append(b"\x00\x19" + header)
        records.append(b"\x07\x0c" + struct.pack("<III", 0, 0, row % 50))
        records.append(b"\x05\x10" + struct.pack("<IId", 1, 0, round(rng.uniform(-1e5, 1e5), 2)))
        records.append(b"\x07\x0c" + struct.pack("<III", 2, 0, 0))
    data = b"".join(records) + b"\x92\x01\x00"
    matches = list(error_cells.XLSB_ERROR_RECORD.finditer(data))
    assert len(matches) > 10
    assert not [m for m in matches if error_cells.xlsb_record_at(data, m)]
    assert error_cells.xlsb_sheet_errors(io.BytesIO(data)) == {}

    with zipfile.ZipFile(FIXTURES / "errors.xlsb") as archive:
        sheet = archive.read("xl/worksheets/sheet1.bin")
    matches = list(error_cells.XLSB_ERROR_RECORD.finditer(sheet))
    assert len([m for m in matches if error_cells.xlsb_record_at(sheet, m)]) == 6


def test_xlsb_records_read_across_chunks():
    with zipfile.ZipFile(FIXTURES / "errors.xlsb") as archive:
        sheet = archive.read("xl/worksheets/sheet1.bin")
    whole = list(error_cells.xlsb_records(io.BytesIO(sheet)))
    assert len(whole) > 30 and (3, b"\x00" * 8 + b"\x07") in whole  # BrtCellError, #DIV/0!
    for chunk in (1, 5, 17):
        assert list(error_cells.xlsb_records(io.BytesIO(sheet), chunk)) == whole
    assert error_cells.xlsb_sheet_errors(io.BytesIO(sheet[: len(sheet) // 2])) == {
        (2, 1): "#DIV/0!"
    }  # truncated: what there is


def test_ods_error_cells_count_repeated_rows_and_cells():
    """Repeats as LibreOffice writes them, and a table nested in a cell, which is not the grid."""
    table = 'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
    calcext = 'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"'
    text = 'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    error = (
        '<table:table-cell calcext:value-type="error"{}><text:p>#REF!</text:p></table:table-cell>'
    )
    content = (
        f"<doc {table} {calcext} {text}><table:table table:name='S'>"
        "<table:table-row table:number-rows-repeated='3'><table:table-cell/></table:table-row>"
        "<table:table-row><table:covered-table-cell table:number-columns-repeated='2'/>"
        + error.format(" table:number-columns-repeated='2'")
        + "<table:table-cell><table:table table:name='inner'><table:table-row>"
        + error.format("")
        + "</table:table-row></table:table></table:table-cell>"
        + error.format("")
        + "</table:table-row>"
        + "<table:table-row table:number-rows-repeated='2'>"
        + error.format("")
        + "</table:table-row>"
        + "<table:table-row table:number-rows-repeated='1048576'>"
        + error.format(" table:number-columns-repeated='16384'")
        + "</table:table-row></table:table></doc>"
    )
    found = error_cells.parse_ods_errors(io.BytesIO(content.encode()))["S"]
    assert {position: found[position] for position in sorted(found)[:5]} == {
        (3, 2): "#REF!",
        (3, 3): "#REF!",
        (3, 5): "#REF!",
        (4, 0): "#REF!",
        (5, 0): "#REF!",
    }
    assert len(found) == error_cells.MAX_ERROR_CELLS  # a billion-cell repeat is cut short


@pytest.mark.parametrize("output", ["csv", "tsv", "xlsx", "json"])
@pytest.mark.parametrize("source", ["mixed.xls", "mixed.xlsb", "mixed.ods", "generated.xlsx"])
def test_every_format_to_every_format(tmp_path, mixed_xlsx, source, output):
    path = mixed_xlsx if source == "generated.xlsx" else FIXTURES / source
    out = tmp_path / f"out.{output}"
    result = convert(path, out, Options(format=output))
    assert result.output == output and result.sheets == ["Data"]
    assert result.rows >= 3
    if output in ("csv", "tsv"):
        rows = parse_csv(read_text(out), "\t" if output == "tsv" else ",")
        assert rows[0] == ["id", "amount", "name", "when", "flag", "code"]
    elif output == "json":
        records = json.loads(read_text(out))
        assert records[0]["id"] == 1 and records[0]["when"] == "2024-03-15"
    else:
        sheet = openpyxl.load_workbook(out).active
        assert sheet.title == "Data"
        assert sheet["A2"].value == 1 and isinstance(sheet["B2"].value, float)
        assert sheet["D2"].is_date and sheet["D2"].value.year == 2024


def test_xlsx_output_keeps_types(tmp_path, mixed_xlsx):
    out = tmp_path / "out.xlsx"
    convert(mixed_xlsx, out, Options(format="xlsx", all_sheets=True))
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Data", "Other"]
    data = book["Data"]
    assert [c.value for c in data[2]][:2] == [1, 12.5]
    assert data["C2"].value == MIXED[1][2]
    assert data["D2"].is_date and data["D2"].number_format == "yyyy-mm-dd"
    assert data["D3"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert data["E2"].value is True and data["F2"].value == "00123"
    assert data["F2"].data_type == "s"


def test_csv_output_options(tmp_path, mixed_xlsx):
    out = tmp_path / "out.csv"
    convert(
        mixed_xlsx,
        out,
        Options(delimiter=";", quoting="all", line_ending="lf", encoding="utf-8-sig"),
    )
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.startswith('"id";"amount";"name"') and "\r\n" not in text.replace("\nline", "")


def test_tsv_uses_tabs(tmp_path, mixed_xlsx):
    out = tmp_path / "out.tsv"
    convert(mixed_xlsx, out, Options(format="tsv", delimiter=";"))
    assert read_text(out).splitlines()[0] == "id\tamount\tname\twhen\tflag\tcode"


def test_cp1252_output_and_unencodable_cell(tmp_path):
    book = write_xlsx(tmp_path / "b.xlsx", {"S": [["café"], ["naïve"], ["emoji 😀"]]})
    with pytest.raises(SheetError, match=r"Cell A3 of sheet 'S' contains '😀'"):
        convert(book, tmp_path / "out.csv", Options(encoding="cp1252"))
    assert not (tmp_path / "out.csv").exists()
    fine = write_xlsx(tmp_path / "c.xlsx", {"S": [["café"]]})
    convert(fine, tmp_path / "ok.csv", Options(encoding="cp1252"))
    assert (tmp_path / "ok.csv").read_bytes() == "café\r\n".encode("cp1252")


def test_json_styles_and_headers(tmp_path):
    book = write_xlsx(tmp_path / "h.xlsx", {"S": [["name", "", "name"], ["a", 1, True]]})
    out = tmp_path / "o.json"
    convert(book, out, Options(format="json"))
    assert json.loads(read_text(out)) == [{"name": "a", "B": 1, "name_2": True}]
    convert(book, out, Options(format="json", json_style="rows"))
    assert json.loads(read_text(out)) == [["name", None, "name"], ["a", 1, True]]
    convert(book, out, Options(format="json", header=False))
    assert json.loads(read_text(out)) == [
        {"A": "name", "B": None, "C": "name"},
        {"A": "a", "B": 1, "C": True},
    ]


def test_skip_rows(tmp_path):
    book = write_xlsx(tmp_path / "s.xlsx", {"S": [["Report title"], [], ["a", "b"], [1, 2]]})
    out = tmp_path / "o.json"
    convert(book, out, Options(format="json", skip_rows=2))
    assert json.loads(read_text(out)) == [{"a": 1, "b": 2}]


def test_anchored_at_a1_and_trimmed(tmp_path):
    cells = {(2, 1): "first", (4, 3): 5, (4, 0): ""}
    book = write_xlsx(tmp_path / "a.xlsx", {"S": cells})
    out = tmp_path / "o.csv"
    convert(book, out, Options(line_ending="lf"))
    assert read_text(out) == ",,,\n,,,\n,first,,\n,,,\n,,,5\n"


def test_all_sheets_to_zip_of_csv(tmp_path, mixed_xlsx):
    out = tmp_path / "all.zip"
    result = convert(mixed_xlsx, out, Options(all_sheets=True, name_stem="report"))
    assert result.output == "zip" and result.media_type == "application/zip"
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["report - Data.csv", "report - Other.csv"]
        assert archive.read("report - Other.csv") == b"x\r\n1\r\n"


def test_hidden_sheets_only_when_asked(tmp_path):
    book = write_xlsx(tmp_path / "h.xlsx", {"Shown": [["s"]], "Secret": [["h"]]}, hidden={"Secret"})
    info = inspect(book)
    assert [(s.name, s.visible) for s in info.sheets] == [("Shown", True), ("Secret", False)]
    out = tmp_path / "o.zip"
    result = convert(book, out, Options(all_sheets=True, format="json"))
    assert result.sheets == ["Shown"] and result.output == "json"
    assert any("Hidden sheets left out: 'Secret'" in w for w in result.warnings)
    result = convert(book, out, Options(all_sheets=True, include_hidden=True))
    assert result.sheets == ["Shown", "Secret"]


def test_choosing_one_sheet_warns_about_the_others(tmp_path, mixed_xlsx):
    result = convert(mixed_xlsx, tmp_path / "o.csv")
    assert result.warnings and "only 'Data' converted" in result.warnings[0]
    result = convert(mixed_xlsx, tmp_path / "o.csv", Options(sheets=["Other"]))
    assert result.sheets == ["Other"]
    with pytest.raises(SheetError, match="no sheet named 'Nope'"):
        convert(mixed_xlsx, tmp_path / "o.csv", Options(sheets=["Nope"]))


def test_fill_merged_cells(tmp_path):
    book = write_xlsx(
        tmp_path / "m.xlsx",
        {"S": [["a", "b", "c"], [], [1, 2, 3], [4, "", 6]]},
        merges={"S": [((1, 0), (1, 2), "wide"), ((2, 1), (3, 1), "tall")]},
    )
    out = tmp_path / "o.csv"
    convert(book, out, Options(line_ending="lf"))
    assert read_text(out) == "a,b,c\nwide,,\n1,tall,3\n4,,6\n"
    convert(book, out, Options(line_ending="lf", fill_merged=True))
    assert read_text(out) == "a,b,c\nwide,wide,wide\n1,tall,3\n4,tall,6\n"


@pytest.mark.parametrize(
    "content_type, kind",
    [
        ("application/vnd.ms-excel.sheet.macroEnabled.main+xml", "xlsm"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml", "xltx"),
    ],
)
def test_xlsm_and_xltx(tmp_path, mixed_xlsx, content_type, kind):
    package = retype_package(mixed_xlsx, tmp_path / f"book.{kind}", content_type)
    assert inspect(package).format == kind
    convert(package, tmp_path / "o.csv")
    assert read_text(tmp_path / "o.csv").startswith("id,amount,name")


# Text input


@pytest.mark.parametrize(
    "delimiter, name", [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]
)
def test_text_delimiter_is_sniffed(tmp_path, delimiter, name):
    text = delimiter.join(["id", "name", "note"]) + "\n"
    text += (
        delimiter.join(["1", '"a, b; c"', "x"]) + "\n" + delimiter.join(["2", "plain", "y"]) + "\n"
    )
    source = write_text(tmp_path / f"{name}.txt", text)
    info = inspect(source)
    assert info.format == "csv" and info.delimiter == delimiter
    assert (info.sheets[0].rows, info.sheets[0].columns) == (3, 3)
    out = tmp_path / "o.csv"
    convert(source, out, Options(line_ending="lf"))
    assert read_text(out).splitlines()[0] == "id,name,note"


@pytest.mark.parametrize(
    "encoding, found",
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("cp1252", "cp1252")],
)
def test_text_encoding_is_detected(tmp_path, encoding, found):
    text = "name;city\nJosé Müller;Zürich\nFrançois Lefèvre;Besançon\nÅsa Öberg;Malmö\n" * 3
    source = write_text(tmp_path / "t.csv", text, encoding)
    info = inspect(source)
    assert info.encoding == found
    out = tmp_path / "o.csv"
    convert(source, out, Options(line_ending="lf"))
    assert read_text(out, "utf-8").splitlines()[1] == "José Müller,Zürich"


def test_text_quoted_newlines_and_ragged_rows(tmp_path):
    source = write_text(tmp_path / "t.csv", 'a,b\n"line 1\nline 2",x\nonly\n1,2,3,,\n\n\n')
    out = tmp_path / "o.csv"
    convert(source, out, Options(line_ending="lf"))
    assert read_text(out) == 'a,b,\n"line 1\nline 2",x,\nonly,,\n1,2,3\n'


def test_text_stays_text_in_csv_but_is_typed_in_xlsx(tmp_path):
    source = write_text(tmp_path / "t.csv", "code,amount,day,flag\n00123,12.50,2024-03-15,TRUE\n")
    convert(source, tmp_path / "o.csv", Options(line_ending="lf"))
    assert read_text(tmp_path / "o.csv") == "code,amount,day,flag\n00123,12.50,2024-03-15,TRUE\n"
    convert(source, tmp_path / "o.xlsx", Options(format="xlsx"))
    sheet = openpyxl.load_workbook(tmp_path / "o.xlsx").active
    assert [sheet[f"{c}2"].value for c in "ABD"] == ["00123", 12.5, True]
    assert sheet["C2"].is_date
    convert(source, tmp_path / "o.json", Options(format="json", infer_types=False))
    assert json.loads(read_text(tmp_path / "o.json"))[0]["amount"] == "12.50"


def test_preview(tmp_path, mixed_xlsx):
    shown = preview(mixed_xlsx, rows=2)
    assert shown.sheet == "Data" and shown.total_rows == 3 and shown.total_columns == 6
    assert shown.rows == [MIXED[0], ["1", "12.5", MIXED[1][2], "2024-03-15", "TRUE", "00123"]]
    assert preview(mixed_xlsx, sheet="Other").rows == [["x"], ["1"]]


def test_preview_is_bounded_in_columns_cell_length_and_characters(tmp_path):
    from app.sheets import survey
    from app.sheets.convert import PREVIEW_CELL_CHARS, PREVIEW_CHARS, PREVIEW_COLUMNS

    wide = [[f"{r}-{c}" for c in range(300)] for r in range(5)]
    wide[1][2] = "é" * 1000
    book = write_xlsx(tmp_path / "wide.xlsx", {"Data": wide})
    shown = preview(book)
    assert shown.total_columns == 300 and shown.shown_columns == PREVIEW_COLUMNS
    assert [len(row) for row in shown.rows] == [PREVIEW_COLUMNS] * 5 and shown.cut_cells
    assert shown.rows[1][2] == "é" * (PREVIEW_CELL_CHARS - 1) + "…"
    assert shown.rows[4][PREVIEW_COLUMNS - 1] == f"4-{PREVIEW_COLUMNS - 1}"
    assert preview(book, columns=3).rows[0] == ["0-0", "0-1", "0-2"]
    # Full cells: the rows stop where the characters run out (one row at least).
    full = [["y" * PREVIEW_CELL_CHARS] * PREVIEW_COLUMNS for _ in range(100)]
    shown = survey(write_text(tmp_path / "full.csv", "\n".join(map(",".join, full))))[1]
    row_chars = PREVIEW_CELL_CHARS * PREVIEW_COLUMNS
    assert len(shown.rows) == PREVIEW_CHARS // row_chars and shown.total_rows == 100
    assert not shown.cut_cells and shown.shown_columns == PREVIEW_COLUMNS
    assert preview(book, rows=1, columns=1).rows == [["0-0"]]


def test_survey_is_inspect_and_preview_in_one_read(tmp_path):
    from app.sheets import survey

    # XlsxWriter will not hide the first sheet; openpyxl will.
    workbook = openpyxl.Workbook()
    secret = workbook.active
    secret.title, secret.sheet_state = "Secret", "hidden"
    secret["A1"] = "h"
    visible = workbook.create_sheet("Shown")
    visible.append(["s"])
    visible.append([1])
    workbook.active = 1
    book = tmp_path / "h.xlsx"
    workbook.save(book)
    info, shown = survey(book, rows=1)
    assert info == inspect(book)
    assert [(s.name, s.visible) for s in info.sheets] == [("Secret", False), ("Shown", True)]
    assert shown == preview(book, rows=1) and shown.sheet == "Shown" and shown.rows == [["s"]]
    empty = write_text(tmp_path / "empty.csv", "\n\n")
    info, shown = survey(empty, isolate=True)
    assert info.format == "csv" and shown.rows == [] and shown.total_rows == 0
