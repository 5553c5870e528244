"""The streaming xlsx reader (for large sheets) gives exactly what calamine gives."""

import dataclasses
import datetime as dt
import json
import zipfile

import pytest

from app.sheets import DEFAULT_LIMITS, Options, convert, preview
from app.sheets.ooxml import classify_format, serial_to_value

from .books import Formula, read_text, write_xlsx
from .test_values import RULES

STREAM = dataclasses.replace(DEFAULT_LIMITS, stream_above_bytes=0)


def both_ways(tmp_path, book, options):
    results = []
    for name, limits in (("calamine", DEFAULT_LIMITS), ("stream", STREAM)):
        out = tmp_path / f"{name}.{options.format}"
        convert(book, out, options, limits=limits)
        results.append(read_text(out))
    return results


@pytest.mark.parametrize("inline_strings", [False, True], ids=["shared-strings", "inline-strings"])
@pytest.mark.parametrize("date_1904", [False, True], ids=["1900", "1904"])
@pytest.mark.parametrize("output", ["csv", "json"])
def test_streaming_matches_calamine(tmp_path, inline_strings, date_1904, output):
    values = [value for _, value, _, _ in RULES]
    cells = {(2, 1 + i): value for i, value in enumerate(values)}
    cells[(5, 3)] = "after a gap"
    cells[(6, 40)] = Formula("=NA()", "#N/A")
    book = write_xlsx(
        tmp_path / "b.xlsx", {"S": cells}, date_1904=date_1904, constant_memory=inline_strings
    )
    calamine, stream = both_ways(tmp_path, book, Options(format=output, header=False))
    assert stream == calamine


@pytest.mark.parametrize("inline_strings", [False, True], ids=["shared-strings", "inline-strings"])
def test_streaming_undoes_escaped_characters(tmp_path, inline_strings):
    """XML cannot hold a carriage return or most control characters, so xlsx stores them
    as _x000D_; a literal "_x000D_" is stored as _x005F_x000D_."""
    texts = ["a\rb", "_x000D_", "x_x0041_y", "\x01ctl", "plain_x"]
    book = write_xlsx(
        tmp_path / "e.xlsx", {"S": [[text] for text in texts]}, constant_memory=inline_strings
    )
    calamine, stream = both_ways(tmp_path, book, Options(format="json", json_style="rows"))
    assert stream == calamine
    assert json.loads(stream) == [[text] for text in texts]


def test_streaming_leaves_escapes_past_00ff_as_calamine_does(tmp_path):
    # Excel escapes only control characters; other writers may escape anything, and
    # calamine undoes only _x0000_ to _x00FF_ (a lone surrogate such as _xD800_ could not
    # be written out anyway).
    codes = ["0041", "00e9", "00FF", "0100", "4E2D", "D800", "FFFE"]
    book = write_xlsx(tmp_path / "p.xlsx", {"S": [[f"MARK{i}"] for i in range(len(codes))]})
    patched = tmp_path / "escapes.xlsx"
    with zipfile.ZipFile(book) as old, zipfile.ZipFile(patched, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "xl/sharedStrings.xml":
                for i, code in enumerate(codes):
                    data = data.replace(f">MARK{i}<".encode(), f">a_x{code}_b<".encode())
            new.writestr(item, data)
    calamine, stream = both_ways(tmp_path, patched, Options(format="json", json_style="rows"))
    assert stream == calamine
    assert json.loads(stream) == [
        ["aAb"],
        ["aéb"],
        ["aÿb"],
        ["a_x0100_b"],
        ["a_x4E2D_b"],
        ["a_xD800_b"],
        ["a_xFFFE_b"],
    ]


def test_streaming_preview_and_many_rows(tmp_path):
    rows = [
        [i, f"name {i}", dt.date(2024, 1, 1) + dt.timedelta(days=i), i % 2 == 0]
        for i in range(3000)
    ]
    book = write_xlsx(tmp_path / "many.xlsx", {"S": rows})
    calamine, stream = both_ways(tmp_path, book, Options())
    assert stream == calamine and stream.count("\n") == 3000
    assert preview(book, rows=3, limits=STREAM).rows == preview(book, rows=3).rows


@pytest.mark.parametrize(
    "code, kind",
    [
        ("yyyy-mm-dd", "date"),
        ("d/m/yy", "date"),
        ("mmm yyyy", "date"),
        ("yyyy-mm-dd hh:mm", "datetime"),
        ("hh:mm:ss", "time"),
        ("h:mm AM/PM", "time"),
        ("[h]:mm:ss", "duration"),
        ("0.00", None),
        ("#,##0", None),
        ('"Day "0', None),
        ("General", None),
        ("[Red]0.00", None),
        ("0.00%", None),
    ],
)
def test_classify_format(code, kind):
    assert classify_format(code) == kind


def test_serial_to_value():
    assert serial_to_value(45366.0, "date", False) == dt.date(2024, 3, 15)
    assert serial_to_value(45366.5, "datetime", False) == dt.datetime(2024, 3, 15, 12)
    assert serial_to_value(0.25, "time", False) == dt.time(6)
    assert serial_to_value(1.5, "duration", False) == dt.timedelta(hours=36)
    assert serial_to_value(43904.0, "date", True) == dt.date(2024, 3, 15)
