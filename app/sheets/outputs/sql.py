"""SQL: per sheet a CREATE TABLE, its column types inferred from the cells, and INSERTs of
a few hundred rows each, every sheet in one script for the chosen dialect (SQLite,
PostgreSQL or MySQL). Identifiers are quoted as the dialect quotes them, and every value
is a literal the dialect reads back as it was: a column of mixed types holds the text the
CSV output writes."""

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import EncodingFailed, TooLarge
from ..values import cell_name, column_letter, text_batch_formatter
from . import Spool, column_kinds, column_names, column_type

INSERT_ROWS = 500  # rows an INSERT holds at most...
INSERT_CHARS = 1_000_000  # ...and characters: within MySQL's smallest max_allowed_packet (4 MB)
MYSQL_TIME = dt.timedelta(hours=838, minutes=59, seconds=59)  # the most a TIME holds


@dataclass(frozen=True)
class Dialect:
    label: str
    quote: str  # around identifiers; doubled inside them
    types: dict  # column type -> SQL type
    max_columns: int
    start: str
    end: str = "COMMIT;\n"
    name_bytes: int | None = None  # longer identifiers are cut (PostgreSQL: 63 bytes)
    name_chars: int | None = None


DIALECTS = {
    "sqlite": Dialect(
        "SQLite",
        '"',
        # SQLite has no date or duration types: dates are ISO 8601 text (the declared
        # type tells what they are), durations the text the CSV output writes.
        {
            "int": "INTEGER",
            "float": "REAL",
            "bool": "BOOLEAN",
            "date": "DATE",
            "datetime": "DATETIME",
            "time": "TIME",
            "duration": "TEXT",
            "text": "TEXT",
        },
        max_columns=2000,  # SQLITE_MAX_COLUMN as built by default
        start="BEGIN;\n",
    ),
    "postgresql": Dialect(
        "PostgreSQL",
        '"',
        {
            "int": "BIGINT",
            "float": "DOUBLE PRECISION",
            "bool": "BOOLEAN",
            "date": "DATE",
            "datetime": "TIMESTAMP",
            "time": "TIME",
            "duration": "INTERVAL",
            "text": "TEXT",
        },
        max_columns=1600,
        # Backslashes in '...' are plain characters, whatever the server's default.
        start="SET standard_conforming_strings = on;\nBEGIN;\n",
        name_bytes=63,
    ),
    "mysql": Dialect(
        "MySQL",
        "`",
        {
            "int": "BIGINT",
            "float": "DOUBLE",
            "bool": "BOOLEAN",
            "date": "DATE",
            "datetime": "DATETIME(6)",
            "time": "TIME(6)",
            "duration": "TIME(6)",
            "text": "LONGTEXT",  # TEXT holds 65,535 bytes: less than a cell's 32,767 characters
        },
        max_columns=1017,  # InnoDB's limit
        start="SET NAMES utf8mb4;\nSTART TRANSACTION;\n",
        name_chars=64,
    ),
}
NOT_IN_NAMES = re.compile("[\x00]")
NOT_IN_MYSQL_NAMES = re.compile("[\x00\U00010000-\U0010ffff]")  # only the BMP, no NUL
COMMENT_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class SqlWriter:
    """Every sheet in one SQL script, in one transaction."""

    def __init__(self, path, options):
        self.path = Path(path)
        self.dialect = DIALECTS[options.sql_dialect]
        self.name = options.sql_dialect
        self.header = options.header
        self.format_batch = text_batch_formatter(options.date_style, False, options.full_precision)
        self.out = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 (closed by close())
        self.out.write(f"-- Written by Sheetport for {self.dialect.label}.\n{self.dialect.start}")
        self.tables = set()

    def write_sheet(self, name, batches, spend=None):
        spend = spend or (lambda count: None)
        # The column types are known once every row is seen: the rows wait on disk.
        spool = Spool(self.path.parent)
        try:
            header_row, kinds, width, longest = None, [], 0, dt.timedelta(0)
            for start, batch in batches:
                if header_row is None and self.header:
                    header_row, batch, start = batch[0], batch[1:], start + 1
                    width = len(header_row)
                if not batch:
                    continue
                width = max(width, column_kinds(batch, kinds))
                if width > self.dialect.max_columns:
                    raise TooLarge(
                        f"Sheet '{name}' has {width:,} columns; a {self.dialect.label} table "
                        f"holds at most {self.dialect.max_columns:,}."
                    )
                if "duration" in set().union(*kinds):
                    longest = max(longest, longest_duration(batch))
                spool.add((start, batch))
            if not width:
                self.write(f"\n-- Sheet {comment_text(name)} is empty: no table.\n", spend)
                return
            types = [column_type(found) for found in kinds] + ["text"] * (width - len(kinds))
            if self.name == "sqlite" or (self.name == "mysql" and longest > MYSQL_TIME):
                types = ["text" if kind == "duration" else kind for kind in types]
            self.write_table(name, header_row, types, spool, spend)
        finally:
            spool.close()

    def write_table(self, name, header_row, types, spool, spend):
        width = len(types)
        table = self.identifier(name, self.tables, "sheet")
        taken = set()
        columns = [
            self.identifier(column, taken, column_letter(index))
            for index, column in enumerate(column_names(header_row or [], width, self.header))
        ]
        sql_types = [self.dialect.types[kind] for kind in types]
        definitions = ",\n".join(
            f"  {column} {kind}" for column, kind in zip(columns, sql_types, strict=True)
        )
        self.write(
            f"\n-- Sheet {comment_text(name)}\nCREATE TABLE {table} (\n{definitions}\n);\n",
            spend,
        )
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n"
        literals = [self.literal_for(kind) for kind in types]
        text_columns = [index for index, kind in enumerate(types) if kind == "text"]
        statement, rows, chars = [], 0, 0
        for start, batch in spool:
            if any(len(row) != width for row in batch):
                batch = [row + [""] * (width - len(row)) for row in batch]
            columns_of = list(zip(*batch, strict=True))
            if text_columns:  # the text the CSV writes, for columns of text or mixed types
                texts = list(zip(*self.format_batch(batch), strict=True))
                for index in text_columns:
                    columns_of[index] = texts[index]
            try:
                written = [
                    list(map(literal, column))
                    for literal, column in zip(literals, columns_of, strict=True)
                ]
            except NulInText:
                raise self.nul_error(name, start, batch) from None
            for row in zip(*written, strict=True):
                line = "(" + ", ".join(row) + ")"
                statement.append(line)
                rows, chars = rows + 1, chars + len(line)
                if rows >= INSERT_ROWS or chars >= INSERT_CHARS:
                    self.write(insert + ",\n".join(statement) + ";\n", spend)
                    statement, rows, chars = [], 0, 0
        if statement:
            self.write(insert + ",\n".join(statement) + ";\n", spend)

    def identifier(self, name, taken, fallback):
        """`name` quoted as the dialect quotes identifiers: what it cannot hold replaced,
        cut to its length, unique (ignoring case, as SQLite and MySQL compare names)."""
        name = (NOT_IN_MYSQL_NAMES if self.name == "mysql" else NOT_IN_NAMES).sub("_", name)
        if self.name == "mysql":
            name = name.rstrip(" ")  # MySQL refuses names that end in spaces
        base = self.cut(name) or fallback
        candidate, number = base, 2
        while candidate.casefold() in taken:
            suffix = f"_{number}"
            candidate, number = self.cut(base, len(suffix.encode())) + suffix, number + 1
        taken.add(candidate.casefold())
        quote = self.dialect.quote
        return quote + candidate.replace(quote, quote * 2) + quote

    def cut(self, name, room=0):
        if self.dialect.name_chars:
            name = name[: self.dialect.name_chars - room]
        if self.dialect.name_bytes:
            name = name.encode()[: self.dialect.name_bytes - room].decode(errors="ignore")
        return name

    def literal_for(self, kind):
        if kind == "text":
            return {"sqlite": sqlite_text, "postgresql": postgresql_text, "mysql": mysql_text}[
                self.name
            ]
        return LITERALS[kind]

    def nul_error(self, sheet, start, batch):
        for offset, row in enumerate(batch):
            for column, value in enumerate(row):
                if isinstance(value, str) and "\x00" in value:
                    return EncodingFailed(
                        f"Cell {cell_name(start + offset, column)} of sheet '{sheet}' holds "
                        "the character NUL (U+0000), which PostgreSQL text cannot hold. "
                        "Choose SQLite or MySQL, or change that cell."
                    )
        return EncodingFailed(f"A cell of sheet '{sheet}' holds NUL, which PostgreSQL cannot.")

    def write(self, text, spend):
        spend(len(text))
        self.out.write(text)

    def close(self):
        self.out.write(self.dialect.end)
        self.out.close()


class NulInText(Exception):
    pass


def comment_text(name):
    return "'" + COMMENT_BREAKS.sub(" ", name) + "'"


def quoted(text):
    return "'" + text.replace("'", "''") + "'"


def sqlite_text(value):
    if value == "":
        return "NULL"
    value = value if type(value) is str else str(value)
    if "\x00" in value:  # SQLite reads a script up to its first NUL: the text as bytes
        return f"CAST(X'{value.encode().hex().upper()}' AS TEXT)"
    return quoted(value)


def postgresql_text(value):
    if value == "":
        return "NULL"
    value = value if type(value) is str else str(value)
    if "\x00" in value:
        raise NulInText
    return quoted(value)


def mysql_text(value):
    if value == "":
        return "NULL"
    value = value if type(value) is str else str(value)
    # A backslash in '...' is an escape unless the server runs with NO_BACKSLASH_ESCAPES:
    # as hexadecimal UTF-8, the text reads the same either way.
    if "\\" in value or "\x00" in value:
        return f"_utf8mb4 X'{value.encode().hex().upper()}'"
    return quoted(value)


def null_or(function):
    return lambda value: "NULL" if value == "" else function(value)


def interval_text(delta):
    """A duration as [-]H:MM:SS[.ffffff], which PostgreSQL and MySQL read as one."""
    total = delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
    sign, total = ("-", -total) if total < 0 else ("", total)
    seconds, micros = divmod(total, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    text = f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return quoted(f"{text}.{micros:06d}" if micros else text)


LITERALS = {
    "int": null_or(lambda value: str(int(value))),
    "float": null_or(repr),
    "bool": null_or(lambda value: "TRUE" if value else "FALSE"),
    "date": null_or(lambda value: quoted(value.isoformat())),
    "datetime": null_or(lambda value: quoted(str(value))),
    "time": null_or(lambda value: quoted(str(value))),
    "duration": null_or(interval_text),
}


def longest_duration(batch):
    durations = [abs(v) for row in batch for v in row if type(v) is dt.timedelta]
    return max(durations, default=dt.timedelta(0))
