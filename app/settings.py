"""Site settings admins can change without a restart: stored in the database over config.py."""

import time

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
    "storage_quota_anonymous_mb": "STORAGE_QUOTA_ANONYMOUS_MB",
    "storage_quota_user_mb": "STORAGE_QUOTA_USER_MB",
    "retention_hours": "RETENTION_HOURS",
    "site_notice": "SITE_NOTICE",
}


def current(fresh=False):
    """Every setting. Every page shows some, so they are read once per request, and kept in
    the process for SETTINGS_CACHE_SECONDS: a page that needs no other query makes none.
    A change shows at once in the process that saved it, in the others within that time;
    `fresh` reads the database (the settings form, which must not show stale values)."""
    if "site_settings" in g and not fresh:
        return g.site_settings
    kept = current_app.extensions.setdefault("sheetport_settings", {})
    seconds = current_app.config["SETTINGS_CACHE_SECONDS"]
    if fresh or not kept or time.monotonic() - kept["read_at"] > seconds:
        values = {name: current_app.config[key] for name, key in DEFAULTS.items()}
        try:
            for setting in db.session.scalars(select(Setting)):
                if setting.key in values:
                    values[setting.key] = setting.value.get("value")
        except SQLAlchemyError:  # before the first migration: the defaults will do
            db.session.rollback()
            g.site_settings = values
            return values
        kept.update(values=values, read_at=time.monotonic())
    g.site_settings = dict(kept["values"])
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
    current_app.extensions.get("sheetport_settings", {}).clear()
    return changed
