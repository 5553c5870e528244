"""Apple Numbers in (issue 23): recognised by its members whatever its name, each table of
each sheet a sheet, values typed, merged ranges kept; a damaged, encrypted or bomb-like file
refused quickly with a message, before numbers-parser is handed it.

inputs.numbers was written by numbers-parser (tests/fixtures/make_numbers_fixture.py); the
other documents here are made the same way at test time, or by rewriting its ZIP."""

import datetime as dt
import io
import os
import shutil
import time
import zipfile

import pytest

from app.sheets import (
    DamagedFile,
    Limits,
    NotASpreadsheet,
    PasswordProtected,
    TooLarge,
    detect_format,
    inspect,
    preview,
)
from app.sheets.book import open_book
from app.sheets.errors import OtherDocument
from app.sheets.inputs import apple_numbers

from ..test_convert import public_id_of, upload, wait_for
from .books import FIXTURES
from .input_checks import QUICKLY, csv_of, refused_everywhere

NUMBERS = FIXTURES / "inputs.numbers"
ORDERS = "Accounts - Orders"


def rewritten(source, target, change):
    """A copy of the ZIP `source` with change(name, data) -> (name, data) or None (left
    out) applied to each member, then any extra members change(None, None) returns."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for member in old.infolist():
            kept = change(member.filename, old.read(member))
            if kept:
                new.writestr(kept[0], kept[1], zipfile.ZIP_DEFLATED)
        for name, data in change(None, None) or ():
            new.writestr(name, data, zipfile.ZIP_DEFLATED)
    return target


def same(name, data):
    return None if name is None else (name, data)


def test_the_fixture_reads_as_its_tables():
    info = inspect(NUMBERS)
    assert info.format == "numbers"
    assert info.description == "Apple Numbers spreadsheet (.numbers)"
    # A sheet with two tables gives "Sheet - Table" for each; one with one, the sheet's name.
    assert [(s.name, s.rows, s.columns, s.visible) for s in info.sheets] == [
        (ORDERS, 4, 6, True),
        ("Accounts - Notes", 2, 1, True),
        ("Summary", 1, 2, True),
    ]


def test_values_keep_their_types():
    with open_book(NUMBERS, detect_format(NUMBERS), Limits()) as book:
        rows = list(book.rows(book.sheet(ORDERS)))
        merges = book.merges(book.sheet(ORDERS))
        notes = list(book.rows(book.sheet("Accounts - Notes")))
    assert rows[0] == ["id", "name", "when", "paid", "took", "code"]
    assert rows[1] == [
        1.0,
        'Zoë, "quoted"',
        dt.datetime(2024, 3, 15, 10, 30),
        True,
        dt.timedelta(hours=1, minutes=30),
        "00123",
    ]
    assert rows[2][3] is False and rows[2][4] == dt.timedelta(days=2)
    assert rows[3] == [-3.0, "merged across", "", "", "", ""]  # empty cells empty
    assert merges == [((3, 1), (3, 3))]  # B4:D4
    assert notes == [["note"], ["line one\nline two"]]


def test_conversion_to_csv():
    assert csv_of(NUMBERS) == (
        "id,name,when,paid,took,code\n"
        '1,"Zoë, ""quoted""",2024-03-15 10:30:00,TRUE,1:30:00,00123\n'
        "2.5,<script>x</script>,1999-12-31 00:00:00,FALSE,48:00:00,007\n"
        "-3,merged across,,,,\n"
    )
    assert csv_of(NUMBERS, sheet=ORDERS, fill_merged=True).endswith(
        "-3,merged across,merged across,merged across,,\n"
    )
    assert csv_of(NUMBERS, sheet="Summary") == "total,3.5\n"


def test_formula_and_error_cells_give_their_values():
    from numbers_parser import EmptyCell, ErrorCell, NumberCell

    # numbers-parser writes no formulas: a formula's cell holds its cached value, as any
    # other cell of its type does, and an error cell shows its error text.
    assert apple_numbers.cell_value(NumberCell(0, 0, 12.5)) == 12.5
    assert apple_numbers.cell_value(ErrorCell(0, 0)) == "#ERROR!"
    assert apple_numbers.cell_value(EmptyCell(0, 0)) == ""


@pytest.mark.parametrize("name", ["accounts.xlsx", "accounts.zip", "accounts", "accounts.csv"])
def test_recognised_by_its_members_whatever_its_name(tmp_path, name):
    copy = shutil.copyfile(NUMBERS, tmp_path / name)
    assert detect_format(copy).format == "numbers"
    assert [s.name for s in inspect(copy).sheets][0] == ORDERS  # read under a link so named
    assert preview(copy, sheet="Summary").rows == [["total", "3.5"]]


def test_a_folder_inside_the_zip_is_the_same_document(tmp_path):
    nested = rewritten(NUMBERS, tmp_path / "nested.numbers", lambda n, d: n and (f"Doc/{n}", d))
    assert detect_format(nested).format == "numbers"


def test_a_keynote_presentation_is_named(tmp_path):
    keynote = rewritten(
        NUMBERS,
        tmp_path / "talk.key",
        lambda n, d: same(n, d) if n else [("Index/Slide-1.iwa", b"\x00\x00\x00\x00")],
    )
    with pytest.raises(OtherDocument, match="Keynote presentation"):
        detect_format(keynote)


@pytest.mark.parametrize(
    "damage",
    [
        # Its document's archive replaced by bytes that are no IWA archive.
        lambda n, d: same(
            n, b"\x00\x10\x00\x00" + b"\xff" * 40 if n == "Index/Document.iwa" else d
        ),
        # Its tables' archives left out.
        lambda n, d: None if n is None or n.startswith("Index/Tables/") else (n, d),
        # Its metadata left out.
        lambda n, d: None if n is None or n.startswith("Metadata/") else (n, d),
    ],
)
def test_a_damaged_document_is_refused_with_a_message(tmp_path, damage):
    broken = rewritten(NUMBERS, tmp_path / "broken.numbers", damage)
    refused_everywhere(broken, DamagedFile, "looks like an Apple Numbers document but is damaged")


def test_a_cut_short_document_is_refused(tmp_path):
    cut = tmp_path / "cut.numbers"
    cut.write_bytes(NUMBERS.read_bytes()[: NUMBERS.stat().st_size // 2])
    refused_everywhere(cut, DamagedFile, "damaged")


def test_a_document_with_a_password_is_refused(tmp_path):
    locked = rewritten(
        NUMBERS,
        tmp_path / "locked.numbers",
        lambda n, d: same(n, d) if n else [(".iwph", b"my hint"), (".iwpv2", b"\x00" * 64)],
    )
    refused_everywhere(locked, PasswordProtected, "protected with a password")


def test_a_bomb_like_archive_is_refused_before_it_is_inflated(tmp_path):
    # 1 GB of zeros, compressed 1,000 times over: refused from the declared sizes.
    bomb = tmp_path / "bomb.numbers"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(NUMBERS) as source:
            for member in source.infolist():
                archive.writestr(member.filename, source.read(member))
        with archive.open("Data/zeros.bin", "w", force_zip64=True) as zeros:
            block = bytes(1 << 20)
            for _ in range(1024):
                zeros.write(block)
    started = time.monotonic()
    refused_everywhere(bomb, TooLarge, "zip bomb|unpacks to more than")
    assert time.monotonic() - started < QUICKLY


def test_snappy_headers_bound_what_numbers_parser_would_decode(tmp_path):
    # A small IWA archive whose one chunk states it inflates to 4 GB: Snappy would be asked
    # for that much memory. Its header is read, and the document refused, first.
    claim = bytes([0x80, 0x80, 0x80, 0x80, 0x0F])  # varint 4,026,531,840
    chunk = claim + b"\x00" * 16
    iwa = b"\x00" + len(chunk).to_bytes(3, "little") + chunk
    swollen = rewritten(
        NUMBERS,
        tmp_path / "swollen.numbers",
        lambda n, d: same(n, iwa if n == "Index/Document.iwa" else d),
    )
    refused_everywhere(swollen, TooLarge, "Numbers document unpacks to more than")


def test_a_nested_index_zip_is_measured_too(tmp_path):
    # A package's Index.zip, which numbers-parser opens in memory: 5 MB in the file, 16 MB
    # once its member is inflated (four symbols at random compress about 3 times, too
    # little for the zip-bomb rule), past the 8 MB these limits let it decode.
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Index/Big.bin", os.urandom(16 << 20).translate(FOUR_SYMBOLS))
    package = rewritten(
        NUMBERS,
        tmp_path / "package.numbers",
        lambda n, d: same(n, d) if n else [("Index.zip", inner.getvalue())],
    )
    limits = Limits(max_memory_bytes=128 << 20)
    assert apple_numbers.decoded_bound(limits) == 8 << 20 > len(inner.getvalue())
    refused_everywhere(package, TooLarge, "unpacks to more than 8 MB", limits=limits)


FOUR_SYMBOLS = bytes(i & 3 for i in range(256))


def test_tables_larger_than_the_limits_are_refused_before_their_cells_are_built(tmp_path):
    from numbers_parser import Document

    doc = Document(num_rows=300, num_cols=40)  # numbers-parser, as the fixture is made
    doc.sheets[0].tables[0].write(0, 0, "x")
    doc.save(tmp_path / "wide.numbers")
    wide = tmp_path / "wide.numbers"
    refused_everywhere(
        wide, TooLarge, "more than 10,000 cells", limits=Limits(max_held_cells=10_000)
    )
    refused_everywhere(wide, TooLarge, "more than 30 columns", limits=Limits(max_columns=30))
    assert inspect(wide).sheets[0].rows == 1  # the grid is 300 by 40; one cell is used


def test_a_zip_that_is_neither_is_still_refused(tmp_path):
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("Index/Notes.txt", "not a document")
    with pytest.raises(NotASpreadsheet, match="ZIP archive, not a spreadsheet"):
        detect_format(other)


def test_converted_to_csv_through_the_web_app(app, client):
    response = upload(client, NUMBERS, name="accounts.numbers", quick=True)
    assert response.status_code == 302
    public_id = public_id_of(response)
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    assert conversion.detected_format == "numbers"
    assert conversion.options["sheets"] == [ORDERS]
    with client.get(f"/convert/{public_id}/download") as download:
        assert download.mimetype == "text/csv"
        assert download.data.replace(b"\r\n", b"\n") == csv_of(NUMBERS).encode()
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "Apple Numbers spreadsheet" in page and "The name ends in" not in page


def test_named_as_another_format_it_is_noted(app, client, tmp_path):
    copy = shutil.copyfile(NUMBERS, tmp_path / "accounts.xlsx")
    public_id = public_id_of(upload(client, copy))
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "The name ends in .xlsx, but the file is really Apple Numbers spreadsheet" in page
