"""Bearer tokens for the API (Flask-HTTPAuth): who a request acts for, and why a token is
refused. The tokens themselves (create, list, revoke) are app/tokens.py's."""

from datetime import timedelta

from flask import g
from flask_httpauth import HTTPTokenAuth

from ..errors import problem_response
from ..extensions import db
from ..models import ApiToken, utcnow

auth = HTTPTokenAuth(scheme="Bearer")
LAST_USED_PRECISION = timedelta(minutes=1)  # record use at most once a minute per token

NO_TOKEN = (
    "This address needs an API token: send 'Authorization: Bearer <token>'. "
    "Create a token on your profile page."
)
UNKNOWN_TOKEN = "The API token is not valid."
REVOKED = "The API token was revoked."
EXPIRED = "The API token has expired."
DEACTIVATED = "The account this API token belongs to is deactivated."


@auth.verify_token
def verify_token(secret):
    if not secret:
        g.api_refusal = NO_TOKEN
        return None
    token = ApiToken.find(secret)
    if token is None or not token.valid():
        g.api_refusal = refusal_for(token)
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        token.last_used_at = now
        db.session.commit()
    g.api_token = token
    return token.user


def refusal_for(token):
    if token is None:
        return UNKNOWN_TOKEN
    if token.revoked_at is not None:
        return REVOKED
    if token.is_expired():
        return EXPIRED
    return DEACTIVATED


@auth.error_handler
def auth_error(status):
    return problem_response(status, g.get("api_refusal", NO_TOKEN))


def current_owner():
    """The user whose token authorised this request."""
    return auth.current_user()
