"""Periodic work: retention cleanup, reclaiming jobs whose runner died, mail and webhook
retries.

Every web process ticks; each task runs once per interval per deployment, whichever process
takes its row in `periodic_runs` first (the row is the lock). The timer starts with the
first request a process serves, not inside create_app().
"""

import atexit
import threading
import weakref
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from . import batches, conversions, jobs, webhooks
from .deploy import log_per_process_warnings
from .email import send_pending_mail
from .exceptions import Unavailable, described, is_outage
from .extensions import db
from .models import PeriodicRun, utcnow
from .ratelimit import DatabaseStorage


def init_app(app):
    state = {"started": False, "lock": threading.Lock()}

    @app.before_request
    def start_once():
        # Work that must happen once per process but not inside create_app().
        if state["started"]:
            return
        with state["lock"]:
            if not state["started"]:
                state["started"] = True
                log_per_process_warnings(app)
                if app.config["CLEANUP_INTERVAL_MINUTES"]:
                    start_periodic_timer(app)


def run_once_per_interval(name, seconds, task, now=None):
    """Call task() unless some process ran `name` less than `seconds` ago: every process
    ticks, one of them runs the task per interval (the row is the lock). True if it ran."""
    now = now or utcnow()
    if db.session.get(PeriodicRun, name) is None:
        try:
            db.session.add(PeriodicRun(name=name, last_run_at=now - timedelta(seconds=seconds)))
            db.session.commit()
        except IntegrityError:  # another process made it meanwhile
            db.session.rollback()
    taken = db.session.execute(
        update(PeriodicRun)
        .where(
            PeriodicRun.name == name,
            PeriodicRun.last_run_at <= now - timedelta(seconds=seconds * 0.9),
        )
        .values(last_run_at=now)
    ).rowcount
    db.session.commit()
    if taken:
        task()
    return bool(taken)


def periodic_tasks(app):
    """(name, interval in seconds, task): the deployment's periodic work."""
    return [
        ("reclaim-leases", app.config["JOB_LEASE_SECONDS"], jobs.reclaim_expired),
        ("send-mail", 60, send_pending_mail),
        ("send-webhooks", 30, webhooks.send_pending),
        ("cleanup", app.config["CLEANUP_INTERVAL_MINUTES"] * 60, lambda: run_cleanup(app)),
    ]


def run_cleanup(app):
    count = conversions.cleanup()
    batches.cleanup()
    removed = conversions.sweep_files()
    DatabaseStorage().remove_expired()
    if count or removed:
        app.logger.info(
            "Cleanup: %d expired conversion(s) deleted; %d orphaned file(s) removed: %s",
            count,
            len(removed),
            ", ".join(removed),
        )


def start_periodic_timer(app):
    """Every process ticks; each task runs once per interval per deployment (a row in the
    database is the lock). stop_periodic_timer(app) stops this process's; so does the app
    going away (the thread holds it weakly) and the process exiting."""
    tick = min(seconds for _, seconds, _ in periodic_tasks(app))
    stop = app.extensions["sheetport_cleanup"] = threading.Event()
    thread = threading.Thread(
        target=tick_loop, args=(weakref.ref(app), stop, tick), name="periodic", daemon=True
    )
    TIMERS.add((stop, thread))
    thread.start()


def stop_periodic_timer(app, seconds=10):
    """Stop the app's periodic work and wait (up to `seconds`) for a round under way."""
    stop = app.extensions.get("sheetport_cleanup")
    if stop is None:
        return
    stop.set()
    for event, thread in list(TIMERS):
        if event is stop:
            thread.join(seconds)
            TIMERS.discard((event, thread))


# (stop event, thread) of every timer this process started: stopped at exit, before the
# interpreter tears down what a round in progress would use.
TIMERS = set()


@atexit.register
def stop_all_timers(seconds=5):
    for stop, _ in list(TIMERS):
        stop.set()
    for stop, thread in list(TIMERS):
        thread.join(seconds)
        TIMERS.discard((stop, thread))


def tick_loop(app_ref, stop, tick):
    while not stop.wait(tick):
        app = app_ref()
        if app is None:  # the app was torn down: nothing left to work for
            break
        run_round(app, stop)
        del app  # hold the app only during a round
    TIMERS.discard((stop, threading.current_thread()))


def run_round(app, stop):
    """Run the tasks that are due. A task that fails is logged in one line (the database or
    the storage being away is an outage, not a bug to trace) and the next tick tries again."""
    for name, seconds, task in periodic_tasks(app):
        if stop.is_set():
            return
        try:
            with app.app_context():
                run_once_per_interval(name, seconds, task)
        except Unavailable as error:  # each row is left whole: nothing to trace
            app.logger.error(
                "Periodic task %s stopped: %s; the next tick tries again", name, described(error)
            )
        except Exception as error:  # an outage in one line; a bug with its traceback
            app.logger.error(
                "Periodic task %s failed (%s); the next tick tries again",
                name,
                described(error),
                exc_info=not is_outage(error),
            )
