"""Bearer tokens for the API (Flask-HTTPAuth), and the token service the pages call."""

from datetime import timedelta

from flask import g
from flask_httpauth import HTTPTokenAuth
from sqlalchemy import bindparam, select

from ..audit import audit
from ..errors import problem_response
from ..extensions import db
from ..models import ApiToken, Permission, utcnow

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


def api_refusal(user):
    """Why `user` may not use the API, or None."""
    if not user.confirmed:
        return "Confirm your email address before using the API."
    if not user.can(Permission.USE_API):
        return "Your account's role does not include API access."
    return None


# The account page shows them on every view: built once (SQLAlchemy reuses its compiled form).
TOKENS_OF = (
    select(ApiToken)
    .where(ApiToken.user_id == bindparam("user_id"))
    .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
)


def tokens_of(user):
    return db.session.scalars(TOKENS_OF, {"user_id": user.id}).all()


def create_token(user, name, expires_at=None):
    """A new token for `user` and its secret (shown once); audited."""
    token, secret = ApiToken.issue(user, name, expires_at)
    db.session.add(token)
    audit("api_token_create", target=f"{user.email}: {name}")
    db.session.commit()
    return token, secret


def revoke_token(token):
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit("api_token_revoke", target=f"{token.user.email}: {token.name}")
        db.session.commit()


def user_token(user, token_id):
    """`user`'s token with this id, or None."""
    token = db.session.get(ApiToken, token_id)
    return token if token is not None and token.user_id == user.id else None
