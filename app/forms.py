"""Small forms shared by several blueprints."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField
from wtforms.validators import AnyOf

THEMES = ("light", "dark", "auto")


class EmptyForm(FlaskForm):
    """For button-only POSTs (logout, resend, delete), so CSRF still applies."""

    submit = SubmitField("Submit")


class ThemeForm(FlaskForm):
    theme = HiddenField(validators=[AnyOf(THEMES)])
    next = HiddenField()
