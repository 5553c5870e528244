"""Batches: files uploaded together, converted with the same options, downloaded as one zip.

Each file of a batch is a Conversion of its own (received, converted, listed in History and
deleted as any other); the Batch row groups them and keeps the files that were not taken,
with why, so that one file's refusal or failure never fails the others. A zip of
spreadsheets (a zip that is not itself a workbook) is taken as its files, bounded as every
zip Sheetport reads is: how many entries, each one's size and ratio, their total (within
what the owner may still keep); a zip inside is refused. "Download all" streams the
results into one zip as it is sent (no copy of it is written anywhere).
"""

import io
import tempfile
import zipfile
from contextlib import ExitStack, contextmanager
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, exists, update
from werkzeug.datastructures import FileStorage
from zipstream import ZIP_STORED, ZipStream

from . import conversions, quotas, settings, storage
from .exceptions import Refused, StoredFileMissing
from .extensions import db
from .models import Batch, Conversion, utcnow
from .sheets.names import clean_file_name, safe_file_stem
from .sizes import format_size

# Members that make a zip a workbook, not a batch: OOXML, OpenDocument, Apple Numbers.
WORKBOOK_MEMBERS = ("[Content_Types].xml", "mimetype", "Index/Document.iwa", "Index.zip")
MAX_RATIO = 100  # an entry may unpack to at most this many times its packed size
CHUNK = 1024 * 1024


class BatchRefused(Refused):
    """The batch as a whole cannot be taken (too many files, more than the owner may keep)."""

    def __init__(self, message=None, status=422):
        super().__init__(message)
        self.status = status


def find(public_id, owner):
    batch = db.session.scalar(db.select(Batch).filter_by(public_id=public_id))
    if batch is None or not owns(owner, batch):
        raise conversions.NotFound("There is no batch with this id.")
    return batch


def owns(owner, batch):
    """As conversions.belongs_to: a visitor without a key owns nothing, and a batch with
    neither owner column belongs to nobody."""
    if conversions.is_user(owner):
        return batch.user_id == owner.id
    return batch.user_id is None and owner is not None and batch.session_key == owner


def is_several(files):
    """Whether this upload is a batch: several files, or one zip of spreadsheets."""
    return len(files) > 1 or (len(files) == 1 and zip_of_files(files[0]))


def receive(files, owner, admit=None):
    """A Batch of `owner`'s with each file received as a conversion; a file refused is kept
    in `refused` with its reason. BatchRefused if there are more than the batch limit, or a
    zip would unpack to more than the owner may still keep; nothing is stored then.
    `admit(count)`, if given, is told how many files the batch has before anything is
    stored, and may refuse it by raising (the views charge the rate limit per file).

    Each file is only stored and its format checked (look_inside=False): its sheets are
    read when first needed (conversions.inspected), so that a batch of many files is
    received well within the web server's worker timeout. A zip's entries are unpacked one
    at a time, each spooled, received and closed before the next."""
    limit = current_app.config["BATCH_MAX_FILES"]
    with ExitStack() as opened:
        planned = []  # (file, None) or (zip, its ZipFile, its wanted entries)
        count = unpacked_total = 0
        for file in files:
            if zip_of_files(file):
                archive = opened.enter_context(zipfile.ZipFile(file.stream))
                infos = [info for info in archive.infolist() if wanted(info)]
                if len(infos) > limit:
                    raise BatchRefused(
                        f"The zip holds {len(infos)} files; a batch holds at most {limit}."
                    )
                planned.append((file, archive, infos))
                count += len(infos)
                unpacked_total += sum(info.file_size for info in infos)
            else:
                planned.append((file, None, None))
                count += 1
            if count > limit:
                raise BatchRefused(f"A batch holds at most {limit} files; this one has more.")
        if unpacked_total:
            check_room(owner, unpacked_total)
        if admit is not None:
            admit(count)
        batch = Batch(**owner_columns(owner), refused=[])
        db.session.add(batch)
        db.session.commit()
        per_entry = conversions.upload_limit(owner)
        for file, archive, infos in planned:
            if archive is None:
                take(batch, file, None, owner)
                continue
            for info in infos:
                with unpacked_entry(archive, info, per_entry) as (entry, refusal):
                    take(batch, entry, refusal, owner)
        db.session.commit()
    return batch


def check_room(owner, unpacked_total):
    """BatchRefused (413) if a zip's entries would take more than `owner` may still keep:
    checked from the entries' stated sizes before any is unpacked (each is checked again
    as it is read, and each upload against the quota as it is received)."""
    room = quotas.quota(conversions.is_user(owner)) - quotas.used(conversions.owned_by(owner))
    if unpacked_total > room:
        raise BatchRefused(
            f"The zip unpacks to {format_size(unpacked_total)}, more than the "
            f"{format_size(max(room, 0))} you may still keep on Sheetport. Delete some files "
            "in History, or upload fewer at once.",
            status=413,
        )


def take(batch, file, refusal, owner):
    name = clean_file_name(file.filename)
    if refusal is None:
        try:
            conversion = conversions.receive_upload(file, owner, look_inside=False)
        except conversions.Refused as refused:
            refusal = str(refused)
        else:
            conversion.batch_id = batch.id
            db.session.commit()
            return
    batch.refused = [*batch.refused, {"name": name, "error": refusal}]
    db.session.commit()


def adopt(anonymous_key, user):
    """A visitor who signs in keeps their batches, as their conversions (the caller
    commits)."""
    if anonymous_key:
        db.session.execute(
            update(Batch)
            .where(Batch.session_key == anonymous_key, Batch.user_id.is_(None))
            .values(user_id=user.id, session_key=None)
        )


def owner_columns(owner):
    if conversions.is_user(owner):
        return {"user_id": owner.id}
    return {"session_key": owner}


def zip_of_files(file):
    """A zip that is not a workbook (its stream is left at the start)."""
    stream = file.stream
    stream.seek(0)
    try:
        if stream.read(4) != b"PK\x03\x04":
            return False
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    finally:
        stream.seek(0)
    return not any(
        member in names or any(n.endswith("/" + member) for n in names)
        for member in WORKBOOK_MEMBERS
    )


@contextmanager
def unpacked_entry(archive, info, per_entry):
    """One file of a zip of spreadsheets as (FileStorage, refusal), spooled to a temporary
    file that goes when the block ends. An entry too large, too compressed or itself a zip
    is refused with the reason."""
    name = info.filename.rsplit("/", 1)[-1]
    if info.file_size > per_entry:
        yield blank(name), "The file is larger than the upload limit."
        return
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        yield blank(name), "The file is packed too tightly to be a spreadsheet (a zip bomb?)."
        return
    with tempfile.SpooledTemporaryFile(max_size=CHUNK) as spool:
        yield spooled(archive, info, per_entry, spool, name)


def spooled(archive, info, per_entry, spool, name):
    try:
        with archive.open(info) as source:
            read = 0
            while block := source.read(CHUNK):
                read += len(block)
                if read > per_entry:  # the header lied about its size
                    return blank(name), "The file is larger than the upload limit."
                spool.write(block)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        return blank(name), f"The zip entry could not be read ({e})."
    spool.seek(0)
    entry = FileStorage(stream=spool, filename=name)
    if zip_of_files(entry):
        return entry, "A zip inside a zip is not unpacked; upload it on its own."
    return entry, None


def wanted(info):
    name = info.filename.rsplit("/", 1)[-1]
    return not (info.is_dir() or not name or name.startswith(".") or "__MACOSX/" in info.filename)


def blank(name):
    return FileStorage(stream=io.BytesIO(), filename=name)


def start_all(batch, output_format, all_sheets=False):
    """Convert every file of the batch that is not under way with the same options: the
    first visible sheet of each (the engine's default, so the sheets need not be read
    here: the job reads the file), or all of them. A file that is under way, expired, or
    that the options do not suit is left as it was (its own error untouched). Returns
    (how many started, [(file name, why it was not)])."""
    started, skipped = 0, []
    batch.options = {"format": output_format, "all_sheets": all_sheets}
    db.session.commit()
    for conversion in batch.conversions:
        if conversion.is_expired():
            skipped.append((conversion.original_name, "it has expired; upload it again"))
            continue
        options = {
            "format": output_format,
            "sheets": [],
            "all_sheets": all_sheets,
            "name_stem": conversions.text_sheet_name(conversion.original_name),
        }
        try:
            conversions.start(conversion, options)
        except conversions.Busy:
            continue  # under way already: it goes on with its own options
        except conversions.Refused as refusal:
            skipped.append((conversion.original_name, str(refusal)))
            continue
        started += 1
    return started, skipped


def cancel_all(batch, by):
    """Cancel every file of the batch that is queued or running (conversions.cancel: each
    audited, its own commit); one that ends meanwhile is left as it ended. Returns how many
    were cancelled."""
    cancelled = 0
    for conversion in batch.conversions:
        if conversion.status not in conversions.ACTIVE:
            continue
        try:
            conversions.cancel(conversion, by)
        except conversions.AlreadyEnded:
            continue
        cancelled += 1
    return cancelled


def summary(batch):
    """(counts by status, whether any is under way, whether any result is ready)."""
    counts = {}
    for conversion in batch.conversions:
        counts[conversion.status] = counts.get(conversion.status, 0) + 1
    busy = any(status in conversions.ACTIVE for status in counts)
    return counts, busy, counts.get(Conversion.DONE, 0) > 0


def download_all(batch):
    """A zip of every finished result, streamed as it is sent: (chunks, file name). Names
    that repeat get " (2)", " (3)". Expired results are left out, as their own download
    refuses them; a result no longer stored (or gone while the zip is sent) becomes a short
    "<name>.missing.txt" saying so, never a zip cut off halfway. The session's transaction
    ends here: no connection is held for the length of the download."""
    files = storage.current()
    ready = [c for c in batch.conversions if c.status == Conversion.DONE and not c.is_expired()]
    if not ready:
        raise conversions.NotReady("No file of this batch is converted yet.")
    taken = set()
    entries = []
    for conversion in ready:
        stored = conversion.result_stored_name
        if not files.exists(stored):
            missing(conversion.public_id, stored)
            stored = None
        entries.append((unique(conversion.result_name, taken), stored, conversion.public_id))
    if not any(stored for _, stored, _ in entries):
        raise conversions.Gone(
            "The converted files are no longer stored on the server. Please convert again."
        )
    name = f"{safe_file_stem('batch ' + batch.created_at.strftime('%Y-%m-%d'), 'batch')}.zip"
    db.session.commit()
    return zipped(files, entries), name


def zipped(files, entries):
    """The zip's bytes: each file is opened just before its entry is written, so one that
    has gone is noted in an entry of its own instead."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=False)
    for name, stored, public_id in entries:
        if stored is not None:
            try:
                with files.local_copy(stored) as path, open(path, "rb") as source:
                    archive.add(chunks(source), name)
                    yield from archive.all_files()
                continue
            except StoredFileMissing:  # gone since the download began
                missing(public_id, stored)
        archive.add(MISSING_NOTE.format(name=name).encode(), f"{name}.missing.txt")
        yield from archive.all_files()
    yield from archive.footer()


MISSING_NOTE = (
    "{name} is no longer stored on the server, so it is not in this zip.\n"
    "Convert the file again to get it.\n"
)


def missing(public_id, stored_name):
    current_app.logger.warning(
        "Conversion %s: its result %s is missing from a batch download", public_id, stored_name
    )


def chunks(source):
    """An open file's bytes, a block at a time."""
    while block := source.read(CHUNK):
        yield block


def cleanup(now=None):
    """Delete batches that have no conversion left and are older than the retention
    period (their files expired or were deleted). Returns how many went."""
    now = now or utcnow()
    older = now - timedelta(hours=settings.get("retention_hours"))
    gone = db.session.execute(
        delete(Batch).where(
            Batch.created_at <= older,
            ~exists().where(Conversion.batch_id == Batch.id),
        )
    ).rowcount
    db.session.commit()
    return gone


def delete_all(owner):
    """Delete `owner`'s batches (after their conversions: see conversions.delete_all); the
    caller commits."""
    condition = (
        Batch.user_id == owner.id
        if conversions.is_user(owner)
        else Batch.session_key == (owner or "-")
    )
    db.session.execute(delete(Batch).where(condition))


def unique(name, taken):
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem} ({number}){dot}{extension}"
    taken.add(candidate.lower())
    return candidate
