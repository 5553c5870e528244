"""Extension objects, created without an app and bound in create_app()."""

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_moment import Moment
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def render_migration_type(type_, obj, autogen_context):
    """Write our UTCDateTime as a plain DateTime, so migrations do not import the app."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime()"
    return False


class SheetportLoginManager(LoginManager):
    """Flask-Login deletes the remember-me cookie with none of the attributes it was set
    with: the deletion then lacks Secure in production, and a browser may ignore a Secure
    cookie's deletion sent without it."""

    def _clear_cookie(self, response):
        config = current_app.config
        response.delete_cookie(
            config.get("REMEMBER_COOKIE_NAME", "remember_token"),
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
            secure=config.get("REMEMBER_COOKIE_SECURE", False),
            httponly=config.get("REMEMBER_COOKIE_HTTPONLY", True),
            samesite=config.get("REMEMBER_COOKIE_SAMESITE"),
        )


db = SQLAlchemy(model_class=Base)
# Batch mode lets SQLite alter tables.
migrate = Migrate(render_as_batch=True, render_item=render_migration_type)
login_manager = SheetportLoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"
login_manager.refresh_view = "auth.login"
login_manager.needs_refresh_message = "Please log in again to continue."
login_manager.needs_refresh_message_category = "info"
mail = Mail()
moment = Moment()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
