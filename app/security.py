"""Response headers and the per-request CSP nonce."""

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


def guard_hosts(app):
    """Answer a request for a host outside TRUSTED_HOSTS with a plain 400 before anything
    else runs: no URL can be built for it, so no page or other hook can render."""

    @app.before_request
    def refuse_untrusted_host():
        if isinstance(request.routing_exception, SecurityError):
            return untrusted_host(request.routing_exception)
        return None

    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        if request.path.startswith("/api/"):
            return problem_response(400, UNTRUSTED_HOST)
        return Response(UNTRUSTED_HOST, status=400, mimetype="text/plain")


def has_nul(value):
    """True if a NUL is anywhere in a string, or in the strings of a JSON-like value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
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
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
