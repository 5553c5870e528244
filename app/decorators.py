"""Decorators for views: permission checks and the limits on views that send mail."""

from functools import wraps

from flask import abort, current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from .extensions import limiter
from .models import Permission, normalise_email


def permission_required(permission):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def admin_required(view):
    return permission_required(Permission.ADMIN)(view)


def _accepted(response):
    # Only a form that was accepted (and so sent mail) counts against the limits.
    return response.status_code == 302


def _account_key():
    return f"account:{current_user.id}"


def _mailbox_key(target):
    def key():
        return f"mailbox:{normalise_email(target())}"

    return key


def form_email():
    return request.form.get("email", "")


def own_email():
    return current_user.email


def mail_limited(mailbox=None):
    """Limit a view that sends mail: per client address, per signed-in account and, when
    `mailbox` (a function giving the recipient) is given, per recipient. The counters are
    shared by every mail-sending view, so a stranger's inbox cannot be filled by taking
    turns between forms."""

    def config(name):
        return lambda: current_app.config[name]

    def decorator(view):
        limited = limiter.shared_limit(
            config("MAIL_LIMIT_PER_ADDRESS"),
            scope="mail-address",
            key_func=get_remote_address,
            methods=["POST"],
            deduct_when=_accepted,
        )(view)
        limited = limiter.shared_limit(
            config("MAIL_LIMIT_PER_ACCOUNT"),
            scope="mail-account",
            key_func=_account_key,
            methods=["POST"],
            deduct_when=_accepted,
            exempt_when=lambda: not current_user.is_authenticated,
        )(limited)
        if mailbox is not None:
            limited = limiter.shared_limit(
                config("MAIL_LIMIT_PER_MAILBOX"),
                scope="mail-mailbox",
                key_func=_mailbox_key(mailbox),
                methods=["POST"],
                deduct_when=_accepted,
            )(limited)
        limited.sends_mail = True  # tests find every mail-sending view by this mark
        return limited

    return decorator
