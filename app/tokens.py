"""API tokens as a service: who may have them, create, list and revoke them. The API's
authentication (app/api/auth.py), the profile's token pages and the admin area call it."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import bindparam, select

from .audit import audit
from .extensions import db
from .models import ApiToken, Permission, utcnow


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


# A new token's secret crosses the redirect after it is made in the session, which is
# signed but readable: sealed with a key of its own derived from SECRET_KEY.


def sealer():
    digest = hashlib.sha256(b"sheetport new API token\0" + current_app.secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def seal(secret):
    return sealer().encrypt(secret.encode()).decode()


def unseal(sealed, max_age=600):
    """The secret, or None when it cannot be read (another key, or older than max_age)."""
    try:
        return sealer().decrypt(str(sealed).encode(), ttl=max_age).decode()
    except InvalidToken:
        return None
