"""Site settings admins can change without a restart: stored in the database over config.py."""

from flask import current_app, g
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import Setting

# name: the config key that gives its default
DEFAULTS = {
    "allow_anonymous": "ALLOW_ANONYMOUS_CONVERT",
    "upload_limit_anonymous_mb": "UPLOAD_LIMIT_ANONYMOUS_MB",
    "upload_limit_user_mb": "UPLOAD_LIMIT_USER_MB",
    "retention_hours": "RETENTION_HOURS",
    "site_notice": "SITE_NOTICE",
}


def current():
    """Every setting, read once per request."""
    if "site_settings" not in g:
        values = {name: current_app.config[key] for name, key in DEFAULTS.items()}
        try:
            for setting in db.session.scalars(select(Setting)):
                if setting.key in values:
                    values[setting.key] = setting.value.get("value")
        except SQLAlchemyError:  # before the first migration: the defaults will do
            db.session.rollback()
        g.site_settings = values
    return g.site_settings


def get(name):
    return current()[name]


def save(values):
    """Store changed values; returns the names that changed."""
    changed = []
    old = current()
    for name, value in values.items():
        if name in DEFAULTS and old.get(name) != value:
            row = db.session.get(Setting, name) or Setting(key=name)
            row.value = {"value": value}
            db.session.add(row)
            changed.append(name)
    g.pop("site_settings", None)
    return changed
