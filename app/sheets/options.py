"""Conversion options, checked before any work starts."""

import codecs
import csv
from dataclasses import dataclass, field

from .errors import BadOptions
from .values import DATE_STYLES

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")
QUOTING = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
}
LINE_ENDINGS = {"crlf": "\r\n", "lf": "\n"}
JSON_STYLES = ("records", "rows")
SQL_DIALECTS = ("sqlite", "postgresql", "mysql")  # what the SQL output's statements are for
# Text files in: how to read them. "" means "as detected" (WorkbookInfo says what was found).
# The code pages offered for "Read file as"; any text encoding Python knows is accepted.
INPUT_ENCODINGS = (
    "utf-8",
    "cp1252",
    "latin-1",
    "iso8859-15",
    "cp1250",
    "iso8859-2",
    "cp1251",
    "koi8-r",
    "cp1253",
    "cp1254",
    "cp1257",
    "mac-roman",
    "cp437",
    "cp850",
    "utf-16",
    "shift_jis",
    "gb18030",
    "big5",
    "euc-kr",
)
DECIMAL_SEPARATORS = ("", ".", ",")
DATE_ORDERS = ("", "dmy", "mdy", "ymd")


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
    name_stem: str = ""  # names files inside a zip: "<stem> - <sheet>.csv"; a text file's sheet
    input_encoding: str = ""  # text input: "" reads it in the encoding detected
    decimal_separator: str = ""  # text input typed for xlsx/json: "", "." or ","
    date_order: str = ""  # text input typed for xlsx/json: "", "dmy", "mdy" or "ymd"
    full_precision: bool = False  # numbers with every digit stored, not the 15 Excel shows
    sql_dialect: str = "sqlite"  # the database the SQL output is written for
    # XLSX: keep what the input's cells said beside their values (number formats, bold,
    # column widths, the frozen pane; a text file's header bold and frozen). Off: values.
    keep_formats: bool = True
    # Text outputs: numbers, dates and times written as their cells' number formats show
    # them (14.74%, $1,234.50, 02.03.2024), not as their values (displayed.py). Off: values.
    as_displayed: bool = False

    def validate(self):
        """Raise BadOptions naming the first option that is not acceptable."""
        from .formats import OUTPUTS  # here: the registry imports the writers, which import this

        checks = [
            (self.format in OUTPUTS, f"Unknown output format '{self.format}'."),
            (self.encoding in ENCODINGS, f"Unknown encoding '{self.encoding}'."),
            (self.quoting in QUOTING, f"Unknown quote style '{self.quoting}'."),
            (self.line_ending in LINE_ENDINGS, f"Unknown line ending '{self.line_ending}'."),
            (self.json_style in JSON_STYLES, f"Unknown JSON style '{self.json_style}'."),
            (self.date_style in DATE_STYLES, f"Unknown date style '{self.date_style}'."),
            (
                is_text_encoding(self.input_encoding),
                f"Unknown encoding to read the file as: '{self.input_encoding}'.",
            ),
            (
                self.decimal_separator in DECIMAL_SEPARATORS,
                "The decimal separator must be '.' or ','.",
            ),
            (self.date_order in DATE_ORDERS, f"Unknown date order '{self.date_order}'."),
            (self.sql_dialect in SQL_DIALECTS, f"Unknown SQL dialect '{self.sql_dialect}'."),
            (
                isinstance(self.delimiter, str)
                and len(self.delimiter) == 1
                and self.delimiter not in '"\r\n\x00',
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
        from .formats import OUTPUTS

        own = OUTPUTS[self.format].delimiter if self.format in OUTPUTS else None
        return own or self.delimiter


def is_text_encoding(name):
    """ "" (detect it) or the name of a text encoding Python knows (not base64, rot13...)."""
    if name == "":
        return True
    try:
        return isinstance(name, str) and codecs.lookup(name)._is_text_encoding
    except LookupError:
        return False
