"""Small forms shared by several blueprints."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileRequired, MultipleFileField
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, SubmitField
from wtforms.validators import AnyOf

from .sheets.formats import ACCEPT, OUTPUTS
from .templating import widget_html

THEMES = ("light", "dark", "auto")


class AppForm(FlaskForm):
    """The app's forms: FlaskForm, with the controls' markup written by widget_html() (the
    same as WTForms', without its per-attribute Markup.format and per-field dir(); see
    docs/benchmarks.md)."""

    class Meta:
        def render_field(self, field, render_kw):
            return widget_html(field, render_kw)


class LazyForm:
    """A form built only when something asks for it. A page's blocks kept under `state`
    (templating.kept_block, with form_state()) need nothing else from it, so a page shown
    again does not build it: building its 20 fields was a large share of that page's time
    (docs/benchmarks.md).
    `state` must hold everything the form shows. It is never validated: no errors."""

    errors = {}

    def __init__(self, state, build):
        self.kept_state = state
        self._build = build
        self._form = None

    @property
    def form(self):
        if self._form is None:
            self._form = self._build()
        return self._form

    def __getattr__(self, name):
        return getattr(self.form, name)

    def __getitem__(self, name):
        return self.form[name]

    def __iter__(self):
        return iter(self.form)


class FilterForm(AppForm):
    """A list page's filters, read from the query string (no CSRF: a GET changes nothing).
    A value that does not validate is left out, as if not given: a filter never errs."""

    class Meta:
        csrf = False

    def __init__(self, args=None, **kwargs):
        super().__init__(formdata=args, **kwargs)

    def values(self):
        self.validate()
        return {
            name: field.default if field.errors else field.data
            for name, field in self._fields.items()
        }


class EmptyForm(AppForm):
    """For button-only POSTs (logout, resend, delete), so CSRF still applies."""

    submit = SubmitField("Submit")


def output_format_choices():
    return [SelectChoice(output.name, output.label) for output in OUTPUTS.values()]


class UploadForm(AppForm):
    """The upload form: on the convert page and the home page."""

    # The file picker offers every extension an input format is saved with (the registry's);
    # the bytes, not the name, still say what a file is. Several files (or a zip of them)
    # make a batch (app/batches.py).
    file = MultipleFileField(
        "Choose a file",
        validators=[FileRequired("Choose a file to upload.")],
        render_kw={"accept": ACCEPT, "multiple": True},
    )
    output_format = SelectField("Convert to", choices=output_format_choices(), default="csv")
    preview = SubmitField("Upload and preview")
    quick = SubmitField("Convert right away")


class BatchForm(AppForm):
    """A batch's options: the same for every file (each file's page has the rest)."""

    output_format = SelectField("Convert to", choices=output_format_choices(), default="csv")
    all_sheets = BooleanField("All sheets of each file")
    submit = SubmitField("Convert all")


class ThemeForm(AppForm):
    theme = HiddenField(validators=[AnyOf(THEMES)])
    next = HiddenField()
