"""The runner: conversions run off the request thread.

This module only runs jobs. What to run, for whom, and deleting or cleaning up is the
conversion service's (app/conversions.py), which records a job and hands it to
`runner().submit(id, token)`; periodic work is app/periodic.py's, mail app/email.py's.

A conversion is a row with a status and progress; a runner takes it and does it. The default
runner is a thread pool inside the web process (InProcessRunner); each conversion itself runs
in a child process with memory and time limits (app.sheets' sandbox), so a runaway file
cannot take the web process down.

Leases, not process ids, say whether a job is alive. When a job is queued it gets a random
token (`Conversion.runner`) and a lease expiry; whichever runner holds the token renews the
lease (a heartbeat) until the job ends. Every write the job makes is conditional on its
token, so a runner that lost the job cannot overwrite its outcome. A runner that dies stops
renewing: once the lease lapses, any process fails the job with a message that says so, or
requeues it if it never started (reclaim_expired: run by the periodic tick, and when the
job's owner looks at it). Another runner (an RQ worker) needs only to call
`run_conversion(app, id, token)` and `renew_leases(app, tokens)` while it holds jobs.

Two runners share one small interface (Runner): submit(conversion_id, token) starts a job, and
holds(conversion_id, token) says whether a queued job is still waiting in the runner's queue
(so that a long queue is not mistaken for a dead runner). InProcessRunner is the default;
RQRunner (QUEUE_URL=redis://...) puts jobs in an RQ queue that `flask worker` processes on any
machine run (run_queued), each job in RQ's forked work horse with its own heartbeat.
"""

import ctypes
import os
import secrets
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from flask import current_app
from rq.timeouts import JobTimeoutException
from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from config import SettingError

from . import storage
from .email import notify_if_slow
from .exceptions import (
    QueueUnavailable,
    StorageFull,
    StorageUnavailable,
    StoredFileMissing,
    described,
    is_outage,
)
from .extensions import db
from .models import Conversion, ConversionResult, utcnow
from .sheets import DEFAULT_LIMITS, Options, SheetError, convert
from .sheets.sandbox import EngineCrash, run_isolated
from .storage import download_name, is_disk_full

ACTIVE = (Conversion.QUEUED, Conversion.RUNNING)
PROGRESS_WRITE_INTERVAL = 0.5  # seconds between progress updates in the database
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


class LeaseLost(Exception):
    """The job was deleted, or another process took it over after its lease lapsed."""


def runner(app=None):
    return (app or current_app).extensions["sheetport_jobs"]


def lease_length(app=None):
    return timedelta(seconds=(app or current_app).config["JOB_LEASE_SECONDS"])


def new_token():
    return secrets.token_hex(16)


class Runner:
    """What the conversion service and the lease reclaim need from a runner. A job is the
    conversion's id and the lease token the service gave it (conversions.start)."""

    def submit(self, conversion_id, token):
        """Run the job soon, somewhere; QueueUnavailable if it cannot be taken now."""
        raise NotImplementedError

    def holds(self, conversion_id, token):
        """True while a queued job is still waiting in this runner's queue (so that a long
        queue is not mistaken for a dead runner)."""
        raise NotImplementedError


class InProcessRunner(Runner):
    """A thread pool in this process; a heartbeat thread renews the leases of its jobs."""

    def __init__(self, app):
        self.app = app
        self.executor = ThreadPoolExecutor(
            max_workers=app.config["CONVERSION_WORKERS"], thread_name_prefix="conversion"
        )
        self.held = set()
        self.lock = threading.Lock()
        self.heartbeat = None

    def submit(self, conversion_id, token):
        with self.lock:
            self.held.add(token)
            if self.heartbeat is None:
                self.heartbeat = threading.Thread(
                    target=self.beat, name="job-heartbeat", daemon=True
                )
                self.heartbeat.start()
        return self.executor.submit(self.run, conversion_id, token)

    def run(self, conversion_id, token):
        try:
            run_conversion(self.app, conversion_id, token)
        finally:
            with self.lock:
                self.held.discard(token)

    def beat(self):
        interval = self.app.config["JOB_LEASE_SECONDS"] / 4
        while True:
            time.sleep(interval)
            with self.lock:
                tokens = list(self.held)
                if not tokens:
                    self.heartbeat = None
                    return
            renew_leases(self.app, tokens)

    def holds(self, conversion_id, token):
        return False  # a job of this process has its lease renewed by the heartbeat


# RQ job states in which the job is still waiting for, or held by, a worker.
RQ_ALIVE = {"queued", "started", "scheduled", "deferred", "created"}


class RQRunner(Runner):
    """Jobs go to an RQ queue in Redis; `flask worker` processes (any number, on any
    machine) run them. This process only enqueues. RQ's job timeout is a backstop behind the
    sandbox's own time limit; what a worker that died leaves behind is told by the lease."""

    def __init__(self, app):
        from redis import Redis
        from rq import Queue

        self.app = app
        # A Redis that does not answer costs a request seconds: then QueueUnavailable (503).
        try:
            self.connection = Redis.from_url(app.config["QUEUE_URL"], socket_connect_timeout=5)
        except ValueError as error:
            raise SettingError(
                f"QUEUE_URL is not a Redis address ({error}). "
                "Example: QUEUE_URL=redis://localhost:6379/0"
            ) from None
        self.queue = Queue(app.config["QUEUE_NAME"], connection=self.connection)

    def check_reachable(self):
        """QueueUnavailable unless Redis answers now."""
        from redis.exceptions import RedisError

        try:
            self.connection.ping()
        except RedisError as error:
            raise QueueUnavailable() from error

    def job_id(self, conversion_id, token):
        return f"conversion-{conversion_id}-{token}"

    def submit(self, conversion_id, token):
        from redis.exceptions import RedisError

        config = self.app.config
        try:
            return self.queue.enqueue(
                run_queued,
                conversion_id,
                token,
                job_id=self.job_id(conversion_id, token),
                job_timeout=config["QUEUE_JOB_TIMEOUT"] or config["CONVERSION_MAX_SECONDS"] + 120,
                result_ttl=3600,
                description=f"Sheetport conversion {conversion_id}",
            )
        except RedisError as error:
            raise QueueUnavailable() from error

    def holds(self, conversion_id, token):
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(self.job_id(conversion_id, token), connection=self.connection)
            return job.get_status() in RQ_ALIVE
        except NoSuchJobError:
            return False
        except RedisError:  # cannot tell; requeueing would fail the same way
            self.app.logger.warning("Redis did not answer about conversion %s", conversion_id)
            return True


class Heartbeat:
    """Renews the lease of one job from a thread while the block runs."""

    def __init__(self, app, token):
        self.app, self.token = app, token
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.beat, name="job-heartbeat", daemon=True)

    def beat(self):
        while not self.stop.wait(self.app.config["JOB_LEASE_SECONDS"] / 4):
            renew_leases(self.app, [self.token])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


worker_state = {"app": None}


def worker_app():
    """The app in an RQ worker: the one `flask worker` made (inherited by the forked work
    horse), else one built from the environment (for a plain `rq worker`)."""
    if worker_state["app"] is None:
        from flask import has_app_context

        if has_app_context():
            worker_state["app"] = current_app._get_current_object()
        else:
            from . import create_app

            worker_state["app"] = create_app()
    return worker_state["app"]


def run_queued(conversion_id, token):
    """What an RQ worker runs for one job."""
    app = worker_app()
    with app.app_context():
        # Pooled connections may come from the worker's parent process: never share them.
        db.engine.dispose(close=False)
    with Heartbeat(app, token):
        run_conversion(app, conversion_id, token)


def work(app, burst=False, name=None):
    """Run RQ jobs from the app's queue until stopped (`flask worker`)."""
    from rq import Worker

    queue_runner = runner(app)
    if not isinstance(queue_runner, RQRunner):
        raise RuntimeError("QUEUE_URL is not set: there is no queue to work on")
    queue_runner.check_reachable()
    worker_state["app"] = app
    with app.app_context():
        db.engine.dispose()
    # Load boto3 and its S3 model once here: each forked work horse then makes its own
    # client in milliseconds instead of half a second.
    storage.current(app)
    worker = Worker([queue_runner.queue], connection=queue_runner.connection, name=name)
    return worker.work(burst=burst, logging_level="INFO")


def make_runner(app):
    return RQRunner(app) if app.config.get("QUEUE_URL") else InProcessRunner(app)


def init_app(app):
    storage.init_app(app)
    app.extensions["sheetport_jobs"] = make_runner(app)


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
                "Conversion %s was deleted or taken over while it ran; its result is discarded",
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
            Conversion.runner == token,
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
                progress=progress_writer(app, conversion_id, token),
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
    is no longer this run's."""

    def write():
        ended = db.session.execute(
            update(Conversion)
            .where(
                Conversion.id == conversion_id,
                Conversion.runner == token,
                Conversion.status == Conversion.RUNNING,
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
        db.session.commit()
        return True

    db.session.expire_all()
    return retried(app, write, STATUS_RETRY_DELAYS, "the final status write", conversion_id)


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


def progress_writer(app, conversion_id, token):
    """progress(done, total) for the engine: best effort (a write the database refuses twice
    is skipped), and it renews the lease. Raises LeaseLost if the job is no longer ours."""
    last = [0.0]

    def write(done, total):
        now = time.monotonic()
        if now - last[0] < PROGRESS_WRITE_INTERVAL and done < total:
            return
        last[0] = now

        def attempt():
            written = db.session.execute(
                update(Conversion)
                .where(
                    Conversion.id == conversion_id,
                    Conversion.runner == token,
                    Conversion.status == Conversion.RUNNING,
                )
                .values(
                    progress_done=done,
                    progress_total=total,
                    lease_expires_at=later_lease(utcnow() + lease_length(app)),
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

    return write


def renew_leases(app, tokens):
    """Push forward the leases of the jobs these tokens hold. Best effort: a failed write is
    logged and the next beat tries again (a lease lasts four beats)."""
    with app.app_context():
        try:
            db.session.execute(
                update(Conversion)
                .where(Conversion.runner.in_(tokens), Conversion.status.in_(ACTIVE))
                .values(lease_expires_at=later_lease(utcnow() + lease_length(app)))
            )
            db.session.commit()
        except SQLAlchemyError as error:
            db.session.rollback()
            app.logger.warning(
                "Could not renew the leases of %d job(s) (%s)",
                len(tokens),
                described(error),
                exc_info=not is_outage(error),
            )
        finally:
            db.session.remove()


def later_lease(expiry):
    """The later of the stored expiry and this one: a write that waited for a lock must not
    pull a lease back that another write pushed forward meanwhile."""
    current = Conversion.lease_expires_at
    return case((or_(current.is_(None), current < expiry), expiry), else_=current)


def reclaim_expired(now=None, conversion_ids=None, requeue=True):
    """Jobs whose runner stopped renewing their lease: requeue those that never started
    (on this process's runner; with requeue=False they wait for a process that serves jobs),
    fail the others with a message that says what happened. Returns how many changed."""
    now = now or utcnow()
    query = select(Conversion.id, Conversion.runner, Conversion.status).where(
        Conversion.status.in_(ACTIVE),
        or_(Conversion.lease_expires_at.is_(None), Conversion.lease_expires_at < now),
    )
    if conversion_ids is not None:
        query = query.where(Conversion.id.in_(conversion_ids))
    changed = 0
    for conversion_id, token, status in db.session.execute(query).all():
        unchanged = and_(
            Conversion.id == conversion_id,
            Conversion.status == status,
            Conversion.runner == token if token else Conversion.runner.is_(None),
        )
        if status == Conversion.QUEUED and token and runner().holds(conversion_id, token):
            # Still waiting in a shared queue: nobody died, the queue is long.
            db.session.execute(
                update(Conversion).where(unchanged).values(lease_expires_at=now + lease_length())
            )
            db.session.commit()
            continue
        if status == Conversion.QUEUED:
            if not requeue:
                continue
            fresh = new_token()
            done = db.session.execute(
                update(Conversion)
                .where(unchanged)
                .values(runner=fresh, lease_expires_at=now + lease_length())
            ).rowcount
            db.session.commit()
            if done:
                current_app.logger.warning(
                    "Conversion %s: its runner stopped renewing the lease before it started; "
                    "queued again",
                    conversion_id,
                )
                runner().submit(conversion_id, fresh)
        else:
            done = db.session.execute(
                update(Conversion)
                .where(unchanged)
                .values(
                    status=Conversion.FAILED,
                    error=INTERRUPTED,
                    finished_at=now,
                    lease_expires_at=None,
                )
            ).rowcount
            if done:
                discard_unfinished_results(conversion_id)
            db.session.commit()
            if done:
                current_app.logger.warning(
                    "Conversion %s: its runner stopped renewing the lease; marked failed",
                    conversion_id,
                )
        if done:
            storage.current().remove_scratch(token)
        changed += done
    return changed


def discard_unfinished_results(conversion_id):
    unfinished = db.session.scalars(
        select(ConversionResult).where(
            ConversionResult.conversion_id == conversion_id, ConversionResult.complete.is_(False)
        )
    ).all()
    for result in unfinished:
        storage.current().delete(result.stored_name)
        db.session.delete(result)


def engine_limits(app):
    return DEFAULT_LIMITS.__class__(
        **{
            **DEFAULT_LIMITS.__dict__,
            "max_seconds": app.config["CONVERSION_MAX_SECONDS"],
            "max_memory_bytes": app.config["CONVERSION_MAX_MEMORY_MB"] * 2**20,
        }
    )
