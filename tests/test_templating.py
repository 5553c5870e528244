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
