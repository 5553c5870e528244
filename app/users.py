"""Actions on accounts (an admin's, and a person deleting their own), with the rule that
the site never loses its last admin."""

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from . import batches, conversions
from .audit import audit
from .email import send_account_deleted_notice
from .extensions import db
from .models import ApiToken, Permission, Role, User


def register_account(name, email, password):
    """Create an account; returns (user, True), or (the existing owner, False) when the
    address already has one. Both paths hash a password, so they take as long."""
    existing = User.by_email(email)
    if existing is None:
        user = User(email=User.normalise_email(email), name=name.strip())
        user.set_password(password)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:  # the same address registered a moment ago
            db.session.rollback()
            return User.by_email(email), False
        audit("register", target=user.email, actor=user)
        db.session.commit()
        return user, True
    generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    return existing, False


class AdminRuleError(Exception):
    """The change would leave the site without an active admin, or lock the admin out."""


def active_admin_count():
    return db.session.scalar(
        select(func.count(User.id))
        .join(User.role)
        .where(User.active.is_(True), Role.permissions.op("&")(Permission.ADMIN) != 0)
    )


def update_user(user, role, active, confirmed, actor):
    """Apply an admin's edit, refusing one that removes the last active admin."""
    loses_admin = (
        user.is_admin and user.active and (not role.has_permission(Permission.ADMIN) or not active)
    )
    if loses_admin and user.id == actor.id:
        raise AdminRuleError("You cannot remove your own admin access or deactivate yourself.")
    if loses_admin and active_admin_count() <= 1:
        raise AdminRuleError("This is the last active admin: make another admin first.")
    changes = []
    if user.role_id != role.id:
        changes.append(f"role {user.role.name if user.role else 'none'} -> {role.name}")
    if user.active != active:
        changes.append("activated" if active else "deactivated")
        if not active:  # a deactivated account's tokens stay dead if it is activated again
            ApiToken.revoke_all(user)
            changes.append("API tokens revoked")
    if user.confirmed != confirmed:
        changes.append("confirmed" if confirmed else "unconfirmed")
    user.role, user.active, user.confirmed = role, active, confirmed
    if changes:
        audit("user_update", target=f"{user.email}: {', '.join(changes)}", actor=actor)
    db.session.commit()
    return changes


def delete_user(user, actor):
    """Delete an account and its files, refusing to delete oneself or the last admin."""
    if user.id == actor.id:
        raise AdminRuleError("You cannot delete your own account here.")
    if user.is_admin and user.active and active_admin_count() <= 1:
        raise AdminRuleError("This is the last active admin: make another admin first.")
    remove_account(user, "user_delete", actor)


def delete_own_account(user):
    """A person deletes their own account (their password checked by the form): the same
    as an admin's delete, and the admins are told. The last active admin cannot."""
    if user.is_admin and user.active and active_admin_count() <= 1:
        raise AdminRuleError(
            "You are the last active admin: make someone else an admin first, then delete"
            " your account."
        )
    email, name = user.email, user.name
    remove_account(user, "account_delete", user)
    send_account_deleted_notice(email, name)


def remove_account(user, action, actor):
    """Every file and conversion of `user`, then the account (its sessions and tokens go
    with it); the audit event keeps the address."""
    conversions.delete_all(user)  # one at a time: a storage outage midway leaves each whole
    batches.delete_all(user)  # the database may not cascade (SQLite: see models.py)
    audit(action, target=user.email, actor=actor)
    db.session.delete(user)
    db.session.commit()


SORTS = {
    "newest": User.created_at.desc(),
    "oldest": User.created_at.asc(),
    "email": User.email.asc(),
    "name": User.name.asc(),
    "seen": User.last_seen_at.desc(),
}


def user_query(search="", sort="newest"):
    query = select(User)
    if search:  # a part of the address or name, % and _ as typed (not LIKE's wildcards)
        text = search.strip().lower()
        query = query.where(
            or_(
                func.lower(User.email).contains(text, autoescape=True),
                func.lower(User.name).contains(text, autoescape=True),
            )
        )
    return query.order_by(SORTS.get(sort, SORTS["newest"]), User.id.desc())
