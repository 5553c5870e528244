"""Leases: which run holds a job, until when.

When a job is queued it gets a random token (`Conversion.runner`) and a lease expiry;
whichever runner holds the token renews the lease (a heartbeat) until the job ends. Every
write a job makes is conditional on its token (held_by), so a run that lost the job cannot
overwrite its outcome. A runner that dies stops renewing, and its lease lapses (see
app/jobs/dispatch.py for what then happens to the job).
"""

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import case, or_, update
from sqlalchemy.exc import SQLAlchemyError

from ..exceptions import described, is_outage
from ..extensions import db
from ..models import Conversion, utcnow

ACTIVE = (Conversion.QUEUED, Conversion.RUNNING)


class LeaseLost(Exception):
    """The job was deleted, or another process took it over after its lease lapsed."""


def new_token():
    return secrets.token_hex(16)


def held_by(token):
    """The condition on Conversion that the run with this lease token holds the job. Every
    write a job makes is conditional on it (a row from before leases has no token)."""
    return Conversion.runner.is_(None) if token is None else Conversion.runner == token


def lease_length(app=None):
    return timedelta(seconds=(app or current_app).config["JOB_LEASE_SECONDS"])


def lapsed(conversion, now=None):
    """Whether the runner of a queued or running job stopped renewing its lease (or it never
    had one: a row from before leases)."""
    lease = conversion.lease_expires_at
    return conversion.status in ACTIVE and (lease is None or lease < (now or utcnow()))


def unlapsed(now):
    """The condition that a job's lease has not lapsed. A lapsed lease is never renewed:
    its job already reads as interrupted (app/jobs/dispatch.py, as_reclaimed)."""
    return Conversion.lease_expires_at >= now


def renew_leases(app, tokens):
    """Push forward the leases of the jobs these tokens hold. Best effort: a failed write is
    logged and the next beat tries again (a lease lasts four beats)."""
    with app.app_context():
        try:
            now = utcnow()
            db.session.execute(
                update(Conversion)
                .where(
                    Conversion.runner.in_(tokens),
                    Conversion.status.in_(ACTIVE),
                    unlapsed(now),
                )
                .values(lease_expires_at=later_lease(now + lease_length(app)))
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
