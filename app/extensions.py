"""Extension objects, created without an app and bound in create_app()."""

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


db = SQLAlchemy(model_class=Base)
# Batch mode lets SQLite alter tables.
migrate = Migrate(render_as_batch=True, render_item=render_migration_type)
login_manager = LoginManager()
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
