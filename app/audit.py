"""Recording what people do: sign-ins, resets, role changes, deletions."""

from flask import request
from flask_login import current_user

from .extensions import db
from .models import AuditEvent

ACTIONS = {
    "login": "Signed in",
    "login_failed": "Failed sign-in",
    "logout": "Signed out",
    "logout_everywhere": "Signed out everywhere",
    "register": "Registered",
    "visitor_files_moved": "Kept a visitor's conversions",
    "password_reset": "Reset password",
    "password_change": "Changed password",
    "email_change": "Changed email",
    "user_update": "Changed a user",
    "user_delete": "Deleted a user",
    "account_delete": "Deleted their own account",
    "conversion_delete": "Deleted a conversion",
    "conversion_cancel": "Cancelled a conversion",
    "conversion_retry": "Retried a conversion",
    "message_delete": "Deleted a message",
    "settings_change": "Changed settings",
    "api_token_create": "Created an API token",
    "api_token_revoke": "Revoked an API token",
}


def audit(action, target=None, actor=None):
    """Add an event to the session; the caller's commit writes it with the action itself."""
    if actor is None and current_user and current_user.is_authenticated:
        actor = current_user
    db.session.add(
        AuditEvent(
            actor_id=actor.id if actor is not None else None,
            actor_email=actor.email if actor is not None else None,
            action=action,
            target=(target or "")[:255] or None,
            address=request.remote_addr if request else None,
        )
    )
