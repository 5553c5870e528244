"""Response headers and the per-request CSP nonce."""

import secrets

from flask import Response, abort, g, request
from werkzeug.exceptions import SecurityError

# Flask-Moment marks its not-yet-rendered timestamps with style="display: none";
# this hash allows exactly that inline style and no other.
MOMENT_STYLE_HASH = "'sha256-ZdHxw9eWtnxUb3mk6tBS+gIiVUPE3pGM470keHPDFlE='"


def csp_nonce():
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce):
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'unsafe-hashes' {MOMENT_STYLE_HASH}",
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
            return Response(UNTRUSTED_HOST, status=400, mimetype="text/plain")
        return None

    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        return Response(UNTRUSTED_HOST, status=400, mimetype="text/plain")


def has_nul(values):
    return any("\x00" in value for value in values)


def register(app):
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.before_request
    def refuse_nul_characters():
        # No text field has a use for NUL, and PostgreSQL refuses to store it: refuse it
        # at the edge, for every form and query string, rather than fail at the database.
        if has_nul(request.args.values()) or has_nul(request.form.values()):
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
