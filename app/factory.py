"""The application factory: create_app() and the steps it runs."""

import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import config, refuse_unusable_settings

from . import cli, errors, jobs, periodic, ratelimit, security  # noqa: F401 (ratelimit: sheetport+db://)
from .extensions import csrf, db, limiter, login_manager, mail, migrate, moment
from .urls import BoundedIntConverter

PROJECT_DIR = Path(__file__).resolve().parent.parent


def create_app(config_name=None, overrides=None):
    """Build the app for `config_name` (default: FLASK_CONFIG, else development).

    `overrides` is a mapping applied over the config class, for tests and tools.
    """
    config_name = config_name or os.environ.get("FLASK_CONFIG") or "default"
    app = Flask(
        __name__,
        template_folder=str(PROJECT_DIR / "templates"),
        static_folder=str(PROJECT_DIR / "static"),
        instance_path=os.environ.get("SHEETPORT_INSTANCE_PATH") or str(PROJECT_DIR / "instance"),
    )
    configure(app, config[config_name], overrides or {})
    app.url_map.converters["int"] = BoundedIntConverter  # before any route is added
    security.guard_requests(app)  # first of the request hooks
    register_extensions(app)
    register_blueprints(app)
    jobs.init_app(app)
    periodic.init_app(app)
    errors.register(app)
    security.register(app)
    cli.register(app)
    register_template_helpers(app)
    register_shell_context(app)
    return app


def configure(app, config_class, overrides):
    refuse_unusable_settings()
    app.config.from_object(config_class)
    app.config.update(overrides)
    config_class.init_app(app)
    app.logger.setLevel(app.config["LOG_LEVEL"])
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        database = Path(app.instance_path) / "sheetport.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A SQLite connection is an open file, with no server to lose: its ping would be
        # one more query on every request for nothing.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.pop("pool_pre_ping", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if not app.config.get("UPLOAD_FOLDER"):
        app.config["UPLOAD_FOLDER"] = str(Path(app.instance_path) / "files")
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app):
    db.init_app(app)
    migrate.init_app(app, db)
    login_manager.session_protection = app.config["SESSION_PROTECTION"]
    login_manager.init_app(app)
    mail.init_app(app)
    moment.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)


def register_blueprints(app):
    from .admin import bp as admin_bp
    from .api.setup import init_app as init_api
    from .auth import bp as auth_bp
    from .convert import bp as convert_bp
    from .main import bp as main_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(convert_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    init_api(app)  # the JSON API and its pages (app/api/setup.py)


def register_template_helpers(app):
    from .sizes import format_size
    from .templating import (
        StaticVersions,
        cached_preview_table,
        field_attrs,
        form_field,
        form_state,
        invalid_fields,
        kept_block,
        preview_columns,
        table_cells,
        template_url_for,
        url_maker,
        when,
    )
    from .urls import site_url, site_url_for

    app.jinja_env.filters["filesize"] = format_size
    app.jinja_env.filters["table_cells"] = table_cells
    app.jinja_env.globals["site_url_for"] = site_url_for
    app.jinja_env.globals["site_url"] = site_url
    app.jinja_env.globals["field_attrs"] = field_attrs
    app.jinja_env.globals["form_field"] = form_field
    app.jinja_env.globals["invalid_fields"] = invalid_fields
    app.jinja_env.globals["when"] = when
    app.jinja_env.globals["url_maker"] = url_maker
    StaticVersions(app)
    app.jinja_env.globals["preview_table"] = cached_preview_table
    app.jinja_env.globals["preview_columns"] = preview_columns
    app.jinja_env.globals["kept_block"] = kept_block
    app.jinja_env.globals["form_state"] = form_state
    app.jinja_env.globals["url_for"] = template_url_for


def register_shell_context(app):
    from . import models

    @app.shell_context_processor
    def shell_context():
        return {
            "db": db,
            "User": models.User,
            "Role": models.Role,
            "Message": models.Message,
            "Conversion": models.Conversion,
        }
