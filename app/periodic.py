"""Periodic work: retention cleanup, reclaiming jobs whose runner died, mail retries.

Every web process ticks; each task runs once per interval per deployment, whichever process
takes its row in `periodic_runs` first (the row is the lock). The timer starts with the
first request a process serves, not inside create_app().
"""

import threading
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from . import conversions, jobs
from .deploy import per_process_warnings
from .email import send_pending_mail
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
                for warning in per_process_warnings(app):
                    app.logger.warning(warning)
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
        ("cleanup", app.config["CLEANUP_INTERVAL_MINUTES"] * 60, lambda: run_cleanup(app)),
    ]


def run_cleanup(app):
    count = conversions.cleanup()
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
    database is the lock). app.extensions["sheetport_cleanup"].set() stops this process's."""
    tasks = periodic_tasks(app)
    tick = min(seconds for _, seconds, _ in tasks)
    stop = app.extensions["sheetport_cleanup"] = threading.Event()

    def loop():
        while not stop.wait(tick):
            for name, seconds, task in tasks:
                try:
                    with app.app_context():
                        run_once_per_interval(name, seconds, task)
                except Exception:  # keep the timer alive; the next tick tries again
                    app.logger.exception("Periodic task %s failed", name)

    threading.Thread(target=loop, name="periodic", daemon=True).start()
