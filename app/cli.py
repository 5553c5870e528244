"""flask commands for administrators: setup, create-admin, cleanup."""

import functools
import secrets
import sys
from urllib.parse import urlsplit, urlunsplit

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import ScriptInfo
from sqlalchemy import make_url, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from .exceptions import Unavailable, lacks_tables
from .extensions import db

DEFAULT_ADMIN_EMAIL = "admin@example.com"


def make_admin(email, password):
    """Create an admin account, or promote an existing one; returns (user, created)."""
    from .models import Role, User

    Role.insert_roles()
    admin_role = Role.admin_role()
    user = User.by_email(email)
    created = user is None
    if created:
        user = User(email=User.normalise_email(email), name="Administrator", role=admin_role)
    user.role = admin_role
    user.confirmed = True
    user.active = True
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user, created


def admin_exists():
    from .models import Permission, Role, User

    query = select(User.id).join(User.role).where(Role.permissions.op("&")(Permission.ADMIN) != 0)
    return db.session.scalar(query.limit(1)) is not None


def checked_email(email):
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None


def without_password(url):
    """A service's address as it may be shown: its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def plain_failures(app, callback):
    """A command that fails for its setting up rather than for a bug (the database cannot be
    reached or has no tables yet, storage or a folder cannot be used) ends with one line that
    says so and exit status 1, not a traceback."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except (OperationalError, ProgrammingError) as error:
            if isinstance(error, ProgrammingError) and not lacks_tables(error):
                raise  # a bug in a statement: its traceback helps
            raise click.ClickException(database_problem(app, error)) from error
        except Unavailable as error:
            raise click.ClickException(f"{error.reason()}: try again when it is back.") from error
        except OSError as error:
            where = f" ({error.filename})" if error.filename else ""
            raise click.ClickException(f"{error.strerror or error}{where}.") from error

    return run


def unreachable_database_in_one_line(callback):
    """For Flask-Migrate's commands, which every app shares: a database that cannot be
    reached ends the command with one line and exit status 1. An error while a migration
    runs keeps its traceback, which names the statement that failed."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except OperationalError as error:
            info = click.get_current_context().find_object(ScriptInfo)
            if error.statement is not None or info is None:  # not a failure to connect
                raise
            raise click.ClickException(database_problem(info.load_app(), error)) from error

    run.said_plainly = True
    return run


def database_problem(app, error):
    address = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    cause = error.orig if error.orig is not None else error
    if lacks_tables(error):
        return (
            f"The database at {address} is not set up for this version of Sheetport: "
            "run `flask db upgrade`, then try again."
        )
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"Cannot use the database at {address}: {first_line}"


def register(app):
    others = set(app.cli.commands)

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def create_admin(email, password_stdin):
        """Create an admin account for EMAIL (or make that account an admin)."""
        email = checked_email(email)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(password) < 8:
            raise click.UsageError("The password must be at least 8 characters long.")
        user, created = make_admin(email, password)
        click.echo(f"{'Created' if created else 'Updated'} admin account {user.email}.")

    @app.cli.command("cleanup")
    def cleanup():
        """Delete expired conversions and their files, fail jobs whose runner died, and
        remove files no row owns (the app also does this every few minutes)."""
        from . import batches, conversions, jobs

        try:
            # Jobs that never started are left to the web processes' runners to queue
            # again: run here, they would keep this command waiting until they finished.
            interrupted = jobs.reclaim_expired(requeue=False)
            if interrupted:
                click.echo(
                    f"Reclaimed {interrupted} job{'' if interrupted == 1 else 's'} "
                    "whose runner died."
                )
            count = conversions.cleanup(requeue=False)
            click.echo(f"Deleted {count} expired conversion{'' if count == 1 else 's'}.")
            batches.cleanup()  # the batches left with no file
            removed = conversions.sweep_files()
        except Unavailable as error:
            db.session.rollback()
            raise click.ClickException(
                f"Cleanup stopped: {error.reason()}. Nothing is left half-deleted (each "
                "conversion goes whole: its files, then its row); run it again when it is back."
            ) from error
        click.echo(f"Removed {len(removed)} orphaned file{'' if len(removed) == 1 else 's'}.")
        for name in removed:
            click.echo(f"  {name}")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    @click.option("--name", help="The worker's name in Redis (default: a random one).")
    def worker(burst, name):
        """Run conversions from the queue at QUEUE_URL (start any number, on any machine)."""
        from . import jobs

        if not app.config.get("QUEUE_URL"):
            raise click.UsageError(
                "QUEUE_URL is not set: without a queue, conversions run inside the web "
                "process and no worker is needed. Example: QUEUE_URL=redis://localhost:6379/0"
            )
        try:
            jobs.work(app, burst=burst, name=name)
        except jobs.QueueUnavailable as error:
            raise click.ClickException(
                f"The worker cannot start: {error.reason()} at "
                f"{without_password(app.config['QUEUE_URL'])}. Start Redis there, "
                "or correct QUEUE_URL."
            ) from error

    @app.cli.command("send-mail")
    def send_mail():
        """Send the emails that are due: new ones and retries of those the server refused."""
        from .email import send_pending_mail

        sent, failed = send_pending_mail()
        click.echo(
            f"Sent {sent} email{'' if sent == 1 else 's'}; {failed} failed and will be retried."
        )

    @app.cli.command("setup")
    def setup():
        """Create the roles, and a first admin account if there is none."""
        from .models import Role

        Role.insert_roles()
        if admin_exists():
            click.echo("Roles are up to date; an admin account exists.")
            return
        email = app.config.get("ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL
        password = secrets.token_urlsafe(12)
        make_admin(email, password)
        click.echo(
            "\n  First admin account created (shown once; change the password after login):\n"
            f"    email:    {email}\n    password: {password}\n"
        )

    @app.cli.command("check-deploy")
    def check_deploy():
        """List settings that are unsafe for a public deployment; exit 1 if any is an error."""
        from .deploy import ERROR, deployment_problems

        problems = deployment_problems(app.config)
        for level, message in problems:
            click.echo(f"{level.upper()}: {message}")
        errors = sum(level == ERROR for level, _ in problems)
        click.echo(
            f"{errors} error{'' if errors == 1 else 's'}, "
            f"{len(problems) - errors} warning{'' if len(problems) - errors == 1 else 's'}."
        )
        if errors:
            raise SystemExit(1)

    # The commands made here, for this app; Flask-Migrate's (flask db ...) are shared by
    # every app, so they are wrapped once, for whichever app the command line loads.
    for name in set(app.cli.commands) - others:
        app.cli.commands[name].callback = plain_failures(app, app.cli.commands[name].callback)
    migrate_commands = getattr(app.cli.commands.get("db"), "commands", {})
    for command in migrate_commands.values():
        if not getattr(command.callback, "said_plainly", False):
            command.callback = unreachable_database_in_one_line(command.callback)
