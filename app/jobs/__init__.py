"""Jobs: conversions run off the request thread.

This package only runs jobs. What to run, for whom, and deleting or cleaning up is the
conversion service's (app/conversions.py), which records a job and hands it to a runner;
periodic work is app/periodic.py's, mail app/email.py's.

A conversion is a row with a status and progress; a runner takes it and does it:
- runners.py: where jobs run (a thread pool in this process, or an RQ queue that
  `flask worker` processes on any machine serve), behind one interface (Runner);
- body.py: the job itself, from claiming the row to its last write, the engine in a child
  process with memory and time limits;
- leases.py: which run holds a job, until when. Leases, not process ids, say whether a job
  is alive: every write a job makes is conditional on its lease token;
- dispatch.py: jobs handed to the runner (enqueue) and taken back: withdrawn when the
  runner cannot take one, reclaimed when the runner holding one died (its lease lapsed),
  cancelled when its owner asks.

The names below are the package's surface; the rest is its own.
"""

from ..exceptions import QueueUnavailable
from .body import (
    FAILED_ON_OUR_SIDE,
    INTERRUPTED,
    STORAGE_DOWN,
    TOO_LONG,
    UPLOAD_MISSING,
    discard_result,
    engine_limits,
    failure_status,
    forget_file,
    run_conversion,
)
from .dispatch import as_reclaimed, cancel, enqueue, reclaim_expired, reclaim_lapsed, withdraw
from .leases import ACTIVE, LeaseLost, held_by, lapsed, renew_leases
from .runners import (
    InProcessRunner,
    RQRunner,
    Runner,
    init_app,
    make_runner,
    run_queued,
    runner,
    work,
)

__all__ = [
    "ACTIVE",
    "as_reclaimed",
    "cancel",
    "FAILED_ON_OUR_SIDE",
    "INTERRUPTED",
    "STORAGE_DOWN",
    "TOO_LONG",
    "UPLOAD_MISSING",
    "InProcessRunner",
    "LeaseLost",
    "QueueUnavailable",
    "RQRunner",
    "Runner",
    "discard_result",
    "engine_limits",
    "enqueue",
    "failure_status",
    "forget_file",
    "held_by",
    "init_app",
    "lapsed",
    "make_runner",
    "reclaim_expired",
    "reclaim_lapsed",
    "renew_leases",
    "run_conversion",
    "run_queued",
    "runner",
    "withdraw",
    "work",
]
