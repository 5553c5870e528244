"""Writers for CSV/TSV, JSON and XLSX, fed one row at a time so memory stays flat (the
registry of output formats, formats.py, says which writes what)."""

import csv
import datetime as dt
import io
import json
import re

from .errors import EncodingFailed, TooLarge
from .names import safe_file_stem
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
MAX_LOOK_FORMATS = 4_000  # cell styles kept from the input; Excel holds 64,000
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


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
        rules = options.date_style, options.protect_formulas, options.full_precision
        self.format_row = text_row_formatter(*rules)
        self.format_batch = text_batch_formatter(*rules)
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
        self.full_precision = options.full_precision

    def write_batches(self, batches):
        stream, date_style, full_precision = self.stream, self.date_style, self.full_precision
        keys = None
        stream.write("[")
        separator = "\n"
        for row in (row for _, batch in batches for row in batch):
            if self.records and keys is None:
                keys = json_keys(row if self.header else [], len(row))
                if self.header:
                    continue
            values = [json_value(value, date_style, full_precision) for value in row]
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

    def __init__(self, path, options=None):
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
        self.skip_rows = options.skip_rows if options is not None else 0
        self.looks = {}  # (Style, value type) -> XlsxWriter Format, for looks kept

    def add_sheet(self, name):
        name = unique_sheet_name(name, self.sheet_names)
        self.sheet_names.add(name.lower())
        return self.workbook.add_worksheet(name)

    def write_sheet(self, name, batches, spend=None, look=None):
        """`look`: a looks.SheetLook, what the input's cells said beside their values."""
        worksheet = self.add_sheet(name)
        if look is not None:
            self.lay_out(worksheet, look)
        self.write_batches(worksheet, batches, name, spend, look)

    def lay_out(self, worksheet, look):
        """The look's column widths and frozen pane (counted in the rows written)."""
        for column, (pixels, hidden) in sorted(look.widths.items()):
            worksheet.set_column_pixels(column, column, pixels, None, {"hidden": hidden})
        rows, columns = look.frozen
        rows = max(rows - self.skip_rows, 0) if rows else 0
        if rows or columns:
            worksheet.freeze_panes(rows, columns)

    def look_format(self, style, kind):
        """The XlsxWriter Format of a cell styled `style` holding a value of type `kind`
        (a date without a number format of its own takes the default for its type)."""
        key = style, kind
        if key not in self.looks:
            if len(self.looks) >= MAX_LOOK_FORMATS:
                return None  # a hostile number of styles: the rest as their values' types
            number_format = style.number_format
            if number_format is None and kind in self.formats:
                number_format = self.formats[kind].num_format
            properties = {"bold": True} if style.bold else {}
            if number_format is not None:
                properties["num_format"] = number_format
            self.looks[key] = self.workbook.add_format(properties) if properties else None
        return self.looks[key]

    def write_batches(self, worksheet, batches, sheet_name, spend=None, look=None):
        # In constant-memory mode XlsxWriter writes each row's cells as XML to a temporary
        # file and copies that file into the sheet when the workbook closes. Its
        # write_*() methods are where most of a CSV -> XLSX conversion's time goes, so we
        # write the same XML to that file ourselves (a test compares the bytes with
        # XlsxWriter's for the same cells) and set the dimensions it would have.
        sheet_xml = SheetXml(self.formats, sheet_name)
        styled = StyledRows(look, self.look_format) if look and look.cells else None
        out = worksheet.row_data_fh
        rows = (
            (start + offset, row) for start, batch in batches for offset, row in enumerate(batch)
        )
        out_row = -1
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
            cell_styles = styled.of(index) if styled else None
            if cell_styles:
                xml = sheet_xml.styled_row(out_row, row, index, cell_styles, styled)
            else:
                xml = sheet_xml.row(out_row, row, index)
            if xml:
                if spend is not None:
                    spend(len(xml))  # characters: near enough to bytes for a bound
                out.write(xml)
        if sheet_xml.first_row is not None:
            worksheet.dim_rowmin, worksheet.dim_rowmax = sheet_xml.first_row, sheet_xml.last_row
            worksheet.dim_colmin, worksheet.dim_colmax = (
                sheet_xml.first_column,
                sheet_xml.last_column,
            )
            worksheet.previous_row = sheet_xml.last_row

    def close(self):
        self.workbook.close()


class SheetXml:
    """The <row> elements of a sheet, as XlsxWriter writes them in constant-memory mode:
    text as inline strings, dates as serial numbers with a date style, empty text omitted."""

    def __init__(self, formats, sheet_name):
        self.formats = formats  # XlsxWriter Formats by value type
        self.styles = {}
        self.sheet_name = sheet_name
        self.letters = []
        self.first_row = self.last_row = None
        self.first_column = self.last_column = None

    def row(self, row_index, values, source_index):
        """The XML of one row (0-based), or "" when it has no cells. source_index is
        the row's index in the sheet read, for messages."""
        letters = self.letters
        if len(letters) < len(values):
            letters.extend(column_letter(column) for column in range(len(letters), len(values)))
        number = row_index + 1
        cells = []
        first = last = None
        for column, value in enumerate(values):
            kind = type(value)
            if kind is str:
                if not value:
                    continue
                if len(value) > EXCEL_MAX_TEXT // 2 and utf16_length(value) > EXCEL_MAX_TEXT:
                    self.too_long(source_index, column, value)
                cells.append(
                    f'<c r="{letters[column]}{number}" t="inlineStr"><is>{inline_text(value)}</is></c>'
                )
            elif kind is float or kind is int:
                if value - value != 0:  # NaN or infinity, which XLSX cannot store as a number
                    cells.append(f'<c r="{letters[column]}{number}"{NON_FINITE[str(value)]}</c>')
                else:
                    cells.append(f'<c r="{letters[column]}{number}"><v>{value:.16G}</v></c>')
            elif kind is bool:
                cells.append(f'<c r="{letters[column]}{number}" t="b"><v>{int(value)}</v></c>')
            else:
                serial = excel_serial(value)
                if serial is None:  # before 1900: Excel keeps such dates as text
                    text = f"<t>{display_text(value)}</t>"
                    cells.append(
                        f'<c r="{letters[column]}{number}" t="inlineStr"><is>{text}</is></c>'
                    )
                else:
                    style = self.styles.get(kind) or self.style(kind)
                    cells.append(
                        f'<c r="{letters[column]}{number}"{style}><v>{serial:.16G}</v></c>'
                    )
            if first is None:
                first = column
            last = column
        return self.finished_row(row_index, number, cells, first, last)

    def finished_row(self, row_index, number, cells, first, last):
        """A row's XML, its cells counted into the sheet's dimensions ("" if it has none)."""
        if first is None:
            return ""
        if self.first_row is None:
            self.first_row, self.first_column, self.last_column = row_index, first, last
        else:
            self.first_column = min(self.first_column, first)
            self.last_column = max(self.last_column, last)
        self.last_row = row_index
        return f'<row r="{number}">{"".join(cells)}</row>'

    def styled_row(self, row_index, values, source_index, cell_styles, styled):
        """row(), with the cells of `cell_styles` ({column: style id}) in their styles
        (styled.attribute gives a style's s="..." for a type of value, or None)."""
        letters = self.letters
        if len(letters) < len(values):
            letters.extend(column_letter(column) for column in range(len(letters), len(values)))
        number = row_index + 1
        cells = []
        first = last = None
        for column, value in enumerate(values):
            kind = type(value)
            if kind is str and not value:
                continue
            style = cell_styles.get(column)
            attribute = styled.attribute(style, kind) if style is not None else None
            if attribute is None and kind in self.formats:
                attribute = self.styles.get(kind) or self.style(kind)
            elif attribute is None:
                attribute = ""
            at = f"{letters[column]}{number}"
            if kind is str:
                if len(value) > EXCEL_MAX_TEXT // 2 and utf16_length(value) > EXCEL_MAX_TEXT:
                    self.too_long(source_index, column, value)
                cells.append(
                    f'<c r="{at}"{attribute} t="inlineStr"><is>{inline_text(value)}</is></c>'
                )
            elif kind is float or kind is int:
                if value - value != 0:
                    cells.append(f'<c r="{at}"{attribute}{NON_FINITE[str(value)]}</c>')
                else:
                    cells.append(f'<c r="{at}"{attribute}><v>{value:.16G}</v></c>')
            elif kind is bool:
                cells.append(f'<c r="{at}"{attribute} t="b"><v>{int(value)}</v></c>')
            else:
                serial = excel_serial(value)
                if serial is None:  # before 1900: text, as row() writes it
                    text = f"<t>{display_text(value)}</t>"
                    cells.append(f'<c r="{at}" t="inlineStr"><is>{text}</is></c>')
                else:
                    cells.append(f'<c r="{at}"{attribute}><v>{serial:.16G}</v></c>')
            if first is None:
                first = column
            last = column
        return self.finished_row(row_index, number, cells, first, last)

    def too_long(self, source_index, column, value):
        length, counted = len(value), utf16_length(value)
        holds = f"{length:,} characters"
        if counted != length:
            holds += f" ({counted:,} as Excel counts them: an emoji counts as two)"
        raise TooLarge(
            f"Cell {cell_name(source_index, column)} of sheet '{self.sheet_name}' holds {holds}; "
            f"an XLSX cell holds at most {EXCEL_MAX_TEXT:,}."
        )

    def style(self, kind):
        # XlsxWriter numbers a format when a cell first uses it, and lists only those.
        self.styles[kind] = f' s="{self.formats[kind]._get_xf_index()}"'
        return self.styles[kind]


class StyledRows:
    """The styled cells of a look (looks.SheetLook.cells), read along with the rows
    written: of(index) is the {column: style id} of the sheet's row `index`. Rows come in
    the sheet's order; a row the look places behind one already passed has no styles."""

    def __init__(self, look, look_format):
        self.styles = look.styles
        self.cells = iter(look.cells())
        self.look_format = look_format
        self.attributes = {}
        self.pending = next(self.cells, None)

    def of(self, index):
        pending = self.pending
        while pending is not None and pending[0] < index:
            pending = next(self.cells, None)
        self.pending = pending
        if pending is not None and pending[0] == index:
            return pending[1]
        return None

    def attribute(self, style_id, kind):
        """' s="N"' for a cell of this style holding a `kind` value, or None: no style."""
        key = style_id, kind
        if key not in self.attributes:
            style = self.styles[style_id] if 0 <= style_id < len(self.styles) else None
            found = self.look_format(style, kind) if style is not None else None
            self.attributes[key] = f' s="{found._get_xf_index()}"' if found is not None else None
        return self.attributes[key]


# What XlsxWriter's nan_inf_to_errors option writes: a formula giving the error.
NON_FINITE = {
    "nan": ' t="e"><f>#NUM!</f><v>#NUM!</v>',
    "inf": ' t="e"><f>1/0</f><v>#DIV/0!</v>',
    "-inf": ' t="e"><f>-1/0</f><v>#DIV/0!</v>',
}
NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f]")
OOXML_ESCAPE_LOOKALIKE = re.compile(r"(_x[0-9a-fA-F]{4}_)")


def utf16_length(text):
    # Excel counts text in UTF-16 units: a character beyond U+FFFF, such as an emoji, is two.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def inline_text(value):
    """<t> of an inline string: control characters as OOXML's _xHHHH_ escapes (and text
    that looks like one escaped too), then XML's escapes. Unlike XlsxWriter, text that
    looks like rich-text markup (<r>...</r>) is escaped like any other."""
    if NEEDS_ESCAPE.search(value):
        value = OOXML_ESCAPE_LOOKALIKE.sub(r"_x005F\1", value)
        value = CONTROL_CHARACTER.sub(lambda match: f"_x{ord(match.group()):04X}_", value)
        value = value.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if value[0].isspace() or value[-1].isspace():
        return f'<t xml:space="preserve">{value}</t>'
    return f"<t>{value}</t>"


EPOCH_ORDINAL = dt.date(1899, 12, 31).toordinal()


def excel_serial(value):
    """A date, date-time, time or duration as an Excel serial number (1900 date system),
    computed in XlsxWriter's order of float operations; None for a date before 1900,
    which Excel cannot hold as a date."""
    kind = type(value)
    if kind is dt.timedelta:
        return value.days + (float(value.seconds) + float(value.microseconds) / 1e6) / 86400
    days = 0 if kind is dt.time else value.toordinal() - EPOCH_ORDINAL
    if days < 1 and kind is not dt.time:
        return None
    if kind is dt.date:
        seconds = microseconds = 0
    else:
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        microseconds = value.microsecond
    serial = days + (float(seconds) + float(microseconds) / 1e6) / 86400
    # Excel counts 1900-02-29, which never was, so its days from 1900-03-01 are one
    # higher. (XlsxWriter adds the day to 1900-02-28 with a time too, and takes one
    # from date-times on 1900-01-01: both wrong.)
    return serial + 1 if days >= 60 else serial


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
    base = safe_file_stem(base, "sheet")[:120].rstrip(" .")
    candidate, number = f"{base}.{extension}", 2
    while candidate.lower() in taken:
        candidate, number = f"{base} ({number}).{extension}", number + 1
    taken.add(candidate.lower())
    return candidate
