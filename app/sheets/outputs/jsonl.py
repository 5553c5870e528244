"""JSON Lines: one JSON object per row, keyed by the header as the `json` output's records
are, one line each (https://jsonlines.org): a sheet streams out as it is read."""

import json

from ..values import json_value
from ..writers import text_stream
from . import column_names

# Valid in JSON, but Python's str.splitlines() and JavaScript before ES2019 take them for
# line ends: escaped, so every reader sees one row per line.
LINE_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029"})


class JsonLinesSheetWriter:
    """One sheet as JSON Lines on a binary handle (several sheets: a zip of files)."""

    def __init__(self, binary, options, sheet_name):
        self.stream = text_stream(binary, "utf-8")  # JSON is UTF-8 (RFC 8259)
        self.header = options.header
        self.date_style = options.date_style
        self.full_precision = options.full_precision

    def write_batches(self, batches):
        date_style, full_precision = self.date_style, self.full_precision
        dumps = json.dumps
        header_row = keys = None
        for _, batch in batches:
            lines = []
            for row in batch:
                if keys is None:
                    header_row = row if self.header else []
                    keys = column_names(header_row, len(row), self.header)
                    if self.header:
                        continue
                if len(row) > len(keys):  # a longer row: its cells are kept, named by letter
                    keys = column_names(header_row, len(row), self.header)
                values = [json_value(value, date_style, full_precision) for value in row]
                lines.append(dumps(dict(zip(keys, values, strict=False)), ensure_ascii=False))
            if lines:
                text = "\n".join(lines) + "\n"
                if "\u2028" in text or "\u2029" in text:
                    text = text.translate(LINE_SEPARATORS)
                self.stream.write(text)

    def close(self):
        self.stream.flush()
        self.stream.detach()
