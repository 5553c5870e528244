"""ODS (OpenDocument spreadsheet): every chosen sheet in one file, with typed cells (numbers,
dates, date-times, times, durations and booleans as their office:value-type, each with a
data style so that LibreOffice shows them as the CSV output writes them). content.xml is
streamed into the package row by row, so memory stays flat whatever the size."""

import datetime as dt
import re
import zipfile

from ..values import display_text

MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
)
HMS = (
    '<number:hours number:style="long"/><number:text>:</number:text>'
    '<number:minutes number:style="long"/><number:text>:</number:text>'
    '<number:seconds number:style="long"/>'
)
YMD = (
    '<number:year number:style="long"/><number:text>-</number:text>'
    '<number:month number:style="long"/><number:text>-</number:text>'
    '<number:day number:style="long"/>'
)
STYLES = (
    "<office:automatic-styles>"
    f'<number:date-style style:name="Ndate">{YMD}</number:date-style>'
    f'<number:date-style style:name="Ndatetime">{YMD}<number:text> </number:text>{HMS}'
    "</number:date-style>"
    f'<number:time-style style:name="Ntime">{HMS}</number:time-style>'
    # Elapsed hours past 24 (30:05:00), as [h]:mm:ss does in Excel.
    '<number:time-style style:name="Nduration" number:truncate-on-overflow="false">'
    '<number:hours/><number:text>:</number:text><number:minutes number:style="long"/>'
    '<number:text>:</number:text><number:seconds number:style="long"/></number:time-style>'
    '<number:boolean-style style:name="Nbool"><number:boolean/></number:boolean-style>'
    + "".join(
        f'<style:style style:name="{name}" style:family="table-cell" '
        f'style:data-style-name="N{name}"/>'
        for name in ("date", "datetime", "time", "duration", "bool")
    )
    + "</office:automatic-styles>"
)
CONTENT_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<office:document-content {NAMESPACES} office:version="1.2">'
    f"{STYLES}<office:body><office:spreadsheet>"
)
CONTENT_TAIL = "</office:spreadsheet></office:body></office:document-content>"
STYLES_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<office:document-styles {NAMESPACES} office:version="1.2"><office:styles/>'
    "</office:document-styles>"
)
META_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<office:document-meta {NAMESPACES} office:version="1.2"><office:meta>'
    "<meta:generator>Sheetport</meta:generator></office:meta></office:document-meta>"
)
MANIFEST_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2">'
    f'<manifest:file-entry manifest:full-path="/" manifest:version="1.2" '
    f'manifest:media-type="{MIMETYPE}"/>'
    + "".join(
        f'<manifest:file-entry manifest:full-path="{part}" manifest:media-type="text/xml"/>'
        for part in ("content.xml", "styles.xml", "meta.xml")
    )
    + "</manifest:manifest>"
)

# XML 1.0 holds no C0 control but tab and line ends, and not U+FFFE/U+FFFF: such
# characters are written as U+FFFD (a spreadsheet shows the same for them).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
NEEDS_MARKUP = re.compile("[&<>\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|  |^ | $")
# ODF collapses runs of spaces and drops them at a paragraph's ends: those are <text:s/>.
SPACES = re.compile("^ +| +$| {2,}")
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]*?:/\\\x00-\x1f\ufffe\uffff]")


def escaped(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def spaces(match):
    run = len(match.group())
    if match.start() == 0 or match.end() == len(match.string):
        return f'<text:s text:c="{run}"/>'
    return f' <text:s text:c="{run - 1}"/>'


def paragraph(line):
    line = SPACES.sub(spaces, escaped(line)) if " " in line else escaped(line)
    return line.replace("\t", "<text:tab/>").replace("\r", "&#13;")


def text_cell(value):
    if NEEDS_MARKUP.search(value):
        lines = NOT_XML.sub("\ufffd", value).split("\n")  # a paragraph a line
        body = "".join(f"<text:p>{paragraph(line)}</text:p>" for line in lines)
    else:
        body = f"<text:p>{value}</text:p>"
    return f'<table:table-cell office:value-type="string">{body}</table:table-cell>'


def number_cell(value):
    if value - value != 0:  # NaN or infinity: no number ODS holds, its text instead
        return text_cell(display_text(value))
    return f'<table:table-cell office:value-type="float" office:value="{value!r}"/>'


def int_cell(value):
    return f'<table:table-cell office:value-type="float" office:value="{value}"/>'


def bool_cell(value):
    return (
        '<table:table-cell table:style-name="bool" office:value-type="boolean" '
        f'office:boolean-value="{"true" if value else "false"}"/>'
    )


def date_cell(value):
    return (
        '<table:table-cell table:style-name="date" office:value-type="date" '
        f'office:date-value="{value.isoformat()}"/>'
    )


def datetime_cell(value):
    return (
        '<table:table-cell table:style-name="datetime" office:value-type="date" '
        f'office:date-value="{value.replace(tzinfo=None).isoformat()}"/>'
    )


def clock(seconds, micros):
    """An ISO 8601 duration, PT{h}H{mm}M{ss}[.ffffff]S, as LibreOffice writes them."""
    hours, rest = divmod(seconds, 3600)
    fraction = f".{micros:06d}".rstrip("0") if micros else ""
    return f"PT{hours}H{rest // 60:02d}M{rest % 60:02d}{fraction}S"


def time_cell(value):
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    return (
        '<table:table-cell table:style-name="time" office:value-type="time" '
        f'office:time-value="{clock(seconds, value.microsecond)}"/>'
    )


def duration_cell(value):
    total = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
    sign = "-" if total < 0 else ""
    seconds, micros = divmod(abs(total), 1_000_000)
    return (
        '<table:table-cell table:style-name="duration" office:value-type="time" '
        f'office:time-value="{sign}{clock(seconds, micros)}"/>'
    )


CELLS = {
    str: text_cell,
    float: number_cell,
    int: int_cell,
    bool: bool_cell,
    dt.date: date_cell,
    dt.datetime: datetime_cell,
    dt.time: time_cell,
    dt.timedelta: duration_cell,
}


def row_xml(row):
    cells, empty = [], 0
    for value in row:
        if value == "" or value is None:
            empty += 1
            continue
        if empty:
            cells.append(
                f'<table:table-cell table:number-columns-repeated="{empty}"/>'
                if empty > 1
                else "<table:table-cell/>"
            )
            empty = 0
        cells.append(CELLS[type(value)](value))
    return f"<table:table-row>{''.join(cells) or '<table:table-cell/>'}</table:table-row>"


def sheet_name(name, taken):
    """A name LibreOffice accepts: none of []*?:/\\, not starting or ending with ', unique
    ignoring case."""
    base = SHEET_NAME_FORBIDDEN.sub("_", name).strip("'") or "Sheet"
    candidate, number = base, 2
    while candidate.casefold() in taken:
        candidate, number = f"{base} ({number})", number + 1
    taken.add(candidate.casefold())
    return candidate


class OdsWriter:
    """Every sheet in one ODS package."""

    def __init__(self, path, options=None):
        self.package = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
        # The mimetype first and stored: how a reader knows the package is ODS.
        self.package.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, zipfile.ZIP_STORED)
        self.content = self.package.open("content.xml", "w", force_zip64=True)
        self.content.write(CONTENT_HEAD.encode())
        self.names = set()

    def write_sheet(self, name, batches, spend=None):
        spend = spend or (lambda count: None)
        attribute = escaped(sheet_name(name, self.names)).replace('"', "&quot;")
        self.write(f'<table:table table:name="{attribute}">', spend)
        columns = False
        for _, batch in batches:
            if not columns:  # required before the rows; the first rows are as wide as any
                width = max(1, max(map(len, batch)))
                self.write(f'<table:table-column table:number-columns-repeated="{width}"/>', spend)
                columns = True
            self.write("".join(map(row_xml, batch)), spend)
        if not columns:  # a table holds a column and a row at least
            self.write("<table:table-column/><table:table-row><table:table-cell/>", spend)
            self.write("</table:table-row>", spend)
        self.write("</table:table>", spend)

    def write(self, text, spend):
        spend(len(text))
        self.content.write(text.encode())

    def close(self):
        self.content.write(CONTENT_TAIL.encode())
        self.content.close()
        for part, xml in (
            ("styles.xml", STYLES_XML),
            ("meta.xml", META_XML),
            ("META-INF/manifest.xml", MANIFEST_XML),
        ):
            self.package.writestr(part, xml)
        self.package.close()
