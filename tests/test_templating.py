"""Template helpers: field attributes for screen readers, fingerprinted static files."""

from wtforms import Form, IntegerField, StringField
from wtforms.validators import InputRequired

from app.templating import field_attrs, invalid_fields


class PersonForm(Form):
    name = StringField("Name", validators=[InputRequired()])
    age = IntegerField("Age", validators=[InputRequired()])


def test_untouched_fields_have_no_aria_state():
    form = PersonForm()
    attrs = field_attrs(
        form.name, {"aria-describedby": None, "aria_invalid": None, "autofocus": True}
    )
    assert attrs == {"autofocus": True}


def test_errors_describe_the_field_and_take_the_focus():
    form = PersonForm(data={})
    form.validate()
    assert [f.name for f in invalid_fields(form)] == ["name", "age"]
    name = field_attrs(form.name, {"help_id": "name-help"})
    assert name["aria-invalid"] == "true" and name["aria-describedby"] == "name-help name-error"
    assert name["autofocus"] is True
    # Autofocus asked for on a later field moves to the first invalid one.
    assert "autofocus" not in field_attrs(form.age, {"autofocus": True})


def test_static_versions_ignore_paths_outside_static(app):
    from flask import url_for

    with app.test_request_context():
        assert "?v=" in url_for("static", filename="css/app.css")
        assert "?v=" not in url_for("static", filename="../config.py")
        assert "?v=" not in url_for("static", filename="css/missing.css")


# --- form_field and widget_html: WTForms' markup, written faster -----------------------------

# The render_field macro before form_field(): what form_field() must still write.
OLD_MACRO = """
{% macro render_field(field, help=None) %}
  {%- set invalid = field.errors|length > 0 -%}
  {%- set attrs = field_attrs(field, dict(kwargs, help_id=(field.id ~ '-help') if help else None)) -%}
  {% if field.type == 'BooleanField' %}
  <div class="form-check mb-3">
    {{ field(class='form-check-input' ~ (' is-invalid' if invalid else ''), **attrs) }}
    {{ field.label(class='form-check-label') }}
    {{ _feedback(field, help, invalid) }}
  </div>
  {% else %}
  <div class="mb-3">
    {{ field.label(class='form-label') }}
    {{ field(class=('form-select' if field.type in ('SelectField', 'SelectMultipleField') else 'form-control') ~ (' is-invalid' if invalid else ''), **attrs) }}
    {{ _feedback(field, help, invalid) }}
  </div>
  {% endif %}
{% endmacro %}
{% macro _feedback(field, help, invalid) %}
  {% if help %}<div id="{{ field.id }}-help" class="form-text">{{ help }}</div>{% endif %}
  {% if invalid %}
  <div id="{{ field.id }}-error" class="invalid-feedback d-block">{{ field.errors|join(' ') }}</div>
  {% endif %}
{% endmacro %}
"""

ODD_TEXT = 'a "quoted" <b>word</b> & more'
# Attributes the templates pass, and some that need escaping or cleaning.
EXTRAS = [
    {},
    {"autofocus": True, "autocomplete": "email"},
    {"type": "number", "min": 0, "aria-describedby": "other-help"},
    {"rows": 3, "maxlength": 100, "data_formats": "csv tsv", "disabled": False},
    {"title": ODD_TEXT, "required": True},
]


def app_form_classes():
    from flask_wtf import FlaskForm

    import app.factory  # noqa: F401 (imports every blueprint and so every form)

    found, waiting = [], [FlaskForm]
    while waiting:
        for subclass in waiting.pop().__subclasses__():
            if subclass.__module__.startswith("app."):
                found.append(subclass)
            waiting.append(subclass)
    return sorted(set(found), key=lambda form: form.__qualname__)


def filled(form, submitted):
    """Give every select choices (with text to escape) and, unless submitted, odd data."""
    from wtforms import SelectChoice

    for field in form:
        if field.type in ("SelectField", "SelectMultipleField") and not field.choices:
            field.coerce = str
            field.choices = [SelectChoice("1", "One"), SelectChoice('"2"', ODD_TEXT)]
        if not submitted and field.type in ("StringField", "TextAreaField", "EmailField"):
            field.data = ODD_TEXT
    if submitted:
        form.validate()
    return form


def form_states(app, form_class):
    """The form as a GET shows it (with its CSRF token), and after a POST that fails."""
    with app.test_request_context():
        yield filled(form_class(meta={"csrf": True}), submitted=False)
    with app.test_request_context(method="POST", data={"skip_rows": "x", "name": ODD_TEXT}):
        yield filled(form_class(), submitted=True)


def test_every_forms_fields_are_written_as_wtforms_writes_them(app):
    from wtforms.meta import DefaultMeta

    from app.forms import AppForm

    compared = set()
    for form_class in app_form_classes():
        assert issubclass(form_class, AppForm), form_class
        for form in form_states(app, form_class):
            for field in form:
                for extra in EXTRAS:
                    wtforms = DefaultMeta.render_field(field.meta, field, dict(extra))
                    assert field(**extra) == wtforms, (form, field.name)
                compared.add(field.type)
    # The widgets it writes itself were among them (the others are WTForms' own calls).
    assert {
        "SelectField",
        "BooleanField",
        "IntegerField",
        "StringField",
        "PasswordField",
    } <= compared
    assert {"EmailField", "TextAreaField", "HiddenField", "SelectMultipleField"} <= compared
    assert {"CSRFTokenField", "SubmitField", "MultipleFileField"} <= compared


def test_render_kw_and_odd_choices_are_written_as_wtforms_writes_them(app):
    from wtforms import BooleanField, SelectChoice, SelectField, StringField
    from wtforms.meta import DefaultMeta

    from app.forms import AppForm

    class OddForm(AppForm):
        name = StringField("Name", render_kw={"class_": "wide", "data_x": "1", "placeholder": "<>"})
        grouped = SelectField(
            "Grouped", choices=[SelectChoice("1", optgroup="A"), SelectChoice("2", optgroup="B")]
        )
        flagged = SelectField("Flag", coerce=int, choices=[SelectChoice(True, "Yes")])
        tagged = SelectField(choices=[SelectChoice("x", render_kw={"disabled": True})])
        agreed = BooleanField("Agreed", render_kw={"checked": False})

    with app.test_request_context():
        form = OddForm(data={"flagged": 1, "agreed": True})
        for field in form:
            for extra in EXTRAS:
                assert field(**extra) == DefaultMeta.render_field(field.meta, field, dict(extra))


def test_form_field_writes_what_the_old_macro_wrote(app):
    import re

    old = app.jinja_env.from_string(OLD_MACRO + "{{ render_field(field, help=help, **extra) }}")
    new = app.jinja_env.from_string(
        '{% from "_macros.html" import render_field %}{{ render_field(field, help=help, **extra) }}'
    )

    def tidy(html):
        return re.sub(r">\s+<", "><", str(html)).strip()

    checked = 0
    for form_class in app_form_classes():
        for form in form_states(app, form_class):
            for field in form:
                if field.type in ("CSRFTokenField", "SubmitField", "MultipleFileField"):
                    continue
                for help in (None, "For CSV & <TSV>."):
                    for extra in EXTRAS[:3]:
                        context = {"field": field, "help": help, "extra": extra}
                        assert tidy(new.render(context)) == tidy(old.render(context))
                        checked += 1
    assert checked > 300


def test_an_invalid_field_shows_its_errors_and_keeps_its_value(app):
    from app.convert.forms import OptionsForm
    from app.templating import form_field

    with app.test_request_context(method="POST", data={"skip_rows": "-3", "delimiter": ";"}):
        form = OptionsForm()
        form.validate()
        skip_rows = form_field(form.skip_rows, help="Rarely needed.", extra={"min": 0})
        delimiter = form_field(form.delimiter)
    assert 'value="-3"' in skip_rows and 'aria-invalid="true"' in skip_rows
    assert 'aria-describedby="skip_rows-help skip_rows-error"' in skip_rows
    assert '<div id="skip_rows-error" class="invalid-feedback d-block">Enter a number' in skip_rows
    assert "is-invalid" in skip_rows and "autofocus" not in delimiter
    assert '<option selected value=";">' in delimiter and "is-invalid" not in delimiter


def test_template_url_for_builds_fixed_addresses_once_per_mount_point(tmp_path, monkeypatch):
    from flask import url_for

    from app import create_app
    from app.templating import FIXED_URLS, template_url_for

    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    app = create_app("production", {"SECRET_KEY": "x" * 32, "SITE_URL": "https://localhost"})
    assert app.jinja_env.globals["url_for"] is template_url_for
    FIXED_URLS.clear()
    for root in ("", "/sheetport"):
        with app.test_request_context("/help", base_url=f"https://localhost{root}/"):
            for endpoint, values in [
                ("main.help", {}),
                ("static", {"filename": "css/app.css"}),
                ("main.help", {"_anchor": "privacy"}),  # not kept
                ("convert.show", {"public_id": "abc"}),  # not kept
            ]:
                first = template_url_for(endpoint, **values)
                assert first == template_url_for(endpoint, **values) == url_for(endpoint, **values)
                assert first.startswith(f"{root}/")
    assert sorted(FIXED_URLS) == [
        ("", "main.help", None),
        ("", "static", "css/app.css"),
        ("/sheetport", "main.help", None),
        ("/sheetport", "static", "css/app.css"),
    ]
    assert "?v=" in FIXED_URLS["", "static", "css/app.css"]


def test_template_url_for_keeps_nothing_in_debug_mode(app):
    from app.templating import FIXED_URLS, template_url_for

    app.debug = True
    FIXED_URLS.clear()
    with app.test_request_context("/"):
        assert template_url_for("static", filename="css/app.css").startswith("/static/css/")
    assert not FIXED_URLS
