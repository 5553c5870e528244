"""Lists of conversions, a page at a time, as plain rows: a visitor's history and the
admin's list.

A list shows a few columns, so it reads those as rows, not ORM objects, by statements built
once (SQLAlchemy then reuses their compiled form): for a page of 30 the ORM objects, the
query built again each time and its count over a subquery of every column took more time
than the rest of the page.
"""

from collections import namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Text, and_, bindparam, case, cast, func, or_, select, true

from . import conversions
from .conversions import is_user
from .extensions import db
from .models import Conversion, User, utcnow

# A running job whose lease lapsed (its runner died) is shown failed, as its own page shows
# it (jobs.as_reclaimed) before the periodic tick writes it so; the admin's status filter
# and its Retry button go by it too. Its statements take the parameter "now".
SHOWN = case(
    (
        and_(
            Conversion.status == Conversion.RUNNING,
            or_(
                Conversion.lease_expires_at.is_(None),
                Conversion.lease_expires_at < bindparam("now"),
            ),
        ),
        Conversion.FAILED,
    ),
    else_=Conversion.status,
)
SHOWN_STATUS = SHOWN.label("status")

COLUMNS = (
    Conversion.public_id,
    Conversion.original_name,
    Conversion.output_format,
    SHOWN_STATUS,
    Conversion.size,
    Conversion.result_size,
    Conversion.created_at,
    Conversion.expires_at,
)


def statements(owner_column):
    mine = owner_column == bindparam("owner")
    return page_statements(select(*COLUMNS).where(mine), Conversion.__table__, mine)


def page_statements(rows, from_, *where):
    """A page of `rows` (with `limit` and `offset` parameters), each row carrying the count
    of every row (a window over the same rows, so no second query: see RowsPage), and a
    statement that counts them alone, for a page past the last."""
    rows = (
        rows.add_columns(func.count().over().label("rows_in_all"))
        .order_by(Conversion.created_at.desc(), Conversion.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return rows, select(func.count()).select_from(from_).where(*where)


BY_USER = statements(Conversion.user_id)
BY_SESSION = statements(Conversion.session_key)


class RowsPage(Pagination):
    """Flask-SQLAlchemy's Pagination (what the pagination macro reads) over page_statements();
    its items are rows, with the statement's columns as attributes."""

    def _query_items(self):
        rows, _ = self._query_args["statements"]
        values = {**self._query_args["values"], "limit": self.per_page, "now": utcnow()}
        values["offset"] = self._query_offset
        result = db.session.execute(rows, values)
        item = item_type(tuple(result.keys()))
        items = [item._make(row) for row in result]
        self._counted = items[0].rows_in_all if items else None
        return items

    def _query_count(self):
        if self._counted is not None:
            return self._counted
        _, count = self._query_args["statements"]
        return db.session.scalar(count, {**self._query_args["values"], "now": utcnow()})


@cache
def item_type(columns):
    """A named tuple of these columns, for a page's rows: a template reads a row's fields
    from it much faster than from SQLAlchemy's Row, which a list page does for every cell
    (docs/benchmarks.md)."""
    return namedtuple("Item", columns)


def rows_page(statements, page, per_page, **values):
    return RowsPage(
        page=page,
        per_page=per_page,
        max_per_page=None,
        error_out=False,
        statements=statements,
        values=values,
    )


def history_page(owner, page, per_page):
    """Page `page` of `owner`'s conversions (a User, or an anonymous visitor's key), newest
    first: the rows conversions.owned_by() picks."""
    if is_user(owner):
        chosen, value = BY_USER, owner.id
    else:
        chosen, value = BY_SESSION, owner or "-"
    return rows_page(chosen, page, per_page, owner=value)


ADMIN_COLUMNS = (
    Conversion.id,
    Conversion.original_name,
    Conversion.error,
    User.email.label("owner"),
    Conversion.output_format,
    SHOWN_STATUS,
    Conversion.size,
    Conversion.created_at,
    # conversions.retry()'s test, in SQL: failed (as shown: retry reclaims a lapsed job
    # first), with the options it ran with (the column holds JSON text; CAST reads it as
    # such on SQLite and PostgreSQL alike).
    and_(
        SHOWN == Conversion.FAILED,
        cast(Conversion.options, Text).not_in(("{}", "[]", "null")),
    ).label("retryable"),
)


@dataclass(frozen=True)
class ConversionFilters:
    """The admin's filters on the conversions list (admin.forms.ConversionFilterForm reads
    them from the query string): status, output format, a part of the owner's address, a
    first day."""

    status: str = ""
    format: str = ""
    user: str = ""
    since: date | None = None


def admin_page(filters, page, per_page):
    """Page `page` of every conversion that `filters` (a ConversionFilters) lets through,
    newest first, with each one's owner."""
    values = {}
    if filters.status:
        values["status"] = filters.status
    if filters.format:
        values["format"] = filters.format
    if filters.user:  # a part of the address, % and _ as typed (not LIKE's wildcards)
        escaped = filters.user.lower().translate(LIKE_ESCAPES)
        values["user"] = f"%{escaped}%"
    if filters.since:
        values["since"] = datetime.combine(filters.since, time(), UTC)
    return rows_page(admin_statements(frozenset(values)), page, per_page, **values)


LIKE_ESCAPES = str.maketrans({"/": "//", "%": "/%", "_": "/_"})
ADMIN_FILTERS = {
    "status": SHOWN == bindparam("status"),  # noqa: SIM300 (SHOWN is a column, not a constant)
    "format": Conversion.output_format == bindparam("format"),
    "user": func.lower(User.email).like(bindparam("user"), escape="/"),
    "since": Conversion.created_at >= bindparam("since"),
}


@cache
def admin_statements(filtered):
    """The admin list's statements for the filters named in `filtered`: built once for each
    of their 16 combinations."""
    where = [ADMIN_FILTERS[name] for name in sorted(filtered)] or [true()]
    joined = Conversion.__table__.outerjoin(User.__table__, Conversion.user_id == User.id)
    return page_statements(select(*ADMIN_COLUMNS).select_from(joined).where(*where), joined, *where)


def owned_among(public_ids, owner):
    """The conversions of `owner` among `public_ids`, newest first; anyone else's, and
    those gone already, are left out."""
    query = conversions.listing(owner).where(Conversion.public_id.in_(public_ids))
    return db.session.scalars(query).all()


def delete_many(chosen, by):
    """Delete each of `chosen` as delete() does (its own commit: an outage midway leaves
    each whole). Returns (how many went, how many were kept because they are under way)."""
    deleted = busy = 0
    for conversion in chosen:
        try:
            conversions.delete(conversion, by=by)
        except conversions.Busy:
            busy += 1
        else:
            deleted += 1
    return deleted, busy
