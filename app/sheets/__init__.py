"""Sheetport's spreadsheet engine: plain Python, nothing from Flask.

    info = inspect("book.xlsx")                      # format, sheets, sizes
    shown = preview("book.xlsx", sheet="Data")       # first rows as display text
    result = convert("book.xlsx", "out.csv", Options(format="csv"))

Every failure a user can cause raises a SheetError whose message is meant for them.
"""

from .convert import Preview, Result, WorkbookInfo, convert, inspect, preview, survey
from .detect import FORMAT_NAMES, Detection, detect_format
from .errors import (
    BadOptions,
    DamagedFile,
    EmptyFile,
    EncodingFailed,
    NotASpreadsheet,
    PasswordProtected,
    SheetError,
    TimedOut,
    TooLarge,
    UnsupportedSheet,
)
from .formats import NAMES as OUTPUT_FORMATS
from .limits import DEFAULT_LIMITS, Limits
from .options import ENCODINGS, INPUT_ENCODINGS, Options
from .text import text_sheet_name

__all__ = [
    "BadOptions",
    "DEFAULT_LIMITS",
    "DamagedFile",
    "Detection",
    "ENCODINGS",
    "INPUT_ENCODINGS",
    "EmptyFile",
    "EncodingFailed",
    "FORMAT_NAMES",
    "Limits",
    "NotASpreadsheet",
    "OUTPUT_FORMATS",
    "Options",
    "PasswordProtected",
    "Preview",
    "Result",
    "SheetError",
    "TimedOut",
    "TooLarge",
    "UnsupportedSheet",
    "WorkbookInfo",
    "convert",
    "detect_format",
    "inspect",
    "preview",
    "survey",
    "text_sheet_name",
]
