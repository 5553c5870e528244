"""JSON and JSON Lines in: records become columns, lists become rows, an object of lists a
workbook; any other shape is refused with the reason; size and depth are bounded."""

import json
import tracemalloc

import pytest

from app.sheets import (
    DamagedFile,
    EmptyFile,
    Limits,
    NotASpreadsheet,
    Options,
    TooLarge,
    convert,
    detect_format,
    inspect,
)

from .books import read_text
from .input_checks import csv_of, read_everywhere, refused_everywhere

# As a REST API answers GET /users (the shape GitHub's gives): records whose keys vary,
# nested objects, lists, nulls, booleans, numbers and time stamps as text.
API_ANSWER = [
    {
        "id": 1,
        "login": "zoë",
        "site_admin": False,
        "score": 12.5,
        "plan": {"name": "pro", "seats": 3, "limits": {"space": 976562499}},
        "tags": ["a", "b"],
        "bio": None,
    },
    {
        "id": 2,
        "login": 'bob, "the" second',
        "site_admin": True,
        "score": -0.1,
        "plan": {"name": "free"},
        "tags": [],
        "created_at": "2024-03-15T13:45:30Z",
        "bio": "line one\nline two",
    },
    {"id": 12345678901234567890, "login": "big", "plan": None},
]
API_CSV = (
    "id,login,site_admin,score,plan.name,plan.seats,plan.limits.space,tags,bio,created_at,plan\n"
    '1,zoë,FALSE,12.5,pro,3,976562499,"[""a"",""b""]",,,\n'
    '2,"bob, ""the"" second",TRUE,-0.1,free,,,[],"line one\nline two",2024-03-15T13:45:30Z,\n'
    "12345678901234567890,big,,,,,,,,,\n"
)


def write_json(path, value, **dumps):
    path.write_text(json.dumps(value, ensure_ascii=False, **dumps), encoding="utf-8")
    return path


@pytest.mark.parametrize("indent", [None, 2])
def test_records_from_an_api_become_columns_in_first_seen_order(tmp_path, indent):
    path = write_json(tmp_path / "users.json", API_ANSWER, indent=indent)
    info = inspect(path)
    assert (info.format, info.description) == ("json", "JSON (.json)")
    assert [(s.name, s.rows, s.columns) for s in info.sheets] == [("users", 4, 11)]
    assert csv_of(path) == API_CSV


def test_json_to_json_gives_the_records_back(tmp_path):
    """Once it gave []: a JSON file was read as one column of text."""
    records = [{"id": 1, "name": "a", "ok": True, "n": None}, {"id": 2, "name": "b", "ok": False}]
    path = write_json(tmp_path / "records.json", records)
    target = tmp_path / "out.json"
    convert(path, target, Options(format="json"))
    assert json.loads(read_text(target)) == [{**records[0]}, {**records[1], "n": None}]


def test_lists_are_rows(tmp_path):
    path = write_json(tmp_path / "rows.json", [["a", "b", "c"], [1, 2.5], [True, None, {"x": [1]}]])
    assert [(s.name, s.rows, s.columns) for s in inspect(path).sheets] == [("rows", 3, 3)]
    assert csv_of(path) == 'a,b,c\n1,2.5,\nTRUE,,"{""x"":[1]}"\n'


def test_an_object_of_lists_is_a_workbook(tmp_path):
    path = write_json(
        tmp_path / "book.json",
        {
            "orders": [{"id": 1}, {"id": 2, "total": 9.5}],
            "rates": [["EUR", 1], ["USD", 1.09]],
            "none": [],
        },
    )
    info = inspect(path)
    assert [(s.name, s.rows, s.columns) for s in info.sheets] == [
        ("orders", 3, 2),
        ("rates", 2, 2),
        ("none", 0, 0),
    ]
    assert csv_of(path, "orders") == "id,total\n1,\n2,9.5\n"
    assert csv_of(path, "rates") == "EUR,1\nUSD,1.09\n"
    result = convert(path, tmp_path / "all.zip", Options(format="csv", all_sheets=True))
    assert result.sheets == ["orders", "rates"]


def test_json_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1, "b": {"c": "x"}}\n\n{"d": [1, 2]}\r\n{"a": 3}\n', encoding="utf-8")
    info = inspect(path)
    assert (info.format, info.description) == ("jsonl", "JSON Lines (.jsonl)")
    assert csv_of(path) == 'a,b.c,d\n1,x,\n,,"[1,2]"\n3,,\n'
    path.write_text('["a", "b"]\n[1, 2]\n', encoding="utf-8")
    assert csv_of(path) == "a,b\n1,2\n"


@pytest.mark.parametrize("name", ["data.json", "data.txt", "data.csv", "data.xls", "data"])
def test_recognised_whatever_its_name(tmp_path, name):
    path = write_json(tmp_path / name, API_ANSWER)
    assert detect_format(path).format == "json"


def test_utf8_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"name": "Zoë"}], ensure_ascii=False).encode())
    assert csv_of(path) == "name\nZoë\n"


def test_text_that_only_looks_like_json_stays_text(tmp_path):
    for text in ("[1],[2]\n[3],[4]\n", "[section]\nkey=value\n", "{id},{name}\n1,2\n", "[a],b\n"):
        path = tmp_path / "t.csv"
        path.write_text(text)
        assert detect_format(path).format == "csv", text


@pytest.mark.parametrize(
    "value, reason",
    [
        ({"data": "text"}, "an object whose 'data' is text, not a list"),
        ({"count": 2, "results": [{"a": 1}]}, "'count' is a number, not a list"),
        ([1, 2, 3], "is a list of single values \\(a number first\\)"),
        ({"x": ["a", "b"]}, "'x' is a list of single values \\(text first\\)"),
        (
            [{"a": 1}, [1]],
            "Item 2 of the JSON's list is a list, where the items before it are objects",
        ),
        ([{"a": 1}, None], "Item 2 of the JSON's list is null"),
    ],
)
def test_other_shapes_are_refused_with_the_reason(tmp_path, value, reason):
    path = write_json(tmp_path / "shape.json", value)
    refused_everywhere(path, NotASpreadsheet, reason)


def test_an_empty_object_and_damaged_json(tmp_path):
    path = write_json(tmp_path / "empty.json", {})
    refused_everywhere(path, EmptyFile, "empty object")
    path.write_text('[{"a": 1}, {"a": 2,, }]')
    refused_everywhere(path, DamagedFile, "The JSON is damaged")
    path.write_text('[{"a": 1}, {"a": 2')
    refused_everywhere(path, DamagedFile, "it ends early")
    path.write_text('[{"a": 1}] trailing')
    refused_everywhere(path, DamagedFile, "more follows the end")


# Hostile files: size, depth, counts


MB = 1 << 20


def test_a_huge_single_line_json_value_is_refused_quickly_in_bounded_memory(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text('["' + "x" * (100 * MB) + '"]')
    assert detect_format(path).format == "json"
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="A record of the JSON file is longer than 16 MB"):
            inspect(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * MB  # what is held stops a little past 16 MB of text, never the 100
    refused_everywhere(path, TooLarge, "longer than 16 MB")
    path.write_text('{"data": "' + "x" * (100 * MB) + '"}')
    refused_everywhere(path, NotASpreadsheet, "'data' is text, not a list")


def test_a_long_single_line_of_records_is_streamed(tmp_path):
    record = json.dumps({"id": 123456, "name": "somebody", "score": 1.25}, separators=(",", ":"))
    count = 8 * MB // len(record)
    path = tmp_path / "line.json"
    path.write_text("[" + ",".join([record] * count) + "]")
    tracemalloc.start()
    try:
        info = inspect(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(s.rows, s.columns) for s in info.sheets] == [(count + 1, 3)]
    assert peak < 16 * MB  # a piece of the file at a time, not the 8 MB and its objects
    assert read_everywhere(path)[2][1] == ["123456", "somebody", "1.25"]


@pytest.mark.parametrize("depth", [100_000, 50 * MB])
def test_deep_nesting_is_refused_quickly(tmp_path, depth):
    path = tmp_path / "deep.json"
    path.write_text("[" * depth + "]" * depth)
    refused_everywhere(path, TooLarge, "nested too deeply")


def test_nesting_the_decoder_reads_is_a_cell_of_json_text(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 300 + "]" * 300)
    assert csv_of(path) == "[" * 298 + "]" * 298 + "\n"


def test_deep_objects_past_the_flattened_levels_stay_json_text(tmp_path):
    nested = "x"
    for _ in range(40):
        nested = {"k": nested}
    path = write_json(tmp_path / "levels.json", [{"a": nested}])
    header, row = csv_of(path).splitlines()
    assert header == "a" + ".k" * 32 and row == '"' + '{""k"":' * 8 + '""x""' + "}" * 8 + '"'


def test_counts_are_bounded(tmp_path):
    path = write_json(tmp_path / "wide.json", [{f"k{n}": n for n in range(30)}])
    refused_everywhere(path, TooLarge, "more than 20 different keys", Limits(max_columns=20))
    path = write_json(tmp_path / "wide.json", [list(range(30))])
    refused_everywhere(path, TooLarge, "more than 20 items", Limits(max_columns=20))
    path = write_json(tmp_path / "many.json", [[1, 2]] * 600)
    refused_everywhere(path, TooLarge, "more than the 1,000 cells", Limits(max_cells=1000))
    path = write_json(tmp_path / "sheets.json", {f"s{n}": [] for n in range(5)})
    refused_everywhere(path, TooLarge, "more than 3 lists", Limits(max_sheets=3))
    path = write_json(tmp_path / "long.json", [["x" * 2000]])
    refused_everywhere(path, TooLarge, "more than 1,000 characters", Limits(max_text_length=1000))
    path.write_text('[["' + "x" * (2 * MB) + '"]]')  # longer than a piece read at once
    refused_everywhere(
        path, TooLarge, "longer than 1,000 characters", Limits(max_record_chars=1000)
    )


def test_a_number_of_5000_digits_is_kept_as_text(tmp_path):
    path = tmp_path / "digits.json"
    path.write_text("[[" + "9" * 5000 + ", 1]]")
    assert csv_of(path) == "9" * 5000 + ",1\n"
