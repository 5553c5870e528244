"""Where uploads and results live: random names in one folder outside static/.

Everything Sheetport writes goes in that folder, so one sweep can account for it:
- stored files (32 hex digits and an extension), each owned by a row: a conversion's upload
  or one of its results (models.ConversionResult);
- `.upload-*`: a request's upload while it arrives (see UploadFile); gone when the request ends;
- `.work-<token>/`: a running job's scratch folder (partial result, XlsxWriter's temporary
  files), named after the job's lease token and removed when the job ends.
A process killed in the middle leaves the last two behind; `sweep` removes them.

Two backends share one interface: Storage (that folder: the default) and S3Storage (stored
files in an S3-compatible bucket; the folder keeps only uploads while they arrive, scratch
folders and the local copies the engine works on). `for_app` picks one from the settings.
"""

import errno
import io
import os
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, send_file

from config import SettingError

from .exceptions import StorageFull, StorageUnavailable, StoredFileMissing
from .sheets.names import safe_file_stem

STORED_NAME = re.compile(r"[0-9a-f]{32}(\.[a-z0-9]{2,8})?")
UPLOAD_PREFIX = ".upload-"
WORK_PREFIX = ".work-"
READ_PREFIX = ".read-"  # the engine's temporary files while a request reads an upload
TOKEN = re.compile(r"[0-9a-f]{32}")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


# S3 error codes for "no such object".
S3_MISSING = {"404", "NoSuchKey", "NotFound"}
# S3 error codes that mean "the server is in trouble", not "your request is wrong".
S3_DOWN = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "503", "500"}


@contextmanager
def reachable(stored_name=None):
    """Turn "cannot reach the bucket" into StorageUnavailable and, when the call is about
    `stored_name`, "no such object" into StoredFileMissing; other errors pass through."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
    )
    from botocore.exceptions import ConnectionError as S3ConnectionError

    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in S3_DOWN or status >= 500:
            raise StorageUnavailable() from error
        if stored_name and code in S3_MISSING:
            raise StoredFileMissing(stored_name) from error
        raise
    except (S3ConnectionError, HTTPClientError, NoCredentialsError, S3UploadFailedError) as error:
        raise StorageUnavailable() from error


def is_disk_full(error):
    return isinstance(error, OSError) and error.errno in DISK_FULL


# The folder cannot be written at all: its permissions, a read-only disk, a file in its place.
FOLDER_UNUSABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


@contextmanager
def writable():
    """Writing into the upload folder: a full disk is StorageFull (507); a folder that cannot
    be written is StorageUnavailable (503, and the log names the folder's error), not a 500."""
    try:
        yield
    except OSError as error:
        if is_disk_full(error):
            raise StorageFull() from error
        if error.errno in FOLDER_UNUSABLE:
            raise StorageUnavailable() from error
        raise


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
        with writable():
            self.root.mkdir(parents=True, exist_ok=True)
            return UploadFile(self.root / f"{UPLOAD_PREFIX}{secrets.token_hex(16)}", "xb+")

    def save_upload(self, stream, limit):
        """Keep an uploaded stream under a new name; returns (stored_name, size), or
        (None, size) when it passes `limit` bytes, in which case nothing is kept.
        An UploadFile is linked into place; any other stream is copied."""
        with writable():
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

    @contextmanager
    def local_copy(self, stored_name, folder=None):
        """A local path to read the stored file from while the block runs (here: the file)."""
        yield self._existing(stored_name)

    def _existing(self, stored_name):
        path = self.path(stored_name)
        if not path.is_file():
            raise StoredFileMissing(stored_name)
        return path

    def put(self, stored_name, source):
        """Store the local file `source` (moved, not copied) under `stored_name`."""
        with writable():
            self.root.mkdir(parents=True, exist_ok=True)
            os.replace(source, self.path(stored_name))

    def exists(self, stored_name):
        return self.path(stored_name).is_file()

    def download(self, stored_name, download_name, mimetype):
        """The response that sends a stored file as an attachment."""
        return send_file(
            self._existing(stored_name),
            as_attachment=True,
            download_name=download_name,
            mimetype=mimetype,
        )

    def scratch(self, token):
        """The scratch folder of the job run holding lease `token` (created)."""
        if not TOKEN.fullmatch(token or ""):
            raise ValueError(f"not a lease token: {token!r}")
        folder = self.root / f"{WORK_PREFIX}{token}"
        with writable():
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remove_scratch(self, token):
        if token and TOKEN.fullmatch(token):
            shutil.rmtree(self.root / f"{WORK_PREFIX}{token}", ignore_errors=True)

    @contextmanager
    def reading_folder(self):
        """A folder for the engine's temporary files while a request reads an upload,
        removed afterwards (the sweep removes one a dead process left, once stale)."""
        folder = self.root / f"{READ_PREFIX}{secrets.token_hex(16)}"
        with writable():
            folder.mkdir(parents=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def sweep(self, owned, live_tokens, older_than, now=None):
        """Remove what no row owns: stored files not in `owned` and temporary uploads, when
        older than `older_than` seconds, and scratch folders of runs not in `live_tokens`.
        Returns the names removed (files Sheetport did not name are left alone)."""
        if not self.root.is_dir():
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
                if name.startswith(READ_PREFIX) and entry.is_dir():
                    if stale:  # a read lasts seconds: its process died
                        shutil.rmtree(entry, ignore_errors=True)
                        removed.append(name)
                    continue
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


class S3Storage:
    """Stored files in an S3-compatible bucket, under `s3://bucket/prefix`. Uploads still
    arrive in the local folder (see UploadFile), then go to the bucket; the engine works on
    a local copy in the job's scratch folder, and its result goes to the bucket when done.
    Downloads are streamed from the bucket through Sheetport (not redirected to a presigned
    address), so the bucket need not be reachable from browsers and every download is
    checked against its owner."""

    def __init__(
        self, url, folder, endpoint_url=None, key_id=None, secret=None, region=None, attempts=5
    ):
        import boto3
        from botocore.config import Config

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix address: {url!r}")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.local = Storage(folder)
        self.root = self.local.root
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            region_name=region,
            # A bucket that does not answer costs a request seconds, not minutes: then
            # StorageUnavailable (503, try again shortly).
            config=Config(
                retries={"max_attempts": attempts, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def key(self, stored_name):
        if not STORED_NAME.fullmatch(stored_name or ""):
            raise ValueError(f"not a stored name: {stored_name!r}")
        return f"{self.prefix}/{stored_name}" if self.prefix else stored_name

    def new_name(self, extension=""):
        return self.local.new_name(extension)

    def upload_file(self):
        return self.local.upload_file()

    def scratch(self, token):
        return self.local.scratch(token)

    def remove_scratch(self, token):
        self.local.remove_scratch(token)

    def reading_folder(self):
        return self.local.reading_folder()

    def save_upload(self, stream, limit):
        name, size = self.local.save_upload(stream, limit)
        if name is not None:
            try:
                self.put(name, self.local.path(name))
            finally:
                self.local.delete(name)
        return name, size

    def put(self, stored_name, source):
        with reachable():
            self.client.upload_file(str(source), self.bucket, self.key(stored_name))
        Path(source).unlink(missing_ok=True)

    @contextmanager
    def local_copy(self, stored_name, folder=None):
        """A copy in `folder` (default: the upload folder) under a temporary name that the
        sweep removes if this process dies; removed when the block ends."""
        folder = Path(folder or self.root)
        with writable():
            folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f"{UPLOAD_PREFIX}{secrets.token_hex(16)}"
        try:
            with reachable(stored_name):
                self.client.download_file(self.bucket, self.key(stored_name), str(copy))
            yield copy
        finally:
            copy.unlink(missing_ok=True)

    def exists(self, stored_name):
        try:
            with reachable(stored_name):
                self.client.head_object(Bucket=self.bucket, Key=self.key(stored_name))
        except StoredFileMissing:
            return False
        return True

    def delete(self, *stored_names):
        keys = [{"Key": self.key(name)} for name in stored_names if name]
        for start in range(0, len(keys), 1000):  # the most one request may delete
            with reachable():
                self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": keys[start : start + 1000], "Quiet": True},
                )

    def download(self, stored_name, download_name, mimetype):
        with reachable(stored_name):
            stored = self.client.get_object(Bucket=self.bucket, Key=self.key(stored_name))
        response = send_file(
            stored["Body"], as_attachment=True, download_name=download_name, mimetype=mimetype
        )
        response.content_length = stored["ContentLength"]
        return response

    def objects(self):
        """(stored name, size, last modified) of every object under the prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""
        )
        with reachable():
            listed = [item for page in pages for item in page.get("Contents", [])]
        for item in listed:
            yield item["Key"].rsplit("/", 1)[-1], item["Size"], item["LastModified"]

    def sweep(self, owned, live_tokens, older_than, now=None):
        removed = self.local.sweep(owned, live_tokens, older_than, now)
        cutoff = (now or time.time()) - older_than
        stale = [
            name
            for name, _, modified in self.objects()
            if STORED_NAME.fullmatch(name) and name not in owned and modified.timestamp() < cutoff
        ]
        self.delete(*stale)
        return removed + stale

    def usage(self):
        return self.local.usage() + sum(size for _, size, _ in self.objects())


def current(app=None):
    """The storage of `app` (by default the current one): see for_app."""
    return for_app(app or current_app)


def for_app(app):
    """The app's storage: the upload folder, or the bucket STORAGE_URL names (one client per
    process, kept with the app)."""
    url = app.config.get("STORAGE_URL")
    if not url:
        return Storage(app.config["UPLOAD_FOLDER"])
    cached = app.extensions.get("sheetport_storage")
    if cached is None or cached[0] != os.getpid():
        backend = S3Storage(
            url,
            app.config["UPLOAD_FOLDER"],
            endpoint_url=app.config.get("S3_ENDPOINT_URL"),
            key_id=app.config.get("S3_ACCESS_KEY_ID"),
            secret=app.config.get("S3_SECRET_ACCESS_KEY"),
            region=app.config.get("S3_REGION"),
            attempts=app.config.get("S3_MAX_ATTEMPTS", 5),
        )
        cached = app.extensions["sheetport_storage"] = (os.getpid(), backend)
    return cached[1]


def init_app(app):
    """Uploads arrive straight into the upload folder (werkzeug would spool them to the
    system's temporary folder first, then we would copy them: two writes, two places)."""
    url = app.config.get("STORAGE_URL")
    if url and (urlsplit(url).scheme != "s3" or not urlsplit(url).netloc):
        raise SettingError(
            f"STORAGE_URL is not an s3://bucket/prefix address: {url!r}. "
            "Example: STORAGE_URL=s3://sheetport/files"
        )
    folder = Storage(app.config["UPLOAD_FOLDER"])

    class Request(app.request_class):
        def _get_file_stream(self, total_content_length, content_type, filename=None, **kw):
            return folder.upload_file()

    app.request_class = Request


def download_name(original, extension, sheet=None):
    """'report.xlsx' -> 'report.csv'; with a sheet: 'report - Sheet 1.csv'. Safe in any OS."""
    stem = safe_file_stem(Path(original or "").stem, "converted")
    if sheet:
        stem = safe_file_stem(f"{stem} - {sheet}", stem)
    return f"{stem[:150].rstrip(' .')}.{extension}"
