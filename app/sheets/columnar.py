"""The fast path for CSV and TSV: a sheet read as typed columns, written a column at a time.

fastexcel reads an xlsx sheet with calamine straight into Arrow columns, without a Python
object per cell, and Arrow's compute functions turn each column into text by the same
rules as values.py. No Python code runs per cell, except for the few values Arrow would
write differently (numbers it would put in scientific notation, text that looks like a
formula). It takes sheets whose columns each hold one kind of value below a header row;
for anything else it raises NotColumnar, and the row-by-row path in writers.py does it.

pyarrow is only ever handed Arrow values, never Python ones (see `literal`): converting
a Python value makes pyarrow import pandas, when installed, which costs a third of a second.
"""

import datetime as dt
import importlib
import logging
import struct
import threading
from array import array as typed_array
from dataclasses import dataclass, field
from itertools import accumulate, repeat

from . import formats
from .options import LINE_ENDINGS
from .values import (
    DATE_STYLES,
    LONG_DURATION,
    full_number_for_text,
    number_for_text,
    protect_formula,
)
from .writers import CsvSheetWriter

# Rust's log messages ("falling back to string" for an empty column) are not for users.
logging.getLogger("fastexcel").setLevel(logging.ERROR)

SLICE_ROWS = 50_000  # rows formatted and written at once, between progress calls
FORMULA_START = r"^[=+\-@\t\r]"
DAY_MS = 86_400_000
UNIX_EPOCH = dt.date(1970, 1, 1)
# Timestamps are compared as milliseconds since 1970.
DAY_ZERO_MS = {  # calamine's day 0 in each date system; day 1 is the next
    False: (dt.date(1899, 12, 31) - UNIX_EPOCH).days * DAY_MS,
    True: (dt.date(1904, 1, 1) - UNIX_EPOCH).days * DAY_MS,
}
YEAR_10000_MS = ((dt.date(9999, 12, 31) - UNIX_EPOCH).days + 1) * DAY_MS  # past Python's dates
LONG_DURATION_MS = LONG_DURATION // dt.timedelta(milliseconds=1)


class NotColumnar(Exception):
    """The sheet does not suit the fast path; the row-by-row path converts it."""


@dataclass
class TypedSheet:
    leading: list  # the first rows, as lists of values (see Book.typed_columns)
    batch: object  # the rest: a pyarrow.RecordBatch
    errors: dict = field(default_factory=dict)  # (row in batch, column) -> "#N/A"
    date1904: bool = False


def suits(options):
    """Whether the fast path writes what these options ask for (it writes UTF-8 only)."""
    return (
        formats.output(options.format).delimited
        and options.quoting in ("minimal", "all")
        and options.encoding in ("utf-8", "utf-8-sig")
        and not options.fill_merged
    )


def write_csv(binary, typed, options, sheet_name, advance):
    """Write one sheet as CSV/TSV: the leading rows after options.skip_rows through
    csv.writer, then the columns a slice at a time. advance(rows) after each part.
    Returns the number of rows written."""
    columns = TextColumns(
        options.date_style, options.protect_formulas, typed.date1904, options.full_precision
    )
    columns.check(typed.batch)  # before a byte is written: the other path may still take over
    lines = CsvLines(
        options.field_delimiter, options.quoting == "all", LINE_ENDINGS[options.line_ending]
    )
    head = typed.leading[options.skip_rows :]
    writer = CsvSheetWriter(binary, options, sheet_name)
    writer.write_batches([(options.skip_rows, head)])
    writer.close()
    advance(len(typed.leading))
    batch = typed.batch
    for start in range(0, batch.num_rows, SLICE_ROWS):
        part = batch.slice(start, SLICE_ROWS)
        texts = [columns.column(column) for column in part.columns]
        if typed.errors:
            texts = columns.with_errors(texts, typed.errors, start)
        binary.write(lines.encode(texts))
        advance(part.num_rows)
    return len(head) + batch.num_rows


def load_columns(path, sheet_name, skip):
    """The sheet below its first `skip` rows as an Arrow RecordBatch, one type per column.

    Raises NotColumnar when a column mixes kinds of value (numbers and text, say), or
    when fastexcel cannot read the sheet: the row-by-row path then says what is wrong.
    """
    import fastexcel

    # Importing pyarrow takes a fifth of a second: done meanwhile, as calamine parses
    # without the GIL.
    threading.Thread(target=importlib.import_module, args=("pyarrow.compute",)).start()
    try:
        reader = fastexcel.read_excel(str(path))
        sheet = reader.load_sheet(
            sheet_name,
            header_row=None,
            skip_rows=skip,
            schema_sample_rows=None,  # look at every row: one odd cell must not be coerced
            dtype_coercion="strict",
        )
        return sheet.to_arrow()
    except BaseException as error:  # pyo3 turns Rust panics into a BaseException
        if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        raise NotColumnar(f"fastexcel: {error}") from None


def gap_columns(batch):
    """The columns of numbers, dates or booleans with empty cells (or NaN, which only a
    text such as "nan" becomes: a cell cannot hold NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    gaps = set()
    for index, array in enumerate(batch.columns):
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            continue
        floating = pa.types.is_floating(array.type)
        if array.null_count or (floating and pc.any(pc.is_nan(array)).as_py()):
            gaps.add(index)
    return gaps


def literal(value):
    """An Arrow scalar built from bytes, as pyarrow's own conversion would import pandas."""
    import pyarrow as pa

    if isinstance(value, str):
        return string_array([value])[0]
    if isinstance(value, bool):
        return bool_array([value])[0]
    kind, code = (pa.int64(), "=q") if isinstance(value, int) else (pa.float64(), "=d")
    return pa.Array.from_buffers(kind, 1, [None, pa.py_buffer(struct.pack(code, value))])[0]


def string_array(texts):
    """An Arrow string array of Python strings, built from bytes (see `literal`)."""
    import pyarrow as pa

    encoded = list(map(str.encode, texts))  # C-level loops: this runs for many values
    offsets = typed_array("i", accumulate(map(len, encoded), initial=0))
    buffers = [None, pa.py_buffer(offsets)]
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [*buffers, pa.py_buffer(b"".join(encoded))]
    )


def bool_array(flags):
    import pyarrow as pa

    data = pa.py_buffer(bytes(map(bool, flags)))
    return pa.Array.from_buffers(pa.int8(), len(flags), [None, data]).cast(pa.bool_())


class TextColumns:
    """Turns Arrow columns into string columns, by the rules of values.py."""

    def __init__(
        self, date_style="iso", protect_formulas=False, date1904=False, full_precision=False
    ):
        import pyarrow as pa
        import pyarrow.compute as pc

        self.pa, self.pc = pa, pc
        self.date_format, self.datetime_format = DATE_STYLES[date_style]
        self.iso = date_style == "iso"
        self.protect_formulas = protect_formulas
        self.day_zero = DAY_ZERO_MS[date1904]
        self.number_text = full_number_for_text if full_precision else number_for_text
        self.full_precision = full_precision

    def check(self, batch):
        """Raise NotColumnar for a column these rules cannot write."""
        pa, pc = self.pa, self.pc
        for array in batch.columns:
            kind = array.type
            if pa.types.is_timestamp(kind):
                millis = array.cast(pa.timestamp("ms")).cast(pa.int64())
                early = pc.any(pc.less(millis, literal(self.day_zero))).as_py()
                if early or pc.any(pc.greater_equal(millis, literal(YEAR_10000_MS))).as_py():
                    raise NotColumnar("a date outside the years Python can write")
            elif (
                pa.types.is_duration(kind)
                and pc.any(
                    pc.greater_equal(
                        pc.abs(array.cast(pa.duration("ms")).cast(pa.int64())),
                        literal(LONG_DURATION_MS),
                    )
                ).as_py()
            ):
                raise NotColumnar("a duration written as a date-time (values.LONG_DURATION)")
            elif not (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or pa.types.is_floating(kind)
                or pa.types.is_boolean(kind)
                or pa.types.is_duration(kind)
                or pa.types.is_null(kind)
            ):
                raise NotColumnar(f"no rule for {kind}")

    def with_errors(self, texts, errors, start):
        """Error cells (fastexcel reads them as empty) put back as their text."""
        end = start + len(texts[0])
        by_column = {}
        for (row, column), text in errors.items():
            if start <= row < end:
                by_column.setdefault(column, {})[row - start] = text
        for column, cells in by_column.items():
            mask = [False] * (end - start)
            for row in cells:
                mask[row] = True
            values = string_array([cells[row] for row in sorted(cells)])
            texts[column] = self.pc.replace_with_mask(texts[column], bool_array(mask), values)
        return texts

    def column(self, array):
        """One column as text (empty cells are ""); check() has seen its type."""
        pa = self.pa
        kind = array.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            text = self.protected(array) if self.protect_formulas else array
        elif pa.types.is_floating(kind):
            text = self.numbers(array)
        elif pa.types.is_boolean(kind):
            text = self.pc.if_else(array, literal("TRUE"), literal("FALSE"))
        elif pa.types.is_timestamp(kind):
            text = self.moments(array.cast(pa.timestamp("ms")))
        elif pa.types.is_duration(kind):
            text = self.durations(array.cast(pa.duration("ms")))
        else:  # nothing but empty cells
            return string_array([""] * len(array))
        return self.pc.fill_null(text, literal(""))

    def numbers(self, array):
        """Integral values as integers, others in Arrow's shortest round-trip form; the
        values Arrow would write in scientific notation, or (unless full_precision) with
        more than 15 significant digits, go through number_for_text."""
        pa, pc = self.pa, self.pc
        whole = pc.and_(pc.equal(pc.floor(array), array), pc.less(pc.abs(array), literal(1e16)))
        if pc.all(whole).as_py():  # ids, counts: the usual whole-number column
            text = pc.cast(pc.cast(array, pa.int64()), pa.string())
        elif not pc.any(whole).as_py():
            text = pc.cast(array, pa.string())
        else:
            integers = pc.cast(pc.if_else(whole, array, literal(0.0)), pa.int64(), safe=False)
            text = pc.if_else(whole, pc.cast(integers, pa.string()), pc.cast(array, pa.string()))
        number_text = self.number_text
        if not self.full_precision:  # 16 characters or more may hold 16 digits or more
            long = pc.greater_equal(pc.utf8_length(text), literal(16))
            size = pc.abs(array)
            # Fractions between 1e-4 and 1e15: number_text is format(.15g), done in C.
            usual = pc.and_(
                pc.and_(long, pc.invert(whole)),
                pc.and_(pc.greater_equal(size, literal(1e-4)), pc.less(size, literal(1e15))),
            )
            text = self.redo(text, usual, array, fifteen_digits, bulk=True)
            other = pc.and_(long, pc.invert(pc.fill_null(usual, literal(False))))
            text = self.redo(text, other, array, lambda number: str(number_text(number)))
        if not may_hold(text, "eEnN"):  # 1e+20, 1e-7, nan, inf
            return text
        odd = pc.match_substring_regex(text, "[eEnN]")
        return self.redo(text, odd, array, lambda number: str(number_text(number)))

    def protected(self, array):
        if not may_hold(array, "=+-@\t\r"):
            return array
        suspect = self.pc.match_substring_regex(array, FORMULA_START)
        return self.redo(array, suspect, array, protect_formula)

    def redo(self, text, mask, source, rule, bulk=False):
        """`text` with the entries under `mask` replaced by rule(value) of `source`
        (with `bulk`, rule(values) gives the texts of a list of values)."""
        pc = self.pc
        mask = pc.fill_null(mask, literal(False))
        if not pc.any(mask).as_py():
            return text
        values = pc.filter(source, mask).to_pylist()
        texts = rule(values) if bulk else list(map(rule, values))
        return pc.replace_with_mask(text, mask, string_array(texts))

    def moments(self, array):
        """Dates, date-times and times, told apart as calamine tells them: a value before
        day 1 is a time of day, one at midnight a date, any other a date-time."""
        pa, pc = self.pa, self.pc
        seconds = pc.floor_temporal(array, unit="second")
        iso = pc.cast(pc.cast(seconds, pa.timestamp("s")), pa.string())  # YYYY-MM-DD HH:MM:SS
        day = pc.utf8_slice_codeunits(iso, 0, 10)
        dates = day if self.iso else self.reordered(day)
        midnight = pc.equal(pc.floor_temporal(array, unit="day"), array)
        time_of_day = pc.less(array.cast(pa.int64()), literal(self.day_zero + DAY_MS))
        has_times = pc.any(time_of_day).as_py()
        if pc.all(midnight).as_py() and not has_times:  # the usual date column
            return dates
        clock = pc.utf8_slice_codeunits(iso, 11, 19)
        millis = pc.cast(pc.subtract(array, seconds), pa.int64())
        dot, none = literal("."), literal("")
        fraction = none
        if pc.any(pc.not_equal(millis, literal(0))).as_py():
            fraction = pc.if_else(
                pc.equal(millis, literal(0)),
                none,
                pc.binary_join_element_wise(
                    dot,
                    pc.utf8_lpad(pc.cast(pc.multiply(millis, literal(1000)), pa.string()), 6, "0"),
                    none,
                ),
            )
        if self.iso:
            moments = pc.binary_join_element_wise(iso, fraction, none)
        else:  # as strftime() writes them in the Python path: no fraction
            moments = pc.binary_join_element_wise(dates, clock, literal(" "))
        text = pc.if_else(midnight, dates, moments)
        if has_times:
            text = pc.if_else(time_of_day, pc.binary_join_element_wise(clock, fraction, none), text)
        return text

    def reordered(self, day):
        """YYYY-MM-DD as DD/MM/YYYY or MM/DD/YYYY, by the date style."""
        pc = self.pc
        year, month, date = (
            pc.utf8_slice_codeunits(day, a, b) for a, b in ((0, 4), (5, 7), (8, 10))
        )
        first, second = (date, month) if self.date_format.startswith("%d") else (month, date)
        return pc.binary_join_element_wise(first, second, year, literal("/"))

    def durations(self, array):
        """H:MM:SS with a fraction when there is one, as values.duration_text writes it."""
        pa, pc = self.pa, self.pc
        millis = pc.cast(array, pa.int64())
        size = pc.abs(millis)

        def part(total, unit, modulo=None):
            value = pc.divide(total, literal(unit))
            return (
                pc.subtract(value, pc.multiply(pc.divide(value, literal(modulo)), literal(modulo)))
                if modulo
                else value
            )

        def two(values):
            return pc.utf8_lpad(pc.cast(values, pa.string()), 2, "0")

        hours, minutes, seconds = (
            part(size, 3_600_000),
            part(size, 60_000, 60),
            part(size, 1000, 60),
        )
        fraction = pc.subtract(size, pc.multiply(pc.divide(size, literal(1000)), literal(1000)))
        none = literal("")
        sign = pc.if_else(pc.less(millis, literal(0)), literal("-"), none)
        digits = pc.utf8_rtrim(pc.utf8_lpad(pc.cast(fraction, pa.string()), 3, "0"), "0")
        tail = pc.if_else(
            pc.equal(fraction, literal(0)),
            none,
            pc.binary_join_element_wise(literal("."), digits, none),
        )
        colon = literal(":")
        return pc.binary_join_element_wise(
            sign, pc.cast(hours, pa.string()), colon, two(minutes), colon, two(seconds), tail, none
        )


class CsvLines:
    """String columns joined into CSV lines exactly as csv.writer writes them."""

    def __init__(self, delimiter, quote_all, line_ending):
        import pyarrow.compute as pc

        self.pc = pc
        self.delimiter = delimiter
        self.quote_all = quote_all
        self.line_ending = line_ending
        # csv.writer quotes a field holding the delimiter, a quote or a line-ending character.
        self.special = set(delimiter + '"' + line_ending)

    def quoted(self, column):
        pc = self.pc
        if self.quote_all:
            return self.wrap(column)
        if not may_hold(column, self.special):
            return column
        needs = None
        for char in self.special:
            found = pc.match_substring(column, char)
            needs = found if needs is None else pc.or_(needs, found)
        return pc.replace_with_mask(column, needs, self.wrap(pc.filter(column, needs)))

    def wrap(self, column):
        quote = literal('"')
        doubled = self.pc.replace_substring(column, '"', '""')
        return self.pc.binary_join_element_wise(quote, doubled, quote, literal(""))

    def encode(self, columns):
        """The bytes of the lines, UTF-8, each ended by the line ending."""
        return text_bytes(self.lines(columns))

    def lines(self, columns):
        """The lines, as a string array, each ended by the line ending."""
        pc = self.pc
        columns = [self.quoted(column) for column in columns]
        if len(columns) == 1 and not self.quote_all:  # csv.writer writes a lone empty field as ""
            empty = pc.equal(columns[0], literal(""))
            columns[0] = pc.if_else(empty, literal('""'), columns[0])
        joined = columns[0]
        if len(columns) > 1:
            joined = pc.binary_join_element_wise(*columns, literal(self.delimiter))
        return pc.binary_join_element_wise(joined, literal(self.line_ending), literal(""))


def text_bytes(array):
    """The UTF-8 bytes of a string array's values, one after the other (no copy)."""
    _, offsets, data = array.buffers()
    if data is None:  # nothing but empty strings
        return memoryview(b"")
    offsets = memoryview(offsets).cast("i")  # int32: where each value starts in `data`
    return memoryview(data)[offsets[array.offset] : offsets[array.offset + len(array)]]


def fifteen_digits(numbers):
    return list(map(format, numbers, repeat(".15g")))


def may_hold(array, chars):
    """Whether any value of a string array might contain one of `chars`: one fast
    search of its bytes, so that most columns skip the per-value search."""
    data = bytes(text_bytes(array))
    return any(char.encode() in data for char in chars)
