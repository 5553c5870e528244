"""Response headers, the per-request CSP nonce, and the checks every request passes first."""

import json
import secrets

from flask import Response, abort, g, request
from werkzeug.exceptions import SecurityError

from .errors import problem_response


def csp_nonce():
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce):
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",  # no inline style: scripts set styles through the DOM
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


UNTRUSTED_HOST = "This site does not answer to that host name."

# The same for everyone, whoever asks: shared caches may keep them. Every other response
# depends on the session (the menu names who is signed in, forms carry its CSRF token) or
# on who owns a file, and no cache may store it.
PUBLIC_ENDPOINTS = frozenset({"static", "api-docs.openapi_json"})


def guard_requests(app):
    """The first request hooks. A request for a host outside TRUSTED_HOSTS is a plain 400
    before anything else runs: no URL can be built for it, so no page or other hook can
    render. Then JSON bodies are checked, before the CSRF check, the NUL check and the
    API's parser read them."""

    @app.before_request
    def refuse_untrusted_host():
        if isinstance(request.routing_exception, SecurityError):
            return untrusted_host(request.routing_exception)
        return None

    app.before_request(refuse_unusable_json)

    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        if request.path.startswith("/api/"):
            return problem_response(400, UNTRUSTED_HOST)
        return Response(UNTRUSTED_HOST, status=400, mimetype="text/plain")


# A JSON body is the API's options: a few hundred sheet names at most. Anything bigger,
# deeper or with longer numbers is refused before any parser or walker sees it (Python's
# json refuses ints past 4,300 digits with a ValueError, and recurses for each level).
JSON_BODY_MAX_BYTES = 512 * 1024
JSON_DEPTH_MAX = 32
JSON_NUMBER_MAX_DIGITS = 100
JSON_ON_PAGE = "This page takes a form, not JSON."


class UnusableJson(ValueError):
    pass


def bounded_int(text):
    if len(text) > JSON_NUMBER_MAX_DIGITS:
        raise UnusableJson(
            f"A number in the JSON body is longer than {JSON_NUMBER_MAX_DIGITS} digits."
        )
    return int(text)


def json_depth(value):
    """How deeply arrays and objects nest in a parsed JSON value, without recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if depth > JSON_DEPTH_MAX:
            break
        stack.extend((child, depth + 1) for child in item)
    return deepest


def checked_json(data):
    """The parsed body, or UnusableJson saying why it cannot be used."""
    if len(data) > JSON_BODY_MAX_BYTES:
        raise UnusableJson(f"The JSON body is larger than {JSON_BODY_MAX_BYTES // 1024} KB.")
    try:
        value = json.loads(data, parse_int=bounded_int)
    except UnusableJson:
        raise
    except RecursionError:  # json's C parser stops itself at the recursion limit
        raise UnusableJson(f"The JSON body nests deeper than {JSON_DEPTH_MAX} levels.") from None
    except ValueError:  # not JSON, or not UTF-8
        raise UnusableJson("The body is not valid JSON.") from None
    if json_depth(value) > JSON_DEPTH_MAX:
        raise UnusableJson(f"The JSON body nests deeper than {JSON_DEPTH_MAX} levels.")
    return value


def has_body():
    return (
        bool(request.content_length)
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


def refuse_unusable_json():
    """Pages take forms: a JSON body there is a 415 (Flask-WTF would read it as the form's
    data and fail on anything but an object). The API's JSON bodies are bounded in size,
    depth and digits and must parse, or the request is a 400, before anything reads them."""
    if not request.is_json or not has_body():
        return
    if not request.path.startswith("/api/"):
        abort(415, JSON_ON_PAGE)
    if request.content_length and request.content_length > JSON_BODY_MAX_BYTES:
        abort(413, f"The JSON body is larger than {JSON_BODY_MAX_BYTES // 1024} KB.")
    try:
        checked_json(request.get_data(cache=True))
    except UnusableJson as error:
        abort(400, str(error))


def has_nul(value):
    """True if a NUL is anywhere in a string, or in the strings of a JSON-like value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def request_has_nul():
    # File names are not refused but cleaned, with the rest of what makes a name unsafe
    # (app.sheets.names.clean_file_name).
    if not request.query_string and not request.content_length and request.method == "GET":
        return "\x00" in request.path  # most requests: nothing else to read
    values = [
        request.path,
        [v for _, vs in request.args.lists() for v in vs],  # every value of a repeated key
        [v for _, vs in request.form.lists() for v in vs],
    ]
    if request.is_json:
        values.append(request.get_json(silent=True))
    return has_nul(values)


def register(app):
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.before_request
    def refuse_nul_characters():
        # No text field has a use for NUL, and PostgreSQL refuses to store it: refuse it
        # at the edge, for every form and query string, rather than fail at the database.
        if request_has_nul():
            abort(400, "The request contains a character that is not allowed (NUL).")

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
        if request.endpoint not in PUBLIC_ENDPOINTS:
            headers["Cache-Control"] = "no-store"  # replaces send_file's no-cache
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
