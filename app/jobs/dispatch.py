"""Jobs handed to a runner and taken back.

enqueue() is how the conversion service starts a job: it gives the row a lease and hands it
to the runner, and if the runner cannot take it, withdraws it (the row as it was). cancel()
takes a queued or running job back for good: its row says cancelled and holds no lease, so
a runner never claims it and a running one stops at its next look at the row. A runner
that dies stops renewing its jobs' leases; once a lease lapses, any process fails the job
with a message that says so, or requeues it if it never started (reclaim_expired: run by the
periodic tick, and by reclaim_lapsed before the service changes a conversion). A read never
writes: until then, as_reclaimed shows a lapsed job as the reclaim will leave it.
"""

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from .. import storage, webhooks
from ..extensions import db
from ..models import Conversion, ConversionResult, utcnow
from .body import INTERRUPTED, forget_file
from .leases import ACTIVE, held_by, lapsed, lease_length, new_token
from .runners import runner

# What queueing a job resets, besides the lease.
JOB_STATE = {"status": Conversion.QUEUED, "error": None, "progress_done": 0, "progress_total": 0}


def enqueue(conversion, **values):
    """Queue a job for the conversion, its row set to `values` (what to do: the service's
    columns, such as options), committed with a new lease, and hand it to the runner.
    Returns what the runner's submit did. If the runner cannot take it, the row goes back to
    what it was (withdraw) and the error is raised."""
    token = new_token()
    changed = {**values, **JOB_STATE}
    before = {name: getattr(conversion, name) for name in changed}
    for name, value in changed.items():
        setattr(conversion, name, value)
    conversion.runner = token
    conversion.lease_expires_at = utcnow() + lease_length()
    db.session.commit()
    try:
        return runner().submit(conversion.id, token)
    except BaseException:
        withdraw(conversion.id, token, before)
        raise


def withdraw(conversion_id, token, values):
    """Take back a job no runner took: its row gets `values` and no lease, unless another
    run holds it or it started meanwhile. Commits."""
    db.session.rollback()
    db.session.execute(
        update(Conversion)
        .where(
            Conversion.id == conversion_id,
            held_by(token),
            Conversion.status == Conversion.QUEUED,
        )
        .values(**values, runner=None, lease_expires_at=None)
    )
    db.session.commit()


def cancel(conversion):
    """Cancel a queued or running job in one write, guarded on its status: a job ending at
    that moment either ends first (then nothing changes: (False, None), the row read
    again) or finds its row cancelled. The row loses its lease, so no runner claims it and
    the run holding it stops its child and discards what it wrote (app/jobs/body.py,
    Watch); its unfinished results go here too, in case that run is dead. Returns (True,
    the webhook event or None), added to the session: the caller commits, then sends it."""
    now = utcnow()
    done = db.session.execute(
        update(Conversion)
        .where(Conversion.id == conversion.id, Conversion.status.in_(ACTIVE))
        .values(
            status=Conversion.CANCELLED,
            error=None,
            finished_at=now,
            runner=None,
            lease_expires_at=None,
        )
    ).rowcount
    if not done:
        db.session.rollback()
        db.session.refresh(conversion)
        return False, None
    for result in unfinished_results(conversion.id):
        forget_file(current_app, result.stored_name)  # best effort: else the sweep's
        db.session.delete(result)
    db.session.refresh(conversion)
    return True, webhooks.conversion_ended(conversion)


def interrupted(now):
    """What reclaiming a running job whose lease lapsed makes of its row."""
    return {
        "status": Conversion.FAILED,
        "error": INTERRUPTED,
        "finished_at": now,
        "lease_expires_at": None,
    }


def as_reclaimed(conversion, now=None):
    """The conversion as reclaiming it would leave it, written nowhere: a running job whose
    lease lapsed reads failed (INTERRUPTED) as soon as its owner looks, so that they can
    convert it again or delete it; a queued one still reads queued, as requeueing leaves it.
    The values are set as if loaded, so no flush writes them; a commit expires them (call
    this again after one). The row itself changes at the periodic tick, or before a write
    (reclaim_lapsed)."""
    now = now or utcnow()
    if conversion.status == Conversion.RUNNING and lapsed(conversion, now):
        for name, value in interrupted(now).items():
            set_committed_value(conversion, name, value)
    return conversion


def reclaim_lapsed(conversion):
    """Before the service changes a conversion (converts it again, deletes it): its lease
    reclaimed if it lapsed, and the row read again, so that it acts on what is stored, not on
    what as_reclaimed showed."""
    reclaim_expired(conversion_ids=[conversion.id])
    db.session.refresh(conversion)
    return conversion


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
            held_by(token),
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
                update(Conversion).where(unchanged).values(**interrupted(now))
            ).rowcount
            if done:
                discard_unfinished_results(conversion_id)
                event = webhooks.conversion_ended(
                    db.session.get(Conversion, conversion_id, populate_existing=True)
                )
            db.session.commit()
            if done:
                webhooks.send_soon(current_app._get_current_object(), [event.id] if event else [])
                current_app.logger.warning(
                    "Conversion %s: its runner stopped renewing the lease; marked failed",
                    conversion_id,
                )
        if done:
            storage.current().remove_scratch(token)
        changed += done
    return changed


def unfinished_results(conversion_id):
    return db.session.scalars(
        select(ConversionResult).where(
            ConversionResult.conversion_id == conversion_id, ConversionResult.complete.is_(False)
        )
    ).all()


def discard_unfinished_results(conversion_id):
    for result in unfinished_results(conversion_id):
        storage.current().delete(result.stored_name)
        db.session.delete(result)
