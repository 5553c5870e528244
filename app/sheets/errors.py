"""The errors a user can cause. Each message is written for the person who uploaded the file."""

import contextlib
import struct
import zipfile
import zlib
from xml.parsers import expat


class SheetError(Exception):
    """Base class: `str(error)` is a message fit to show the user."""

    code = "sheet_error"

    detail = None  # what a library said, for logs only: never shown to the user

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class EnvironmentFault(Exception):
    """Not the file's doing and not a bug: the machine failed the engine (its disk filled
    up). Not a SheetError, so nobody reports it as the user's fault; the sandbox passes it
    back from its child as it is, for the caller to answer."""


class EmptyFile(SheetError):
    code = "empty"


class NotASpreadsheet(SheetError):
    code = "not_a_spreadsheet"


class OtherDocument(NotASpreadsheet):
    """Recognised as another kind of document (Word, PowerPoint, an OpenDocument text, a
    PDF...), not merely unrecognised."""


class DamagedFile(SheetError):
    code = "damaged"


class PasswordProtected(SheetError):
    code = "password_protected"


class TooLarge(SheetError):
    """Too large once unpacked, too many cells, sheets or columns, or a cell too long."""

    code = "too_large"


class UnsupportedSheet(SheetError):
    code = "unsupported_sheet"


class EncodingFailed(SheetError):
    code = "encoding"


class TimedOut(SheetError):
    code = "timed_out"


class Stopped(SheetError):
    """The child process was killed from outside (out of memory, or an operator)."""

    code = "stopped"


class BadOptions(SheetError):
    code = "bad_options"


# What reading a damaged file raises from the standard library's zip, zlib and XML code.
DAMAGED_DATA = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, expat.ExpatError)


# What each of those means, in the user's words (the library's text is kept as detail).
DAMAGED_CAUSES = {
    zipfile.BadZipFile: "its ZIP container is broken",
    zlib.error: "its compressed data is corrupt",
    EOFError: "it ends early",
    struct.error: "a record in it is cut short",
    expat.ExpatError: "its XML is malformed",
}


@contextlib.contextmanager
def damaged_as_user_error():
    """Turn low-level decoding failures into a DamagedFile the user can read."""
    try:
        yield
    except DAMAGED_DATA as error:
        cause = next(text for kind, text in DAMAGED_CAUSES.items() if isinstance(error, kind))
        refused = DamagedFile(f"The file is damaged and cannot be read: {cause}.")
        refused.detail = str(error)[:200]
        raise refused from None
