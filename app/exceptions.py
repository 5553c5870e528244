"""Sheetport's error vocabulary below the views: services that are away, a full or lost
store, the service's refusals, and what a failure means (an outage or a bug). errors.py only
answers them; what a file can do wrong is the engine's (app/sheets/errors.py)."""

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from .sheets.errors import EnvironmentFault


class Unavailable(Exception):
    """A service Sheetport needs (the file storage, the job queue) cannot be reached: nobody's
    fault, try again shortly. Raised before anything is half-written; answered with 503."""

    message = "Sheetport cannot reach a service it needs just now. Please try again shortly."
    part = "A service"
    what = "a service Sheetport needs"  # for operators' messages: "... is unavailable"

    def __init__(self, message=None):
        super().__init__(message or self.message)

    def reason(self):
        """For an operator, in one line: what is unavailable and the underlying error's
        kind, e.g. 'the file storage is unavailable (EndpointConnectionError)'."""
        cause = self.__cause__
        return f"{self.what} is unavailable ({type(cause or self).__name__})"


class DatabaseUnavailable(Unavailable):
    """The database cannot be used just now (down, unreachable, locked, out of connections)."""

    part = "Database"
    what = "the database"
    message = "Sheetport's database is unavailable just now. Please try again shortly."


def is_outage(error):
    """A service, the disk or the database failing under us (or a database whose tables are
    not there yet): worth one line in the log (see described), not a traceback. Anything
    else is a bug, and its traceback helps."""
    if isinstance(error, OperationalError):
        return not is_query_bug(error)
    return isinstance(error, Unavailable | OSError) or lacks_tables(error)


# SQLite reports a mistake in a query as an OperationalError too, as it does a locked or
# missing database file: these are bugs in our SQL, never an outage.
QUERY_BUGS = ("syntax error", "no such function", "wrong number of arguments", "misuse of")


def is_query_bug(error):
    return any(sign in str(getattr(error, "orig", None) or error) for sign in QUERY_BUGS)


MISSING_SCHEMA = ("no such table", "no such column", "UndefinedTable", "UndefinedColumn")


def lacks_tables(error):
    """A database error that says a table or column is not there: migrations not run."""
    if not isinstance(error, SQLAlchemyError):
        return False
    cause = getattr(error, "orig", None) or error
    return any(sign in f"{type(cause).__name__}: {cause}" for sign in MISSING_SCHEMA)


def described(error, limit=300):
    """An error in one line for the log: what is unavailable, or the error's kind and text
    (a database error's own text, without the statement and link SQLAlchemy adds)."""
    if isinstance(error, Unavailable):
        return error.reason()
    text = " ".join(str(getattr(error, "orig", None) or error).split())
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class StorageUnavailable(Unavailable):
    """The bucket cannot be reached (refused, timed out, or the server says it is down)."""

    part = "Storage"
    what = "the file storage"
    message = (
        "Sheetport's file storage is unavailable just now, so nothing was changed. "
        "Please try again shortly."
    )


class QueueUnavailable(Unavailable):
    """Redis cannot be reached to enqueue a job."""

    part = "Queue"
    what = "the job queue"
    message = (
        "Sheetport's job queue is unavailable just now, so nothing was started. "
        "Please try again shortly."
    )


class StorageFull(EnvironmentFault):
    """The disk (or quota) holding the upload folder is full: nobody's fault, try later
    (507). Not the file's fault either: an EnvironmentFault, which the engine's sandbox
    passes back from its child as it is."""

    def __init__(self, message=None):
        super().__init__(
            message
            or "Sheetport's storage is full, so the file could not be saved. "
            "Please try again later."
        )


class StoredFileMissing(Exception):
    """A stored file that is not there: removed by hand, or lost with a disk or a bucket."""

    def __init__(self, stored_name):
        super().__init__("The file is no longer stored on the server.")
        self.stored_name = stored_name


class Refused(Exception):
    """What was asked cannot be done; the message says why, for the person who asked.
    `status`: what an HTTP client is told (errors.py answers it, web and API alike). The
    conversion service's refusals (app/conversions.py) are its kinds."""

    status = 422
    message = "Some of what was sent cannot be used."

    def __init__(self, message=None):
        super().__init__(message or self.message)
