"""The input formats are declared once, in INPUTS (app/sheets/formats.py), with the extensions
their files are saved with (issue 23): the upload's file picker offers every one of them, the
note on a name that disagrees with the bytes reads them, and the API lists them."""

import ast
import re
from pathlib import Path

import pytest

from app import conversions
from app.sheets import detect, detect_format, formats, inputs
from app.sheets.formats import INPUT_BY_EXTENSION, INPUTS

from .api_helpers import Api, make_token
from .sheets.books import FIXTURES
from .test_convert import public_id_of, upload

SHEETS = Path(detect.__file__).resolve().parent


def returned_formats(path, functions):
    """The format names `functions` of a detection module hand back: the string constants
    they return or pass to Detection()."""
    tree = ast.parse(path.read_text())
    found = set()
    for function in ast.walk(tree):
        if not (isinstance(function, ast.FunctionDef) and function.name in functions):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant):
                found.add(node.value.value)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Detection":
                found.update(a.value for a in node.args[:1] if isinstance(a, ast.Constant))
    return {f for f in found if isinstance(f, str)}


# Where detect.py decides what a file is (each returns a format's name).
DECIDERS = {"detect_format", "detect_zip", "ooxml_kind", "detect_ole", "salvaged_kind"}


def test_every_format_detection_can_find_is_declared():
    found = returned_formats(SHEETS / "detect.py", DECIDERS)
    found |= set(detect.OOXML_MAIN.values()) | set(detect.OOXML_KINDS) | set(inputs.BOOKS)
    for module in inputs.MODULES:
        found |= returned_formats(Path(module.__file__), {"recognise"})
    # The scan finds what it looks for: a container's kind, a text's, a recognised one.
    assert {"csv", "ods", "xlsb", "xls", "html", "jsonl", "spreadsheetml"} <= found
    assert found <= set(INPUTS), found - set(INPUTS)
    assert set(detect.FORMAT_NAMES) == set(INPUTS)


def test_every_fixture_is_detected_as_a_declared_format():
    for path in FIXTURES.iterdir():
        if path.is_file() and path.suffix not in (".py", ".md"):
            assert detect_format(path).format in INPUTS, path.name


def test_each_extension_says_one_format():
    listed = [e for i in INPUTS.values() for e in i.extensions]
    assert len(listed) == len(set(listed)) == len(INPUT_BY_EXTENSION)
    assert all(e == e.lower() and "." not in e for e in listed)
    assert conversions.EXTENSIONS is INPUT_BY_EXTENSION


@pytest.mark.parametrize("path", ["/", "/convert"])
def test_the_file_picker_offers_every_extension(client, path):
    page = client.get(path).get_data(as_text=True)
    [accept] = re.findall(r'<input accept="([^"]*)"[^>]*type="file"', page)
    assert accept.split(",") == [f".{e}" for e in INPUT_BY_EXTENSION]
    for extension in ("xlsx", "xls", "ods", "csv", "xml", "html", "htm", "json", "jsonl", "fods"):
        assert f".{extension}" in accept.split(",")


def test_the_help_page_lists_every_extension(client):
    page = client.get("/help").get_data(as_text=True)
    for extension in INPUT_BY_EXTENSION:
        assert f".{extension}<" in page or f".{extension}," in page, extension


def test_the_api_lists_every_input_with_its_extensions(app, client, user):
    listed = Api(client, make_token(app)).get("/api/v1/formats").get_json()["inputs"]
    assert [i["format"] for i in listed] == list(INPUTS)
    for entry in listed:
        declared = formats.INPUTS[entry["format"]]
        assert entry["description"] == declared.description
        assert entry["extensions"] == list(declared.extensions)


SPREADSHEETML = (
    '<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
    'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="S"><Table>'
    '<Row><Cell><Data ss:Type="String">a</Data></Cell></Row></Table></Worksheet></Workbook>\n'
)
HTML = "<!DOCTYPE html><html><body><table><tr><td>a</td><td>b</td></tr></table></body></html>"


# What the name says and what the bytes are: only a name that says another format is noted.
@pytest.mark.parametrize(
    "name, content, note",
    [
        ("report.xml", SPREADSHEETML, None),
        ("report.xls", SPREADSHEETML, "The name ends in .xls, but the file is really Excel 2003"),
        ("page.htm", HTML, None),
        ("page.html", HTML, None),
        ("export.xls", HTML, "The name ends in .xls, but the file is really HTML table"),
        ("data.txt", "a,b\n1,2\n", None),
        ("data.tsv", "a\tb\n1\t2\n", None),
        ("data.json", '[{"a": 1}]', None),
        ("data.ndjson", '{"a": 1}\n{"a": 2}\n', None),
        (
            "data.json",
            '{"a": 1}\n{"a": 2}\n',
            "The name ends in .json, but the file is really JSON Lines",
        ),
        ("data.csv", '[{"a": 1}]', "The name ends in .csv, but the file is really JSON"),
    ],
)
def test_a_note_only_when_the_name_says_another_format(app, client, tmp_path, name, content, note):
    path = tmp_path / name
    path.write_text(content)
    response = upload(client, path)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(f"/convert/{public_id_of(response)}").get_data(as_text=True)
    if note:
        assert note in page
    else:
        assert "The name ends in" not in page
