"""HTML tables in ("Export to Excel" pages, often saved as .xls): each table a sheet, spans
as merged ranges, text as a browser shows it; hostile spans and pages refused or bounded."""

import json
import shutil

import pytest

from app.sheets import Limits, NotASpreadsheet, Options, TooLarge, convert, detect_format, inspect
from app.sheets.book import open_book

from .books import FIXTURES, read_text
from .input_checks import csv_of, read_everywhere, refused_everywhere

BANK = FIXTURES / "bank-export.xls"  # written by hand as banks' exports look (README.md)
STATEMENT = "Girokonto DE12 3456 · Müller"


def page(path, body, head="<meta charset='utf-8'>"):
    path.write_text(f"<!DOCTYPE html>\n<html><head>{head}</head><body>{body}</body></html>\n")
    return path


def test_bank_export_reads_as_its_tables(tmp_path):
    detection = detect_format(BANK)
    assert (detection.format, detection.encoding) == ("html", "cp1252")  # its meta charset
    info = inspect(BANK)
    assert info.description == "HTML table (.html, .xls)"
    # The layout table around the logo holds no text: no sheet. The rates table is the
    # page's third table.
    assert [(s.name, s.rows, s.columns) for s in info.sheets] == [
        (STATEMENT, 6, 5),
        ("Table 3", 2, 2),
    ]
    assert csv_of(BANK) == (
        "Date,Description,Amount (EUR),,Balance\n"
        ",,Debit,Credit,\n"
        '01.03.2024,"Café & Bäckerei\nCard 1234","-4,50",,"1.245,50"\n'
        '02.03.2024,Salary March (ref. 2024/03),,"2.500,00","3.745,50"\n'
        '05.03.2024,"Transfer ""Rent"" <landlord>\nSEPA","-950,00",,"2.795,50"\n'
        'Total,,"-954,50","2.500,00",\n'
    )
    assert csv_of(BANK, "Table 3") == 'Currency,Rate\nUSD,"1,0876"\n'


def test_spans_are_merged_ranges(tmp_path):
    assert csv_of(BANK, fill_merged=True).splitlines()[:3] == [
        "Date,Description,Amount (EUR),Amount (EUR),Balance",
        "Date,Description,Debit,Credit,Balance",
        '01.03.2024,"Café & Bäckerei',
    ]
    with open_book(BANK, detect_format(BANK), Limits()) as book:
        assert sorted(book.merges(book.sheets[0])) == [
            ((0, 0), (1, 0)),
            ((0, 1), (1, 1)),
            ((0, 2), (0, 3)),
            ((0, 4), (1, 4)),
            ((5, 0), (5, 1)),
        ]


@pytest.mark.parametrize("name", ["export.xls", "export.html", "export.htm", "export.csv", "x"])
def test_recognised_whatever_its_name(tmp_path, name):
    path = tmp_path / name
    shutil.copy(BANK, path)
    assert detect_format(path).format == "html"
    assert csv_of(path, "Table 3") == 'Currency,Rate\nUSD,"1,0876"\n'


def test_excel_html_numbers_are_numbers(tmp_path):
    """Excel's "Save as Web Page" and many ERPs state a cell's number in x:num."""
    path = tmp_path / "excel.xls"
    path.write_text(
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"\n'
        'xmlns:x="urn:schemas-microsoft-com:office:excel">\n'
        "<body><table><tr><td>item</td><td>price</td></tr>\n"
        '<tr><td>tea</td><td x:num="1234.5">1,234.50</td></tr>\n'
        "<tr><td>cake</td><td x:num>7</td></tr></table></body></html>\n"
    )
    assert detect_format(path).format == "html"
    assert csv_of(path) == "item,price\ntea,1234.5\ncake,7\n"
    target = tmp_path / "out.json"
    convert(path, target, Options(format="json"))
    assert json.loads(read_text(target)) == [
        {"item": "tea", "price": 1234.5},
        {"item": "cake", "price": 7},
    ]


def test_text_as_a_browser_shows_it(tmp_path):
    path = page(
        tmp_path / "p.html",
        "<table><tr><td>  a \n\t b  </td><td>&lt;b&gt; &amp;amp; &eacute;&#233;&#x41;</td>"
        "<td>x<br>y<BR/>z</td><td>&nbsp;</td><td><p>one</p><p>two</p></td>"
        "<td>keep<script>document.write('<td>no</td>')</script><style>td{}</style> this"
        "<table><tr><td>nested</td></tr></table></td><td>last</td></tr></table>",
    )
    assert csv_of(path) == 'a b,<b> &amp; ééA,"x\ny\nz",,"one\ntwo",keep this,last\n'


def test_implied_ends_row_groups_and_row_spans(tmp_path):
    path = page(
        tmp_path / "p.html",
        "<table><tr><td>a<td rowspan=9>tall<td>c"  # no </td>, no </tr>
        "<tr><td>d<td>f"
        "<tbody><tr><td rowspan=0>to the end<td>g<tr><td>h</table>"
        "<table id=second><caption> The   caption </caption><tr><td>i</td></tr>",  # left open
    )
    info = inspect(path)
    assert [(s.name, s.rows, s.columns) for s in info.sheets] == [
        ("Table 1", 4, 3),
        ("The caption", 1, 1),
    ]
    # rowspan=9 stops at its row group's last row; rowspan=0 runs to it.
    assert csv_of(path) == "a,tall,c\nd,,f\nto the end,g,\n,h,\n"
    assert csv_of(path, fill_merged=True) == "a,tall,c\nd,tall,f\nto the end,g,\nto the end,h,\n"


def test_sheet_names_from_caption_then_id(tmp_path):
    path = page(
        tmp_path / "p.html",
        "<table id='orders'><tr><td>1</td></tr></table>"
        "<table id='orders'><tr><td>2</td></tr></table>"
        "<table><caption>Totals</caption><tr><td>3</td></tr></table>"
        "<table><tr><td>4</td></tr></table>",
    )
    assert [s.name for s in inspect(path).sheets] == ["orders", "orders (2)", "Totals", "Table 4"]


def test_a_page_without_tables_is_refused_with_that_reason(tmp_path):
    path = page(tmp_path / "none.html", "<h1>Report</h1><p>No data for this period.</p>")
    refused_everywhere(path, NotASpreadsheet, "This web page holds no table")
    path = page(tmp_path / "empty.html", "<table><tr><td><img src=a.gif></td></tr></table>")
    refused_everywhere(path, NotASpreadsheet, "tables hold no text")


def test_text_files_that_mention_tags_stay_text(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("<b>name</b>,value\nx,<table>\n")
    assert detect_format(path).format == "csv"


# Hostile spans and pages


@pytest.mark.parametrize("span", ["1000000000", "99999999999999999999", "9" * 5000])
def test_a_colspan_of_a_billion_is_clamped_as_browsers_clamp_it(tmp_path, span):
    path = page(
        tmp_path / "wide.html", f"<table><tr><td colspan={span}>x</td><td>y</td></tr></table>"
    )
    outcome = read_everywhere(path)
    assert outcome[:2] == ("html", [("Table 1", 1, 1001)])  # 1,000 columns spanned, then y
    assert csv_of(path) == "x" + "," * 1000 + "y\n"


def test_wide_rows_of_spans_are_refused(tmp_path):
    path = page(
        tmp_path / "wide.html", "<table><tr>" + "<td colspan=1000>x</td>" * 17 + "</tr></table>"
    )
    refused_everywhere(path, TooLarge, "more than 16,384 columns")


def test_a_huge_rowspan_costs_only_the_rows_there_are(tmp_path):
    path = page(
        tmp_path / "tall.html",
        "<table><tr><td rowspan=99999999999999999999>x</td><td>1</td></tr>"
        "<tr><td>2</td></tr></table>",
    )
    assert read_everywhere(path)[:2] == ("html", [("Table 1", 2, 2)])
    assert csv_of(path, fill_merged=True) == "x,1\nx,2\n"


def test_a_grid_of_spans_beyond_what_is_held_is_refused_quickly(tmp_path):
    rows = "<tr><td colspan=1000 rowspan=65534>x</td></tr>" + "<tr></tr>" * 6000
    path = page(tmp_path / "grid.html", f"<table>{rows}</table>")
    refused_everywhere(path, TooLarge, "spans more than 5,000,000 cells")


def test_cells_held_and_cell_text_are_bounded(tmp_path):
    path = page(tmp_path / "many.html", "<table>" + "<tr><td>1<td>2" * 600 + "</table>")
    refused_everywhere(path, TooLarge, "more than 1,000 cells", Limits(max_held_cells=1000))
    path = page(tmp_path / "long.html", f"<table><tr><td>{'x' * 2000}</table>")
    refused_everywhere(path, TooLarge, "more than 1,000 characters", Limits(max_text_length=1000))


def test_deep_nesting_is_read_without_recursion(tmp_path):
    deep = "<div>" * 100_000 + "deep" + "</div>" * 100_000
    tables = "<table><tr><td>" * 20_000 + "inner" + "</td></tr></table>" * 20_000
    path = page(tmp_path / "deep.html", f"<table><tr><td>{deep}</td><td>{tables}</td></tr></table>")
    assert read_everywhere(path)[-1] == "deep\r\n"  # the nested tables are left out
