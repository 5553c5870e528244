"""Template helpers: form fields tied to their errors, timestamps, fingerprinted static files."""

import hashlib
import threading
from datetime import UTC
from pathlib import Path
from urllib.parse import quote

from cachetools import LRUCache
from flask import request, url_for
from flask.globals import _cv_request
from markupsafe import Markup, escape
from werkzeug.routing import BuildError
from werkzeug.security import safe_join
from wtforms import SelectChoice
from wtforms.widgets import (
    CheckboxInput,
    EmailInput,
    HiddenInput,
    NumberInput,
    PasswordInput,
    Select,
    SubmitInput,
    TextArea,
    TextInput,
)

ONE_YEAR = 365 * 24 * 3600


def invalid_fields(form):
    """The fields of `form` that have errors, in the form's order (hidden ones left out)."""
    return [
        field
        for field in form
        if field.errors and field.type not in ("HiddenField", "CSRFTokenField")
    ]


def field_attrs(field, extra):
    """HTML attributes for `field`: `extra` without None values (WTForms would print "None"),
    aria-invalid and aria-describedby only when they mean something, and autofocus moved to
    the first invalid field when the form has errors."""
    attrs = {
        name: value for name, value in extra.items() if value is not None and value is not False
    }
    help_id = attrs.pop("help_id", None)
    described = attrs.pop("aria-describedby", attrs.pop("aria_describedby", "")).split()
    if help_id:
        described.append(help_id)
    if field.errors:
        attrs["aria-invalid"] = "true"
        if f"{field.id}-error" not in described:
            described.append(f"{field.id}-error")
    if described:
        attrs["aria-describedby"] = " ".join(described)
    form = getattr(field, "_form", None)
    # Only an invalid field or one asking for the focus can be the one that gets it: the
    # form's other fields need not be looked at (that was every field for every field).
    if form is not None and (field.errors or "autofocus" in attrs):
        invalid = invalid_fields(form)
        if invalid:
            attrs.pop("autofocus", None)
            if invalid[0] is field:
                attrs["autofocus"] = True
    return attrs


def form_field(field, help=None, extra=None):
    """A field with its label, help text and errors, tied together for screen readers (the
    `render_field` macro of templates/_macros.html calls this). `extra`: HTML attributes for
    the control, as field_attrs() takes them."""
    invalid = bool(field.errors)
    attrs = field_attrs(field, {**(extra or {}), "help_id": f"{field.id}-help" if help else None})
    field_id = escape(field.id)
    feedback = ""
    if help:
        feedback += f'\n  <div id="{field_id}-help" class="form-text">{escape(help)}</div>'
    if invalid:
        errors = Markup(" ").join(field.errors)
        feedback += (
            f'\n  <div id="{field_id}-error" class="invalid-feedback d-block">{errors}</div>'
        )
    invalid_class = " is-invalid" if invalid else ""
    if field.type == "BooleanField":
        control = field(**{"class": "form-check-input" + invalid_class, **attrs})
        label = label_html(field, "form-check-label")
        return Markup(f'<div class="form-check mb-3">\n  {control}\n  {label}{feedback}\n</div>')
    kind = "form-select" if field.type in ("SelectField", "SelectMultipleField") else "form-control"
    control = field(**{"class": kind + invalid_class, **attrs})
    label = label_html(field, "form-label")
    return Markup(f'<div class="mb-3">\n  {label}\n  {control}{feedback}\n</div>')


def label_html(field, css_class):
    """field.label(class_=css_class), the same markup."""
    label = field.label
    return f'<label class="{escape(css_class)}" for="{escape(label.field_id)}">{escape(label.text)}</label>'


# WTForms' widgets write each attribute with Markup.format and read each field's flags with
# dir(), which makes each field costly and a page of fields slow (docs/benchmarks.md).
# These write the same markup (tests/test_templating.py compares them with WTForms' own for
# every form); the app's forms render through them (AppForm in app/forms.py).
INPUT_WIDGETS = (
    TextInput,
    EmailInput,
    PasswordInput,
    HiddenInput,
    CheckboxInput,
    NumberInput,
    SubmitInput,
)


def widget_html(field, attrs):
    """The control's HTML, as WTForms' DefaultMeta.render_field writes it (the field's
    render_kw under `attrs`); widgets other than the usual ones are WTForms' own calls."""
    attrs = {attribute_name(name): value for name, value in attrs.items()}
    if field.render_kw:
        attrs = {**{attribute_name(k): v for k, v in field.render_kw.items()}, **attrs}
    widget = field.widget
    kind = type(widget)
    if getattr(field, "_datalist", None) is None:
        if kind is Select and not widget.multiple:
            return select_html(field, attrs)
        if kind in INPUT_WIDGETS:
            return input_html(field, widget, attrs)
        if kind is TextArea:
            attrs.setdefault("id", field.id)
            add_flags(field, widget, attrs)
            params = html_attributes({"name": field.name, **attrs})
            return Markup(f"<textarea {params}>\r\n{escape(field._value())}</textarea>")
    return widget(field, **attrs)


def input_html(field, widget, attrs):
    kind = type(widget)
    if kind is CheckboxInput and getattr(field, "checked", field.data):
        attrs.setdefault("checked", True)
    elif kind is PasswordInput and widget.hide_value:
        attrs["value"] = ""
    elif kind is SubmitInput:
        attrs.setdefault("value", field.label.text)
    elif kind is NumberInput:
        for name in ("step", "min", "max"):
            if getattr(widget, name) is not None:
                attrs.setdefault(name, getattr(widget, name))
    attrs.setdefault("id", field.id)
    attrs.setdefault("type", widget.input_type)
    if "value" not in attrs:
        attrs["value"] = field._value()
    add_flags(field, widget, attrs)
    return Markup(f"<input {html_attributes({'name': field.name, **attrs})}>")


def select_html(field, attrs):
    choices = field.choices
    if not isinstance(choices, list) or not all(
        isinstance(c, SelectChoice) and c.optgroup is None and not c.render_kw for c in choices
    ):
        return field.widget(field, **attrs)
    attrs.setdefault("id", field.id)
    add_flags(field, field.widget, attrs)
    html = [f"<select {html_attributes({'name': field.name, **attrs})}>"]
    data, coerce = field.data, field.coerce
    for choice in choices:
        value = str(choice.value) if isinstance(choice.value, bool) else choice.value
        selected = "selected " if coerce(choice.value) == data else ""
        label = escape(choice.label or choice.value)
        html.append(f'<option {selected}value="{escape(value)}">{label}</option>')
    html.append("</select>")
    return Markup("".join(html))


def add_flags(field, widget, attrs):
    """The validators' flags the widget writes (required, maxlength...), as WTForms adds them."""
    flags = field.flags
    for name in vars(flags):
        if name in widget.validation_attrs and name not in attrs:
            value = getattr(flags, name)
            attrs[name] = value() if callable(value) else value


def attribute_name(name):
    """WTForms' clean_key: class_ is class, data_x and aria_x are data-x and aria-x."""
    name = name.rstrip("_")
    if name.startswith(("data_", "aria_")):
        name = name.replace("_", "-")
    return name


def html_attributes(attrs):
    """WTForms' html_params: sorted by name, True a bare name, False left out."""
    params = []
    for name, value in sorted(attrs.items()):
        name = escape(attribute_name(name))
        if value is True:
            params.append(name)
        elif value is not False:
            params.append(f'{name}="{escape(value)}"')
    return " ".join(params)


def when(dt, fmt="LLL", relative=False):
    """A timestamp as one <time> element: UTC text, which Flask-Moment's script (included
    by base.html) replaces in the browser with the reader's local time ("3 minutes ago" when
    `relative`, refreshed each minute; else moment.js' `fmt`). The markup is Flask-Moment's
    own (its class and data- attributes), written here in one step: its moment() objects
    cost a list page about a third of its time."""
    if not dt:
        return "never"
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    stamp = dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = f"{stamp[:10]} {stamp[11:16]} UTC"
    if relative:
        how = 'data-function="fromNow" data-refresh="60000"'
    else:
        how = f'data-function="format" data-format="{escape(fmt)}" data-refresh="0"'
    return Markup(
        f'<time class="flask-moment" datetime="{stamp}" title="{shown}" '
        f'data-timestamp="{stamp}" {how}>{shown}</time>'
    )


def table_cells(row):
    """A preview row as <td> elements, escaped as Jinja would: one escape of the row's
    cells joined by NUL, not a template loop step and a Markup object per cell (a wide
    sheet's page shows 5,000)."""
    texts = list(map(str, row))
    joined = "\x00".join(texts)
    if not texts:
        return Markup("")
    if joined.count("\x00") != len(texts) - 1:  # a cell holds a NUL itself
        return Markup("".join([f"<td>{escape(text)}</td>" for text in texts]))
    return Markup("<td>" + str(escape(joined)).replace("\x00", "</td><td>") + "</td>")


def column_letters(count):
    from .sheets.values import column_letter

    return [column_letter(i) for i in range(count)]


def preview_columns(preview):
    """How many columns the preview's rows have."""
    if preview.shown_columns or preview.total_columns or not preview.row_count:
        return preview.shown_columns or preview.total_columns
    return len(preview.rows[0])


def preview_table(preview):
    """The head and body of a preview's table: column letters, then each row numbered."""
    letters = "".join(
        f'<th scope="col">{letter}</th>' for letter in column_letters(preview_columns(preview))
    )
    rows = [
        f'<tr><th scope="row">{number}</th>{table_cells(row)}</tr>'
        for number, row in enumerate(preview.rows or [], 1)
    ]
    head = f'<thead><tr><th scope="col"><span class="visually-hidden">Row</span></th>{letters}</tr></thead>'
    return Markup(f"{head}\n<tbody>\n" + "\n".join(rows) + "\n</tbody>")


# HTML fragments kept in this process, under keys that hold everything they show (the
# preview's key changes with each new reading of the file: conversions.kept_previews), so
# an entry is never stale, only unused, and the least recently used go first. 4 million
# characters: some 40 of the widest preview tables.
FRAGMENTS = LRUCache(maxsize=4_000_000, getsizeof=len)
FRAGMENTS_LOCK = threading.Lock()


def kept(key, make):
    """make(), kept under `key` (None: made each time, not kept)."""
    if key is None:
        return make()
    with FRAGMENTS_LOCK:
        html = FRAGMENTS.get(key)
    if html is None:
        html = make()
        with FRAGMENTS_LOCK:
            if len(html) <= FRAGMENTS.maxsize:
                FRAGMENTS[key] = html
    return html


def cached_preview_table(preview):
    """preview_table(preview), kept under the preview's key when it has one: then the
    preview's rows are not even read (conversions.SheetPreview)."""
    key = preview.key
    return kept(("preview", key) if key else None, lambda: preview_table(preview))


def kept_block(*key, caller):
    """{% call kept_block(name, ...) %}...{% endcall %}: the block's HTML, kept under the
    key, which must hold everything the block shows; a key with None in it is not kept."""
    return kept(None if None in key else key, caller)


def form_state(form):
    """What a form shows, as a key for kept_block(): each field's value, the text sent for
    it and its choices (not the CSRF token, which a form's block must not show). None,
    so not kept, for a form with errors (it shows them) and for a form sent to us: what
    was sent is anyone's text, and each new text would take a place of its own. A LazyForm
    says its state itself, without being built."""
    if getattr(form, "kept_state", None) is not None:
        return form.kept_state
    if form.errors or form.is_submitted():
        return None
    state = []
    for field in form:
        if field.type == "CSRFTokenField":
            continue
        choices = getattr(field, "choices", None)
        if isinstance(choices, list):
            choices = tuple((c.value, c.label) for c in choices)
        state.append((field.name, repr(field.data), repr(field.raw_data), repr(choices)))
    return tuple(state)


# Addresses that depend on nothing but the app's mount point: the nav's links and the static
# files (with their ?v= digest) are a dozen url_for calls on every page, built once here.
FIXED_URLS = {}


def template_url_for(endpoint, **values):
    """url_for for templates: a link to a page without arguments, or to a static file, is
    built once per process and mount point (outside debug mode, where files change)."""
    fixed = not values or (endpoint == "static" and len(values) == 1 and "filename" in values)
    # The request context itself, not the `request` and `current_app` proxies: a page makes
    # some 30 of these calls, and each proxy lookup cost more than the rest of the call.
    context = _cv_request.get(None)
    if not fixed or context is None or endpoint.startswith(".") or context.app.debug:
        return url_for(endpoint, **values)
    key = (context.request.script_root, endpoint, values.get("filename"))
    url = FIXED_URLS.get(key)
    if url is None:
        url = url_for(endpoint, **values)
        if len(FIXED_URLS) < 1000:
            FIXED_URLS[key] = url
    return url


URL_MARKER = "sheetport0url0marker"
PATH_SAFE = "!$&'()*+,/:;=@"  # what Werkzeug's converters leave unquoted in a path


NUMBER_MARKER = 1_987_654_321  # the same, for an <int:...> part


def url_maker(endpoint, key, **values):
    """A function of one value giving url_for(endpoint, **{key: value}, **values): built
    once, filled in for each row of a list (url_for costs a list page a fifth of its time)."""
    try:
        marker, url = URL_MARKER, url_for(endpoint, **{key: URL_MARKER}, **values)
    except (BuildError, ValueError):  # the part takes numbers only
        marker = str(NUMBER_MARKER)
        url = url_for(endpoint, **{key: NUMBER_MARKER}, **values)
    parts = url.split(marker)
    if len(parts) != 2:  # the marker's digits are in the address elsewhere too
        return lambda value: url_for(endpoint, **{key: value}, **values)
    before, after = parts
    return lambda value: before + quote(str(value), safe=PATH_SAFE) + after


class StaticVersions:
    """Adds ?v=<hash of the content> to every url_for('static', ...), and serves such URLs
    with a year-long cache: a changed file gets a new URL, so nobody sees a stale one."""

    def __init__(self, app):
        self.app = app
        self.digests = {}
        self.fixed = {}  # filename: digest
        app.url_defaults(self.add_version)
        app.after_request(self.cache_versioned)

    def digest(self, filename):
        # Outside debug mode the files do not change while the app runs (a deploy restarts
        # it): each is hashed once, not looked at again on every page.
        if not self.app.debug and filename in self.fixed:
            return self.fixed[filename]
        self.fixed[filename] = version = self.current_digest(filename)
        return version

    def current_digest(self, filename):
        joined = safe_join(self.app.static_folder, filename)
        if joined is None:
            return None
        path = Path(joined)
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (filename, stat.st_mtime_ns, stat.st_size)
        if key not in self.digests:
            self.digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return self.digests[key]

    def add_version(self, endpoint, values):
        if endpoint == "static" and "v" not in values and "filename" in values:
            version = self.digest(values["filename"])
            if version:
                values["v"] = version

    def cache_versioned(self, response):
        if (
            request.endpoint == "static"
            and response.status_code == 200
            and request.args.get("v")
            and request.args.get("v") == self.digest(request.view_args.get("filename", ""))
        ):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        return response
