"""API tokens as a service: who may have them, create, list and revoke them. The API's
authentication (app/api/auth.py), the profile's token pages and the admin area call it."""

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
