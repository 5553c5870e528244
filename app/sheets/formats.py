"""The input and output formats: one owner for each. The web form, the API, the command line,
the runner and the engine all read this registry; no other module lists the formats.

An input format is what detection (detect.py) finds from a file's bytes, with the
extensions its files are saved with: the upload's file picker offers those, and a name
ending in one that belongs to another format gets a note ("The name ends in .xls, but the
file is really ...").

Each format names its writer and what "several sheets" means for it: one file holding every
chosen sheet (`one_file`), or a zip of one file per sheet. A sheet writer is made per sheet:
`writer(binary, options, sheet_name)`, `.write_batches(batches)`, `.close()`; a book writer
once: `writer(path, options)`, `.write_sheet(name, batches, spend)` per sheet, `.close()`.
`batches` yields (index of the first row, rows).
"""

from dataclasses import dataclass

from . import writers
from .outputs import html, jsonl, markdown, ods, parquet, sql


@dataclass(frozen=True)
class InputFormat:
    name: str  # what detection calls it (Detection.format)
    description: str  # in pages and messages: "the file is really <description>"
    # The extensions its files are saved with, the usual one first. A name ending in one of
    # them is no surprise when the bytes are this format; each extension says one format.
    extensions: tuple[str, ...]
    family: str  # the help page's groups: "Excel", "LibreOffice", ...


INPUTS = {
    found.name: found
    for found in (
        InputFormat("xlsx", "Excel workbook (.xlsx)", ("xlsx",), "Excel"),
        InputFormat("xlsm", "Excel macro-enabled workbook (.xlsm)", ("xlsm",), "Excel"),
        InputFormat("xltx", "Excel template (.xltx)", ("xltx",), "Excel"),
        InputFormat("xlsb", "Excel binary workbook (.xlsb)", ("xlsb",), "Excel"),
        InputFormat("xls", "Excel 97-2003 workbook (.xls)", ("xls",), "Excel"),
        # Excel's own XML, and web pages, are saved as .xls too ("Export to Excel"): such a
        # name gets the note, which says how the file was read.
        InputFormat("spreadsheetml", "Excel 2003 XML spreadsheet (.xml, .xls)", ("xml",), "Excel"),
        InputFormat("ods", "OpenDocument spreadsheet (.ods)", ("ods",), "LibreOffice"),
        InputFormat("fods", "Flat OpenDocument spreadsheet (.fods)", ("fods",), "LibreOffice"),
        InputFormat("numbers", "Apple Numbers spreadsheet (.numbers)", ("numbers",), "Apple"),
        InputFormat("csv", "Delimited text (CSV/TSV)", ("csv", "tsv", "txt"), "Text"),
        InputFormat("html", "HTML table (.html, .xls)", ("html", "htm"), "Web and data"),
        InputFormat("json", "JSON (.json)", ("json",), "Web and data"),
        InputFormat("jsonl", "JSON Lines (.jsonl)", ("jsonl", "ndjson"), "Web and data"),
    )
}
# What a file's extension says it is, for the note on a name that disagrees with the bytes.
INPUT_BY_EXTENSION = {
    extension: found.name for found in INPUTS.values() for extension in found.extensions
}
# The upload's file picker: every extension an input is saved with.
ACCEPT = ",".join(f".{extension}" for extension in INPUT_BY_EXTENSION)


def input_families():
    """(family, [InputFormat, ...]) in the registry's order: the help page's list."""
    families = {}
    for found in INPUTS.values():
        families.setdefault(found.family, []).append(found)
    return list(families.items())


ZIP = "zip"
ZIP_MEDIA_TYPE = "application/zip"


@dataclass(frozen=True)
class OutputFormat:
    name: str  # what the options, the API and the command line call it
    label: str  # in the web form's list
    short: str  # in sentences: "For CSV and TSV."
    extension: str
    media_type: str
    writer: type
    one_file: bool  # several sheets in one file; else a zip of one file per sheet
    typed: bool = False  # text input is typed for it ("12" a number) when infer_types is on
    delimiter: str | None = None  # a delimited text format's own delimiter (TSV's tab)
    # The options that change this format's output (beyond those that choose the cells:
    # sheets, skip_rows, fill_merged, the text input's reading).
    options: frozenset = frozenset()

    @property
    def delimited(self):
        """Written by the CSV writer: the columnar fast path (columnar.py) can write it."""
        return self.writer is writers.CsvSheetWriter


TEXT_OPTIONS = frozenset({"quoting", "encoding", "line_ending", "protect_formulas", "date_style"})
# How a text input is typed, for the formats that keep types.
TYPING_OPTIONS = frozenset({"infer_types", "decimal_separator", "date_order"})
# Cells written as text, header first (date_style and full_precision: the text of dates and
# numbers, also in columns of mixed types, which hold what the CSV output writes).
RECORD_OPTIONS = frozenset({"header", "date_style", "full_precision"})
# Numbers and dates written as their number formats show them: for the outputs that write
# cells as text (JSON and SQL write them as strings then). Not for XLSX and ODS, which keep
# the number with its format (keep_formats), nor Parquet, whose columns are typed.
DISPLAY_OPTIONS = frozenset({"as_displayed"})

OUTPUTS = {
    output.name: output
    for output in (
        OutputFormat(
            "csv",
            "CSV",
            "CSV",
            "csv",
            "text/csv",
            writers.CsvSheetWriter,
            one_file=False,
            options=TEXT_OPTIONS | DISPLAY_OPTIONS | {"delimiter", "full_precision"},
        ),
        OutputFormat(
            "tsv",
            "TSV (tab-separated)",
            "TSV",
            "tsv",
            "text/tab-separated-values",
            writers.CsvSheetWriter,
            one_file=False,
            delimiter="\t",
            options=TEXT_OPTIONS | DISPLAY_OPTIONS | {"full_precision"},
        ),
        OutputFormat(
            "xlsx",
            "Excel workbook (XLSX)",
            "XLSX",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            writers.XlsxWriter,
            one_file=True,
            typed=True,
            # header: a text file's header row is bold and frozen (with keep_formats)
            options=TYPING_OPTIONS | {"keep_formats", "header"},
        ),
        OutputFormat(
            "json",
            "JSON",
            "JSON",
            "json",
            "application/json",
            writers.JsonSheetWriter,
            one_file=False,
            typed=True,
            options=RECORD_OPTIONS | TYPING_OPTIONS | DISPLAY_OPTIONS | {"json_style"},
        ),
        OutputFormat(
            "jsonl",
            "JSON Lines (one object per row)",
            "JSON Lines",
            "jsonl",
            "application/jsonl",
            jsonl.JsonLinesSheetWriter,
            one_file=False,
            typed=True,
            options=RECORD_OPTIONS | TYPING_OPTIONS | DISPLAY_OPTIONS,
        ),
        OutputFormat(
            "markdown",
            "Markdown (GitHub tables)",
            "Markdown",
            "md",
            "text/markdown",
            markdown.MarkdownWriter,
            one_file=True,
            options=RECORD_OPTIONS | DISPLAY_OPTIONS,
        ),
        OutputFormat(
            "html",
            "HTML page (a table per sheet)",
            "HTML",
            "html",
            "text/html",
            html.HtmlWriter,
            one_file=True,
            options=RECORD_OPTIONS | DISPLAY_OPTIONS,
        ),
        OutputFormat(
            "sql",
            "SQL (CREATE TABLE and INSERTs)",
            "SQL",
            "sql",
            "application/sql",
            sql.SqlWriter,
            one_file=True,
            typed=True,
            options=RECORD_OPTIONS | TYPING_OPTIONS | DISPLAY_OPTIONS | {"sql_dialect"},
        ),
        OutputFormat(
            "ods",
            "OpenDocument spreadsheet (ODS)",
            "ODS",
            "ods",
            "application/vnd.oasis.opendocument.spreadsheet",
            ods.OdsWriter,
            one_file=True,
            typed=True,
            options=TYPING_OPTIONS,
        ),
        OutputFormat(
            "parquet",
            "Apache Parquet (typed columns)",
            "Parquet",
            "parquet",
            "application/vnd.apache.parquet",
            parquet.ParquetSheetWriter,
            one_file=False,
            typed=True,
            options=RECORD_OPTIONS | TYPING_OPTIONS,
        ),
    )
}
NAMES = tuple(OUTPUTS)  # in the order the web form lists them


def output(name):
    """The OutputFormat called `name`; KeyError for any other."""
    return OUTPUTS[name]


def extension_of(written):
    """The file extension of what the engine wrote: an output format's name, or "zip"."""
    return ZIP if written == ZIP else OUTPUTS[written].extension


def media_type_of(written):
    return ZIP_MEDIA_TYPE if written == ZIP else OUTPUTS[written].media_type


def media_type_of_file(name):
    """The media type of a result file called `name` (its extension says what it holds)."""
    extension = name.rsplit(".", 1)[-1].lower()
    return ZIP_MEDIA_TYPE if extension == ZIP else by_extension(extension).media_type


def by_extension(extension):
    """The OutputFormat whose files end in `extension` (an output file's name), or None."""
    return next((o for o in OUTPUTS.values() if o.extension == extension.lower()), None)


MEDIA_TYPES = sorted({o.media_type for o in OUTPUTS.values()} | {ZIP_MEDIA_TYPE})


def formats_with(option):
    """The names of the formats whose output `option` changes."""
    return tuple(name for name, o in OUTPUTS.items() if option in o.options)


def spoken(names):
    """['CSV', 'TSV', 'JSON'] -> 'CSV, TSV and JSON'."""
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def applies_text(option):
    """The formats `option` changes, as a form's or the API's help says it ("For CSV and
    TSV."); None for an option that changes every format's output (or none)."""
    names = formats_with(option)
    if not names or len(names) == len(OUTPUTS):
        return None
    return f"For {spoken([OUTPUTS[name].short for name in names])}."
