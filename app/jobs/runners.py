"""Runners: where jobs run. A job is a conversion's id and the lease token the service
gave it (app/jobs/dispatch.py, enqueue).

Two runners share one small interface (Runner): submit(conversion_id, token) starts a job, and
holds(conversion_id, token) says whether a queued job is still waiting in the runner's queue
(so that a long queue is not mistaken for a dead runner). InProcessRunner is the default: a
thread pool inside the web process. RQRunner (QUEUE_URL=redis://...) puts jobs in an RQ queue
that `flask worker` processes on any machine run (run_queued), each job in RQ's forked work
horse with its own heartbeat. Either way the job itself is app/jobs/body.py's run_conversion,
and whichever runner holds a job renews its lease (renew_leases) until it ends.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from config import SettingError

from .. import storage
from ..exceptions import QueueUnavailable
from ..extensions import db
from .body import run_conversion
from .leases import renew_leases


def runner(app=None):
    return (app or current_app).extensions["sheetport_jobs"]


class Runner:
    """What the conversion service and the lease reclaim need from a runner. A job is the
    conversion's id and the lease token enqueue gave it (app/jobs/dispatch.py)."""

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


# What a queued job names for workers to import: the package's name for run_queued, the
# one jobs queued by earlier versions carry, so that during a deploy old and new workers
# can run each other's jobs.
QUEUED_FUNCTION = "app.jobs.run_queued"
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
                QUEUED_FUNCTION,
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
            from .. import create_app

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
