"""What the convert views do: receive uploads, find a visitor's conversions, start jobs."""

import secrets
import time
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path

from flask import abort, current_app, session
from flask_login import current_user
from sqlalchemy import bindparam, select
from sqlalchemy.orm import defer, load_only

from . import jobs, settings, sheets
from .errors import format_size
from .extensions import db
from .models import Conversion, utcnow
from .sheets import (
    NotASpreadsheet,
    SheetError,
    WorkbookInfo,
    detect_format,
    inspect,
    preview,
    survey,
)
from .sheets.convert import MEDIA_TYPES, isolated
from .sheets.names import clean_file_name
from .sheets.sandbox import run_isolated

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

    status = 422  # for the API: what an HTTP client is told


class UploadTooLarge(UploadRefused):
    status = 413


class NotSpreadsheet(UploadRefused):
    status = 415


def refusal(error):
    """The UploadRefused that a SheetError from reading an upload means."""
    kind = NotSpreadsheet if isinstance(error, NotASpreadsheet) else UploadRefused
    return kind(str(error))


def upload_limit(owner=None):
    signed_in = owner is not None or current_user.is_authenticated
    megabytes = settings.get("upload_limit_user_mb" if signed_in else "upload_limit_anonymous_mb")
    return megabytes * 1024 * 1024


def may_convert():
    return current_user.is_authenticated or settings.get("allow_anonymous")


def anonymous_key(create=False):
    if create and SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(24)
    return session.get(SESSION_KEY)


def receive_upload(file, owner=None, look_inside=True):
    """Store an uploaded file, check what it is, and record it. Nothing is kept on refusal.
    `owner`: the user it belongs to (the API's); by default the visitor, signed in or not.
    look_inside=False checks only the format; the sheets are read when first needed
    (inspected()): the API's one-shot convert, where the job reads the file anyway."""
    if owner is None and current_user.is_authenticated:
        owner = current_user
    files = jobs.storage()
    limit = upload_limit(owner)
    stored, size = files.save_upload(file.stream, limit)
    if stored is None:
        who = "with your account" if owner is not None else "without an account"
        advice = "" if owner is not None else " Sign in to upload larger files."
        raise UploadTooLarge(
            f"The file is larger than the {format_size(limit)} limit {who}.{advice}"
        )
    limits = jobs.engine_limits(current_app)
    name = clean_file_name(file.filename)  # one name for the record and the text sheet
    stem = text_sheet_name(name)
    try:
        with files.local_copy(stored) as path:
            if look_inside:
                # One child process reads the file once for both answers (app.sheets.survey).
                info, shown = read_in_time(survey, path, text_sheet_name=stem)
            else:
                found = isolated(detect_format, path, limits=limits)
                info = WorkbookInfo(found.format, found.description, [], found.encoding)
                shown = None
    except SheetError as error:
        files.delete(stored)
        raise refusal(error) from None
    except BaseException:
        files.delete(stored)
        raise
    details = asdict(info)
    if not look_inside:
        del details["sheets"]  # not read yet: see inspected()
    details["previews"] = {shown.sheet: asdict(shown)} if shown else {}
    conversion = Conversion(
        original_name=name,
        stored_name=stored,
        detected_format=info.format,
        size=size,
        info=details,
        expires_at=utcnow() + timedelta(hours=settings.get("retention_hours")),
    )
    if owner is not None:
        conversion.user_id = owner.id
    else:
        conversion.session_key = anonymous_key(create=True)
    db.session.add(conversion)
    db.session.commit()
    return conversion


def read_in_time(function, *args, **kwargs):
    """Run an engine reader for a request in a child process stopped after UPLOAD_READ_SECONDS,
    well under the server's worker timeout: a file crafted to make reading slow costs its
    sender a refusal, never a web worker."""
    seconds = current_app.config["UPLOAD_READ_SECONDS"]
    limits = replace(jobs.engine_limits(current_app), max_seconds=seconds)
    return run_isolated(
        function,
        *args,
        limits=limits,
        memory_bytes=limits.max_memory_bytes,
        seconds=seconds,
        **kwargs,
    )


def text_sheet_name(original_name):
    """A text file's one sheet is named after the file, by the engine's rule."""
    return sheets.text_sheet_name(original_name)


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
    # `info` holds the cached previews (up to megabytes for a wide sheet): only the file's
    # own page reads it, so the status poll and the download do not load it.
    query = select(Conversion).options(defer(Conversion.info))
    conversion = db.session.scalar(query.where(Conversion.public_id == public_id))
    if conversion is None or not conversion.owned_by(current_user, anonymous_key()):
        abort(404)
    if conversion.is_expired():
        abort(410)
    return inspected(reclaimed_if_lapsed(conversion))


# The status poll comes once a second from every open page: it reads these columns only.
STATUS_COLUMNS = (
    Conversion.status,
    Conversion.progress_done,
    Conversion.progress_total,
    Conversion.error,
    Conversion.user_id,
    Conversion.session_key,
    Conversion.expires_at,
    Conversion.lease_expires_at,
)
# Built once: SQLAlchemy reuses its compiled form without building and keying it again.
STATUS_QUERY = (
    select(Conversion)
    .options(load_only(*STATUS_COLUMNS, raiseload=True))
    .where(Conversion.public_id == bindparam("public_id"))
)


def status_of(public_id, user, session_key):
    """The conversion's status for the poll, with only STATUS_COLUMNS loaded, or None if it
    is not `user`'s (or the anonymous `session_key`'s)."""
    conversion = db.session.scalar(STATUS_QUERY, {"public_id": public_id})
    if conversion is None or not conversion.owned_by(user, session_key):
        return None
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
    """A query for the visitor's conversions, newest first. Lists need none of the JSON
    columns (the cached preview alone is about 9 KB a row): they load only if touched."""
    query = (
        select(Conversion)
        .options(defer(Conversion.info), defer(Conversion.options), defer(Conversion.warnings))
        .order_by(Conversion.created_at.desc(), Conversion.id.desc())
    )
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
            shown = read_in_time(
                preview,
                path,
                sheet,
                text_sheet_name=text_sheet_name(conversion.original_name),
                input_encoding=conversion.info.get("input_encoding") or None,
            )
        conversion.info = {**conversion.info, "previews": {**previews, sheet: asdict(shown)}}
        db.session.commit()
    return conversion.info["previews"][sheet]


def start_conversion(conversion, form):
    session[OPTIONS_KEY] = form.remembered()
    options = form.engine_options(text_sheet_name(conversion.original_name))
    # Confirmed addresses only: an unconfirmed one may be a stranger's mailbox.
    notify = bool(form.notify.data and current_user.is_authenticated and current_user.confirmed)
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


# The API's way in: the owner is an argument, "not found" is None (the view answers 404).


def find_conversion(public_id, owner):
    """`owner`'s conversion with this id, or None (someone else's is None too)."""
    conversion = db.session.scalar(select(Conversion).where(Conversion.public_id == public_id))
    if conversion is None or conversion.user_id != owner.id:
        return None
    return reclaimed_if_lapsed(conversion)


def conversions_of(owner):
    """A query for `owner`'s conversions, newest first."""
    return (
        select(Conversion)
        .where(Conversion.user_id == owner.id)
        .order_by(Conversion.created_at.desc(), Conversion.id.desc())
    )


def wait_for_job(conversion, seconds, job=None):
    """Wait up to `seconds` for the job to finish; True if it did. `job`: what jobs.start()
    returned; a Future (the in-process runner's) is waited on, anything else is polled
    for in the database, which works whatever runs the job."""
    deadline = time.monotonic() + seconds
    if isinstance(job, Future):
        futures_wait([job], timeout=seconds)
    pause = 0.005
    while True:
        db.session.refresh(conversion)
        if conversion.finished:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 1.5, 0.2)


def inspected(conversion):
    """The conversion with its sheets read: an upload received with look_inside=False
    is read now, once (a file that cannot be read has no sheets)."""
    if "sheets" not in conversion.info:
        try:
            with jobs.storage().local_copy(conversion.stored_name) as path:
                info = read_in_time(
                    inspect, path, text_sheet_name=text_sheet_name(conversion.original_name)
                )
            found = asdict(info)
        except SheetError:
            found = {"sheets": []}
        conversion.info = {**conversion.info, **found}
        db.session.commit()
    return conversion


def read_as(conversion, input_encoding):
    """Read a text upload again as `input_encoding`: its details and preview change, and
    later conversions read it so (Options.input_encoding)."""
    try:
        with jobs.storage().local_copy(conversion.stored_name) as path:
            info, shown = read_in_time(
                survey,
                path,
                text_sheet_name=text_sheet_name(conversion.original_name),
                input_encoding=input_encoding,
            )
    except SheetError as error:
        raise UploadRefused(str(error)) from None
    details = asdict(info)
    details["previews"] = {shown.sheet: asdict(shown)} if shown else {}
    details["input_encoding"] = input_encoding
    conversion.info = details
    db.session.commit()
