"""Conversions run off the request thread.

The default runner is a thread pool inside the web process; each conversion itself runs in
a child process with memory and time limits (app.sheets' sandbox), so a runaway file cannot
take the web process down. Status and progress live in the database, so any process can
answer for a job. A queue such as RQ can replace `InProcessRunner` behind `submit()`
without touching the views: it only needs to call `run_conversion(app, id)` in a worker.
"""

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import Conversion, utcnow
from .sheets import DEFAULT_LIMITS, Options, SheetError, convert
from .storage import Storage, download_name

PROGRESS_WRITE_INTERVAL = 0.5  # seconds between progress updates in the database
RUNNER_ID = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def storage(app=None):
    return Storage((app or current_app).config["UPLOAD_FOLDER"])


class InProcessRunner:
    def __init__(self, app):
        self.app = app
        self.executor = ThreadPoolExecutor(
            max_workers=app.config["CONVERSION_WORKERS"], thread_name_prefix="conversion"
        )

    def submit(self, conversion_id):
        return self.executor.submit(run_conversion, self.app, conversion_id)


def init_app(app):
    app.extensions["sheetport_jobs"] = InProcessRunner(app)
    state = {"started": False, "lock": threading.Lock()}

    @app.before_request
    def start_once():
        # Work that must happen once per process but not inside create_app().
        if state["started"]:
            return
        with state["lock"]:
            if not state["started"]:
                state["started"] = True
                try:
                    recover_interrupted()
                except SQLAlchemyError:  # no tables yet (a page before `flask db upgrade`)
                    db.session.rollback()
                    app.logger.exception("Could not check for interrupted conversions")
                if app.config["CLEANUP_INTERVAL_MINUTES"]:
                    start_cleanup_timer(app)


def start(conversion, options, notify=False):
    """Turn an uploaded file into a queued job."""
    conversion.options = options
    conversion.output_format = options["format"]
    conversion.status = Conversion.QUEUED
    conversion.error = None
    conversion.progress_done = 0
    conversion.progress_total = 0
    conversion.notify = notify
    conversion.runner = RUNNER_ID
    db.session.commit()
    return current_app.extensions["sheetport_jobs"].submit(conversion.id)


def run_conversion(app, conversion_id):
    with app.app_context():
        conversion = db.session.get(Conversion, conversion_id)
        if conversion is None or conversion.status != Conversion.QUEUED:
            return
        conversion.status = Conversion.RUNNING
        conversion.started_at = utcnow()
        db.session.commit()
        files = storage(app)
        result_name = files.new_name(result_extension(conversion))
        try:
            result = convert(
                files.path(conversion.stored_name),
                files.path(result_name),
                Options(**conversion.options),
                progress=progress_writer(app, conversion.id),
                limits=engine_limits(app),
                isolate=True,
            )
        except SheetError as error:
            if gone(conversion_id, files, result_name):
                return
            finish(conversion, Conversion.FAILED, error=str(error))
        except Exception:
            app.logger.exception("Conversion %s failed", conversion.public_id)
            files.delete(result_name)
            finish(conversion, Conversion.FAILED, error="Something went wrong on our side.")
        else:
            if gone(conversion_id, files, result_name):
                return
            conversion.result_stored_name = result_name
            conversion.result_size = files.path(result_name).stat().st_size
            # One sheet out of several is named after it: "report - Sheet 1.csv".
            one_of_several = len(result.sheets) == 1 and len(conversion.info.get("sheets", [])) > 1
            conversion.result_name = download_name(
                conversion.original_name,
                result_extension(conversion),
                result.sheets[0] if one_of_several else None,
            )
            conversion.rows = result.rows
            conversion.warnings = result.warnings
            finish(conversion, Conversion.DONE)
        notify_if_slow(app, conversion)


def gone(conversion_id, files, result_name):
    """True (and the result deleted) if the conversion was deleted while it ran."""
    db.session.rollback()  # see the database as it is now
    if db.session.scalar(select(Conversion.id).where(Conversion.id == conversion_id)) is None:
        files.delete(result_name)
        return True
    return False


def finish(conversion, status, error=None):
    conversion.status = status
    conversion.error = error
    conversion.finished_at = utcnow()
    db.session.commit()


def result_extension(conversion):
    options = conversion.options
    several = options.get("all_sheets") or len(options.get("sheets") or []) > 1
    if options["format"] != "xlsx" and several:
        return "zip"
    return options["format"]


def progress_writer(app, conversion_id):
    last = [0.0]

    def write(done, total):
        now = time.monotonic()
        if now - last[0] < PROGRESS_WRITE_INTERVAL and done < total:
            return
        last[0] = now
        with app.app_context():
            db.session.execute(
                update(Conversion)
                .where(Conversion.id == conversion_id)
                .values(progress_done=done, progress_total=total)
            )
            db.session.commit()

    return write


def engine_limits(app):
    return DEFAULT_LIMITS.__class__(
        **{
            **DEFAULT_LIMITS.__dict__,
            "max_seconds": app.config["CONVERSION_MAX_SECONDS"],
            "max_memory_bytes": app.config["CONVERSION_MAX_MEMORY_MB"] * 2**20,
        }
    )


def notify_if_slow(app, conversion):
    if not conversion.notify or conversion.user is None or conversion.started_at is None:
        return
    if conversion.finished_at - conversion.started_at < timedelta(seconds=60):
        return
    from .email import send_email
    from .urls import site_url_for

    send_email(
        conversion.user.email,
        "Your conversion is ready"
        if conversion.status == Conversion.DONE
        else "Your conversion failed",
        "conversion_done",
        conversion=conversion,
        link=site_url_for("convert.show", public_id=conversion.public_id),
    )


def recover_interrupted():
    """Jobs this process's predecessors left queued or running will never finish: say so."""
    host = socket.gethostname()
    stuck = db.session.scalars(
        select(Conversion).where(Conversion.status.in_([Conversion.QUEUED, Conversion.RUNNING]))
    )
    changed = False
    for conversion in stuck:
        if conversion.runner == RUNNER_ID or not runner_is_gone(conversion.runner, host):
            continue
        conversion.status = Conversion.FAILED
        conversion.error = (
            "The conversion was interrupted by a restart of the server. Please convert again."
        )
        conversion.finished_at = utcnow()
        changed = True
    if changed:
        db.session.commit()


def runner_is_gone(runner, host):
    try:
        runner_host, pid, _ = (runner or "").split(":")
        pid = int(pid)
    except ValueError:
        return True
    if runner_host != host:
        return False  # another machine's job: that machine recovers it
    if pid == os.getpid():
        return True  # this pid, but another boot token: an earlier life of this process id
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def delete_conversion(conversion):
    storage().delete(conversion.stored_name, conversion.result_stored_name)
    db.session.delete(conversion)


def cleanup(app=None, now=None):
    """Delete expired conversions, their files first. Returns how many went."""
    now = now or utcnow()
    expired = db.session.scalars(
        select(Conversion).where(
            Conversion.expires_at <= now,
            Conversion.status.not_in([Conversion.QUEUED, Conversion.RUNNING]),
        )
    ).all()
    for conversion in expired:
        delete_conversion(conversion)
    db.session.commit()
    return len(expired)


def start_cleanup_timer(app):
    """Delete expired files every few minutes; app.extensions["sheetport_cleanup"].set() stops it."""
    interval = app.config["CLEANUP_INTERVAL_MINUTES"] * 60
    stop = app.extensions["sheetport_cleanup"] = threading.Event()

    def loop():
        while not stop.wait(interval):
            try:
                with app.app_context():
                    cleanup(app)
            except Exception:  # keep the timer alive; the next round tries again
                app.logger.exception("Periodic cleanup failed")

    threading.Thread(target=loop, name="cleanup", daemon=True).start()
