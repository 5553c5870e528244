"""Wiring the API into the app: flask-smorest (OpenAPI + request validation), CSRF
exemption, per-token rate limits, optional CORS."""

import hashlib
import http

from flask import current_app, request
from flask_cors import CORS
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from ..extensions import csrf, limiter
from ..urls import site_url
from . import bp, web
from .schemas import ProblemSchema

PROBLEM = "application/problem+json"


class SheetportApi(Api):
    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # every status an operation answers is listed

    def _openapi_json(self):
        # The servers entry is the site's own address, so "Try it out" calls this site.
        spec = {**self.spec.to_dict(), "servers": [{"url": site_url().rstrip("/") + "/"}]}
        body = current_app.json.dumps(spec, indent=2)
        return current_app.response_class(body, mimetype="application/json")

    def _register_error_handlers(self):
        pass  # app/errors.py answers every error, as problem+json under /api/

    def _register_responses(self):
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)


SPEC = {
    "info": {
        "description": "Convert spreadsheets from scripts. Every error is "
        "application/problem+json (RFC 9457). The guide: /api"
    },
    "security": [{"bearerAuth": []}],
}


def rate_limit_key():
    """Per token: a digest of the bearer secret (the key needs no lookup of the token);
    else per address."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "api-token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "api-address:" + get_remote_address()


def presented_token_is_valid():
    from ..models import ApiToken

    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer " or not header[7:].strip():
        return False
    token = ApiToken.find(header[7:].strip())
    return token is not None and token.valid()


def refused_token(response):
    return response.status_code == 401


# Once, at import: the limiter and the blueprint outlive any one app.
limiter.limit(
    lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_limit_key, per_method=False
)(bp)
# Guessing tokens: refusals count per client address, whatever token each one tried.
limiter.limit(
    lambda: current_app.config["API_AUTH_FAILURE_LIMIT"],
    key_func=lambda: "api-refused:" + get_remote_address(),
    per_method=False,
    deduct_when=refused_token,
    # A valid token is never turned away by others' guesses from the same address.
    exempt_when=lambda: presented_token_is_valid(),
)(bp)
# Flask-Limiter checks an app's limits before each of its requests, a cost paid even where
# none applies (docs/benchmarks.md). Only this blueprint has limits of its own (a decorated
# view elsewhere checks its limits itself, and no default or application limits are set), so
# the check runs before this blueprint's requests alone: after the app's own hooks (host,
# CSRF, signed-in user), first of this blueprint's (before a token is looked up); init_app
# takes it off the app.
bp.before_request_funcs.setdefault(None, []).insert(0, limiter._check_request_limit)


def retry_after_only_when_waiting_helps(response):
    # Flask-Limiter's headers put Retry-After on every answer; an API client must see it
    # only where coming back later is the advice (too many requests, a service away).
    if response.status_code not in (429, 503) and request.path.startswith("/api/"):
        response.headers.pop("Retry-After", None)
    return response


def init_app(app):

    app.config.setdefault("API_TITLE", "Sheetport API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # One Api per app: it holds that app's spec and serves it.
    api = SheetportApi(app, spec_kwargs=SPEC)
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "A personal API token."},
    )
    # Bearer tokens only, no cookies: nothing for a cross-site form to borrow.
    csrf.exempt(bp)
    check = limiter._check_request_limit
    if check in app.before_request_funcs.get(None, []):  # not there when limits are off
        app.before_request_funcs[None].remove(check)
    # First in the list, so last to run: after Flask-Limiter's hook has added its headers.
    app.after_request_funcs.setdefault(None, []).insert(0, retry_after_only_when_waiting_helps)
    api.register_blueprint(bp)
    app.register_blueprint(web)
    origins = app.config["API_CORS_ORIGINS"]
    if origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": origins}},
            supports_credentials=False,
            expose_headers=["Location", "Link", "Retry-After", "Content-Disposition"]
            + ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
        )
