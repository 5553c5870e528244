"""Batches: files uploaded together, converted with the same options, downloaded as one zip.

Each file of a batch is a Conversion of its own (received, converted, listed in History and
deleted as any other); the Batch row groups them and keeps the files that were not taken,
with why, so that one file's refusal or failure never fails the others. A zip of
spreadsheets (a zip that is not itself a workbook) is taken as its files, bounded as every
zip Sheetport reads is: how many entries, each one's size and ratio, their total; a zip
inside is refused. "Download all" streams the results into one zip as it is sent (no copy
of it is written anywhere).
"""

import io
import tempfile
import zipfile
from contextlib import ExitStack

from flask import current_app
from sqlalchemy import update
from werkzeug.datastructures import FileStorage
from zipstream import ZIP_STORED, ZipStream

from . import conversions, storage
from .exceptions import Refused
from .extensions import db
from .models import Batch, Conversion
from .sheets.names import clean_file_name, safe_file_stem

# Members that make a zip a workbook, not a batch: OOXML, OpenDocument, Apple Numbers.
WORKBOOK_MEMBERS = ("[Content_Types].xml", "mimetype", "Index/Document.iwa", "Index.zip")
MAX_RATIO = 100  # an entry may unpack to at most this many times its packed size
CHUNK = 1024 * 1024


class BatchRefused(Refused):
    """The batch as a whole cannot be taken (too many files, a zip bomb)."""


def find(public_id, owner):
    batch = db.session.scalar(db.select(Batch).filter_by(public_id=public_id))
    if batch is None or not owns(owner, batch):
        raise conversions.NotFound("There is no batch with this id.")
    return batch


def owns(owner, batch):
    if conversions.is_user(owner):
        return batch.user_id == owner.id
    return batch.user_id is None and batch.session_key == owner


def is_several(files):
    """Whether this upload is a batch: several files, or one zip of spreadsheets."""
    return len(files) > 1 or (len(files) == 1 and zip_of_files(files[0]))


def receive(files, owner):
    """A Batch of `owner`'s with each file received as a conversion; a file refused is kept
    in `refused` with its reason. BatchRefused if there are more than the batch limit."""
    limit = current_app.config["BATCH_MAX_FILES"]
    with ExitStack() as opened:
        entries = []
        for file in files:
            if zip_of_files(file):
                entries += opened.enter_context(unpacked(file, owner, limit))
            else:
                entries.append((file, None))
            if len(entries) > limit:
                raise BatchRefused(f"A batch holds at most {limit} files; this one has more.")
        batch = Batch(**owner_columns(owner), refused=[])
        db.session.add(batch)
        db.session.commit()
        for file, refusal in entries:
            take(batch, file, refusal, owner)
        db.session.commit()
    return batch


def take(batch, file, refusal, owner):
    name = clean_file_name(file.filename)
    if refusal is None:
        try:
            conversion = conversions.receive_upload(file, owner)
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


class unpacked:  # noqa: N801 (a context manager used like a function)
    """The files of a zip of spreadsheets, as (FileStorage, refusal) pairs, each spooled to
    a temporary file that goes when the context ends. Directories and hidden files (macOS's
    __MACOSX, .DS_Store) are skipped; an entry too large, too compressed or itself a zip is
    refused with the reason, and more than `limit` entries refuse the whole batch."""

    def __init__(self, file, owner, limit):
        self.file, self.owner, self.limit = file, owner, limit
        self.spools = []

    def __enter__(self):
        per_entry = conversions.upload_limit(self.owner)
        with zipfile.ZipFile(self.file.stream) as archive:
            infos = [info for info in archive.infolist() if wanted(info)]
            if len(infos) > self.limit:
                raise BatchRefused(
                    f"The zip holds {len(infos)} files; a batch holds at most {self.limit}."
                )
            total = sum(info.file_size for info in infos)
            if total > per_entry * self.limit:
                raise BatchRefused("The zip unpacks to more than a batch may hold.")
            return [self.entry(archive, info, per_entry) for info in infos]

    def entry(self, archive, info, per_entry):
        name = info.filename.rsplit("/", 1)[-1]
        if info.file_size > per_entry:
            return blank(name), "The file is larger than the upload limit."
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            return blank(name), "The file is packed too tightly to be a spreadsheet (a zip bomb?)."
        spool = tempfile.SpooledTemporaryFile(max_size=CHUNK)  # noqa: SIM115 (closed on exit)
        self.spools.append(spool)
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

    def __exit__(self, *exc):
        for spool in self.spools:
            spool.close()


def wanted(info):
    name = info.filename.rsplit("/", 1)[-1]
    return not (info.is_dir() or not name or name.startswith(".") or "__MACOSX/" in info.filename)


def blank(name):
    return FileStorage(stream=io.BytesIO(), filename=name)


def start_all(batch, output_format, all_sheets=False):
    """Convert every file of the batch that is not under way with the same options; a file
    the options do not suit keeps its refusal as its error. Returns how many started."""
    started = 0
    batch.options = {"format": output_format, "all_sheets": all_sheets}
    db.session.commit()
    for conversion in batch.conversions:
        conversion = conversions.inspected(conversion)
        if conversion.status in conversions.ACTIVE:
            continue
        options = conversions.quick_options(conversion, output_format)
        if all_sheets:
            options = {**options, "sheets": [], "all_sheets": True}
        try:
            conversions.start(conversion, options)
        except conversions.Refused as refusal:
            conversion.error = str(refusal)
            db.session.commit()
            continue
        started += 1
    return started


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
    that repeat get " (2)", " (3)"."""
    files = storage.current()
    ready = [c for c in batch.conversions if c.status == Conversion.DONE]
    if not ready:
        raise conversions.NotReady("No file of this batch is converted yet.")
    archive = ZipStream(compress_type=ZIP_STORED, sized=False)
    taken = set()
    for conversion in ready:
        archive.add(
            chunks(files, conversion.result_stored_name), unique(conversion.result_name, taken)
        )
    return (
        archive,
        f"{safe_file_stem('batch ' + batch.created_at.strftime('%Y-%m-%d'), 'batch')}.zip",
    )


def chunks(files, stored_name):
    """The stored file's bytes, read only when the zip gets to it."""
    with files.local_copy(stored_name) as path, open(path, "rb") as source:
        while block := source.read(CHUNK):
            yield block


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
