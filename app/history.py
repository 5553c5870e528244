"""The history list: one page of a visitor's conversions, as plain rows.

A list shows a few columns, so it reads those as rows, not ORM objects, by statements built
once (SQLAlchemy then reuses their compiled form): for a page of 30 the ORM objects, the
query built again each time and its count over a subquery of every column took more time
than the rest of the page.
"""

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import bindparam, func, select

from .conversions import is_user
from .extensions import db
from .models import Conversion

COLUMNS = (
    Conversion.public_id,
    Conversion.original_name,
    Conversion.output_format,
    Conversion.status,
    Conversion.size,
    Conversion.result_size,
    Conversion.created_at,
    Conversion.expires_at,
)


def statements(owner_column):
    mine = owner_column == bindparam("owner")
    rows = (
        select(*COLUMNS)
        .where(mine)
        .order_by(Conversion.created_at.desc(), Conversion.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return rows, select(func.count()).select_from(Conversion).where(mine)


BY_USER = statements(Conversion.user_id)
BY_SESSION = statements(Conversion.session_key)


class RowsPage(Pagination):
    """Flask-SQLAlchemy's Pagination (what the pagination macro reads) over prebuilt
    statements; its items are rows with COLUMNS as attributes."""

    def _query_items(self):
        rows, _ = self._query_args["statements"]
        values = {"owner": self._query_args["owner"]}
        values.update(limit=self.per_page, offset=self._query_offset)
        return db.session.execute(rows, values).all()

    def _query_count(self):
        _, count = self._query_args["statements"]
        return db.session.scalar(count, {"owner": self._query_args["owner"]})


def history_page(owner, page, per_page):
    """Page `page` of `owner`'s conversions (a User, or an anonymous visitor's key), newest
    first: the rows conversions.owned_by() picks."""
    if is_user(owner):
        chosen, value = BY_USER, owner.id
    else:
        chosen, value = BY_SESSION, owner or "-"
    return RowsPage(
        page=page,
        per_page=per_page,
        max_per_page=None,
        error_out=False,
        statements=chosen,
        owner=value,
    )
