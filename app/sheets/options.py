"""Conversion options, checked before any work starts."""

import csv
from dataclasses import dataclass, field

from .errors import BadOptions
from .values import DATE_STYLES

OUTPUT_FORMATS = ("csv", "tsv", "xlsx", "json")
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")
QUOTING = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
}
LINE_ENDINGS = {"crlf": "\r\n", "lf": "\n"}
JSON_STYLES = ("records", "rows")


@dataclass
class Options:
    format: str = "csv"
    sheets: list = field(default_factory=list)  # names; empty means the first visible sheet
    all_sheets: bool = False
    include_hidden: bool = False  # with all_sheets
    delimiter: str = ","  # csv only; tsv always uses a tab
    quoting: str = "minimal"
    line_ending: str = "crlf"
    encoding: str = "utf-8"
    skip_rows: int = 0
    header: bool = True  # the first row (after skip_rows) names the columns
    json_style: str = "records"
    date_style: str = "iso"
    fill_merged: bool = False
    protect_formulas: bool = False
    infer_types: bool = True  # text input to xlsx/json: "12" becomes a number, "00123" stays text
    name_stem: str = ""  # names files inside a zip: "<stem> - <sheet>.csv"

    def validate(self):
        """Raise BadOptions naming the first option that is not acceptable."""
        checks = [
            (self.format in OUTPUT_FORMATS, f"Unknown output format '{self.format}'."),
            (self.encoding in ENCODINGS, f"Unknown encoding '{self.encoding}'."),
            (self.quoting in QUOTING, f"Unknown quote style '{self.quoting}'."),
            (self.line_ending in LINE_ENDINGS, f"Unknown line ending '{self.line_ending}'."),
            (self.json_style in JSON_STYLES, f"Unknown JSON style '{self.json_style}'."),
            (self.date_style in DATE_STYLES, f"Unknown date style '{self.date_style}'."),
            (
                isinstance(self.delimiter, str)
                and len(self.delimiter) == 1
                and self.delimiter not in '"\r\n',
                "The delimiter must be one character, not a quote or a line break.",
            ),
            (
                isinstance(self.skip_rows, int) and 0 <= self.skip_rows <= 1_000_000,
                "Rows to skip must be a whole number from 0 to 1,000,000.",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise BadOptions(message)
        return self

    @property
    def field_delimiter(self):
        return "\t" if self.format == "tsv" else self.delimiter
