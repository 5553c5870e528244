"""Large xlsx sheets to CSV/TSV in blocks (blocks.py) write byte for byte what the
streaming reader writes. The sheet is small; tiny limits force both paths on it."""

import dataclasses
import os
import types
import zipfile

import pyarrow as pa
import pytest

from app.sheets import (
    DEFAULT_LIMITS,
    DamagedFile,
    Options,
    TimedOut,
    TooLarge,
    blocks,
    convert,
)
from app.sheets.book import open_book
from app.sheets.detect import detect_format

from .test_hostile import refused

STREAMED = dataclasses.replace(DEFAULT_LIMITS, stream_above_bytes=0, block_bytes=0)
BLOCKS = dataclasses.replace(
    DEFAULT_LIMITS, stream_above_bytes=0, block_bytes=4096, block_helper=False
)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"
STRINGS = ["plain", "NA", " padded ", "=1+1", "a,b", 'say "hi"', "line\nbreak", "x_x000D_y", ""]
STRINGS += [f"text {i} &amp; &lt;more&gt; &#233;" for i in range(40)]
# Styles: 1 date, 2 date-time, 3 time of day, 4 duration.
STYLES = (
    f'<styleSheet xmlns="{MAIN}"><cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="14"/>'
    '<xf numFmtId="22"/><xf numFmtId="21"/><xf numFmtId="46"/></cellXfs></styleSheet>'
)
SERIALS = {
    1: [0, 1, 30, 59, 60, 60.5, 61, -1.2, 45000.25, 2958465.9],
    3: [0, 0.5, 1.25, -0.25, 1365.25, -1400.5],
}
# From 32,767 hours (about 1365.3 days) on, times and durations are written as date-times.


def cell(ref, value, style=None, kind=None):
    attributes = f' r="{ref}"' if ref else ""
    attributes += f' s="{style}"' if style else ""
    attributes += f' t="{kind}"' if kind else ""
    if kind == "inlineStr":
        return f"<c{attributes}><is><t>{value}</t></is></c>"
    return f"<c{attributes}><v>{value}</v></c>"


def row_cells(i):
    n = f"{i}"
    cells = [
        cell("A" + n, i),
        cell("B" + n, repr(0.1 * i + 0.2) if i % 3 else "645.81000000000006"),
        cell("C" + n, i % len(STRINGS), kind="s"),
        cell("D" + n, SERIALS[1][i % 10] if i % 7 == 0 else 45000 + i + (i % 4) / 4, 1),
        cell("E" + n, 45000 + i / 7, 2),
        cell("F" + n, SERIALS[3][i % 6] if i % 5 == 0 else (i % 100) / 100, 3),
        cell("G" + n, 1365 + i / 24 if i % 11 == 0 else i / 24 - 3, 4),
        cell("H" + n, i % 2, kind="b"),
    ]
    if i % 4 == 0:
        cells.append(f'<c r="I{n}" s="3"/>')  # styled, empty
    else:
        cells.append(cell("I" + n, 1e-7 * i if i % 9 == 0 else 123456789012345678 + i))
    if 300 <= i < 310:  # error cells and inline text: some blocks only
        cells.append(cell("J" + n, "#DIV/0!", kind="e"))
        cells.append(cell("K" + n, f" inline {i}", kind="inlineStr"))
    if i >= 400:  # formulas (their cached values are read), one shared by many cells
        formula = (
            '<f t="shared" ref="L400:L1200" si="0">A400*2</f>'
            if i == 400
            else '<f t="shared" si="0"/>'
        )
        cells.append(f'<c r="L{n}">{formula}<v>{2 * i}</v></c>')
    if i == 700:  # a cell without r: after the cell before
        cells[2] = cell(None, 5, kind="s")
    return "".join(cells)


def write_book(path, rows=1200):
    body = []
    for i in range(1, rows + 1):
        if i % 250 == 100:
            continue  # an empty row, left out
        if i % 250 == 120:
            body.append(f'<row r="{i}"><c r="A{i}" s="2"/></row>')  # no values
            continue
        body.append(f'<row r="{i}">{row_cells(i)}</row>')
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{MAIN}" xmlns:r="{OFFICE}">'
        f'<dimension ref="A1:K{rows}"/><sheetData>{"".join(body)}</sheetData>'
        '<mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells></worksheet>'
    )
    strings = "".join(
        f'<si><t xml:space="preserve">{text}</t></si>'
        if text.strip() != text
        else f"<si><t>{text.replace(chr(34), '&quot;')}</t></si>"
        for text in STRINGS
    )
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{TYPES}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{TYPES}.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" '
            f'Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>'
            '<sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{RELS}">'
            f'<Relationship Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{OFFICE}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{OFFICE}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": STYLES,
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}" count="{len(STRINGS)}">{strings}</sst>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


def block_kinds(path, limits):
    """What each block of the sheet goes by: "fast" or "exact"."""
    book = open_book(path, detect_format(path, limits), limits)
    with book:
        writer = blocks.BlockWriter(book, book.sheets[0], Options().validate(), print)
        with book.archive.open(writer.part) as handle:
            return [kind for kind, _, _ in writer.read_blocks(handle)]


OPTIONS = {
    "csv": Options(format="csv"),
    "tsv-quoted": Options(format="tsv", quoting="all", line_ending="lf"),
    "skip-dmy-protect": Options(
        format="csv", skip_rows=450, date_style="dmy", protect_formulas=True
    ),
    "mdy-bom-full": Options(
        format="csv", date_style="mdy", encoding="utf-8-sig", full_precision=True
    ),
}


@pytest.mark.parametrize("name", OPTIONS)
def test_blocks_write_what_the_streaming_reader_writes(tmp_path, name):
    book = write_book(tmp_path / "big.xlsx")
    kinds = block_kinds(book, BLOCKS)
    assert kinds.count("fast") >= 10 and "exact" in kinds[1:]  # both kinds of block
    outputs = []
    for limits in (STREAMED, BLOCKS):
        out = tmp_path / f"{len(outputs)}.csv"
        convert(book, out, OPTIONS[name], limits=limits)
        outputs.append(out.read_bytes())
    assert outputs[1] == outputs[0]
    assert len(outputs[0].splitlines()) > 700


def test_rows_without_references_go_by_the_streaming_reader(tmp_path):
    book = write_book(tmp_path / "big.xlsx")
    with zipfile.ZipFile(book) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b'<row r="600">', b"<row>")
    changed = tmp_path / "changed.xlsx"
    with zipfile.ZipFile(changed, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    outputs = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for out, limits in zip(outputs, (STREAMED, BLOCKS), strict=True):
        convert(changed, out, Options(format="csv"), limits=limits)
    assert outputs[1].read_bytes() == outputs[0].read_bytes()


# The hostile-file limits hold on this path too (each file is refused before or while
# its blocks are read, and no output is left behind).


def rewritten_book(tmp_path, book, part, change):
    changed = tmp_path / "changed.xlsx"
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(changed, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            out.writestr(item, change(data) if item.filename == part else data)
    return changed


def test_far_cell_refused_before_any_block(tmp_path):
    book = rewritten_book(
        tmp_path,
        write_book(tmp_path / "big.xlsx"),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<c r="A900"', b'<c r="XFD1048576"', 1),
    )
    refused(book, TooLarge, "spans 1,048,576 rows by 16,384 columns", BLOCKS)


def test_cell_limit_on_blocks(tmp_path):
    limits = dataclasses.replace(BLOCKS, max_cells=1000)
    refused(write_book(tmp_path / "big.xlsx"), TooLarge, "more than the 1,000 cells", limits)


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"])
def test_entity_declarations_refused_on_blocks(tmp_path, part):
    declaration = b'<!DOCTYPE x [<!ENTITY lol "lol">]>'
    book = rewritten_book(
        tmp_path,
        write_book(tmp_path / "big.xlsx"),
        part,
        lambda xml: (
            xml.replace(b"?>", b"?>" + declaration, 1)
            if xml.startswith(b"<?xml")
            else declaration + xml
        ),
    )
    refused(book, DamagedFile, "refused for safety|damaged", BLOCKS)


def test_malformed_block_refused(tmp_path):
    book = rewritten_book(
        tmp_path,
        write_book(tmp_path / "big.xlsx"),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<row r="800">', b'<row r="800"><c r="A800"><v>1</c>', 1),
    )
    refused(book, DamagedFile, "damaged", BLOCKS)


def test_time_limit_on_blocks(tmp_path):
    limits = dataclasses.replace(BLOCKS, max_seconds=0)
    refused(write_book(tmp_path / "big.xlsx"), TimedOut, "took longer than 0 seconds", limits)


def test_blocks_too_wide_for_calamine_go_row_by_row(tmp_path, monkeypatch):
    """A block is read by calamine only if the grid it allocates (rows spanned by
    columns) is small; any other goes to the streaming reader, flat in memory."""
    book = write_book(tmp_path / "big.xlsx")
    monkeypatch.setattr(blocks, "MAX_BLOCK_CELLS", 20)
    assert set(block_kinds(book, BLOCKS)) == {"exact"}
    outputs = []
    for limits in (STREAMED, BLOCKS):
        out = tmp_path / f"{len(outputs)}.csv"
        convert(book, out, Options(format="csv"), limits=limits)
        outputs.append(out.read_bytes())
    assert outputs[1] == outputs[0]


@pytest.mark.parametrize("helper", [False, True], ids=["one-process", "helper-process"])
def test_helper_process_writes_the_same(tmp_path, helper):
    book = write_book(tmp_path / "big.xlsx")
    limits = dataclasses.replace(BLOCKS, block_helper=helper)
    outputs = []
    for each in (STREAMED, limits):
        out = tmp_path / f"{len(outputs)}.csv"
        convert(book, out, Options(format="csv", skip_rows=3), limits=each, isolate=True)
        outputs.append(out.read_bytes())
    assert outputs[1] == outputs[0]


def test_every_sheet_to_a_zip_on_blocks(tmp_path):
    book = write_book(tmp_path / "big.xlsx")
    with zipfile.ZipFile(book) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    second = b'<sheet name="Again" sheetId="2" r:id="rId4"/></sheets>'
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"</sheets>", second)
    relation = f'<Relationship Id="rId4" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", relation.encode() + b"</Relationships>"
    )
    two = tmp_path / "two.xlsx"
    with zipfile.ZipFile(two, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    outputs = []
    for limits in (STREAMED, BLOCKS):
        out = tmp_path / f"{len(outputs)}.zip"
        result = convert(two, out, Options(format="tsv", all_sheets=True), limits=limits)
        with zipfile.ZipFile(out) as archive:
            outputs.append(({n: archive.read(n) for n in archive.namelist()}, result.rows))
    assert outputs[1] == outputs[0]
    assert sorted(outputs[0][0]) == ["Again.tsv", "Data.tsv"]


def test_the_helper_is_used_when_a_core_is_idle_and_the_text_table_small(monkeypatch):
    small, large = (types.SimpleNamespace(array=pa.array(["x" * n])) for n in (10, 2**25))
    assert blocks.wants_helper(True, large) and not blocks.wants_helper(False, small)
    assert 0 <= blocks.idle_cores() <= os.cpu_count()  # read from /proc/stat
    monkeypatch.setattr(blocks, "idle_cores", lambda: 2.0)  # this one's and another
    assert blocks.wants_helper(None, small)
    assert not blocks.wants_helper(None, large)  # both processes would count it
    monkeypatch.setattr(blocks, "idle_cores", lambda: 1.2)  # only this one's own core
    assert not blocks.wants_helper(None, small)  # no spare core: it would slow both
