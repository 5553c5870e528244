"""Template helpers: form fields tied to their errors, timestamps, fingerprinted static files."""

import hashlib
from datetime import UTC
from pathlib import Path
from urllib.parse import quote

from flask import request, url_for
from markupsafe import Markup, escape
from werkzeug.security import safe_join

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
    if form is not None:
        invalid = invalid_fields(form)
        if invalid:
            attrs.pop("autofocus", None)
            if invalid[0] is field:
                attrs["autofocus"] = True
    return attrs


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


URL_MARKER = "sheetport0url0marker"
PATH_SAFE = "!$&'()*+,/:;=@"  # what Werkzeug's converters leave unquoted in a path


def url_maker(endpoint, key, **values):
    """A function of one value giving url_for(endpoint, **{key: value}, **values): built
    once, filled in for each row of a list (url_for costs a list page a fifth of its time)."""
    before, after = url_for(endpoint, **{key: URL_MARKER}, **values).split(URL_MARKER)
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
