"""The job body: one conversion, from claiming it to its last write.

run_conversion(app, id, token) is what every runner calls (app/jobs/runners.py). The job
claims the row if its run still holds it (queued -> running), records a result row before
writing the file (so that whatever happens the file has an owner cleanup walks), converts in
a child process with memory and time limits (app.sheets' sandbox, so a runaway file cannot
take the process down), and ends with one write: done, or failed with a message that says
why. Each write is conditional on the run's lease (app/jobs/leases.py); a run that finds it
no longer holds the job (cancelled, deleted, taken over) stops its child and discards what
it wrote (LeaseLost): while the child works, the run asks its row at least every
LEASE_CHECK_INTERVAL (Watch).
"""

import ctypes
import os
import signal
import tempfile
import time
from pathlib import Path

from flask import current_app
from rq.timeouts import JobTimeoutException
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from .. import storage, webhooks
from ..email import notify_if_slow
from ..exceptions import (
    StorageFull,
    StorageUnavailable,
    StoredFileMissing,
    described,
    is_outage,
)
from ..extensions import db
from ..models import Conversion, ConversionResult, utcnow
from ..sheets import DEFAULT_LIMITS, Options, SheetError, convert
from ..sheets.sandbox import EngineCrash, run_isolated
from ..storage import download_name, is_disk_full
from .leases import LeaseLost, held_by, later_lease, lease_length, unlapsed

PROGRESS_WRITE_INTERVAL = 0.5  # seconds between progress updates in the database
# Seconds a running job goes at most without asking its row whether it is still its own:
# how soon a cancelled job stops its child (app/conversions.py, cancel).
LEASE_CHECK_INTERVAL = 0.5
# Seconds to wait before each retry of a write: progress is best effort (one retry, then
# skipped); the writes that start and end a job keep trying for about 15 seconds.
PROGRESS_RETRY_DELAYS = (0.2,)
STATUS_RETRY_DELAYS = (0.5, 1, 2, 4, 8)
# Said when a job's lease lapsed: its runner died, or could not renew the lease for as
# long (a database locked or out of reach) and so may no longer write its result.
INTERRUPTED = (
    "The conversion was interrupted before it finished: the server running it stopped, "
    "restarted or could not reach its database for a while. Please convert again."
)
FAILED_ON_OUR_SIDE = (
    "Something went wrong on our side while converting; it has been logged. Please try again later."
)
STORAGE_DOWN = (
    "Sheetport's file storage was unavailable while converting. Please convert again shortly."
)
UPLOAD_MISSING = "The uploaded file is no longer stored on the server. Please upload it again."
TOO_LONG = (
    "The conversion took longer than Sheetport allows and was stopped. Try a smaller file, "
    "or fewer sheets."
)


def failure_status(error):
    """The HTTP status a failed job's message means: most are the file's (422); these are
    the server's, or its storage's."""
    return {
        FAILED_ON_OUR_SIDE: 500,
        INTERRUPTED: 503,
        STORAGE_DOWN: 503,
        UPLOAD_MISSING: 410,
        str(StorageFull()): 507,
    }.get(error, 422)


def retried(app, write, delays, what, conversion_id):
    """Call write() (which commits); on a database error roll back, wait and call it again,
    once per delay. The last error is raised."""
    for delay in (*delays, None):
        try:
            return write()
        except SQLAlchemyError as error:
            db.session.rollback()
            if delay is None:
                raise
            app.logger.warning(
                "Conversion %s: %s failed (%s); trying again in %ss",
                conversion_id,
                what,
                described(error),
                delay,
                exc_info=not is_outage(error),
            )
            time.sleep(delay)


def run_conversion(app, conversion_id, token=None):
    """Do one queued conversion. Never raises: every outcome ends in the row or in the log,
    with the conversion's id (a thread pool would swallow an exception)."""
    with app.app_context():
        try:
            if token is None:
                token = db.session.scalar(
                    select(Conversion.runner).where(Conversion.id == conversion_id)
                )
            run_claimed(app, conversion_id, token)
        except LeaseLost:
            app.logger.info(
                "Conversion %s was cancelled, deleted or taken over while it ran; "
                "its result is discarded",
                conversion_id,
            )
        except Exception as error:  # an outage in one line; a bug with its traceback
            app.logger.error(
                "Conversion %s: the job failed (%s)",
                conversion_id,
                described(error),
                exc_info=not is_outage(error),
            )
        finally:
            db.session.remove()


def claim(app, conversion_id, token):
    """Queued -> running, if this run still holds the job. The row, or None."""
    now = utcnow()
    claimed = db.session.execute(
        update(Conversion)
        .where(
            Conversion.id == conversion_id,
            Conversion.status == Conversion.QUEUED,
            held_by(token),
        )
        .values(status=Conversion.RUNNING, started_at=now, lease_expires_at=now + lease_length())
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return None
    return db.session.get(Conversion, conversion_id)


def run_claimed(app, conversion_id, token):
    conversion = retried(
        app,
        lambda: claim(app, conversion_id, token),
        STATUS_RETRY_DELAYS,
        "starting",
        conversion_id,
    )
    if conversion is None:
        return  # deleted, or another runner has it
    files = storage.current(app)
    # The row first: whatever happens next, the file has an owner that cleanup walks. Its
    # stored name has no extension: what the file is comes from what the engine wrote.
    result = ConversionResult(
        conversion_id=conversion.id,
        stored_name=files.new_name(),
        output_format=conversion.options["format"],
    )

    def add_result():
        db.session.add(result)
        db.session.commit()
        return result.id

    result_id = retried(app, add_result, STATUS_RETRY_DELAYS, "recording the result", conversion_id)
    # The result as stored (result_path: its name; the file itself may be in a bucket).
    result_path = Path(result.stored_name)
    original_name, stored_source = conversion.original_name, conversion.stored_name
    several_sheets = len(conversion.info.get("sheets", [])) > 1
    options = dict(conversion.options)
    try:
        scratch = files.scratch(token)
        limits = engine_limits(app)
        watch = Watch(app, conversion_id, token)
        with files.local_copy(stored_source, scratch) as source:
            outcome = run_isolated(
                convert_in_child,
                source,
                scratch / result_path.name,
                options,
                str(scratch),
                os.getpid(),
                limits=limits,
                memory_bytes=limits.max_memory_bytes,
                seconds=limits.max_seconds + 30,
                progress=watch.progress,
                check=watch.check,
            )
        size = (scratch / result_path.name).stat().st_size
        files.put(result_path.name, scratch / result_path.name)
    except LeaseLost:
        discard_result(result_id, result_path)
        raise
    except JobTimeoutException:  # RQ's limit, a backstop behind the engine's own
        app.logger.error("Conversion %s: stopped by the queue's job timeout", conversion_id)
        end_failed(app, conversion_id, token, result_id, result_path, TOO_LONG)
    except StorageFull as error:
        app.logger.error(
            "Conversion %s: the storage is full; the result was not written", conversion_id
        )
        end_failed(app, conversion_id, token, result_id, result_path, str(error))
    except StorageUnavailable as error:
        app.logger.error("Conversion %s: %s", conversion_id, described(error))
        end_failed(app, conversion_id, token, result_id, result_path, STORAGE_DOWN)
    except StoredFileMissing:
        app.logger.error("Conversion %s: its upload %s is missing", conversion_id, stored_source)
        end_failed(app, conversion_id, token, result_id, result_path, UPLOAD_MISSING)
    except SheetError as error:
        end_failed(app, conversion_id, token, result_id, result_path, str(error))
    except EngineCrash as crash:  # the child's traceback is the one that helps
        app.logger.error("Conversion %s: the engine crashed:\n%s", conversion_id, crash)
        end_failed(app, conversion_id, token, result_id, result_path, FAILED_ON_OUR_SIDE)
    except Exception as error:
        if is_disk_full(error):  # moving the result into place
            app.logger.error("Conversion %s: the storage is full", conversion_id)
            end_failed(app, conversion_id, token, result_id, result_path, str(StorageFull()))
        else:
            app.logger.exception("Conversion %s failed", conversion_id)
            end_failed(app, conversion_id, token, result_id, result_path, FAILED_ON_OUR_SIDE)
    else:
        # One sheet out of several is named after it: "report - Sheet 1.csv".
        one_of_several = len(outcome.sheets) == 1 and several_sheets
        name = download_name(
            original_name, outcome.extension, outcome.sheets[0] if one_of_several else None
        )
        ended = end(
            app,
            conversion_id,
            token,
            result_id,
            {
                "status": Conversion.DONE,
                "error": None,
                "result_stored_name": result_path.name,
                "result_name": name,
                "result_size": size,
                "rows": outcome.rows,
                "warnings": outcome.warnings,
            },
            {
                "complete": True,
                "name": name,
                "size": size,
                "rows": outcome.rows,
                "output_format": outcome.output,
            },
        )
        if not ended:
            discard_result(result_id, result_path)
            raise LeaseLost
    finally:
        files.remove_scratch(token)
    notify_if_slow(db.session.get(Conversion, conversion_id))


def end(app, conversion_id, token, result_id, values, result_values=None):
    """The job's last write, if it still holds the job: retried, one transaction.
    Without result_values the result row goes (no file was written). False if the job
    is no longer this run's: cancelled, deleted, taken over, or its lease lapsed (then its
    owner has already been told it was interrupted, as_reclaimed, and that must stay
    true; the heartbeat renews the lease while this retries, so only a run that could
    not renew it for a whole lease loses its result). The end's webhook event is
    committed with it, then sent."""
    events = []

    def write():
        events.clear()
        ended = db.session.execute(
            update(Conversion)
            .where(
                Conversion.id == conversion_id,
                held_by(token),
                Conversion.status == Conversion.RUNNING,
                unlapsed(utcnow()),
            )
            .values(**values, finished_at=utcnow(), lease_expires_at=None)
        )
        if ended.rowcount != 1:
            db.session.rollback()
            return False
        owned = ConversionResult.id == result_id
        if result_values is None:
            db.session.execute(delete(ConversionResult).where(owned))
        else:
            db.session.execute(update(ConversionResult).where(owned).values(**result_values))
        events.append(
            webhooks.conversion_ended(
                db.session.get(Conversion, conversion_id, populate_existing=True)
            )
        )
        db.session.commit()
        return True

    db.session.expire_all()
    ended = retried(app, write, STATUS_RETRY_DELAYS, "the final status write", conversion_id)
    if ended:
        webhooks.send_soon(app, [event.id for event in events if event is not None])
    return ended


def end_failed(app, conversion_id, token, result_id, result_path, message):
    forget_file(app, result_path.name)
    if not end(
        app, conversion_id, token, result_id, {"status": Conversion.FAILED, "error": message}
    ):
        discard_result(result_id, result_path)
        raise LeaseLost


def discard_result(result_id, result_path):
    """Best effort: the file, then its row (a row left behind is removed by cleanup)."""
    forget_file(current_app, result_path.name)
    try:
        db.session.execute(delete(ConversionResult).where(ConversionResult.id == result_id))
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        current_app.logger.warning(
            "Could not delete the row of result %s now (%s); the sweep will",
            result_id,
            described(error),
        )


def forget_file(app, stored_name):
    """Best effort: a file the storage refuses to delete now is removed by the sweep."""
    try:
        storage.current(app).delete(stored_name)
    except Exception as error:
        app.logger.warning(
            "Could not delete %s now (%s); the sweep will",
            stored_name,
            described(error),
            exc_info=not is_outage(error),
        )


def convert_in_child(path, target, options, scratch, parent_pid, limits, progress=None):
    """Runs in the sandbox's child: temporary files go to the job's scratch folder inside the
    upload folder, the child dies with the thread that started it, and a full disk is told
    apart from a bug."""
    tempfile.tempdir = scratch  # XlsxWriter's constant-memory files
    die_with_parent(parent_pid)
    try:
        return convert(path, target, Options(**options), progress=progress, limits=limits)
    except Exception as error:
        cause = error
        while cause is not None:  # XlsxWriter wraps the OSError it met
            if is_disk_full(cause):
                raise StorageFull() from None
            cause = cause.__cause__ or cause.__context__
        raise


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid):
    """Linux: have the kernel kill this child when its parent dies, so that a killed worker
    leaves no child writing a result nobody will record."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the sweep removes what is left
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class Watch:
    """A running job's hold on its row, seen from the parent while the child converts:
    progress(done, total) for the engine (best effort: a write the database refuses twice
    is skipped; it renews the lease), and check() for the sandbox, which asks the row when
    no write has for LEASE_CHECK_INTERVAL, so a job that reports nothing for a while (a
    workbook being read or closed) still notices soon. Both raise LeaseLost if the job is no
    longer this run's (cancelled, deleted, taken over, or its lease lapsed), which stops the
    child."""

    def __init__(self, app, conversion_id, token):
        self.app, self.conversion_id, self.token = app, conversion_id, token
        self.written = 0.0  # when progress was last written
        self.asked = time.monotonic()  # when the row was last written or read

    def still_ours(self, now):
        return (
            Conversion.id == self.conversion_id,
            held_by(self.token),
            Conversion.status == Conversion.RUNNING,
            unlapsed(now),
        )

    def progress(self, done, total):
        now = time.monotonic()
        if now - self.written < PROGRESS_WRITE_INTERVAL and done < total:
            return
        self.written = self.asked = now
        app, conversion_id = self.app, self.conversion_id

        def attempt():
            now = utcnow()
            written = db.session.execute(
                update(Conversion)
                .where(*self.still_ours(now))
                .values(
                    progress_done=done,
                    progress_total=total,
                    lease_expires_at=later_lease(now + lease_length(app)),
                )
            )
            db.session.commit()
            return written.rowcount

        try:
            rows = retried(app, attempt, PROGRESS_RETRY_DELAYS, "a progress write", conversion_id)
        except SQLAlchemyError:
            app.logger.warning(
                "Conversion %s: progress %s/%s not recorded; the job goes on",
                conversion_id,
                done,
                total,
            )
            return
        if rows == 0:
            raise LeaseLost

    def check(self):
        now = time.monotonic()
        if now - self.asked < LEASE_CHECK_INTERVAL:
            return
        self.asked = now
        try:
            held = db.session.scalar(select(Conversion.id).where(*self.still_ours(utcnow())))
            db.session.commit()  # the read's transaction ends: the next one reads afresh
        except SQLAlchemyError as error:  # the next progress write or check tries again
            db.session.rollback()
            self.app.logger.debug(
                "Conversion %s: could not check the lease (%s)",
                self.conversion_id,
                described(error),
            )
            return
        if held is None:
            raise LeaseLost


def engine_limits(app):
    return DEFAULT_LIMITS.__class__(
        **{
            **DEFAULT_LIMITS.__dict__,
            "max_seconds": app.config["CONVERSION_MAX_SECONDS"],
            "max_memory_bytes": app.config["CONVERSION_MAX_MEMORY_MB"] * 2**20,
        }
    )
