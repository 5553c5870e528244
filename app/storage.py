"""Where uploads and results live: random names in one folder outside static/.

Everything Sheetport writes goes in that folder, so one sweep can account for it:
- stored files (32 hex digits and an extension), each owned by a row: a conversion's upload
  or one of its results (models.ConversionResult);
- `.upload-*`: a request's upload while it arrives (see UploadFile); gone when the request ends;
- `.work-<token>/`: a running job's scratch folder (partial result, XlsxWriter's temporary
  files), named after the job's lease token and removed when the job ends.
A process killed in the middle leaves the last two behind; `sweep` removes them.
"""

import errno
import io
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from .sheets import SheetError
from .sheets.names import visible_text

STORED_NAME = re.compile(r"[0-9a-f]{32}(\.[a-z]{3,4})?")
UPLOAD_PREFIX = ".upload-"
WORK_PREFIX = ".work-"
TOKEN = re.compile(r"[0-9a-f]{32}")
UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class StorageFull(SheetError):
    """The disk (or quota) holding the upload folder is full: nobody's fault, try later."""

    code = "storage_full"

    def __init__(self, message=None):
        super().__init__(
            message
            or "Sheetport's storage is full, so the file could not be saved. "
            "Please try again later."
        )


def is_disk_full(error):
    return isinstance(error, OSError) and error.errno in DISK_FULL


class UploadFile(io.FileIO):
    """An uploaded file as it arrives, written straight into the upload folder (not the
    system's temporary folder), so that keeping it costs a link, not a second copy.
    Closing it removes its temporary name."""

    def write(self, data):
        try:
            return super().write(data)
        except OSError as error:
            if is_disk_full(error):
                raise StorageFull() from error
            raise

    def close(self):
        if not self.closed:
            super().close()
            Path(self.name).unlink(missing_ok=True)


class Storage:
    def __init__(self, root):
        self.root = Path(root)

    def path(self, stored_name):
        if not STORED_NAME.fullmatch(stored_name or ""):
            raise ValueError(f"not a stored name: {stored_name!r}")
        return self.root / stored_name

    def new_name(self, extension=""):
        return secrets.token_hex(16) + (f".{extension}" if extension else "")

    def upload_file(self):
        """A new UploadFile for a request's upload (see init_app)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return UploadFile(self.root / f"{UPLOAD_PREFIX}{secrets.token_hex(16)}", "xb+")

    def save_upload(self, stream, limit):
        """Keep an uploaded stream under a new name; returns (stored_name, size), or
        (None, size) when it passes `limit` bytes, in which case nothing is kept.
        An UploadFile is linked into place; any other stream is copied."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = self.new_name()
        path = self.path(name)
        if isinstance(stream, UploadFile) and not stream.closed:
            size = os.fstat(stream.fileno()).st_size
            if size > limit:
                return None, size
            os.link(stream.name, path)
            return name, size
        size = 0
        try:
            with path.open("xb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        break
                    out.write(chunk)
        except BaseException as error:
            path.unlink(missing_ok=True)
            if is_disk_full(error):
                raise StorageFull() from error
            raise
        if size > limit:
            path.unlink(missing_ok=True)
            return None, size
        return name, size

    def delete(self, *stored_names):
        for name in stored_names:
            if name:
                self.path(name).unlink(missing_ok=True)

    def scratch(self, token):
        """The scratch folder of the job run holding lease `token` (created)."""
        if not TOKEN.fullmatch(token or ""):
            raise ValueError(f"not a lease token: {token!r}")
        folder = self.root / f"{WORK_PREFIX}{token}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remove_scratch(self, token):
        if token and TOKEN.fullmatch(token):
            shutil.rmtree(self.root / f"{WORK_PREFIX}{token}", ignore_errors=True)

    def sweep(self, owned, live_tokens, older_than, now=None):
        """Remove what no row owns: stored files not in `owned` and temporary uploads, when
        older than `older_than` seconds, and scratch folders of runs not in `live_tokens`.
        Returns the names removed (files Sheetport did not name are left alone)."""
        if not self.root.exists():
            return []
        cutoff = (now or time.time()) - older_than
        removed = []
        for entry in self.root.iterdir():
            name = entry.name
            try:
                if name.startswith(WORK_PREFIX) and entry.is_dir():
                    if name[len(WORK_PREFIX) :] not in live_tokens:
                        shutil.rmtree(entry, ignore_errors=True)
                        removed.append(name)
                    continue
                stale = entry.lstat().st_mtime < cutoff
                ours = STORED_NAME.fullmatch(name) or name.startswith(UPLOAD_PREFIX)
                ours = ours or (name.startswith(".") and name.endswith(".partial"))
                if ours and stale and name not in owned and entry.is_file():
                    entry.unlink(missing_ok=True)
                    removed.append(name)
            except FileNotFoundError:  # removed meanwhile by its owner
                continue
        return removed

    def usage(self):
        """Bytes used by every stored file."""
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())


def init_app(app):
    """Uploads arrive straight into the upload folder (werkzeug would spool them to the
    system's temporary folder first, then we would copy them: two writes, two places)."""
    folder = Storage(app.config["UPLOAD_FOLDER"])

    class Request(app.request_class):
        def _get_file_stream(self, total_content_length, content_type, filename=None, **kw):
            return folder.upload_file()

    app.request_class = Request


def download_name(original, extension, sheet=None):
    """'report.xlsx' -> 'report.csv'; with a sheet: 'report - Sheet 1.csv'. Safe in any OS."""
    stem = visible_text(Path(original or "").stem)
    stem = UNSAFE_IN_NAMES.sub("_", stem).strip(" .") or "converted"
    if sheet:
        stem = f"{stem} - {UNSAFE_IN_NAMES.sub('_', visible_text(sheet)).strip(' .')}"
    return f"{stem[:150]}.{extension}"
