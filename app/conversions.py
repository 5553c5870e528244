"""The conversion service: receive an upload, find and list an owner's conversions, start
(and re-start) a conversion, cancel one, delete one or all of an owner's, and clean up what
expired.

The owner is always an argument, never read from the request: a signed-in user (a User), or
an anonymous visitor's key (a string kept in their session by the web views). The web views
(app/convert) and the JSON API (app/api) resolve the owner from the request and call the same
functions; a refusal is an exception with the HTTP status it means (see Refused), which
app/errors.py turns into a page or a problem document. Running a conversion is the runner's
work (app/jobs/); where files live, the storage's (app/storage.py).
"""

import secrets
import time
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import defer, load_only

from . import jobs, quotas, settings, sheets, storage, webhooks
from .audit import audit
from .exceptions import Refused, StoredFileMissing
from .extensions import db
from .models import Conversion, ConversionResult, User, utcnow
from .sheets import (
    BadOptions,
    NotASpreadsheet,
    Options,
    SheetError,
    WorkbookInfo,
    detect_format,
    formats,
    inspect,
    preview,
    survey,
)
from .sheets.names import clean_file_name
from .sheets.sandbox import EngineCrash, in_folder, run_isolated
from .sizes import format_size

ACTIVE = jobs.ACTIVE
# What the name's extension says, to note a name that disagrees with the content.
EXTENSIONS = formats.INPUT_BY_EXTENSION


class UploadRefused(Refused):
    """The upload cannot be used."""


class UploadTooLarge(UploadRefused):
    status = 413


class NotSpreadsheet(UploadRefused):
    status = 415


class QuotaReached(UploadRefused):
    """The owner's stored files (or all visitors') would pass what they may keep."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class OptionsRefused(Refused):
    """The options cannot be used for this file."""


class NotFound(Refused):
    """No such conversion, or someone else's: the same answer, so ids cannot be probed."""

    status = 404
    message = "There is no conversion with this id."


class Expired(Refused):
    status = 410
    message = "This item has expired and its files were deleted."


class Gone(Refused):
    """The conversion is there but a file it needs is not (removed by hand, or lost)."""

    status = 410
    message = "The uploaded file is no longer stored on the server. Please upload it again."


class Busy(Refused):
    """Not while the conversion is queued or running."""

    status = 409
    message = "Wait for the conversion to finish, then try again."


class AlreadyEnded(Refused):
    """Only a queued or running conversion can be cancelled."""

    status = 409
    message = "This conversion has already ended: there is nothing to cancel."


class NotReady(Refused):
    """There is no result to download (yet)."""

    status = 409


class NoSuchSheet(Refused):
    """A sheet the file does not have: a missing resource, not a bad option."""

    status = 404


class ReadingFailed(Refused):
    """The engine crashed reading a file: a fault of ours (logged once, with the child's
    traceback), never the sender's 4xx."""

    status = 500
    message = (
        "Sheetport could not read this file because of a fault on its side, which has been "
        "logged. Please try again later."
    )


class JobFailed(Refused):
    """A one-shot conversion that failed: the file's fault (422) or the server's (5xx),
    as the job's message says (jobs.failure_status)."""

    def __init__(self, message):
        super().__init__(message)
        self.status = jobs.failure_status(message)


def refusal(error):
    """The UploadRefused that a SheetError from reading an upload means."""
    kind = NotSpreadsheet if isinstance(error, NotASpreadsheet) else UploadRefused
    return kind(str(error))


# --- owners -------------------------------------------------------------------------------


def is_user(owner):
    return isinstance(owner, User)


def upload_limit(owner):
    """Bytes `owner` may upload: more with an account than without."""
    signed_in = is_user(owner)
    megabytes = settings.get("upload_limit_user_mb" if signed_in else "upload_limit_anonymous_mb")
    return megabytes * 1024 * 1024


def may_convert(owner):
    return is_user(owner) or bool(settings.get("allow_anonymous"))


def belongs_to(conversion, owner):
    if is_user(owner):
        return conversion.user_id == owner.id
    return conversion.user_id is None and owner is not None and conversion.session_key == owner


def owned_by(owner):
    """The condition on Conversion for `owner`'s rows (an owner None has none)."""
    if is_user(owner):
        return Conversion.user_id == owner.id
    return Conversion.session_key == (owner or "-")


# --- receiving a file ---------------------------------------------------------------------


def receive_upload(file, owner, look_inside=True):
    """Store an uploaded file, check what it is, and record it as `owner`'s (a User, or an
    anonymous visitor's key). Nothing is kept on refusal.
    look_inside=False checks only the format; the sheets are read when first needed
    (inspected()): the API's one-shot convert, where the job reads the file anyway."""
    if owner is None:
        raise ValueError("an upload needs an owner: a user or an anonymous key")
    files = storage.current()
    limit = upload_limit(owner)
    stored, size = files.save_upload(file.stream, limit)
    if stored is None:
        raise too_large(owner)
    name = clean_file_name(file.filename)  # one name for the record and the text sheet
    stem = text_sheet_name(name)
    try:
        with files.local_copy(stored) as path:
            if look_inside:
                # One child process reads the file once for both answers (app.sheets.survey).
                info, shown = read_in_time(
                    survey, path, text_sheet_name=stem, reading=f"the upload {stored}"
                )
            else:
                found = read_in_time(detect_format, path, reading=f"the upload {stored}")
                info = WorkbookInfo(found.format, found.description, [], found.encoding)
                shown = None
    except SheetError as error:
        jobs.forget_file(current_app, stored)
        raise refusal(error) from None
    except BaseException:
        jobs.forget_file(current_app, stored)
        raise
    details = asdict(info)
    if not look_inside:
        del details["sheets"]  # not read yet: see inspected()
    summaries, rows = kept_previews(shown)
    conversion = Conversion(
        original_name=name,
        stored_name=stored,
        detected_format=info.format,
        size=size,
        info={**details, "previews": summaries},
        preview_rows=rows,
        expires_at=utcnow() + timedelta(hours=settings.get("retention_hours")),
    )
    if is_user(owner):
        conversion.user_id = owner.id
    else:
        conversion.session_key = owner
    db.session.add(conversion)
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        jobs.forget_file(current_app, stored)
        raise
    refused = quotas.over_quota(
        owned_by(owner), is_user(owner), current_app.config["VISITORS_STORAGE_MB"] * quotas.MB
    )
    if refused:
        db.session.delete(conversion)
        db.session.commit()
        jobs.forget_file(current_app, stored)
        raise QuotaReached(*refused)
    return conversion


def too_large(owner):
    """The UploadTooLarge for a file past `owner`'s upload limit."""
    signed_in = is_user(owner)
    who = "with your account" if signed_in else "without an account"
    advice = "" if signed_in else " Sign in to upload larger files."
    limit = format_size(upload_limit(owner))
    return UploadTooLarge(f"The file is larger than the {limit} limit {who}.{advice}")


def adopt(anonymous_key, user):
    """A visitor who signs in keeps what they converted: their conversions become the
    account's. Returns how many moved (the caller commits)."""
    if not anonymous_key:
        return 0
    moved = db.session.execute(
        update(Conversion)
        .where(Conversion.session_key == anonymous_key, Conversion.user_id.is_(None))
        .values(user_id=user.id, session_key=None)
    )
    return moved.rowcount


def storage_use(owner):
    """(bytes `owner` keeps stored, bytes they may keep)."""
    return quotas.used(owned_by(owner)), quotas.quota(is_user(owner))


def read_in_time(function, *args, reading=None, **kwargs):
    """Run an engine reader for a request in a child process stopped after UPLOAD_READ_SECONDS,
    well under the server's worker timeout: a file crafted to make reading slow costs its
    sender a refusal, never a web worker. `reading` names the file in the log if the
    engine crashes (ReadingFailed)."""
    seconds = current_app.config["UPLOAD_READ_SECONDS"]
    limits = replace(jobs.engine_limits(current_app), max_seconds=seconds)
    # Its temporary files (a decrypted or repaired copy) go to a folder in the upload area
    # that is removed afterwards, also when the child is stopped halfway.
    try:
        with storage.current().reading_folder() as folder:
            return run_isolated(
                in_folder,
                str(folder),
                function,
                *args,
                limits=limits,
                memory_bytes=limits.max_memory_bytes,
                seconds=seconds,
                **kwargs,
            )
    except EngineCrash as crash:
        current_app.logger.error(
            "The engine crashed in %s reading %s:\n%s", function.__name__, reading, crash
        )
        raise ReadingFailed() from None


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


def sheet_names(conversion):
    return [s["name"] for s in conversion.info.get("sheets", [])]


def first_sheet_name(conversion):
    sheets = conversion.info.get("sheets", [])
    visible = [s["name"] for s in sheets if s["visible"]] or [s["name"] for s in sheets]
    return visible[0] if visible else None


def quick_options(conversion, output_format="csv"):
    """The options of a one-click conversion: the first visible sheet."""
    sheet = first_sheet_name(conversion)
    return {
        "format": output_format,
        "sheets": [sheet] if sheet else [],
        "name_stem": text_sheet_name(conversion.original_name),
    }


def media_type(conversion):
    return formats.media_type_of_file(conversion.result_name)


# --- finding and listing ------------------------------------------------------------------


# `info` holds the sheets and the kept previews' summaries: only pages that show the file
# read it (inspected()), so the download and the delete do not. Built once:
# SQLAlchemy reuses a statement's compiled form without building and keying it again.
FIND_QUERY = (
    select(Conversion)
    .options(defer(Conversion.info))
    .where(Conversion.public_id == bindparam("public_id"))
)
# The file's page reads `info` at once: in the same query, not a second one.
DETAILS_QUERY = select(Conversion).where(Conversion.public_id == bindparam("public_id"))
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
STATUS_QUERY = (
    select(Conversion)
    .options(load_only(*STATUS_COLUMNS, raiseload=True))
    .where(Conversion.public_id == bindparam("public_id"))
)


def find(public_id, owner, query=FIND_QUERY):
    """`owner`'s conversion with this id. NotFound for anyone else's (or none), Expired
    once its retention has passed. A job whose runner died reads as failed at once
    (jobs.as_reclaimed), so that its owner can retry or delete it; nothing is written."""
    conversion = db.session.scalar(query, {"public_id": public_id})
    if conversion is None or not belongs_to(conversion, owner):
        raise NotFound()
    if conversion.is_expired():
        raise Expired()
    return jobs.as_reclaimed(conversion)


def status_of(public_id, owner):
    """find() for the status poll, with only STATUS_COLUMNS loaded."""
    return find(public_id, owner, STATUS_QUERY)


def find_inspected(public_id, owner):
    """find() and inspected() for a page that shows the file, `info` read in one query."""
    return inspected(find(public_id, owner, DETAILS_QUERY))


def listing(owner, details=False):
    """A query for `owner`'s conversions, newest first. Without `details` the JSON columns
    (the cached preview alone is about 9 KB a row) load only if touched: lists need none."""
    query = select(Conversion).where(owned_by(owner))
    if not details:
        query = query.options(
            defer(Conversion.info), defer(Conversion.options), defer(Conversion.warnings)
        )
    return query.order_by(Conversion.created_at.desc(), Conversion.id.desc())


@contextmanager
def stored_upload(conversion):
    """A local path to the conversion's upload; Gone (logged) if it is no longer stored."""
    try:
        with storage.current().local_copy(conversion.stored_name) as path:
            yield path
    except StoredFileMissing:
        current_app.logger.warning(
            "Conversion %s: its upload %s is missing", conversion.public_id, conversion.stored_name
        )
        raise Gone() from None


def inspected(conversion):
    """The conversion with its sheets read: an upload received with look_inside=False
    is read now, once (a file that cannot be read has no sheets)."""
    if "sheets" not in conversion.info:
        try:
            with stored_upload(conversion) as path:
                info = read_in_time(
                    inspect,
                    path,
                    text_sheet_name=text_sheet_name(conversion.original_name),
                    reading=f"conversion {conversion.public_id}",
                )
            found = asdict(info)
        except SheetError:
            found = {"sheets": []}
        conversion.info = {**conversion.info, **found}
        db.session.commit()
    return jobs.as_reclaimed(conversion)  # as find() showed it: the commit read it afresh


def sheet_preview(conversion, sheet):
    """The first 100 rows of a sheet (a SheetPreview), cached with the conversion after the
    first look. OptionsRefused if the file has no such sheet, or it cannot be read."""
    if sheet not in sheet_names(conversion):
        raise NoSuchSheet(f"The file has no sheet named '{sheet}'.")
    previews = conversion.info.get("previews", {})
    # A preview kept in the old shape (its rows in `info`, no row_count: written by a process
    # of the version before, during a deploy) is read again, as a missing one is.
    if "row_count" not in previews.get(sheet, {}):
        try:
            with stored_upload(conversion) as path:
                shown = read_in_time(
                    preview,
                    path,
                    sheet,
                    text_sheet_name=text_sheet_name(conversion.original_name),
                    input_encoding=conversion.info.get("input_encoding") or None,
                    reading=f"conversion {conversion.public_id}",
                )
        except SheetError as error:
            raise OptionsRefused(str(error)) from None
        summaries, rows = kept_previews(shown)
        conversion.info = {**conversion.info, "previews": {**previews, **summaries}}
        conversion.preview_rows = {**(conversion.preview_rows or {}), **rows}
        db.session.commit()
        jobs.as_reclaimed(conversion)  # as find() showed it: the commit read it afresh
    kept = conversion.info["previews"][sheet]
    names = {field.name for field in fields(SheetPreview)} - {"conversion"}
    return SheetPreview(conversion, **{name: kept[name] for name in names if name in kept})


def kept_previews(shown):
    """A preview (or None) as kept with the conversion: ({sheet: its summary}, for `info`;
    {sheet: its rows}, for `preview_rows`). The summary's key names this very preview: a
    page may keep its table's HTML under it (app/templating.py), and a new reading of the
    file makes a new key, so no process shows an old table."""
    if shown is None:
        return {}, {}
    summary = asdict(shown)
    rows = summary.pop("rows")
    summary.update(row_count=len(rows), key=secrets.token_urlsafe(12))
    return {shown.sheet: summary}, {shown.sheet: rows}


@dataclass
class SheetPreview:
    """A kept preview. Its rows are read from their own column only when asked for."""

    conversion: Conversion
    sheet: str
    total_rows: int
    total_columns: int
    shown_columns: int = 0
    cut_cells: bool = False
    row_count: int = 0
    key: str | None = None

    @property
    def rows(self):
        return (self.conversion.preview_rows or {}).get(self.sheet, [])

    def as_dict(self, rows=None):
        """For the API: the summary and the first `rows` rows (all when None)."""
        return {
            "sheet": self.sheet,
            "rows": self.rows[:rows],
            "total_rows": self.total_rows,
            "total_columns": self.total_columns,
            "shown_columns": self.shown_columns,
            "cut_cells": self.cut_cells,
        }


def read_as(conversion, input_encoding):
    """Read a text upload again as `input_encoding`: its details and preview change, and
    later conversions read it so (Options.input_encoding)."""
    if jobs.reclaim_lapsed(conversion).status in ACTIVE:
        raise Busy("Wait for the conversion to finish, then change how the file is read.")
    try:
        with stored_upload(conversion) as path:
            info, shown = read_in_time(
                survey,
                path,
                text_sheet_name=text_sheet_name(conversion.original_name),
                input_encoding=input_encoding,
            )
    except SheetError as error:
        raise UploadRefused(str(error)) from None
    summaries, rows = kept_previews(shown)
    conversion.info = {**asdict(info), "previews": summaries, "input_encoding": input_encoding}
    conversion.preview_rows = rows
    db.session.commit()


def result_download(conversion):
    """The response that sends the converted file; NotReady while there is none."""
    if conversion.status == Conversion.FAILED:
        raise NotReady(f"The conversion failed: {conversion.error}")
    if conversion.status == Conversion.CANCELLED:
        raise NotReady("The conversion was cancelled. Convert it again to get a result.")
    if conversion.status != Conversion.DONE:
        raise NotReady(f"The conversion is not finished yet (it is {conversion.status}).")
    try:
        return storage.current().download(
            conversion.result_stored_name, conversion.result_name, media_type(conversion)
        )
    except StoredFileMissing:
        current_app.logger.warning(
            "Conversion %s: its result %s is missing",
            conversion.public_id,
            conversion.result_stored_name,
        )
        raise Gone(
            "The converted file is no longer stored on the server. Please convert again."
        ) from None


# --- starting -----------------------------------------------------------------------------


def check_options(conversion, options):
    """OptionsRefused naming the first option that cannot be used for this file."""
    if "sheets" in conversion.info:  # not read yet (one-shot): the job checks as it reads
        known = set(sheet_names(conversion))
        missing = [name for name in options.get("sheets") or [] if name not in known]
        if missing:
            raise OptionsRefused(f"The file has no sheet named '{missing[0]}'.")
    try:
        Options(**options).validate()
    except BadOptions as error:
        raise OptionsRefused(str(error)) from None


def start(conversion, options, notify=False, fresh=False, callback=(None, None)):
    """Queue a conversion of the upload with these engine options: the first one, or again
    with new options. Busy while one is queued or running; OptionsRefused for options that
    cannot be used (a `fresh` upload, received in the same request, is then deleted).
    `notify`: email the owner when a long one ends (confirmed addresses only: an
    unconfirmed one may be a stranger's mailbox). `callback`: (url, API token id) to POST
    the end to (app/webhooks.py), checked by the caller. Returns what the runner's submit
    did (jobs.enqueue); if the runner cannot take the job, the row is as it was."""
    if not fresh:  # a job whose runner died is reclaimed first (a fresh upload has none)
        jobs.reclaim_lapsed(conversion)
    if conversion.status in ACTIVE:
        raise Busy("This file is already being converted.")
    try:
        check_options(conversion, options)
    except OptionsRefused:
        if fresh:
            remove(conversion)
            db.session.commit()
        raise
    user = conversion.user
    try:
        return jobs.enqueue(
            conversion,
            options=options,
            output_format=options["format"],
            notify=bool(notify and user is not None and user.confirmed),
            callback_url=callback[0],
            callback_token_id=callback[1] if callback[0] else None,
        )
    except BaseException:
        if fresh:  # the runner could not take it: nothing of the upload is kept
            remove(conversion)
            db.session.commit()
        raise


def retry(conversion):
    """Run a failed conversion again with the same options (the admin's retry). A running
    one whose runner died is reclaimed first: it reads failed, and the admin list offers
    Retry for it (app/history.py)."""
    if jobs.reclaim_lapsed(conversion).status != Conversion.FAILED or not conversion.options:
        raise Busy("Only a failed conversion can be retried.")
    callback = (conversion.callback_url, conversion.callback_token_id)
    return start(conversion, conversion.options, notify=conversion.notify, callback=callback)


def wait_for_job(conversion, seconds, job=None):
    """Wait up to `seconds` for the job to finish; True if it did. `job`: what start()
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


# --- cancelling ---------------------------------------------------------------------------


def cancel(conversion, by):
    """Cancel a queued or running conversion, and record who did: `by` is its owner (a User
    or an anonymous key) or an admin. Its status says cancelled at once; the runner stops
    the child within about a second and keeps nothing it wrote (jobs.cancel). A cancelled
    conversion is like a finished one: it can be converted again or deleted. AlreadyEnded
    if it is not queued or running, also when the job ends at this very moment (a job whose
    runner died is reclaimed first: it failed)."""
    if jobs.reclaim_lapsed(conversion).status not in ACTIVE:
        raise AlreadyEnded()
    cancelled, event = jobs.cancel(conversion)
    if not cancelled:
        raise AlreadyEnded(f"This conversion has already ended ({conversion.status}).")
    target = f"{conversion.original_name} ({conversion.public_id})"
    audit("conversion_cancel", target=target, actor=by if is_user(by) else None)
    db.session.commit()
    webhooks.send_soon(current_app._get_current_object(), [event.id] if event else [])


# --- deleting -----------------------------------------------------------------------------


def delete(conversion, by):
    """Delete a conversion and its files, and record who did: `by` is its owner (a User or
    an anonymous key) or an admin. Busy while it is queued or running (a job whose runner
    died is reclaimed first, and so is not): cancel it first."""
    if jobs.reclaim_lapsed(conversion).status in ACTIVE:
        raise Busy("Cancel the conversion or wait for it to finish, then delete it.")
    target = f"{conversion.original_name} ({conversion.public_id})"
    remove(conversion)
    audit("conversion_delete", target=target, actor=by if is_user(by) else None)
    db.session.commit()


def delete_all(owner):
    """Delete every conversion of `owner` (an anonymous visitor ending their session, or a
    user being deleted), running ones too: a job still running notices and deletes its
    result (see jobs.end)."""
    for conversion in db.session.scalars(listing(owner)).all():
        remove(conversion)
        db.session.commit()  # one at a time: an outage midway leaves each row whole


def remove(conversion):
    """The files of a conversion (its upload and every result it wrote), then its row; the
    caller commits. A job still running notices (its writes find no row) and deletes what
    it was writing."""
    names = {conversion.stored_name, conversion.result_stored_name}
    names.update(result.stored_name for result in conversion.results)
    storage.current().delete(*names)
    db.session.delete(conversion)


# --- retention ----------------------------------------------------------------------------


def cleanup(now=None, requeue=True):
    """Delete expired conversions, their files first (jobs whose runner died are failed or
    requeued first). Returns how many went."""
    now = now or utcnow()
    jobs.reclaim_expired(now, requeue=requeue)
    expired = db.session.scalars(
        select(Conversion).where(
            Conversion.expires_at <= now,
            Conversion.status.not_in(ACTIVE),
        )
    ).all()
    for conversion in expired:  # one at a time: an outage midway leaves each row whole
        remove(conversion)
        db.session.commit()
    return len(expired)


def sweep_files(now=None):
    """Remove files no row owns (older than the retention period), result rows whose
    conversion is gone, and scratch folders of jobs no longer running. Returns the names."""
    files = storage.current()
    orphans = db.session.scalars(
        select(ConversionResult).where(ConversionResult.conversion_id.not_in(select(Conversion.id)))
    ).all()
    removed = []
    for result in orphans:  # one at a time: an outage midway leaves each row whole
        files.delete(result.stored_name)
        db.session.delete(result)
        db.session.commit()
        removed.append(result.stored_name)
    owned = set(db.session.scalars(select(Conversion.stored_name)))
    owned.update(db.session.scalars(select(Conversion.result_stored_name)))
    owned.update(db.session.scalars(select(ConversionResult.stored_name)))
    live = set(db.session.scalars(select(Conversion.runner).where(Conversion.status.in_(ACTIVE))))
    older_than = settings.get("retention_hours") * 3600
    return removed + files.sweep(owned, live, older_than, now=now.timestamp() if now else None)
