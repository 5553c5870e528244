"""Every conversion option means the same everywhere (issue 23, 1): the engine's Options,
the web form, the API schema and `python -m app.sheets` offer the same options, with the
same choices and defaults. A test fails the day one of them drifts (the web form once
lacked infer_types and full_precision)."""

from dataclasses import fields

import pytest

from app.api.schemas import OptionsSchema
from app.convert.forms import OptionsForm
from app.sheets import Options
from app.sheets import formats as registry
from app.sheets.__main__ import parser

# Options that are not the user's to choose on every surface, and why.
INTERNAL = {"name_stem"}  # names the files in a zip after the upload: set by the service
# The API and the CLI call the list of sheets `sheet` (repeatable), the form `sheets`.
API_NAMES = {"sheets": "sheet"}
FORM_NAMES = {"format": "output_format"}
# What a text file is read as is chosen on the page's "Read file as" form, so the options
# form carries it hidden.
FORM_ELSEWHERE = {"input_encoding"}

ENGINE = {f.name for f in fields(Options)} - INTERNAL


def cli_actions():
    """The command line's options by the engine's names; `--no-header` is `header`, its
    default inverted."""
    found = {}
    for action in parser()._actions:
        if action.dest == "help":
            continue
        if action.dest.startswith("no_"):
            action.default = not action.default
            found[action.dest[3:]] = action
        else:
            found[action.dest] = action
    return found


def engine_default(name):
    return getattr(Options(), name)


def test_every_option_is_on_every_surface(app):
    with app.test_request_context():
        form = OptionsForm()
    form_names = {FORM_NAMES.get(name, name) for name in ENGINE}
    assert form_names <= set(form._fields), form_names - set(form._fields)
    api_names = {API_NAMES.get(name, name) for name in ENGINE}
    assert api_names <= set(OptionsSchema().fields), api_names - set(OptionsSchema().fields)
    cli_names = {API_NAMES.get(name, name) for name in ENGINE}
    assert cli_names <= set(cli_actions()), cli_names - set(cli_actions())


def test_no_surface_offers_an_option_the_engine_lacks(app):
    api_only = set(OptionsSchema().fields) - {API_NAMES.get(n, n) for n in ENGINE}
    assert api_only == set(), api_only
    cli_only = set(cli_actions()) - {API_NAMES.get(n, n) for n in ENGINE}
    assert cli_only <= {"input", "output", "inspect"}, cli_only


CHOICES = ["format", "quoting", "line_ending", "encoding", "json_style", "date_style"]
CHOICES += ["decimal_separator", "date_order", "sql_dialect"]


@pytest.mark.parametrize("name", CHOICES)
def test_choices_agree(app, name):
    with app.test_request_context():
        field = OptionsForm()[FORM_NAMES.get(name, name)]
    form_values = [choice.value for choice in field.choices]
    api_values = OptionsSchema().fields[name].metadata["enum"]
    assert form_values == api_values, name
    cli = cli_actions()[name]
    if cli.choices is not None:
        assert [value for value in form_values if value] == [v for v in cli.choices if v], name


@pytest.mark.parametrize("name", sorted(ENGINE - {"sheets"}))
def test_defaults_agree(app, name):
    expected = engine_default(name)
    with app.test_request_context():
        form = OptionsForm()
    field = form[FORM_NAMES.get(name, name)]
    if name not in FORM_ELSEWHERE and field.default is not None:
        assert field.default == expected or (field.default in (None, "") and not expected), name
    schema_field = OptionsSchema().fields[API_NAMES.get(name, name)]
    assert schema_field.load_default == expected, name
    cli_default = cli_actions()[name].default
    assert cli_default in (expected, None) or (cli_default is False and expected is False), (
        name,
        cli_default,
        expected,
    )


def test_each_format_option_is_one_the_form_offers(app):
    with app.test_request_context():
        form = OptionsForm()
    for output in registry.OUTPUTS.values():
        for name in output.options:
            assert FORM_NAMES.get(name, name) in form._fields, (output.name, name)
