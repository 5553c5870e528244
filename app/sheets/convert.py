"""The engine's public functions: inspect, preview, convert."""

import codecs
import contextlib
import os
import time
import zipfile
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

from . import blocks, columnar, displayed, fixups, formats, looks
from .book import SheetInfo, open_book
from .detect import Detection, detect_format
from .errors import (
    BadOptions,
    EmptyFile,
    TimedOut,
    TooLarge,
    UnsupportedSheet,
    damaged_as_user_error,
)
from .limits import DEFAULT_LIMITS
from .options import Options, is_text_encoding
from .sandbox import current_bail_out, run_isolated
from .text import number_style, read_sample, text_sheet_name
from .values import display_text, text_typer
from .writers import unique_file_name

BATCH_ROWS = 2000  # rows handed to a writer at once, between progress calls
# A preview is for looking, and it is cached with the upload and sent as HTML: a wide sheet
# shows its first columns, a long cell is cut short, and rows stop once the shown cells hold
# PREVIEW_CHARS characters (one row at least). Conversions always take everything.
PREVIEW_COLUMNS = 50
PREVIEW_CELL_CHARS = 100
PREVIEW_CHARS = 60_000


@dataclass
class WorkbookInfo:
    format: str
    description: str
    sheets: list  # of SheetInfo
    encoding: str | None = None  # text files: as read (detected, or as asked)
    delimiter: str | None = None
    # Text files: how their numbers and dates look, the defaults of the options that type
    # them for XLSX/JSON ("." or ","; "dmy", "mdy", "ymd" or "" when there are no such dates).
    decimal_separator: str | None = None
    date_order: str | None = None

    def as_dict(self):
        return asdict(self)


@dataclass
class Preview:
    sheet: str
    rows: list  # lists of display strings, at most shown_columns long
    total_rows: int
    total_columns: int
    shown_columns: int = 0
    cut_cells: bool = False  # some cells were longer than PREVIEW_CELL_CHARS and end in "…"


@dataclass
class Result:
    output: str  # what was written: an output format's name, or "zip" (formats.py)
    sheets: list
    rows: int = 0
    cells: int = 0
    warnings: list = field(default_factory=list)

    @property
    def extension(self):
        return formats.extension_of(self.output)

    @property
    def media_type(self):
        return formats.media_type_of(self.output)


def isolated(function, *args, limits, progress=None, **kwargs):
    """Run an engine function in a child process bounded by `limits` (see sandbox.py)."""
    return run_isolated(
        function,
        *args,
        limits=limits,
        memory_bytes=limits.max_memory_bytes,
        seconds=limits.max_seconds + 30,
        progress=progress,
        **kwargs,
    )


def inspect(path, limits=DEFAULT_LIMITS, isolate=False, text_sheet_name=None, input_encoding=None):
    """What the file is and what it holds: format, sheets (name, visibility, size),
    and for text files the encoding, delimiter, decimal separator and date order found.

    With isolate=True the file is read in a child process (see sandbox.py): use it
    for files from strangers. A text file's one sheet is called `text_sheet_name`
    (default: after the file, sales.csv -> sales); it is read as `input_encoding`
    when given (default: the encoding detected).
    """
    if isolate:
        return isolated(
            inspect,
            path,
            limits=limits,
            text_sheet_name=text_sheet_name,
            input_encoding=input_encoding,
        )
    with open_checked(path, limits, text_sheet_name, input_encoding) as book:
        return workbook_info(book)


def preview(
    path,
    sheet=None,
    rows=100,
    limits=DEFAULT_LIMITS,
    isolate=False,
    text_sheet_name=None,
    input_encoding=None,
    columns=PREVIEW_COLUMNS,
):
    """The first `rows` rows and `columns` columns of a sheet (default: the first visible
    one) as display strings, bounded as PREVIEW_CHARS says."""
    if isolate:
        return isolated(
            preview,
            path,
            sheet,
            rows,
            limits=limits,
            text_sheet_name=text_sheet_name,
            input_encoding=input_encoding,
            columns=columns,
        )
    with open_checked(path, limits, text_sheet_name, input_encoding) as book:
        return first_rows(book, pick_sheet(book, sheet), rows, columns)


def survey(
    path,
    rows=100,
    limits=DEFAULT_LIMITS,
    isolate=False,
    text_sheet_name=None,
    input_encoding=None,
    columns=PREVIEW_COLUMNS,
):
    """inspect() and the preview() of the first visible sheet (None if there is no sheet),
    reading the file once: what an upload needs."""
    if isolate:
        return isolated(
            survey,
            path,
            rows,
            limits=limits,
            text_sheet_name=text_sheet_name,
            input_encoding=input_encoding,
            columns=columns,
        )
    with open_checked(path, limits, text_sheet_name, input_encoding) as book:
        info = workbook_info(book)
        if not book.sheets:
            return info, None
        return info, first_rows(book, pick_sheet(book, None), rows, columns)


@contextlib.contextmanager
def open_checked(path, limits, sheet_name=None, input_encoding=None, bail_out=None):
    with damaged_as_user_error():
        detection = read_as(detect_format(path, limits), input_encoding)
        with open_book(
            path, detection, limits, sheet_name or text_sheet_name(path), bail_out=bail_out
        ) as book:
            yield book


def read_as(detection, input_encoding):
    """The detection, with a text file's encoding replaced by the one asked for."""
    if not detection.is_text or not input_encoding:
        return detection
    if not is_text_encoding(input_encoding):
        raise BadOptions(f"Unknown encoding to read the file as: '{input_encoding}'.")
    encoding = codecs.lookup(input_encoding).name
    if encoding == "utf-8" and detection.encoding == "utf-8-sig":
        encoding = "utf-8-sig"  # the byte order mark is not a character of the text
    return Detection(detection.format, encoding)


def workbook_info(book):
    info = WorkbookInfo(
        format=book.detection.format,
        description=book.detection.description,
        sheets=[SheetInfo(**asdict(sheet)) for sheet in book.sheets],
        encoding=book.encoding,
        delimiter=book.delimiter,
    )
    if book.detection.is_text:
        info.decimal_separator, info.date_order = text_number_style(book)
    return info


def text_number_style(book):
    return number_style(read_sample(book.path, book.encoding), book.delimiter)


def first_rows(book, sheet, rows, columns=PREVIEW_COLUMNS):
    shown, chars, cut = [], 0, False
    for row in fixups.read_rows(book, sheet):
        texts = [display_text(value) for value in row[:columns]]
        for index, text in enumerate(texts):
            if len(text) > PREVIEW_CELL_CHARS:
                texts[index], cut = text[: PREVIEW_CELL_CHARS - 1] + "…", True
        chars += sum(map(len, texts))
        if shown and chars > PREVIEW_CHARS:
            break
        shown.append(texts)
        if len(shown) >= rows:
            break
    return Preview(sheet.name, shown, sheet.rows, sheet.columns, min(sheet.columns, columns), cut)


def pick_sheet(book, name):
    if name is None:
        worksheets = [sheet for sheet in book.sheets if sheet.kind == "worksheet"]
        visible = [sheet for sheet in worksheets if sheet.visible] or worksheets or book.sheets
        if not visible:
            raise UnsupportedSheet("The workbook has no worksheets.")
        return visible[0]
    sheet = book.sheet(name)
    if sheet is None and book.detection.is_text and name == "Sheet1":
        sheet = book.sheets[0]  # what a text file's sheet was called before it had its name
    if sheet is None:
        raise UnsupportedSheet(f"The workbook has no sheet named '{name}'.")
    return sheet


def choose_sheets(book, options):
    """The sheets to convert. Empty sheets are skipped among several; when every one
    chosen is empty, they are converted all the same, to empty output (as Excel and
    LibreOffice export an empty sheet), and warnings_for() says so."""
    if options.all_sheets:
        chosen = [s for s in book.sheets if s.visible or options.include_hidden]
        if not chosen:
            raise UnsupportedSheet("The workbook has no visible worksheets.")
    elif options.sheets:
        chosen = [pick_sheet(book, name) for name in dict.fromkeys(options.sheets)]
    else:
        chosen = [pick_sheet(book, None)]
    filled = [sheet for sheet in chosen if sheet.rows]
    if not filled and all(sheet.kind == "chart" for sheet in chosen):
        raise EmptyFile(f"{chart_note(chosen)}: there is nothing to convert.")
    # Empty worksheets make an empty file (with a note), as Excel and LibreOffice export them.
    return filled or chosen


class Tracker:
    """Calls progress(done, total) after each batch of rows and enforces the time limit."""

    def __init__(self, callback, total, limits):
        self.callback = callback
        self.total = max(total, 1)
        self.done = 0
        self.deadline = time.monotonic() + limits.max_seconds
        self.seconds = limits.max_seconds

    def advance(self, rows):
        self.done += rows
        if time.monotonic() > self.deadline:
            raise TimedOut(
                f"The conversion took longer than {self.seconds:.0f} seconds and was stopped."
            )
        if self.callback:
            self.callback(min(self.done, self.total), self.total)

    def finish(self):
        if self.callback:
            self.callback(self.total, self.total)


def sheet_batches(book, sheet, options, tracker, display=None):
    """(index of the first row, rows) in batches: per-row work stays in C where it can.
    `display`: a displayed.Displayer, which writes formatted cells as they are shown."""
    rows = iter(fixups.read_rows(book, sheet))
    if options.fill_merged:
        rows = fill_merged(rows, book.merges(sheet))
    index = len(list(islice(rows, options.skip_rows))) if options.skip_rows else 0
    tracker.advance(index)
    typed = None
    if book.format == "csv" and options.infer_types and formats.output(options.format).typed:
        typed = text_typer(*typing_style(book, options))
    while batch := list(islice(rows, BATCH_ROWS)):
        if typed:
            batch = [[typed(value) for value in row] for row in batch]
        if display is not None:
            display.apply(index, batch)
        tracker.advance(len(batch))
        yield index, batch
        index += len(batch)


def typing_style(book, options):
    """The decimal separator and date order for typing a text file: as asked, else as found."""
    if options.decimal_separator and options.date_order:
        return options.decimal_separator, options.date_order
    decimal, order = text_number_style(book)
    return options.decimal_separator or decimal, options.date_order or order


def fill_merged(rows, merges):
    """Give every cell of a merged range the value of its top-left cell."""
    starts = {}
    for (r0, c0), (r1, c1) in merges:
        starts.setdefault(r0, []).append((r0, c0, r1, c1))
    active = []
    for index, row in enumerate(rows):
        for _, c0, r1, c1 in starts.get(index, ()):
            value = row[c0] if c0 < len(row) else ""
            active.append((r1, c0, c1, value))
        if active:
            active = [merge for merge in active if merge[0] >= index]
            for _, c0, c1, value in active:
                for column in range(c0, min(c1 + 1, len(row))):
                    row[column] = value
        yield row


def convert(path, destination, options=None, progress=None, limits=DEFAULT_LIMITS, isolate=False):
    """Convert the spreadsheet at `path` into `destination` and return a Result.

    Several sheets become one XLSX, or a zip of one CSV/TSV/JSON file per sheet.
    The output appears whole or not at all: it is written beside `destination` and
    renamed into place at the end. `progress(done, total)` is called as rows are written.
    """
    if isolate:
        return isolated(convert, path, destination, options, limits=limits, progress=progress)
    options = (options or Options()).validate()
    destination = Path(destination)
    partial = destination.with_name(f".{destination.name}.{os.urandom(4).hex()}.partial")
    try:
        with open_checked(
            path, limits, options.name_stem, options.input_encoding, current_bail_out()
        ) as book:
            sheets = choose_sheets(book, options)
            tracker = Tracker(progress, sum(sheet.rows for sheet in sheets), limits)
            budget = OutputBudget(limits, os.path.getsize(path))
            result = write_output(book, sheets, options, tracker, partial, budget)
            result.warnings.extend(warnings_for(book, sheets, options))
        tracker.finish()
        os.replace(partial, destination)
        return result
    finally:
        partial.unlink(missing_ok=True)


class OutputBudget:
    """Stops a conversion whose output outgrows its input by far more than any workbook's
    cells can hold (limits.max_output_ratio): a few kilobytes whose cells all refer to
    one long shared string would otherwise write gigabytes, until the disk is full."""

    def __init__(self, limits, source_bytes):
        self.most = max(limits.output_floor_bytes, limits.max_output_ratio * source_bytes)
        self.ratio = limits.max_output_ratio
        self.written = 0

    def spend(self, count):
        self.written += count
        if self.written > self.most:
            raise TooLarge(
                f"The converted file grew past {self.most // 2**20:,} MB, more than "
                f"{self.ratio} times the size of the file, and the conversion was stopped: "
                "the workbook repeats long texts in a great many cells."
            )

    def wrap(self, binary):
        return BoundedFile(binary, self)


class BoundedFile:
    """A binary file whose writes are counted against an OutputBudget."""

    def __init__(self, binary, budget):
        self.binary, self.budget = binary, budget

    def write(self, data):
        self.budget.spend(len(data))
        return self.binary.write(data)

    def __getattr__(self, name):  # flush, writable, closed...: the file's own
        return getattr(self.binary, name)


def write_output(book, sheets, options, tracker, target, budget=None):
    result = Result(output=options.format, sheets=[sheet.name for sheet in sheets])

    def counted(sheet, display=None):
        for index, batch in sheet_batches(book, sheet, options, tracker, display):
            result.rows += len(batch)
            result.cells += len(batch) * len(batch[0])
            yield index, batch

    output = formats.output(options.format)
    shows = "as_displayed" in output.options and options.as_displayed

    def display_of(sheet):
        return displayed.for_sheet(book, sheet, options) if shows else None

    if output.one_file:  # every sheet in one file
        writer = output.writer(target, options)
        keeps_look = "keep_formats" in output.options and options.keep_formats
        try:
            for sheet in sheets:
                spend = budget and budget.spend
                if keeps_look:  # only this writer asks for the input's look: it costs a pass
                    look = looks.read(book, sheet, options)
                    writer.write_sheet(sheet.name, counted(sheet), spend, look)
                else:
                    writer.write_sheet(sheet.name, counted(sheet, display_of(sheet)), spend)
        finally:
            writer.close()
        return result

    def write_sheet(binary, sheet):
        if budget is not None:
            binary = budget.wrap(binary)
        display = display_of(sheet)
        # As displayed reads each row's number formats: the row-by-row path (or the
        # streaming one, for a large sheet), unless no cell's format changes anything.
        if (
            display is None
            and columnar.suits(options)
            and write_columns(book, sheet, options, tracker, binary, result)
        ):
            return
        writer = output.writer(binary, options, sheet.name)
        writer.write_batches(counted(sheet, display))
        writer.close()

    if len(sheets) == 1:
        with open(target, "wb") as binary:
            write_sheet(binary, sheets[0])
        return result
    result.output = formats.ZIP
    taken = set()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for sheet in sheets:
            member = unique_file_name(options.name_stem, sheet.name, output.extension, taken)
            with archive.open(member, "w", force_zip64=True) as binary:
                write_sheet(binary, sheet)
    return result


def write_columns(book, sheet, options, tracker, binary, result):
    """The fast path for CSV/TSV (see columnar.py). False, having written nothing,
    when the sheet does not suit it."""
    if blocks.suits(book, sheet):  # a large xlsx sheet: in blocks of rows (blocks.py)
        return blocks.write_sheet(book, sheet, options, tracker.advance, binary, result)
    try:
        typed = book.typed_columns(sheet, options.skip_rows + 1)
        if fixups.columns_need_fixups(book, sheet, typed.batch):
            return False  # cells calamine misreads: the row-by-row path puts them right
        rows = columnar.write_csv(binary, typed, options, sheet.name, tracker.advance)
    except columnar.NotColumnar:
        return False
    result.rows += rows
    result.cells += rows * sheet.columns
    return True


def chart_note(charts):
    """Chart sheets are listed among the sheets but hold no cells."""
    names = ", ".join(f"'{sheet.name}'" for sheet in charts)
    if len(charts) == 1:
        return f"Sheet {names} is a chart, with no cells"
    return f"Sheets {names} are charts, with no cells"


def warnings_for(book, sheets, options):
    warnings = list(book.notes)
    converted = {sheet.name for sheet in sheets}
    if not any(sheet.rows for sheet in sheets):
        names = ", ".join(f"'{sheet.name}'" for sheet in sheets)
        warnings.append(
            f"Sheet {names} is empty: the file written is empty."
            if len(sheets) == 1
            else f"Sheets {names} are empty: the files written are empty."
        )
    charts = [s for s in book.sheets if s.kind == "chart" and s.name not in converted]
    empty = [s.name for s in book.sheets if not s.rows and s.name not in converted]
    others = [s.name for s in book.sheets if s.name not in converted and s.name not in empty]
    if charts:
        warnings.append(f"{chart_note(charts)} and left out.")
    for name, kind in book.unread:
        what = "a dialog sheet" if kind == "dialogsheet" else "an Excel 4 macro sheet"
        warnings.append(f"Sheet '{name}' is {what}, which Sheetport cannot read in this format.")
    for name in empty:
        if book.sheet(name).kind == "worksheet":
            warnings.append(f"Sheet '{name}' is empty and was left out.")
    if others and not options.all_sheets:
        warnings.append(
            f"The workbook has {len(book.sheets)} sheets; only "
            + ", ".join(f"'{sheet.name}'" for sheet in sheets)
            + " converted. Choose all sheets to get the others."
        )
    elif others:
        warnings.append(
            "Hidden sheets left out: " + ", ".join(f"'{name}'" for name in others) + "."
        )
    return warnings
