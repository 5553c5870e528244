"""Helpers for URLs that come from the user."""

from urllib.parse import urlsplit

from flask import current_app, has_request_context, request
from werkzeug.routing import IntegerConverter


def is_safe_next(target):
    """True for a same-site path such as '/convert?x=1'; False for '//evil.com' and the like."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    # Browsers read a backslash as a slash, so '/\\evil.com' is another host.
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target, default):
    return target if is_safe_next(target) else default


DEVELOPMENT_SITE = "http://127.0.0.1:5000"


def site_url():
    """The site's public address: SITE_URL. Only in development, where it may be unset (and
    production refuses to start without it), the address this server was last reached on,
    so that `flask run --port 5001` sends links to port 5001."""
    configured = current_app.config.get("SITE_URL")
    if configured:
        return configured
    if has_request_context():
        current_app.extensions["sheetport_served_at"] = request.host_url
        return request.host_url
    return current_app.extensions.get("sheetport_served_at", DEVELOPMENT_SITE)


def site_url_for(endpoint, **values):
    """An absolute URL on the configured public address (SITE_URL), never the request's
    Host header, which a client controls. Every link in an email is built with this."""
    base = urlsplit(site_url())
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


# The largest id the database holds (PostgreSQL's integer); SQLite overflows at 2**63.
LARGEST_ID = 2**31 - 1
LARGEST_PAGE = 100_000


class BoundedIntConverter(IntegerConverter):
    """Every <int:...> in a URL: a number past what the database holds is a 404, not an
    overflow error from the query."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits, min, LARGEST_ID if max is None else max, signed)


def page_number():
    """The ?page= of a list, as a number from 1 to LARGEST_PAGE; anything else is page 1."""
    page = request.args.get("page", 1, type=int)
    return page if 1 <= page <= LARGEST_PAGE else 1
