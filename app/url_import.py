"""Import from a URL (issue 27, 2): the API takes `url` instead of an uploaded file, fetches
it and receives it as an upload (conversions.receive_upload: the same size limit, quota,
detection and name cleaning).

Off unless the operator names the hosts files may come from (URL_IMPORT_HOSTS: names or
fnmatch patterns, `*` for any). Every URL, and every redirect, must also pass app/outbound.py's
address rules (no loopback, private or link-local address unless OUTBOUND_ALLOW_PRIVATE or
OUTBOUND_ALLOWED_HOSTS allow it). The download stops past the owner's upload limit and after
URL_IMPORT_TIMEOUT_SECONDS in all. It arrives in the upload folder under a temporary name
(as an upload does), which is removed whatever happens.
"""

from contextlib import closing
from fnmatch import fnmatchcase
from urllib.parse import unquote, urlsplit

from flask import current_app
from werkzeug.datastructures import FileStorage

from . import conversions, outbound, storage
from .exceptions import Refused
from .sheets.names import clean_file_name

OFF = "URL import is off on this site."
DEFAULT_NAME = "download"


class ImportRefused(Refused):
    """The URL may not be fetched (import off, a host not allowed, an address refused)."""


class ImportFailed(Refused):
    """The URL was fetched but gave no file: the remote's answer, or the network's fault,
    not the caller's request (502, as a gateway answers for what is behind it)."""

    status = 502


class ImportTimedOut(Refused):
    status = 504


def import_hosts(config):
    """The host patterns URL import may fetch from, lower case; none: it is off."""
    return [host.strip().lower() for host in config.get("URL_IMPORT_HOSTS") or () if host.strip()]


def receive_from_url(url, owner, look_inside=True):
    """Fetch `url` and receive it as `owner`'s upload (see conversions.receive_upload).
    ImportRefused, UploadTooLarge, ImportFailed or ImportTimedOut if there is no file to
    receive; nothing is kept then."""
    config = current_app.config
    patterns = import_hosts(config)
    if not patterns:
        raise ImportRefused(OFF)

    def allowed(host):
        return any(fnmatchcase(host, pattern) for pattern in patterns)

    with closing(storage.current().upload_file()) as arriving:  # closing it removes it
        try:
            got = outbound.get(
                url,
                arriving,
                outbound.Rules.from_config(config),
                limit=conversions.upload_limit(owner),
                timeout=config["URL_IMPORT_TIMEOUT_SECONDS"],
                allows_host=allowed,
            )
        except outbound.Refused as refusal:
            raise ImportRefused(f"The URL is refused: {refusal}") from None
        except outbound.DownloadTooLarge:
            raise conversions.too_large(owner) from None
        except outbound.DownloadTimedOut as error:
            seconds = config["URL_IMPORT_TIMEOUT_SECONDS"]
            raise ImportTimedOut(f"The URL could not be fetched in {seconds} s: {error}") from None
        except outbound.DownloadFailed as error:
            raise ImportFailed(f"The URL could not be fetched: {error}") from None
        upload = FileStorage(stream=arriving, filename=name_of(got, url))
        return conversions.receive_upload(upload, owner, look_inside=look_inside)


def name_of(download, asked):
    """The file's name: Content-Disposition's, else the last part of the URL's path (the
    last URL's, else the one asked for), else "download"."""
    candidates = [download.filename]
    candidates += [unquote(urlsplit(url).path.rsplit("/", 1)[-1]) for url in (download.url, asked)]
    for candidate in candidates:
        name = clean_file_name(candidate, default="")
        if name:
            return name
    return DEFAULT_NAME
