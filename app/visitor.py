"""Who is converting, from the request: the signed-in user, or the anonymous visitor's key
kept in their session. The web views resolve the owner here and hand it to the conversion
service (app/conversions.py), which never reads the request itself."""

import secrets

from flask import session
from flask_login import current_user

SESSION_KEY = "anonymous_key"
OPTIONS_KEY = "convert_options"


def owner(create=False):
    """The signed-in User, else the anonymous visitor's key (made if `create`), else None."""
    if current_user.is_authenticated:
        return current_user._get_current_object()
    if create and SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(24)
    return session.get(SESSION_KEY)


def anonymous_key():
    """The visitor's key in this session, if they have converted anything as a visitor."""
    return session.get(SESSION_KEY)


def remembered_options():
    """The visitor's last choices in the options form."""
    return session.get(OPTIONS_KEY, {})


def remember_options(**choices):
    session[OPTIONS_KEY] = {**remembered_options(), **choices}
