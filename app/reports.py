"""What the admin area reads: the dashboard's figures and lists, a user's page, the audit
log and the messages, as statements built once (SQLAlchemy then reuses their compiled
form). The conversions list is history.admin_page's; the quotas' top users quotas.py's."""

import threading
from datetime import timedelta

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import bindparam, func, select, true

from . import storage
from .exceptions import described
from .extensions import db
from .models import AuditEvent, Conversion, Message, User
from .sizes import format_size


def counts(column, **where):
    """A statement counting the rows that have `column` set: in all (`all`), and under each
    condition (named as given), in one query."""
    figures = [func.count(column).label("all")]
    figures += [
        func.count(column).filter(condition).label(name) for name, condition in where.items()
    ]
    return select(*figures)


# The dashboard's queries, built once (SQLAlchemy then reuses their compiled form): the
# page is three counts (in one query), two short lists and the storage figure.
DAY_START, WEEK_AGO = bindparam("day_start"), bindparam("week_ago")
USER_COUNTS = counts(User.id, confirmed=User.confirmed.is_(True), new=User.created_at >= WEEK_AGO)
CONVERSION_COUNTS = counts(
    Conversion.id,
    today=Conversion.created_at >= DAY_START,
    week=Conversion.created_at >= WEEK_AGO,
    failed=Conversion.status == Conversion.FAILED,
    running=Conversion.status == Conversion.RUNNING,
    queued=Conversion.status == Conversion.QUEUED,
)
MESSAGE_COUNTS = counts(Message.id, unread=Message.read.is_(False))


def side_by_side(**statements):
    """One-row statements as one query (one round trip), their columns named
    `<name>_<column>`."""
    parts = [statement.subquery(name) for name, statement in statements.items()]
    columns = [column.label(f"{part.name}_{column.name}") for part in parts for column in part.c]
    query = select(*columns).select_from(parts[0])
    for part in parts[1:]:
        query = query.join(part, true())
    return query


FIGURES = side_by_side(users=USER_COUNTS, conversions=CONVERSION_COUNTS, messages=MESSAGE_COUNTS)
NEWEST_USERS = (
    select(User.id, User.email, User.created_at, User.last_seen_at)
    .order_by(User.created_at.desc(), User.id.desc())
    .limit(10)
)
RECENT_EVENTS = select(AuditEvent).order_by(AuditEvent.created_at.desc()).limit(10)


def dashboard_figures(now):
    """The dashboard's (label, value) figures."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    when = {"day_start": day_start, "week_ago": now - timedelta(days=7)}
    found = db.session.execute(FIGURES, when).one()
    return [
        ("Users", found.users_all),
        ("Confirmed", found.users_confirmed),
        ("New this week", found.users_new),
        ("Conversions today", found.conversions_today),
        ("This week", found.conversions_week),
        ("Failed", found.conversions_failed),
        ("Running", found.conversions_running),
        ("Queued", found.conversions_queued),
        ("Storage used", storage_used()),
        ("Unread messages", found.messages_unread),
    ]


# Measuring storage lists every stored file (or the whole bucket, over the network): done
# at most once a minute per process and place, not on every view of the dashboard.
STORAGE_USED = TTLCache(maxsize=8, ttl=60)
STORAGE_USED_LOCK = threading.Lock()


def storage_used():
    place = current_app.config.get("STORAGE_URL") or current_app.config["UPLOAD_FOLDER"]
    with STORAGE_USED_LOCK:
        used = STORAGE_USED.get(place)
    if used is None:
        try:
            used = storage.current().usage()
        except storage.StorageUnavailable as error:
            current_app.logger.error(
                "Storage unavailable: the admin dashboard could not measure it (%s)",
                described(error.__cause__ or error),
            )
            return "unavailable just now"
        with STORAGE_USED_LOCK:
            STORAGE_USED[place] = used
    return format_size(used)


def dashboard_lists():
    """(the newest users, the latest audit events)."""
    return db.session.execute(NEWEST_USERS), db.session.scalars(RECENT_EVENTS)


def user_conversions(user, limit=20):
    return db.session.scalars(
        select(Conversion)
        .where(Conversion.user_id == user.id)
        .order_by(Conversion.created_at.desc())
        .limit(limit)
    )


def user_events(user, limit=20):
    """What the user did, and what was done to their account."""
    return db.session.scalars(
        select(AuditEvent)
        .where((AuditEvent.actor_id == user.id) | (AuditEvent.target.like(f"{user.email}%")))
        .order_by(AuditEvent.created_at.desc())
        .limit(limit)
    )


def audit_query(action="", search=""):
    """The audit log, newest first, of one action (or every one) and matching `search` in
    who or what, any case."""
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            func.lower(AuditEvent.target).like(pattern)
            | func.lower(AuditEvent.actor_email).like(pattern)
        )
    return query


MESSAGES = select(Message).order_by(Message.read.asc(), Message.created_at.desc())


def page_of(query, page, per_page):
    return db.paginate(query, page=page, per_page=per_page, error_out=False)
