"""Decorators for views: the limits on views that send mail."""

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from .extensions import limiter
from .models import normalise_email


def _accepted(response):
    # Only a form that was accepted (and so sent mail) counts against the limits.
    return response.status_code == 302


def _signed_out():
    return not current_user.is_authenticated


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

    limits = [
        ("MAIL_LIMIT_PER_ADDRESS", "mail-address", get_remote_address, None),
        ("MAIL_LIMIT_PER_ACCOUNT", "mail-account", _account_key, _signed_out),
    ]
    if mailbox is not None:
        limits.append(("MAIL_LIMIT_PER_MAILBOX", "mail-mailbox", _mailbox_key(mailbox), None))

    def decorator(view):
        limited = view
        for setting, scope, key, exempt in limits:
            limited = limiter.shared_limit(
                config(setting),
                scope=scope,
                key_func=key,
                methods=["POST"],
                deduct_when=_accepted,
                exempt_when=exempt,
            )(limited)
        limited.sends_mail = True  # tests find every mail-sending view by this mark
        return limited

    return decorator
