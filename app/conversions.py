"""What the convert views do: receive uploads, find a visitor's conversions, start jobs."""

import secrets
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from flask import abort, current_app, session
from flask_login import current_user
from sqlalchemy import select

from . import jobs, settings
from .errors import format_size
from .extensions import db
from .models import Conversion, utcnow
from .sheets import SheetError, preview, survey
from .sheets.convert import MEDIA_TYPES
from .sheets.names import clean_file_name

SESSION_KEY = "anonymous_key"
OPTIONS_KEY = "convert_options"
# What the name's extension says, to note a name that disagrees with the content.
EXTENSIONS = {
    "xlsx": "xlsx",
    "xlsm": "xlsm",
    "xltx": "xltx",
    "xlsb": "xlsb",
    "xls": "xls",
    "ods": "ods",
    "csv": "csv",
    "tsv": "csv",
    "txt": "csv",
}


class UploadRefused(Exception):
    """The upload cannot be used; the message says why, for the person who sent it."""


def upload_limit():
    signed_in = current_user.is_authenticated
    megabytes = settings.get("upload_limit_user_mb" if signed_in else "upload_limit_anonymous_mb")
    return megabytes * 1024 * 1024


def may_convert():
    return current_user.is_authenticated or settings.get("allow_anonymous")


def anonymous_key(create=False):
    if create and SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(24)
    return session.get(SESSION_KEY)


def receive_upload(file):
    """Store an uploaded file, check what it is, and record it. Nothing is kept on refusal."""
    files = jobs.storage()
    limit = upload_limit()
    stored, size = files.save_upload(file.stream, limit)
    if stored is None:
        who = "with your account" if current_user.is_authenticated else "without an account"
        advice = "" if current_user.is_authenticated else " Sign in to upload larger files."
        raise UploadRefused(
            f"The file is larger than the {format_size(limit)} limit {who}.{advice}"
        )
    limits = jobs.engine_limits(current_app)
    name = clean_file_name(file.filename)  # one name for the record and the text sheet
    stem = text_sheet_name(name)
    try:
        # One child process reads the file once for both answers (see app.sheets.survey).
        with files.local_copy(stored) as path:
            info, shown = survey(path, limits=limits, isolate=True, text_sheet_name=stem)
    except SheetError as error:
        files.delete(stored)
        raise UploadRefused(str(error)) from None
    except BaseException:
        files.delete(stored)
        raise
    details = asdict(info)
    details["previews"] = {shown.sheet: asdict(shown)} if shown else {}
    conversion = Conversion(
        original_name=name,
        stored_name=stored,
        detected_format=info.format,
        size=size,
        info=details,
        expires_at=utcnow() + timedelta(hours=settings.get("retention_hours")),
    )
    if current_user.is_authenticated:
        conversion.user_id = current_user.id
    else:
        conversion.session_key = anonymous_key(create=True)
    db.session.add(conversion)
    db.session.commit()
    return conversion


def text_sheet_name(original_name):
    """A text file's one sheet is named after the file, as Excel names it."""
    return Path(original_name or "").stem or "Sheet1"


def name_disagrees(conversion):
    """A note when the file's name says one format and its bytes another."""
    extension = Path(conversion.original_name).suffix.lower().lstrip(".")
    said = EXTENSIONS.get(extension)
    if said and said != conversion.detected_format:
        return (
            f"The name ends in .{extension}, but the file is really "
            f"{conversion.info.get('description', conversion.detected_format)}; it was read as that."
        )
    return None


def owned_conversion(public_id):
    """The visitor's own conversion: 404 for anyone else's, 410 once it has expired."""
    conversion = db.session.scalar(select(Conversion).where(Conversion.public_id == public_id))
    if conversion is None or not conversion.owned_by(current_user, anonymous_key()):
        abort(404)
    if conversion.is_expired():
        abort(410)
    return reclaimed_if_lapsed(conversion)


def reclaimed_if_lapsed(conversion):
    """A job whose runner died says so as soon as its owner looks (no need to wait for
    the periodic tick), so that they can retry or delete it."""
    lease = conversion.lease_expires_at
    lapsed = conversion.status in jobs.ACTIVE and (lease is None or lease < utcnow())
    if lapsed and jobs.reclaim_expired(conversion_ids=[conversion.id]):
        db.session.refresh(conversion)
    return conversion


def visitor_conversions():
    """A query for the visitor's conversions, newest first."""
    query = select(Conversion).order_by(Conversion.created_at.desc(), Conversion.id.desc())
    if current_user.is_authenticated:
        return query.where(Conversion.user_id == current_user.id)
    key = anonymous_key()
    return query.where(Conversion.session_key == (key or "-"))


def sheet_preview(conversion, sheet):
    """The first 100 rows of a sheet, cached with the conversion after the first look."""
    previews = conversion.info.get("previews", {})
    if sheet not in previews:
        files = jobs.storage()
        with files.local_copy(conversion.stored_name) as path:
            shown = preview(
                path,
                sheet,
                limits=jobs.engine_limits(current_app),
                isolate=True,
                text_sheet_name=text_sheet_name(conversion.original_name),
            )
        conversion.info = {**conversion.info, "previews": {**previews, sheet: asdict(shown)}}
        db.session.commit()
    return conversion.info["previews"][sheet]


def start_conversion(conversion, form):
    session[OPTIONS_KEY] = form.remembered()
    options = form.engine_options(text_sheet_name(conversion.original_name))
    notify = bool(form.notify.data and current_user.is_authenticated)
    return jobs.start(conversion, options, notify=notify)


def quick_options(conversion):
    sheet = first_sheet_name(conversion)
    return {
        "format": "csv",
        "sheets": [sheet] if sheet else [],
        "name_stem": text_sheet_name(conversion.original_name),
    }


def first_sheet_name(conversion):
    sheets = conversion.info.get("sheets", [])
    visible = [s["name"] for s in sheets if s["visible"]] or [s["name"] for s in sheets]
    return visible[0] if visible else None


def remembered_options():
    return session.get(OPTIONS_KEY, {})


def end_anonymous_session():
    """Delete the anonymous visitor's files and records, then forget the session.
    A job still running notices and deletes its result (see jobs.delete_conversion)."""
    if current_user.is_anonymous and anonymous_key():
        for conversion in db.session.scalars(visitor_conversions()).all():
            jobs.delete_conversion(conversion)
        db.session.commit()
    session.clear()


def media_type(conversion):
    return MEDIA_TYPES[conversion.result_name.rsplit(".", 1)[-1]]
