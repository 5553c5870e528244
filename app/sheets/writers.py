"""Writers for CSV/TSV, JSON and XLSX, fed one row at a time so memory stays flat."""

import csv
import datetime as dt
import io
import json
import re

from .errors import EncodingFailed, TooLarge
from .options import LINE_ENDINGS, QUOTING
from .values import (
    cell_name,
    column_letter,
    display_text,
    json_value,
    text_batch_formatter,
    text_row_formatter,
)

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_TEXT = 32_767
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
FILE_NAME_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def text_stream(binary, encoding):
    return io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")


class CsvSheetWriter:
    """One sheet as CSV or TSV on a binary handle."""

    def __init__(self, binary, options, sheet_name):
        self.stream = text_stream(binary, options.encoding)
        self.writer = csv.writer(
            self.stream,
            delimiter=options.field_delimiter,
            quoting=QUOTING[options.quoting],
            lineterminator=LINE_ENDINGS[options.line_ending],
        )
        self.format_row = text_row_formatter(options.date_style, options.protect_formulas)
        self.format_batch = text_batch_formatter(options.date_style, options.protect_formulas)
        self.encoding = options.encoding
        self.sheet_name = sheet_name

    def write_batches(self, batches):
        """`batches` yields (index of the first row, rows); indexes name cells in errors."""
        format_batch, writerows = self.format_batch, self.writer.writerows
        for start, batch in batches:
            try:
                writerows(format_batch(batch))
            except UnicodeEncodeError:
                raise self.encoding_error(start, batch) from None

    def encoding_error(self, start, batch):
        for offset, row in enumerate(batch):
            for column, value in enumerate(self.format_row(row)):
                text = str(value)
                try:
                    text.encode(self.encoding)
                except UnicodeEncodeError as error:
                    char = text[error.start]
                    return EncodingFailed(
                        f"Cell {cell_name(start + offset, column)} of sheet '{self.sheet_name}' "
                        f"contains '{char}' (U+{ord(char):04X}), which {self.encoding} cannot "
                        "represent. Choose UTF-8, or change that cell."
                    )
        return EncodingFailed(
            f"A row of sheet '{self.sheet_name}' cannot be written in {self.encoding}."
        )

    def close(self):
        self.stream.flush()
        self.stream.detach()


class JsonSheetWriter:
    """One sheet as a JSON array, written as it streams: objects keyed by the header, or arrays."""

    def __init__(self, binary, options, sheet_name):
        self.stream = text_stream(binary, "utf-8")  # JSON is UTF-8 (RFC 8259)
        self.records = options.json_style == "records"
        self.header = options.header
        self.date_style = options.date_style

    def write_batches(self, batches):
        stream, date_style = self.stream, self.date_style
        keys = None
        stream.write("[")
        separator = "\n"
        for row in (row for _, batch in batches for row in batch):
            if self.records and keys is None:
                keys = json_keys(row if self.header else [], len(row))
                if self.header:
                    continue
            values = [json_value(value, date_style) for value in row]
            item = dict(zip(keys, values, strict=False)) if self.records else values
            stream.write(separator + json.dumps(item, ensure_ascii=False))
            separator = ",\n"
        stream.write("\n]\n" if separator != "\n" else "]\n")

    def close(self):
        self.stream.flush()
        self.stream.detach()


def json_keys(header_row, width):
    """Unique object keys from the header row; blank headings become column letters."""
    keys, seen = [], set()
    for column in range(width):
        base = display_text(header_row[column]).strip() if column < len(header_row) else ""
        base = base or column_letter(column)
        key, number = base, 2
        while key in seen:
            key, number = f"{base}_{number}", number + 1
        seen.add(key)
        keys.append(key)
    return keys


class XlsxWriter:
    """One workbook, any number of sheets, in XlsxWriter's constant-memory mode."""

    def __init__(self, path):
        import xlsxwriter  # here: CSV conversions need not load it

        self.workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,  # text "=1+1" stays text
                "strings_to_urls": False,
                "nan_inf_to_errors": True,
            },
        )
        add = self.workbook.add_format
        self.formats = {
            dt.date: add({"num_format": "yyyy-mm-dd"}),
            dt.datetime: add({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            dt.time: add({"num_format": "hh:mm:ss"}),
            dt.timedelta: add({"num_format": "[h]:mm:ss"}),
        }
        self.sheet_names = set()

    def add_sheet(self, name):
        name = unique_sheet_name(name, self.sheet_names)
        self.sheet_names.add(name.lower())
        return self.workbook.add_worksheet(name)

    def write_batches(self, worksheet, batches, sheet_name):
        # The public write_*() methods only wrap these in a decorator that accepts "A1"
        # notation; calling them directly saves about 7% on large sheets.
        write_string = worksheet._write_string
        write_number = worksheet._write_number
        write_boolean = worksheet._write_boolean
        write_datetime = worksheet._write_datetime
        formats = self.formats
        out_row = -1
        rows = (
            (start + offset, row) for start, batch in batches for offset, row in enumerate(batch)
        )
        for index, row in rows:
            out_row += 1
            if out_row >= EXCEL_MAX_ROWS:
                raise TooLarge(
                    f"Sheet '{sheet_name}' has more than {EXCEL_MAX_ROWS:,} rows, the most an XLSX sheet can hold."
                )
            if len(row) > EXCEL_MAX_COLUMNS:
                raise TooLarge(
                    f"Sheet '{sheet_name}' has more than {EXCEL_MAX_COLUMNS:,} columns, the most an XLSX sheet can hold."
                )
            for column, value in enumerate(row):
                kind = type(value)
                if kind is str:
                    if value:
                        if len(value) > EXCEL_MAX_TEXT:
                            raise TooLarge(
                                f"Cell {cell_name(index, column)} of sheet '{sheet_name}' holds "
                                f"{len(value):,} characters; an XLSX cell holds at most {EXCEL_MAX_TEXT:,}."
                            )
                        write_string(out_row, column, value)
                elif kind is float or kind is int:
                    write_number(out_row, column, value)
                elif kind is bool:
                    write_boolean(out_row, column, value)
                else:
                    write_datetime(out_row, column, value, formats[kind])

    def close(self):
        self.workbook.close()


def unique_sheet_name(name, taken):
    """A name Excel accepts: at most 31 characters, none of []:*?/\\, unique ignoring case."""
    base = SHEET_NAME_FORBIDDEN.sub("_", name).strip("'") or "Sheet"
    if base.lower() == "history":  # reserved by Excel
        base = "History_"
    candidate, number = base[:31], 2
    while candidate.lower() in taken:
        suffix = f" ({number})"
        candidate, number = base[: 31 - len(suffix)] + suffix, number + 1
    return candidate


def unique_file_name(stem, sheet_name, extension, taken):
    base = f"{stem} - {sheet_name}" if stem else sheet_name
    base = FILE_NAME_FORBIDDEN.sub("_", base).strip(" .") or "sheet"
    base = base[:120]
    candidate, number = f"{base}.{extension}", 2
    while candidate.lower() in taken:
        candidate, number = f"{base} ({number}).{extension}", number + 1
    taken.add(candidate.lower())
    return candidate
