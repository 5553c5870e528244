"""The output formats added after the first four, one module each (the registry,
formats.py, names their writers), and what several of them share."""

import datetime as dt
import math
import os
import pickle
import tempfile

from ..values import column_letter
from ..writers import json_keys


def column_names(first_row, width, header):
    """Unique names for `width` columns: from the header row when there is one (blank
    headings become column letters, repeats get _2, _3...), else the column letters."""
    if header:
        return json_keys(first_row, width)
    return [column_letter(column) for column in range(width)]


def folder_of(binary):
    """The folder of the file `binary` writes to, or None (a zip member: tempfile's own
    folder, which the job runner sets to the result's)."""
    name = getattr(binary, "name", None)
    return os.path.dirname(os.path.abspath(name)) if isinstance(name, str) else None


class Spool:
    """Batches of rows kept on disk, for a writer that must see a whole sheet (its
    column types) before it writes the first row: memory holds one batch at a time."""

    def __init__(self, folder=None):
        self.file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (read back, closed by close())
        self.batches = 0

    def add(self, batch):
        pickle.dump(batch, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.batches += 1

    def __iter__(self):
        """The batches in the order they were added (once)."""
        self.file.seek(0)
        for _ in range(self.batches):
            yield pickle.load(self.file)  # written by add() above, never by anyone else

    def close(self):
        self.file.close()


# --- column types, for the typed outputs (sql, parquet) ------------------------------------

EXACT_INTEGERS = 2**53  # whole floats up to here are written as integers, as CSV writes them
INT64 = 2**63
KIND_OF_TYPE = {
    bool: "bool",
    dt.date: "date",
    dt.datetime: "datetime",
    dt.time: "time",
    dt.timedelta: "duration",
}


def value_kind(value):
    """What a cell holds, for its column's type: None when empty."""
    kind = type(value)
    if kind is str:
        return "text" if value else None
    if kind is float:
        if value - value != 0:  # NaN, infinities: no column type holds them as CSV shows them
            return "text"
        if value.is_integer() and -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
            return "int"
        return "float"
    if kind is int:
        if -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
            return "int"
        return "bigint" if -INT64 <= value < INT64 else "text"
    return KIND_OF_TYPE.get(kind, "text")


def column_kinds(batch, kinds):
    """Add what each column of `batch` holds to `kinds`, a list of sets (one a column),
    a column at a time: columns of one type are checked by C-level builtins."""
    width = max(map(len, batch))
    if len(kinds) < width:
        kinds.extend(set() for _ in range(width - len(kinds)))
    if any(len(row) != width for row in batch):
        batch = [row + [""] * (width - len(row)) for row in batch]
    for index, column in enumerate(zip(*batch, strict=True)):
        types = set(map(type, column))
        found = kinds[index]
        if types == {float} and all(map(math.isfinite, column)):
            whole = all(map(float.is_integer, column))
            exact = min(column) >= -EXACT_INTEGERS and max(column) <= EXACT_INTEGERS
            found.add("int" if whole and exact else "float")
        elif types == {str}:
            if any(column):
                found.add("text")
        elif len(types) == 1 and next(iter(types)) in KIND_OF_TYPE:
            found.add(KIND_OF_TYPE[next(iter(types))])
        else:
            found.update(map(value_kind, column))
    return width


def column_type(kinds):
    """The type of a column that holds `kinds`: one of them, "float" for whole and other
    numbers, "int" for integers of any size, else (mixed, or nothing) "text"."""
    kinds = kinds - {None}
    if len(kinds) == 1:
        kind = next(iter(kinds))
        return "int" if kind == "bigint" else kind
    if kinds == {"int", "float"}:
        return "float"
    if kinds == {"int", "bigint"}:
        return "int"
    return "text"
