"""Decorators for views: the limits on views that send mail, upload or convert."""

import hashlib
import time
from functools import wraps

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse_many
from werkzeug.exceptions import TooManyRequests

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


def open_to_unconfirmed(view):
    """A page a signed-in user whose address is not confirmed yet may still see (the gate
    is auth's track_and_gate_user)."""
    view.open_to_unconfirmed = True
    return view


def client_key():
    """Who is asking: an API token (by a digest of its secret, before any lookup), else the
    signed-in account, else the client's address."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    if current_user.is_authenticated:
        return f"account:{current_user.id}"
    return "address:" + get_remote_address()


def rate_limited(setting, scope, methods=("POST",)):
    """Limit a view by the config `setting` (Flask-Limiter syntax) per client_key(): views
    that name the same `scope` count together, web and API alike. Checked here with the
    limiter's own storage and strategy, not as a Flask-Limiter route limit: that would
    move the API blueprint's own limits from before the token check into the view. A 429
    says when to try again; a counter store that fails lets the request through (logged),
    as Flask-Limiter's fallback does."""

    def decorator(view):
        @wraps(view)
        def limited(*args, **kwargs):
            if request.method in methods and current_app.config["RATELIMIT_ENABLED"]:
                refuse_past_limit(current_app.config[setting], scope)
            return view(*args, **kwargs)

        return limited

    return decorator


def charge(setting, scope, hits, why=""):
    """Count `hits` more against the limit a rate_limited view has already counted once:
    a batch of N files counts as N uploads. A 429 (saying `why`) if they do not all fit;
    then none of them is counted, so a batch too large for what is left does not also use
    up what single uploads still may."""
    if hits > 0 and current_app.config["RATELIMIT_ENABLED"]:
        refuse_past_limit(current_app.config[setting], scope, cost=hits, why=why)


def refuse_past_limit(limit_value, scope, cost=1, why=""):
    key = client_key()
    strategy = limiter.limiter
    try:
        items = parse_many(limit_value)
        if cost > 1:  # all of them or none: test every window before counting in any
            for item in items:
                if not strategy.test(item, scope, key, cost=cost):
                    raise too_many(strategy, item, scope, key, why)
        for item in items:
            if not strategy.hit(item, scope, key, cost=cost):
                raise too_many(strategy, item, scope, key, why)
    except TooManyRequests:
        raise
    except Exception as error:  # noqa: BLE001 - the counters' store, not the request
        current_app.logger.error("Rate limit for %s not checked: %r", scope, error)


def too_many(strategy, item, scope, key, why=""):
    reset = strategy.get_window_stats(item, scope, key).reset_time
    wait = max(1, int(reset - time.time()) + 1)
    return TooManyRequests(
        f"Too many {scope} in a short time ({item}){why}. "
        f"Please wait {wait} seconds and try again.",
        retry_after=wait,
    )


def charge_batch(count):
    """A batch's files count as that many uploads (rate_limited counted the request as
    one): the `admit` that the views pass to batches.receive."""
    charge(
        "UPLOAD_RATE_LIMIT", "uploads", count - 1, f"; a batch of {count} files counts as {count}"
    )
