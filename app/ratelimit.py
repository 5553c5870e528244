"""A `limits` storage over the app's database: rate limits that hold across every process
(gunicorn --workers N) without Redis. RATELIMIT_STORAGE_URI = "sheetport+db://".

Fixed-window counters, one row a key; each increment is one atomic upsert, so two processes
counting the same key never lose a count. Redis remains the faster choice when there is one.
"""

import time

from flask import current_app
from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from .models import RateLimitCounter

COUNTERS = RateLimitCounter.__table__


class DatabaseStorage(Storage):
    STORAGE_SCHEME = ["sheetport+db"]

    def __init__(self, uri=None, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    @staticmethod
    def engine():
        # Its own connection and transaction: a counter is committed at once, whatever
        # the request's session does afterwards.
        return current_app.extensions["sqlalchemy"].engine

    def incr(self, key, expiry, amount=1):
        now = time.time()
        engine = self.engine()
        insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
        fresh = COUNTERS.c.expires_at <= now  # the stored window is over: start again
        statement = insert(COUNTERS).values(key=key, count=amount, expires_at=now + expiry)
        statement = statement.on_conflict_do_update(
            index_elements=[COUNTERS.c.key],
            set_={
                "count": _case(fresh, amount, COUNTERS.c.count + amount),
                "expires_at": _case(fresh, now + expiry, COUNTERS.c.expires_at),
            },
        ).returning(COUNTERS.c.count)
        with engine.begin() as connection:
            return connection.execute(statement).scalar_one()

    def get(self, key):
        with self.engine().connect() as connection:
            count = connection.execute(
                select(COUNTERS.c.count).where(
                    COUNTERS.c.key == key, COUNTERS.c.expires_at > time.time()
                )
            ).scalar()
        return count or 0

    def get_expiry(self, key):
        with self.engine().connect() as connection:
            expiry = connection.execute(
                select(COUNTERS.c.expires_at).where(COUNTERS.c.key == key)
            ).scalar()
        return expiry if expiry is not None else time.time()

    def check(self):
        try:
            with self.engine().connect() as connection:
                connection.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self):
        with self.engine().begin() as connection:
            return connection.execute(delete(COUNTERS)).rowcount

    def clear(self, key):
        with self.engine().begin() as connection:
            connection.execute(delete(COUNTERS).where(COUNTERS.c.key == key))

    def remove_expired(self):
        """Forget counters whose window is over (the periodic cleanup calls it)."""
        with self.engine().begin() as connection:
            return connection.execute(
                delete(COUNTERS).where(COUNTERS.c.expires_at <= time.time())
            ).rowcount


def _case(condition, then, otherwise):
    return case((condition, then), else_=otherwise)
