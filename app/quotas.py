"""How much each owner keeps stored, and the most they may: one visitor or account cannot
fill the disk. What counts is every stored upload and result of the owner's conversions
(all kept until they expire or are deleted)."""

from sqlalchemy import func, literal, select, union_all

from . import settings
from .extensions import db
from .models import Conversion, ConversionResult, User
from .sizes import format_size

MB = 1024 * 1024


def _stored_by(condition):
    """Bytes of the uploads and results of the conversions matching `condition`."""
    uploads = select(func.coalesce(func.sum(Conversion.size), 0)).where(condition)
    results = (
        select(func.coalesce(func.sum(ConversionResult.size), 0))
        .join(Conversion, ConversionResult.conversion_id == Conversion.id)
        .where(condition)
    )
    return uploads.scalar_subquery() + results.scalar_subquery()


def used(condition):
    return db.session.scalar(select(_stored_by(condition)))


def quota(signed_in):
    """Bytes an owner may keep: more with an account than without."""
    name = "storage_quota_user_mb" if signed_in else "storage_quota_anonymous_mb"
    return settings.get(name) * MB


def over_quota(condition, signed_in, visitors_total):
    """None if the owner's files (the new upload's row included: it is committed before
    this is asked) fit; else the message to refuse it with. Two uploads checked at once,
    in any processes, each see the other's committed row, so together they never pass
    the quota (at worst both are refused, and the second try fits)."""
    mine = used(condition)
    allowed = quota(signed_in)
    if mine > allowed:
        where = "with your account" if signed_in else "without an account"
        advice = "" if signed_in else " Sign in to keep more."
        return (
            f"Your files on Sheetport would take {format_size(mine)}, more than the "
            f"{format_size(allowed)} you may keep {where}. Delete some in History, or wait "
            f"until they expire (see History).{advice}"
        ), 413
    if not signed_in and visitors_total:
        everyone = used(Conversion.user_id.is_(None))
        if everyone > visitors_total:
            return (
                "Visitors' files fill the space Sheetport keeps for them just now. "
                "Please try again later, or sign in."
            ), 507
    return None


def top_users(limit=10):
    """The owners who keep the most: (who, conversions, bytes), largest first. Visitors
    are told apart by the start of their session key."""
    result_sizes = (
        select(
            ConversionResult.conversion_id,
            func.sum(func.coalesce(ConversionResult.size, 0)).label("size"),
        )
        .group_by(ConversionResult.conversion_id)
        .subquery()
    )
    per_row = select(
        Conversion.user_id,
        Conversion.session_key,
        (Conversion.size + func.coalesce(result_sizes.c.size, 0)).label("size"),
    ).outerjoin(result_sizes, result_sizes.c.conversion_id == Conversion.id)
    rows = per_row.subquery()
    members = (
        select(
            User.email.label("who"),
            literal(True).label("member"),
            func.count().label("conversions"),
            func.sum(rows.c.size).label("size"),
        )
        .join(User, User.id == rows.c.user_id)
        .group_by(User.email)
    )
    visitors = (
        select(
            rows.c.session_key.label("who"),
            literal(False).label("member"),
            func.count().label("conversions"),
            func.sum(rows.c.size).label("size"),
        )
        .where(rows.c.user_id.is_(None))
        .group_by(rows.c.session_key)
    )
    both = union_all(members, visitors).subquery()
    query = select(both).order_by(both.c.size.desc(), both.c.who).limit(limit)
    return [
        (row.who if row.member else f"visitor {row.who[:8]}…", row.conversions, row.size)
        for row in db.session.execute(query)
    ]
