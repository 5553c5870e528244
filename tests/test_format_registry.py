"""The output formats have one owner, app/sheets/formats.py (issue 23): the web form, the
API, its document, the command line and the runner read it, and no other module lists or
compares output formats by name. The runner names a result from what the engine wrote."""

import ast
import re
from pathlib import Path

import pytest

from app.api.schemas import OptionsSchema
from app.convert.forms import OptionsForm
from app.forms import UploadForm
from app.sheets import OUTPUT_FORMATS
from app.sheets import formats as registry
from app.sheets.__main__ import parser

from .api_helpers import Api, make_token
from .conftest import AuthActions, fetch
from .sheets.books import write_xlsx
from .test_convert import FORM, public_id_of, upload, wait_for

APP = Path(__file__).resolve().parent.parent / "app"
NAMES = set(registry.NAMES)


def string_constants(node):
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in NAMES]


def names_output_format(node):
    """A comparison whose side is an output format option (options.format,
    options["format"], output_format...) with a format's name on the other."""
    if not isinstance(node, ast.Compare):
        return False
    text = ast.unparse(node.left)
    about_output = re.search(
        r"options(\.format|\[['\"]format['\"]\])|output_format|\.output\b", text
    )
    return bool(about_output) and any(
        isinstance(c, ast.Constant) and c.value in NAMES for c in node.comparators
    )


INPUT_ONLY = {"xlsm", "xltx", "xlsb", "xls", "ods"}


def lists_formats(node):
    """A tuple, list, set or dict literal naming two output formats or more (a list that
    names input formats too is about inputs: detection's names, a name's extension)."""
    if isinstance(node, ast.Dict):
        values = [k for k in node.keys if k is not None]
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        values = node.elts
    else:
        return False
    named = {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return len(named & NAMES) >= 2 and not named & INPUT_ONLY


def test_no_module_outside_the_registry_names_output_formats():
    offenders = []
    for path in APP.rglob("*.py"):
        # The two registries: outputs (formats.py) and inputs (sheets/inputs/, whose json,
        # jsonl and html are input formats of the same names).
        if path == APP / "sheets" / "formats.py" or (APP / "sheets" / "inputs") in path.parents:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if lists_formats(node) or names_output_format(node):
                offenders.append(f"{path.relative_to(APP)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)


def test_the_check_finds_what_it_looks_for():
    for source in (
        'FORMATS = ("csv", "tsv", "xlsx", "json")',
        'if options.format == "xlsx": pass',
        'several = options["format"] != "xlsx"',
        'TYPES = {"csv": "text/csv", "json": "application/json"}',
    ):
        tree = ast.parse(source)
        assert any(lists_formats(n) or names_output_format(n) for n in ast.walk(tree)), source
    for source in ('if book.format == "csv": pass', 'location = "json"'):
        tree = ast.parse(source)
        assert not any(lists_formats(n) or names_output_format(n) for n in ast.walk(tree))


def test_every_surface_offers_the_registrys_formats(app):
    with app.test_request_context():
        assert [c.value for c in OptionsForm().output_format.choices] == list(registry.NAMES)
        assert [c.value for c in UploadForm().output_format.choices] == list(registry.NAMES)
    assert OptionsSchema().fields["format"].metadata["enum"] == list(registry.NAMES)
    [cli] = [a for a in parser()._actions if a.dest == "format"]
    assert list(cli.choices) == list(registry.NAMES) == list(OUTPUT_FORMATS)


def test_each_option_shown_for_a_format_is_one_the_registry_says_changes_it(app):
    for name, formats in OptionsForm.APPLIES_TO.items():
        for output in formats:
            assert name in registry.output(output).options, (name, output)


def test_the_api_lists_every_output_with_its_options(app, client, user):
    api = Api(client, make_token(app))
    outputs = api.get("/api/v1/formats").get_json()["outputs"]
    assert [o["format"] for o in outputs] == list(registry.NAMES)
    for listed in outputs:
        output = registry.output(listed["format"])
        assert listed["media_type"] == output.media_type
        assert listed["extension"] == output.extension
        assert listed["several_sheets"] == ("one file" if output.one_file else "zip")
        assert listed["options"] == sorted(output.options)
    docs = client.get("/api").get_data(as_text=True)
    assert "(" + ", ".join(registry.NAMES) + ")" in docs


# The runner named the result from the options ("two sheets: a zip") while the engine,
# finding one of them empty, wrote one plain CSV: a CSV served as "two - Data.zip".


@pytest.fixture
def data_and_empty(tmp_path):
    return write_xlsx(tmp_path / "two.xlsx", {"Data": [["a", "b"], [1, 2]], "Empty": []})


def test_a_result_is_named_after_what_the_engine_wrote(app, client, user, data_and_empty):
    AuthActions(client).login()
    public_id = public_id_of(upload(client, data_and_empty))
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data", "Empty"]})
    assert response.status_code == 302
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    download = client.get(f"/convert/{public_id}/download")
    assert download.mimetype == "text/csv"
    assert 'filename="two - Data.csv"' in download.headers["Content-Disposition"] or (
        "filename*=UTF-8''two%20-%20Data.csv" in download.headers["Content-Disposition"]
    )
    assert download.data.replace(b"\r\n", b"\n") == b"a,b\n1,2\n"
    download.close()
    from app.models import ConversionResult

    result = fetch(app, ConversionResult, conversion_id=conversion.id)
    assert result.output_format == "csv" and "." not in result.stored_name


def test_the_api_names_it_the_same_way(app, client, user, data_and_empty):
    api = Api(client, make_token(app))
    response = api.upload(
        "/api/v1/convert", data_and_empty.read_bytes(), "two.xlsx", "?sheet=Data&sheet=Empty"
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"  # one sheet had rows: one CSV, named so
    assert response.headers["Content-Disposition"] == "attachment; filename=two.csv"


def test_two_sheets_with_rows_are_still_a_zip(app, client, user, tmp_path):
    book = write_xlsx(tmp_path / "two.xlsx", {"A": [["x"], [1]], "B": [["y"], [2]]})
    api = Api(client, make_token(app))
    response = api.upload("/api/v1/convert", book.read_bytes(), "two.xlsx", "?all_sheets=true")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "two.zip" in response.headers["Content-Disposition"]
