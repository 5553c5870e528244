"""Jobs handed to a runner and taken back: what happens to a job whose runner died.

A runner that dies stops renewing its jobs' leases. Once a lease lapses, any process fails
the job with a message that says so, or requeues it if it never started (reclaim_expired: run
by the periodic tick, and when the job's owner looks at it).
"""

from flask import current_app
from sqlalchemy import and_, or_, select, update

from .. import storage
from ..extensions import db
from ..models import Conversion, ConversionResult, utcnow
from .body import INTERRUPTED
from .leases import ACTIVE, lease_length, new_token
from .runners import runner


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
