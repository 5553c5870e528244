"""Flat OpenDocument spreadsheets (.fods) in: the ods fallback reader reads the one XML."""

import re
import shutil

import pytest

from app.sheets import DamagedFile, TooLarge, detect_format, inspect
from app.sheets.errors import OtherDocument

from .books import FIXTURES
from .input_checks import csv_of, read_everywhere, refused_everywhere

LIBREOFFICE = FIXTURES / "inputs.fods"  # and inputs.ods: the same workbook
SHEETS = ["Data", "Layout", "Moments", "Errors", "Hidden"]


def test_libreoffice_export_reads_as_the_same_workbook_saved_as_ods(tmp_path):
    info = inspect(LIBREOFFICE)
    assert (info.format, info.description) == ("fods", "Flat OpenDocument spreadsheet (.fods)")
    packaged = inspect(FIXTURES / "inputs.ods")
    assert [(s.name, s.visible, s.rows, s.columns) for s in info.sheets] == [
        (s.name, s.visible, s.rows, s.columns) for s in packaged.sheets
    ]
    assert [s.name for s in info.sheets if not s.visible] == ["Hidden"]
    source = tmp_path / LIBREOFFICE.name
    shutil.copy(LIBREOFFICE, source)
    for sheet in SHEETS:
        assert csv_of(source, sheet) == csv_of(FIXTURES / "inputs.ods", sheet), sheet
    assert csv_of(source, "Moments") == (
        "kind,value\ndatetime,2024-03-15 13:45:30\ntime,06:30:00\nduration,30:15:00\n"
    )


@pytest.mark.parametrize("name", ["book.ods", "book.xml", "book.xls", "book"])
def test_recognised_whatever_its_name(tmp_path, name):
    path = tmp_path / name
    shutil.copy(LIBREOFFICE, path)
    assert detect_format(path).format == "fods"
    assert csv_of(path, "Errors") == "formula,result\n1/0,#DIV/0!\nNA(),#N/A\n"


def test_flat_text_document_is_refused_as_what_it_is(tmp_path):
    path = tmp_path / "letter.fods"
    path.write_text(
        '<?xml version="1.0"?><office:document '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'office:mimetype="application/vnd.oasis.opendocument.text"><office:body>'
        "<office:text/></office:body></office:document>"
    )
    refused_everywhere(path, OtherDocument, r"flat OpenDocument file, but not a spreadsheet")


def edited(tmp_path, pattern, replacement):
    path = tmp_path / "edited.fods"
    text = LIBREOFFICE.read_text(encoding="utf-8")
    path.write_text(re.sub(pattern, replacement, text, count=1), encoding="utf-8")
    return path


HIDDEN_CELL = (
    r'(<table:table-cell office:value-type="string" calcext:value-type="string">\s*<text:p>hidden)'
)
HUGE = "99999999999999999999"


def test_space_runs_and_repeats_a_file_states_are_clamped(tmp_path):
    path = edited(tmp_path, r"hidden value", f'a<text:s text:c="{HUGE}"/>b')
    assert read_everywhere(path)[0] == "fods"
    path = edited(
        tmp_path, r'table:number-rows-repeated="1048574"', f'table:number-rows-repeated="{HUGE}"'
    )
    assert read_everywhere(path)[0] == "fods"  # empty rows, however many, hold nothing
    wide = f'<table:table-cell table:number-columns-repeated="{HUGE}" office:value-type="float" office:value="1"/>'
    path = edited(tmp_path, HIDDEN_CELL, wide + r"\1")
    outcome = read_everywhere(path)
    assert outcome[1][-1] == ("Hidden", 1, 16_384)  # clamped to the columns a sheet has


def test_too_many_repeated_cells_are_refused(tmp_path):
    block = (
        '<table:table-row table:number-rows-repeated="1000000"><table:table-cell '
        'table:number-columns-repeated="16384" office:value-type="float" office:value="1"/>'
        "</table:table-row>"
    )
    path = edited(
        tmp_path, r'(<table:table-row table:style-name="ro1">\s*)' + HIDDEN_CELL, block + r"\1\2"
    )
    refused_everywhere(path, TooLarge, "more than the 5,000,000 cells")


def test_billion_laughs_and_malformed_xml_are_refused(tmp_path):
    doctype = '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    path = tmp_path / "lol.fods"
    text = LIBREOFFICE.read_text(encoding="utf-8")
    path.write_text(
        text.replace("<office:document ", doctype + "<office:document ", 1).replace(
            "hidden value", "&b;"
        ),
        encoding="utf-8",
    )
    assert detect_format(path).format == "fods"
    refused_everywhere(path, DamagedFile, "XML entity declarations and was refused for safety")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    refused_everywhere(path, DamagedFile, "damaged")
