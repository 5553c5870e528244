"""Error handlers: an HTML page for browsers, JSON for API clients, problem+json for /api/.
What can go wrong is app/exceptions.py's; this module only answers it."""

from contextlib import suppress

from flask import g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from jinja2 import TemplateNotFound
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from .exceptions import (
    DatabaseUnavailable,
    Refused,
    StorageFull,
    Unavailable,
    described,
    is_query_bug,
)
from .extensions import db, login_manager
from .sizes import format_size

MESSAGES = {
    400: "The request could not be understood.",
    401: "This needs a valid API token.",
    403: "You do not have permission to see this page.",
    404: "There is nothing at this address.",
    405: "This page does not accept that kind of request.",
    409: "This cannot be done while the item is in its current state.",
    410: "This item has expired and its files were deleted.",
    413: "The upload is larger than the limit.",
    415: "This kind of content is not accepted here.",
    422: "Some of what was sent cannot be used: see errors.",  # summary() names them
    429: "Too many attempts. Please wait a little and try again.",
    500: "Something went wrong on our side.",
    503: "Sheetport cannot reach a service it needs just now. Please try again shortly.",
    507: "Sheetport's storage is full, so the file could not be saved. Please try again later.",
}
CSRF_MESSAGE = "The form expired or was sent from another page. Please go back and try again."


# Pages that answer JSON only (polled by scripts): their errors are JSON too, whatever
# the client accepts.
JSON_ENDPOINTS = {"convert.status"}


def wants_json():
    """API paths, JSON-only pages, and clients whose Accept header prefers JSON to HTML."""
    if request.path.startswith("/api/") or request.endpoint in JSON_ENDPOINTS:
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def is_api_request():
    return request.path.startswith("/api/")


def problem_response(code, detail, headers=(), errors=None):
    """An RFC 9457 problem document. `errors`: the fields at fault, for validation errors."""
    body = {
        "type": "about:blank",  # the status says it all; `title` is the status's phrase
        "title": HTTP_STATUS_CODES.get(code, "Error"),
        "status": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.mimetype = "application/problem+json"
    response.status_code = code
    for key, value in headers:
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def field_errors(error):
    """webargs' {location: {field: [messages]}} as a list of {name, in, detail}; a list's
    items are named `field[0]`, a nested field `field.inner`, never shown as a dict."""
    messages = (getattr(error, "data", None) or {}).get("messages") or {}
    found = []

    def walk(location, name, problems):
        if isinstance(problems, dict):
            for key, inner in problems.items():
                part = f"[{key}]" if isinstance(key, int) else (f".{key}" if name else str(key))
                walk(location, f"{name}{part}", inner)
        elif isinstance(problems, list | tuple):
            for problem in problems:
                walk(location, name, problem)
        else:
            entry = {"name": name, "in": location} if name else {"in": location}
            found.append({**entry, "detail": str(problems)})

    for location, fields in messages.items():
        walk(location, "", fields)
    return found


def summary(errors, limit=300):
    """The problems named in one line, for a problem document's detail."""
    text = "; ".join(
        f"{e['name']} ({e['in']}): {e['detail']}" if e.get("name") else e["detail"] for e in errors
    )
    text = f"Some of what was sent cannot be used: {text}"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def error_response(code, message, headers=(), errors=None):
    if is_api_request():
        return problem_response(code, message, headers, errors)
    if wants_json():
        response = jsonify(error=HTTP_STATUS_CODES.get(code, "Error"), message=message)
    else:
        try:
            body = render_template(f"errors/{code}.html", code=code, message=message)
        except TemplateNotFound:
            body = render_template("errors/error.html", code=code, message=message)
        response = make_response(body)
    response.status_code = code
    for key, value in headers:  # e.g. Allow on a 405, Retry-After on a 429
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def has_own_message(error):
    return bool(error.description) and error.description != type(error).description


def message_for(error):
    if error.code == 413 and request.max_content_length and not has_own_message(error):
        limit = format_size(request.max_content_length)
        return f"The upload is larger than the {limit} limit. Please try a smaller file."
    # abort(code, "message") in our views carries a message meant for the user;
    # werkzeug's stock descriptions are replaced by ours.
    if has_own_message(error):
        return error.description
    return MESSAGES.get(error.code, error.description or "")


def register(app):
    @app.errorhandler(Refused)
    def refused(error):
        # The conversion service's refusals (not found, expired, busy, bad upload or
        # options): their message is meant for the person who asked.
        db.session.rollback()
        return error_response(error.status, str(error))

    @app.errorhandler(StorageFull)
    def storage_full(error):
        app.logger.error("Storage full: %s %s could not be saved", request.method, request.path)
        db.session.rollback()
        return error_response(507, MESSAGES[507], [("Retry-After", "600")])

    @app.errorhandler(Unavailable)
    def unavailable(error):
        app.logger.error(
            "%s unavailable: %s %s answered 503 (%s)",
            error.part,
            request.method,
            request.path,
            described(error.__cause__ or error),
        )
        with suppress(SQLAlchemyError):  # when the database is the service that is away
            db.session.rollback()
        return error_response(503, str(error), [("Retry-After", "30")])

    @app.errorhandler(OperationalError)
    def database_unavailable(error):
        if is_query_bug(error):
            app.logger.error("Exception on %s %s", request.method, request.path, exc_info=error)
            db.session.rollback()
            return error_response(500, MESSAGES[500])
        # The error page must not need the database either: if the signed-in user could not
        # be loaded, it is shown as to a visitor.
        if "_login_user" not in g:
            g._login_user = login_manager.anonymous_user()
        outage = DatabaseUnavailable()
        outage.__cause__ = error
        return unavailable(outage)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code >= 500:
            db.session.rollback()
            return error_response(error.code, MESSAGES[500])
        errors = field_errors(error) if is_api_request() else None
        message = message_for(error)
        if errors and message == MESSAGES[422]:
            message = summary(errors)
        return error_response(error.code, message, error.get_headers(), errors)

    @app.errorhandler(500)
    def server_error(error):
        # Flask logs the traceback before calling this; the user gets a page.
        db.session.rollback()
        return error_response(500, MESSAGES[500])
