"""The periodic work's thread: a failing round is one log line and the next tick tries again;
the thread ends with its app (stopped, or gone) and with the process, never running on
against a database that went away."""

import gc
import logging
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

from app import periodic
from app.extensions import db
from app.models import PeriodicRun

from .conftest import build_app

PROJECT = Path(__file__).resolve().parent.parent
TICK_MINUTES = 0.002  # a tick every 0.12 s


def wait_until(condition, seconds=15):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def timer_thread(app):
    stop = app.extensions["sheetport_cleanup"]
    (thread,) = [thread for event, thread in periodic.TIMERS if event is stop]
    return thread


def failures(caplog):
    return [r for r in caplog.records if r.getMessage().startswith("Periodic task")]


@pytest.mark.parametrize("app_settings", [{"CLEANUP_INTERVAL_MINUTES": TICK_MINUTES}])
def test_a_failing_round_logs_one_line_and_the_next_tick_tries_again(app, caplog):
    with app.app_context():
        db.drop_all()  # the database went away under the running process
    with caplog.at_level(logging.ERROR):
        periodic.start_periodic_timer(app)
        wait_until(lambda: len(failures(caplog)) >= 2)
        with app.app_context():
            db.create_all()  # back again: the next rounds run
            wait_until(lambda: db.session.get(PeriodicRun, "cleanup") is not None)
        thread = timer_thread(app)
        periodic.stop_periodic_timer(app)
    assert not thread.is_alive()
    lines = failures(caplog)
    assert lines and not any(record.exc_info for record in lines)  # no traceback
    first = lines[0].getMessage()
    assert first.startswith("Periodic task reclaim-leases failed (")
    assert first.endswith("; the next tick tries again") and "\n" not in first
    assert "Traceback" not in caplog.text


def test_the_timer_ends_when_its_app_goes_away(tmp_path):
    app = build_app(tmp_path, CLEANUP_INTERVAL_MINUTES=TICK_MINUTES)
    with app.app_context():
        db.create_all()
    periodic.start_periodic_timer(app)
    thread, gone = timer_thread(app), weakref.ref(app)
    with app.app_context():
        wait_until(lambda: db.session.get(PeriodicRun, "cleanup") is not None)
        db.engine.dispose()
    del app
    # The thread holds its app only during a round: once that ends, the app can go.
    wait_until(lambda: gc.collect() is not None and gone() is None)
    thread.join(5)
    assert not thread.is_alive()  # ...and ends without it


EXITING = r"""
import atexit, sys, threading, time
from pathlib import Path
# Registered before the app's own exit handler, so it runs after it.
atexit.register(lambda: print("periodic alive at exit:", any(
    t.name == "periodic" and t.is_alive() for t in threading.enumerate())))
from app import create_app, periodic
from app.extensions import db
from app.models import PeriodicRun
database = Path(sys.argv[1])
app = create_app("testing", {
    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
    "CLEANUP_INTERVAL_MINUTES": 0.002,
})
with app.app_context():
    db.create_all()
periodic.start_periodic_timer(app)
with app.app_context():
    while db.session.get(PeriodicRun, "cleanup") is None:
        time.sleep(0.02)
    db.engine.dispose()
database.unlink()  # the database goes away while the timer ticks
time.sleep(0.5)
print("exiting")
"""


@pytest.mark.sqlite_only  # removes its own SQLite file
def test_the_timer_stops_when_the_process_exits(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", EXITING, str(tmp_path / "gone.sqlite")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "exiting" in done.stdout and "periodic alive at exit: False" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    logged = [line for line in done.stderr.splitlines() if "Periodic task" in line]
    assert logged and all("the next tick tries again" in line for line in logged), done.stderr
