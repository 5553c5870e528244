"""Configuration classes, one per environment; FLASK_CONFIG picks one.

Values come from the environment with safe defaults. Nothing here may fail at
import time: required production secrets are checked in ProductionConfig.init_app.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import click

BASE_DIR = Path(__file__).resolve().parent


def env_str(name, default=None):
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name, default):
    value = env_str(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:  # refused when an app is made: importing config.py must not fail
        UNUSABLE.append(f"{name} must be a whole number, not {value!r}.")
        return default


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_log_level(name, default):
    value = (env_str(name) or default).upper()
    if value not in LOG_LEVELS:
        UNUSABLE.append(f"{name} must be one of {', '.join(LOG_LEVELS)}, not {value!r}.")
        return default
    return value


# Environment settings that could not be read; create_app() refuses to start on any of them.
UNUSABLE = []


def refuse_unusable_settings():
    if UNUSABLE:
        raise SettingError(" ".join(UNUSABLE))


def env_bool(name, default=False):
    value = env_str(name)
    if value is None:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_list(name):
    return [item.strip() for item in (env_str(name) or "").split(",") if item.strip()]


class SettingError(click.ClickException, RuntimeError):
    """A setting that cannot work: the app refuses to start and says which one and why.
    A ClickException, so that `flask <command>` prints the message alone, not a traceback."""


def database_url():
    url = env_str("DATABASE_URL")
    # Heroku-style URLs say postgres://, which SQLAlchemy no longer accepts; a bare
    # postgresql:// means psycopg2 to SQLAlchemy, and we install psycopg (3).
    for prefix in ("postgres://", "postgresql://"):
        if url and url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    SECRET_KEY = env_str("SECRET_KEY")
    SITE_NAME = "Sheetport"

    # None means "SQLite in the instance folder", filled in by create_app.
    SQLALCHEMY_DATABASE_URI = database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Mail. No MAIL_SERVER: emails are written to the log instead of sent.
    MAIL_SERVER = env_str("MAIL_SERVER")
    MAIL_PORT = env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS")
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL")
    MAIL_USERNAME = env_str("MAIL_USERNAME")
    MAIL_PASSWORD = env_str("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = env_str("MAIL_DEFAULT_SENDER", "Sheetport <noreply@example.com>")
    MAIL_SUBJECT_PREFIX = "[Sheetport] "
    MAIL_SEND_SYNC = False
    # Receives new-registration and contact-form emails; when unset, every admin does.
    ADMIN_EMAIL = env_str("ADMIN_EMAIL")

    # Uploads: the request limit, then per-user limits (used by the convert flows).
    MAX_CONTENT_LENGTH = env_int("MAX_UPLOAD_MB", 50) * 1024 * 1024
    UPLOAD_LIMIT_ANONYMOUS_MB = env_int("UPLOAD_LIMIT_ANONYMOUS_MB", 10)
    UPLOAD_LIMIT_USER_MB = env_int("UPLOAD_LIMIT_USER_MB", 50)
    # What one owner may keep stored (uploads and results until they expire), and all
    # visitors together (0: no bound), so that nobody can fill the disk (app/quotas.py).
    STORAGE_QUOTA_ANONYMOUS_MB = env_int("STORAGE_QUOTA_ANONYMOUS_MB", 50)
    STORAGE_QUOTA_USER_MB = env_int("STORAGE_QUOTA_USER_MB", 500)
    VISITORS_STORAGE_MB = env_int("VISITORS_STORAGE_MB", 2048)
    RETENTION_HOURS = env_int("RETENTION_HOURS", 24)
    ALLOW_ANONYMOUS_CONVERT = env_bool("ALLOW_ANONYMOUS_CONVERT", True)
    SITE_NOTICE = env_str("SITE_NOTICE", "")
    UPLOAD_FOLDER = env_str("UPLOAD_FOLDER")  # None: instance/files
    CONVERSION_WORKERS = env_int("CONVERSION_WORKERS", 2)
    CONVERSION_MAX_SECONDS = env_int("CONVERSION_MAX_SECONDS", 900)
    CONVERSION_MAX_MEMORY_MB = env_int("CONVERSION_MAX_MEMORY_MB", 4096)
    # Reading an upload (or another sheet's preview) happens while the browser waits: it is
    # stopped after this many seconds, well under gunicorn's 30-second worker timeout.
    UPLOAD_READ_SECONDS = env_int("UPLOAD_READ_SECONDS", 10)
    CLEANUP_INTERVAL_MINUTES = env_int("CLEANUP_INTERVAL_MINUTES", 10)
    # The public address every emailed link is built from (never the request's Host).
    # Development without it: the address the server is being reached on (urls.site_url).
    SITE_URL = env_str("SITE_URL")
    # Host names the app answers to (a request for another host gets a 400); None: any.
    # Production always adds SITE_URL's host.
    TRUSTED_HOSTS = env_list("TRUSTED_HOSTS") or None
    # A running or queued job holds a lease its runner renews every quarter of this; when it
    # lapses (the runner died), any process fails the job or, if it never started, requeues it.
    JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60)
    JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)  # runs of a job whose runner keeps dying
    # Mail: seconds to wait on the SMTP server, and how often to retry a message it refused.
    MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 10)
    MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 8)
    # How long a request waits for its email's first try, to tell the truth about it.
    MAIL_WAIT_SECONDS = env_int("MAIL_WAIT_SECONDS", 2)
    CONVERSIONS_PER_PAGE = 20

    # Scaling out (see docs/operations.md, "Scaling out"); unset, everything stays in this process/folder.
    # s3://bucket/prefix: stored files go to that bucket; UPLOAD_FOLDER keeps only temporary
    # files. The endpoint is for S3-compatible servers; unset keys: boto3's usual sources.
    STORAGE_URL = env_str("STORAGE_URL")
    S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
    S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
    S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")
    S3_REGION = env_str("S3_REGION", "us-east-1")
    S3_MAX_ATTEMPTS = env_int("S3_MAX_ATTEMPTS", 5)  # tries per request to the bucket
    # redis://host:port/db: conversions go to this RQ queue, run by `flask worker`.
    QUEUE_URL = env_str("QUEUE_URL")
    QUEUE_NAME = env_str("QUEUE_NAME", "sheetport")
    # RQ's limit on one job (seconds); 0: CONVERSION_MAX_SECONDS plus two minutes.
    QUEUE_JOB_TIMEOUT = env_int("QUEUE_JOB_TIMEOUT", 0)

    # Sessions and cookies.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_NAME = "remember_token"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    SESSION_PROTECTION = env_str("SESSION_PROTECTION", "basic")
    PERMANENT_SESSION_LIFETIME = timedelta(days=7)

    # Signed links in emails.
    CONFIRM_TOKEN_MAX_AGE = env_int("CONFIRM_TOKEN_HOURS", 48) * 3600
    RESET_TOKEN_MAX_AGE = env_int("RESET_TOKEN_MINUTES", 60) * 60
    PASSWORD_HASH_METHOD = "scrypt"

    # Rate limits (Flask-Limiter syntax). The default keeps the counters in the database, so
    # every process (gunicorn --workers N) shares them; redis:// is faster when there is one.
    # memory:// counts per process: the app warns at start when it is used outside tests.
    RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", "sheetport+db://")
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # While the counters' store (Redis) is down, count in this process's memory (logged)
    # rather than answer every limited page with an error.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_LIMIT_PER_ADDRESS = env_str("LOGIN_LIMIT_PER_ADDRESS", "20 per minute;200 per day")
    LOGIN_LIMIT_PER_ACCOUNT = env_str("LOGIN_LIMIT_PER_ACCOUNT", "5 per minute;50 per day")
    CONTACT_LIMIT = env_str("CONTACT_LIMIT", "5 per hour")
    # Uploads and conversions started, per account (or API token), else per client address;
    # the web and the API count together (app/decorators.py).
    UPLOAD_RATE_LIMIT = env_str("UPLOAD_RATE_LIMIT", "20 per minute;300 per day")
    CONVERT_RATE_LIMIT = env_str("CONVERT_RATE_LIMIT", "30 per minute;600 per day")
    # Every view that sends mail shares these counters (see app/decorators.py).
    MAIL_LIMIT_PER_ADDRESS = env_str("MAIL_LIMIT_PER_ADDRESS", "10 per hour;30 per day")
    MAIL_LIMIT_PER_ACCOUNT = env_str("MAIL_LIMIT_PER_ACCOUNT", "5 per hour;20 per day")
    MAIL_LIMIT_PER_MAILBOX = env_str("MAIL_LIMIT_PER_MAILBOX", "3 per hour;10 per day")

    # The JSON API (/api/v1). Rate limit per token, Flask-Limiter syntax.
    API_RATE_LIMIT = env_str("API_RATE_LIMIT", "120 per minute;5000 per day")
    API_AUTH_FAILURE_LIMIT = env_str("API_AUTH_FAILURE_LIMIT", "30 per minute;300 per day")
    # One-shot /api/v1/convert answers 202 + Location above this size, or after this wait.
    API_ONE_SHOT_MAX_MB = env_int("API_ONE_SHOT_MAX_MB", 20)
    # Well under the WSGI server's timeout (gunicorn's default is 30 s): past it, a 202.
    API_ONE_SHOT_WAIT_SECONDS = env_int("API_ONE_SHOT_WAIT_SECONDS", 20)
    # Origins allowed to call /api/ from a browser (CORS); empty: CORS is off.
    API_CORS_ORIGINS = [o for o in (env_str("API_CORS_ORIGINS") or "").split() if o]

    # Files one batch may hold (several chosen at once, or the entries of a zip).
    BATCH_MAX_FILES = env_int("BATCH_MAX_FILES", 50)
    # Webhooks (app/webhooks.py): each attempt's time limit, and the waits before each retry
    # (about 8.5 hours in all) after a receiver did not answer 2xx.
    WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
    WEBHOOK_RETRY_SECONDS = (30, 120, 600, 1800, 7200, 21600)
    # Addresses users give Sheetport to call (app/outbound.py) must be public ones, unless
    # the operator allows every private address, or these hosts ("host" or "host:port").
    OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", False)
    OUTBOUND_ALLOWED_HOSTS = env_list("OUTBOUND_ALLOWED_HOSTS")
    # Import from a URL (app/url_import.py): the hosts the API may fetch a file from, by
    # name or fnmatch pattern ("*.example.com"; "*" for any); empty: URL import is off. The
    # address rules above still apply to every host and redirect.
    URL_IMPORT_HOSTS = env_list("URL_IMPORT_HOSTS")
    # The download runs in the request: well under the WSGI server's timeout (gunicorn: 30 s).
    URL_IMPORT_TIMEOUT_SECONDS = env_int("URL_IMPORT_TIMEOUT_SECONDS", 20)

    # Number of reverse proxies in front of the app whose X-Forwarded-* to trust.
    TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)

    # The app's log level. INFO says what cleanup removed and which jobs were taken over;
    # a server that sets no level (gunicorn) would otherwise keep only warnings.
    LOG_LEVEL = env_log_level("LOG_LEVEL", "INFO")

    USERS_PER_PAGE = 25
    AUDIT_PER_PAGE = 50
    MESSAGES_PER_PAGE = 25
    ADMIN_CONVERSIONS_PER_PAGE = 25
    # Site settings (admin, Settings) are kept this long in each process: every page shows
    # some, and reading them was most of the database work of a page that needs no other.
    SETTINGS_CACHE_SECONDS = env_int("SETTINGS_CACHE_SECONDS", 5)

    @classmethod
    def init_app(cls, app):
        pass


class DevelopmentConfig(Config):
    TEMPLATES_AUTO_RELOAD = True

    @classmethod
    def init_app(cls, app):
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = instance_secret_key(Path(app.instance_path))


class TestingConfig(Config):
    TESTING = True
    SITE_URL = "http://sheetport.test"
    SECRET_KEY = "testing-secret-key"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    MAIL_SERVER = "localhost"
    MAIL_SUPPRESS_SEND = True
    MAIL_SEND_SYNC = True
    ADMIN_EMAIL = "admin@example.com"
    RATELIMIT_ENABLED = False
    CLEANUP_INTERVAL_MINUTES = 0
    # Hashing cost is not what the tests are about; keep them quick.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    SITE_URL = env_str("SITE_URL")  # required: see init_app

    @classmethod
    def init_app(cls, app):
        if not app.config.get("SECRET_KEY"):
            raise SettingError(
                "SECRET_KEY is not set. Production refuses to start without it: "
                'generate one with: python -c "import secrets; print(secrets.token_hex(32))"'
            )
        host = site_host(app.config.get("SITE_URL"))
        if host is None:
            raise SettingError(
                "SITE_URL is not set (or is not an http(s) address). Production refuses to "
                "start without it: emailed links are built from it. Example: "
                "SITE_URL=https://sheetport.example.org"
            )
        trusted = list(app.config.get("TRUSTED_HOSTS") or [])
        app.config["TRUSTED_HOSTS"] = trusted if host in trusted else [host, *trusted]


def site_host(site_url):
    """The host name of an http(s) SITE_URL, or None when it is not one."""
    parts = urlsplit(site_url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname


def instance_secret_key(instance_path):
    """Read the development secret key from the instance folder, creating it once."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.touch(mode=0o600)
    key_file.write_text(key)
    return key


config = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
    "default": DevelopmentConfig,
}
