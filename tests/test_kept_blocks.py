"""Kept blocks and their keys (issue 28, 7): a block of the file's page is written once and
shown again to anyone with the same key, so the key must change whenever anything the block
shows does. The keys are built in Python (app/convert/blocks.py) from the form and a
FilePage; these tests fail if a block reads anything else, or an input leaves its key."""

import dataclasses
import re
from pathlib import Path

import pytest
from jinja2 import meta

from app.convert.blocks import FilePage
from app.convert.forms import OptionsForm

SHOW = Path(__file__).resolve().parent.parent / "templates" / "convert" / "show.html"
BLOCK = re.compile(r"{%\s*call kept_block\((.*?)\)\s*%}(.*?){%\s*endcall\s*%}", re.S)
# Loop variables and the template's own macros and settings inside the blocks.
LOCAL = {"option", "options", "other_names", "fmt", "chosen", "value", "label", "choice"}
LOCAL |= {"name", "cls", "extra", "loop", "error_summary"}

PAGE = FilePage(
    many=True, busy=False, has_hidden=True, text_file=True, signed_in=True, result_name="a.csv"
)


def kept_blocks():
    return BLOCK.findall(SHOW.read_text())


def test_the_page_has_its_two_kept_blocks_keyed_in_python():
    keys = [key.strip() for key, _ in kept_blocks()]
    assert keys == ["*page.convert_bar_key(form)", "*page.options_key(form)"]


def test_a_kept_block_reads_only_the_form_and_the_page_facts(app):
    allowed = {"form", "page", *app.jinja_env.globals, *LOCAL}
    for key, body in kept_blocks():
        names = meta.find_undeclared_variables(app.jinja_env.parse(body))
        assert names <= allowed, (key, names - allowed)


def different(value):
    return (not value) if isinstance(value, bool) else value + "x"


@pytest.mark.parametrize("fact", [f.name for f in dataclasses.fields(FilePage)])
def test_every_fact_is_in_the_key_of_a_block_that_shows_it(app, fact):
    body = "".join(body for _, body in kept_blocks())
    with app.test_request_context():
        form = OptionsForm()
        changed = dataclasses.replace(PAGE, **{fact: different(getattr(PAGE, fact))})
        keys = (PAGE.convert_bar_key(form), PAGE.options_key(form))
        new_keys = (changed.convert_bar_key(form), changed.options_key(form))
    shown_in = [f"page.{fact}" in block for _, block in kept_blocks()]
    assert f"page.{fact}" in body, f"no block shows {fact}: drop it from FilePage"
    for shown, old, new in zip(shown_in, keys, new_keys, strict=True):
        if shown:
            assert old != new, f"a block shows {fact} but its key does not change with it"


def test_every_form_field_changes_both_keys(app):
    with app.test_request_context():
        base = OptionsForm()
        for field in base:
            if field.type in ("CSRFTokenField", "SubmitField"):
                continue
            other = OptionsForm()
            other[field.name].data = different_data(field.data)
            assert PAGE.options_key(other) != PAGE.options_key(base), field.name
            assert PAGE.convert_bar_key(other) != PAGE.convert_bar_key(base), field.name


def different_data(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, list):
        return [*value, "another"]
    return f"{value or ''}x"


def test_a_form_with_errors_is_never_kept(app):
    with app.test_request_context(method="POST", data={"skip_rows": "x"}):
        form = OptionsForm()
        form.validate()
        assert None in PAGE.options_key(form) and None in PAGE.convert_bar_key(form)


def test_the_page_shows_each_fact(app, client, tmp_path):
    """The facts come from the conversion as the page showed them before they moved."""
    from app.models import Conversion

    conversion = Conversion(
        info={"sheets": [{"name": "A", "visible": True}, {"name": "B", "visible": False}]},
        status=Conversion.DONE,
        result_name="book - A.csv",
    )
    page = FilePage.of(conversion, signed_in=False)
    assert (page.many, page.has_hidden, page.text_file, page.busy) == (True, True, False, False)
    assert page.result_name == "book - A.csv" and not page.signed_in
    conversion.status = Conversion.RUNNING
    assert FilePage.of(conversion, True).busy and FilePage.of(conversion, True).result_name == ""
