"""ods files calamine cannot parse though LibreOffice opens them: a second reader
(expat over content.xml) reads them, as calamine reads the same data written plainly."""

import re
import zipfile

import pytest

from app.sheets import DamagedFile, Options, convert, inspect, preview
from app.sheets.book import CalamineBook, OdsBook
from app.sheets.detect import detect_format
from app.sheets.limits import DEFAULT_LIMITS
from app.sheets.values import display_text

from .books import FIXTURES, PUBLIC, read_text


def rewrite(source, target, edit):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            edited = edit(item.filename, old.read(item.filename))
            if edited is not None:
                new.writestr(*edited)
    return target


def pretty(name, data):
    """content.xml indented, as PhpSpreadsheet and hand-edited files have it: calamine
    then says "Expecting 'table-cell', found 'Text(...)'"."""
    if name == "content.xml":
        data = re.sub(rb"><(table:table-(?:row|cell)|/table:table-row)", rb">\n    <\1", data)
    return name, data


def shown(book):
    return {
        sheet.name: [[display_text(v) for v in row] for row in book.rows(sheet)]
        for sheet in book.sheets
    }


@pytest.mark.parametrize("fixture", ["mixed.ods", "errors.ods"])
def test_pretty_printed_ods_reads_as_calamine_reads_the_plain_one(tmp_path, fixture):
    plain = FIXTURES / fixture
    indented = rewrite(plain, tmp_path / fixture, pretty)
    with pytest.raises(DamagedFile):
        CalamineBook(indented, detect_format(indented), DEFAULT_LIMITS)
    with CalamineBook(plain, detect_format(plain), DEFAULT_LIMITS) as expected:
        wanted = shown(expected)
        visibility = [(s.name, s.visible, s.rows, s.columns) for s in expected.sheets]
    assert [(s.name, s.visible, s.rows, s.columns) for s in inspect(indented).sheets] == visibility
    with OdsBook(indented, detect_format(indented), DEFAULT_LIMITS) as book:
        assert shown(book) == wanted


def test_ods_without_a_mimetype_member(tmp_path):
    book = rewrite(
        FIXTURES / "mixed.ods",
        tmp_path / "bare.ods",
        lambda n, d: None if n == "mimetype" else (n, d),
    )
    assert detect_format(book).format == "ods"
    assert preview(book).rows[1][:3] == ["1", "12.5", 'Zoë, "quoted"']


def test_ods_text_spaces_tabs_line_breaks_and_no_comments(tmp_path):
    def edit(name, data):
        if name == "content.xml":
            cell = (
                b'<table:table-cell office:value-type="string"><text:p>a<text:s text:c="3"/>b'
                b"<text:tab/>c<text:line-break/>d</text:p><text:p>second</text:p>"
                b"<office:annotation><text:p>a comment</text:p></office:annotation>"
                b"</table:table-cell>"
            )
            data = data.replace(b"<table:table-cell", cell + b"<table:table-cell", 1)
            data = pretty(name, data)[1]
        return name, data

    book = rewrite(FIXTURES / "mixed.ods", tmp_path / "text.ods", edit)
    assert preview(book).rows[0][0] == "a   b\tc\nd\nsecond"


@pytest.mark.parametrize(
    ("name", "first_row"),
    [
        (
            "phpspreadsheet-RepeatedDataCells.ods",
            [
                "TestA",
                "",
                "",
                "",
                "TestE",
                "",
                "TestG",
                "SameValue",
                "SameValue",
                "SameValue",
                "TestK",
            ],
        ),
        ("phpspreadsheet-issue.804.ods", ["Name", "Anrede", "Titel", "Master Titel"]),
    ],
)
def test_public_ods_files_calamine_cannot_parse(tmp_path, name, first_row):
    out = tmp_path / "out.csv"
    convert(PUBLIC / name, out, Options(format="csv", line_ending="lf"))
    first = read_text(out).splitlines()[0].split(",")
    assert first[: len(first_row)] == first_row
