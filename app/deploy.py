"""`flask check-deploy`: the settings that make a production deployment unsafe, in the spirit
of Django's `check --deploy`. Each check reads the app's config and nothing else."""

from config import site_host

ERROR, WARNING = "error", "warning"
WEAK_KEYS = {"testing-secret-key", "secret", "changeme", "dev", "development"}


def deployment_problems(config):
    """A list of (level, message) for the config; errors make the deployment unsafe."""
    problems = []

    def error(message):
        problems.append((ERROR, message))

    def warning(message):
        problems.append((WARNING, message))

    key = config.get("SECRET_KEY") or ""
    if len(key) < 32 or key in WEAK_KEYS:
        error(
            "SECRET_KEY is missing or short: use 32 random bytes or more (secrets.token_hex(32))."
        )
    site_url = config.get("SITE_URL") or ""
    if site_host(site_url) is None:
        error("SITE_URL is not set: emailed links need the site's public address.")
    elif not site_url.startswith("https://"):
        error(f"SITE_URL is {site_url}: serve the site over HTTPS and say so here.")
    if not config.get("TRUSTED_HOSTS"):
        error("TRUSTED_HOSTS is empty: the app answers any Host header (production sets it).")
    if config.get("DEBUG"):
        error("DEBUG is on: the debugger runs code for whoever reaches an error page.")
    if not config.get("SESSION_COOKIE_SECURE") or not config.get("REMEMBER_COOKIE_SECURE"):
        error("Session cookies are not marked Secure: they would travel over plain HTTP.")
    if not config.get("RATELIMIT_ENABLED", True):
        error("Rate limits are off: logins and mail can be hammered.")
    if counts_in_memory(config.get("RATELIMIT_STORAGE_URI")):
        warning(
            "RATELIMIT_STORAGE_URI is memory://: each process counts on its own. With several "
            "processes or machines, use a shared store (redis://...)."
        )
    if not config.get("MAIL_SERVER"):
        error(
            "MAIL_SERVER is not set: emails, with their sign-in and reset links, are written "
            "to the log instead of sent."
        )
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        warning("The database is SQLite: fine for one machine; use PostgreSQL to grow.")
    if site_url.startswith("https://") and not config.get("TRUSTED_PROXIES"):
        warning(
            "TRUSTED_PROXIES is 0: behind a reverse proxy that terminates TLS, set it to the "
            "number of proxies so client addresses (rate limits, audit log) are right."
        )
    return problems


def counts_in_memory(storage_uri):
    """Whether a rate-limit storage URI counts in each process's memory. The limits library
    reads the scheme in any case ("MEMORY://"), and none at all means memory."""
    scheme = str(storage_uri or "memory://").partition("://")[0].strip().lower()
    return scheme in ("memory", "async+memory")


def log_per_process_warnings(app):
    """Log per_process_warnings() once per process: as it starts under wsgi.py (before
    gunicorn forks, with --preload), else on its first request (app/periodic.py)."""
    if app.extensions.get("per_process_warnings_logged"):
        return
    app.extensions["per_process_warnings_logged"] = True
    for warning in per_process_warnings(app):
        app.logger.warning(warning)


def per_process_warnings(app):
    """Settings that hold only while one process serves the site (for the start-up log and
    a deployment check)."""
    warnings = []
    storage_uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if app.config.get("RATELIMIT_ENABLED") and counts_in_memory(storage_uri):
        warnings.append(
            "Rate limits are counted in this process's memory (RATELIMIT_STORAGE_URI="
            f"{storage_uri}): with several processes each counts on its own. Use the default "
            "(sheetport+db://) or redis:// when running more than one."
        )
    if app.config.get("QUEUE_URL"):
        if not app.config.get("STORAGE_URL"):
            warnings.append(
                "QUEUE_URL is set but STORAGE_URL is not: every worker must see this "
                f"UPLOAD_FOLDER ({app.config['UPLOAD_FOLDER']}), so run them on this machine "
                "or on a shared file system, or set STORAGE_URL=s3://bucket/prefix."
            )
        if app.config.get("SQLALCHEMY_DATABASE_URI", "").startswith("sqlite"):
            warnings.append(
                "QUEUE_URL is set but the database is SQLite: workers on other machines "
                "cannot reach it. Set DATABASE_URL=postgresql://... to scale out."
            )
    return warnings
