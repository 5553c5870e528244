"""The output formats added after the first four, one module each (the registry,
formats.py, names their writers), and what several of them share."""

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
