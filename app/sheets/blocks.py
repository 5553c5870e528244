"""Large xlsx sheets to CSV/TSV in blocks of rows, read by calamine, written by Arrow.

The streaming reader (ooxml.stream_rows) keeps memory flat but runs Python for every
XML element, three times slower than calamine. Here the sheet's XML is inflated and cut
at `</row>` into blocks of about `Limits.block_bytes`; each block becomes a small stored
xlsx package that fastexcel (calamine) reads into Arrow columns, which columnar.TextColumns
writes as text. Memory is bounded by the block (in bytes, and in the cells calamine
allocates for it), not by the sheet. fastexcel holds the GIL while it reads, so a reading
thread beside the writing one made it slower; a forked helper process can read every other
block instead (Limits.block_helper: when a core is idle; see Helper and wants_helper).

calamine is given only what it reads exactly as stream_rows does:
- shared-string cells are rewritten (bytes replaced) as formula-text cells holding a
  marker and the string's index, looked up in the table ooxml reads once (calamine never
  sees the table, so never trims it);
- numbers under date and time styles are rewritten the same way, a marker per kind of
  format, and turned into dates, times and durations by the rules of
  values.serial_moment (in Arrow; serials outside the usual range through it);
- plain numbers and booleans are read as they are.
A block holding anything else (error cells, inline or formula text, ISO dates, cells
without a reference, rows out of order, styles where the rewrite cannot see them, a
column mixing kinds of value) is parsed by stream_rows itself, carrying its position on
from the block before, so what is written is byte for byte the streaming reader's output.
"""

import contextlib
import io
import os
import re
import signal
import struct
import time
import zipfile
from array import array as typed_array
from itertools import islice, repeat

from . import columnar, ooxml
from .options import LINE_ENDINGS
from .values import DAY_MS, column_letter, serial_moment, text_row_formatter
from .writers import CsvSheetWriter

READ_BYTES = 1 << 20
BATCH_ROWS = 2000  # rows parsed by stream_rows handed to the writer at once
MAX_BLOCK_CELLS = 4_000_000  # rows spanned x columns: what calamine allocates for a block
# Private-use characters, as markers in front of the values calamine hands back as text.
SHARED = "\ue000"
KIND_MARKS = {"date": "\ue001", "datetime": "\ue002", "time": "\ue003", "duration": "\ue004"}
MARKS = {SHARED, *KIND_MARKS.values()}
ROOT = re.compile(rb"<worksheet\b[^>]*>")
ROW_NUMBER = re.compile(rb'<row r="([0-9]+)"')
ROW_WITHOUT_R = re.compile(rb'<row(?! r=")')
CELL_WITHOUT_R = re.compile(rb'<c(?! r=")')
# Cell types other than shared strings and booleans (error cells, inline and formula
# text, ISO dates, an explicit "n"): their blocks go to stream_rows. (A formula's own
# t="shared" or t="array" does not count.)
OTHER_TYPE = re.compile(rb't="(?![sb]")')
SHEET_DATA = b"<sheetData>"
SHEET_DATA_END = b"</sheetData>"
ROW_END = b"</row>"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
EPOCH_MS = {False: -2209161600000, True: -2082844800000}  # 1899-12-30 and 1904-01-01
YEAR_10000_MS = 253402300800000
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_PARTS = [
    (
        "[Content_Types].xml",
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
        '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    ),
    (
        "_rels/.rels",
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}"><Relationship '
        f'Id="rId1" Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    ),
    (
        "xl/workbook.xml",
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{OFFICE}">'
        '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
    ),
    (
        "xl/_rels/workbook.xml.rels",
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}"><Relationship '
        f'Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    ),
]


class NotBlockwise(Exception):
    """The sheet does not suit this path; nothing has been written."""


def suits(book, sheet):
    """Whether a sheet goes by this path: a streamed xlsx sheet (the options must suit
    columnar.suits too)."""
    sizes = getattr(book, "xml_sizes", None)
    limits = book.limits
    return (
        sizes is not None
        and sheet.kind != "chart"
        and bool(sheet.rows)
        and limits.block_bytes > 0
        and sizes.get(sheet.name, 0) > limits.stream_above_bytes
        and sheet.name in book.scans
    )


def write_sheet(book, sheet, options, advance, binary, result):
    """Write one large sheet as CSV/TSV; False, having written nothing, when it does not
    suit this path (then the streaming reader does it)."""
    try:
        rows = BlockWriter(book, sheet, options, advance).write(binary)
    except NotBlockwise:
        return False
    result.rows += rows
    result.cells += rows * sheet.columns
    return True


class Joined(io.RawIOBase):
    """Some bytes, then the rest of a handle (if any): XML for stream_rows."""

    def __init__(self, parts, handle=None):
        self.buffer = b"".join(parts)
        self.handle = handle

    def readable(self):
        return True

    def read(self, size=-1):
        if self.buffer:
            data = self.buffer if size < 0 else self.buffer[:size]
            self.buffer = self.buffer[len(data) :]
            return data
        return self.handle.read(size) if self.handle is not None else b""


class OnePart:
    """What stream_rows asks of a package: open(part), here the given handle."""

    def __init__(self, handle):
        self.handle = handle

    def open(self, part):
        return self.handle


PLAIN_TAGS = [  # the tags of a plain table's strings: <si><t>text</t></si>
    (b'<si><t xml:space="preserve">', b""),
    (b"<si><t>", b""),
    (b"</t></si>", b"\x01"),
]
ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def entity(found):
    name = found.group(1)
    if name[0] != "#":
        return ENTITIES[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    if code < 32 and code not in (9, 10, 13) or 0xD800 <= code < 0xE000 or code > 0x10FFFD:
        raise ValueError("a character XML cannot hold")  # expat refuses it
    return chr(code)


def plain_shared_strings(archive):
    """The shared string table as one Arrow array, read by replacing its tags when every
    string is one plain <t> (the usual table), as expat would read it; else None."""
    try:
        data = archive.read(archive.shared_strings_part)
    except KeyError:
        return columnar.string_array([])
    if b"<!" in data:  # a DTD (which expat refuses), a comment or CDATA: expat reads it
        return None
    last = data.rfind(b"</si>")
    # Bulk byte operations, no object per string: a table of 10**6 strings is common.
    count = data.count(b"<si>")
    first = data.find(b"<si>")
    if not count or first < 0 or data.count(b"</si><si>") != count - 1:
        return None  # white space between the strings (expat would drop it)
    body = data[first : last + len(b"</si>")]
    del data
    for tag, by in PLAIN_TAGS:
        body = body.replace(tag, by)
    if b"<" in body or b"\x00" in body or b"\r" in body or body.count(b"\x01") != count:
        return None  # rich text, phonetic runs, prefixed names; NUL, CR (expat's doing)
    try:
        text = body[:-1].replace(b"\x01", b"\x00").decode()
    except UnicodeDecodeError:
        return None  # expat says what is wrong
    del body
    if "&" in text:
        if "&" in ENTITY.sub("", text):
            return None  # an entity expat would refuse
        try:
            text = ENTITY.sub(entity, text)
        except ValueError:
            return None
    if text.count("\x00") != count - 1:
        return None  # &#0;, which expat refuses
    if "_x" in text:
        return columnar.string_array([ooxml.unescape(part) for part in text.split("\x00")])
    import pyarrow.compute as pc

    return pc.list_flatten(pc.split_pattern(columnar.string_array([text]), "\x00"))


class SharedText:
    """The shared string table: an Arrow array for the blocks, looked up by index for
    stream_rows (as a list is: a negative index counts from the end)."""

    def __init__(self, archive):
        self.array = plain_shared_strings(archive)
        if self.array is None:
            self.array = columnar.string_array(ooxml.read_shared_strings(archive))

    def __getitem__(self, index):
        return self.array[index].as_py()


# Both processes count the shared text table: a larger one could pass the memory bound.
HELPER_TEXT_BYTES = 24 * 1024 * 1024


def wants_helper(setting, strings):
    """Limits.block_helper as set, or for None: whether another core is idle now (the
    helper only helps on a spare core; beside other work it slows both) and the shared
    text table is small."""
    if setting is not None:
        return setting
    # idle_cores() counts this process's core too (it sleeps while measuring): one more.
    return strings.array.nbytes < HELPER_TEXT_BYTES and idle_cores() >= 1.7


def idle_cores(seconds=0.1):
    """Cores idle over the next `seconds` (this process's own included: it sleeps), from
    /proc/stat; 0 where there is none to read."""

    def sample():
        with open("/proc/stat") as stat:
            fields = [int(n) for n in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all time, idle + iowait

    try:
        total, idle = sample()
        time.sleep(seconds)
        total_after, idle_after = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    cores = os.cpu_count() or 1
    spent = total_after - total
    return cores * (idle_after - idle) / spent if spent > 0 else 0.0


HEADER = struct.Struct(
    "<qqqq"
)  # what the helper sends: kind (1 read, 0 not), first row, rows, bytes


class Helper:
    """A forked process that reads every other block (BlockWriter.serve) and sends their
    CSV lines down a pipe: calamine holds the GIL, so a second core needs a process.
    Forked once the shared strings are read, so it shares them (copy on write)."""

    def __init__(self, pid, pipe):
        self.pid, self.pipe = pid, pipe

    @classmethod
    def start(cls, writer):
        reading, writing = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(reading)
            os.close(writing)
            return None
        if pid == 0:  # the helper: it never returns
            code = 1
            try:
                os.close(reading)
                with open(writing, "wb") as out:
                    writer.serve(out, writer.path)
                code = 0
            finally:
                os._exit(code)
        os.close(writing)
        return cls(pid, open(reading, "rb"))

    def result(self):
        """The next odd block as the helper read it: ("fast", ...) or ("exact",); None if
        the helper is gone."""
        header = self.pipe.read(HEADER.size)
        if len(header) < HEADER.size:
            return None
        kind, first, rows, size = HEADER.unpack(header)
        if not kind:
            return ("exact",)
        payload = self.pipe.read(size)
        offsets = self.pipe.read(4 * (rows + 1))
        if len(payload) < size or len(offsets) < 4 * (rows + 1):
            return None
        return "fast", first, rows, payload, memoryview(offsets).cast("i")

    def close(self):
        self.pipe.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)  # done, or not needed any more
        os.waitpid(self.pid, 0)


class BlockWriter:
    """One sheet to CSV/TSV by blocks: reads them (here, or half of them in the helper),
    writes them in order, and keeps stream_rows' position from one block to the next."""

    def __init__(self, book, sheet, options, advance):
        scan = book.scans[sheet.name]  # inline text (which calamine may trim) goes to stream_rows
        self.sheet, self.options, self.advance = sheet, options, advance
        self.archive = book.archive
        self.part = book.parts[sheet.name]
        self.width = sheet.columns or scan.column_bound
        self.block_bytes = book.limits.block_bytes
        self.kinds = ooxml.number_format_kinds(self.archive)
        self.date1904 = book.date1904
        self.root = b""
        self.position = {"row": 0, "next_row": 1}  # stream_rows' (see its emit_row)
        self.produced = 0  # rows produced from row 1, skipped ones included
        self.written = 0
        self.limit = sheet.rows
        self.skip = options.skip_rows
        self.text = columnar.TextColumns(
            options.date_style, options.protect_formulas, book.date1904, options.full_precision
        )
        self.format_value = text_row_formatter(options.date_style, False, options.full_precision)
        self.date_styles = [
            (b' s="%d"' % index, KIND_MARKS[kind].encode())
            for index, kind in enumerate(self.kinds)
            if kind
        ]
        self.letters = [column_letter(column).encode() for column in range(self.width)]
        self.strings = None
        self.parallel = book.limits.block_helper
        self.path = book.path

    # Reading (here, or in the helper process)

    def blocks(self, handle):
        """Yield ("block", bytes) of whole <row> elements, the first row alone; or, when
        a row runs past eight blocks' size, ("rest", the XML from there on)."""
        data = b""
        while SHEET_DATA not in data:
            chunk = handle.read(READ_BYTES)
            if not chunk or len(data) > 16 * READ_BYTES:
                raise NotBlockwise("no <sheetData> where expected")
            data += chunk
        head, _, data = data.partition(SHEET_DATA)
        root = ROOT.search(head)
        if root is None or head[:2] in ooxml.UTF16_BOMS or b"<!" in head:
            raise NotBlockwise("not a plain UTF-8 worksheet")  # a DTD is refused there
        self.root = XML_DECLARATION + root.group(0)
        first, done = True, False
        while True:
            if not done and SHEET_DATA_END not in data and len(data) < self.block_bytes:
                chunk = handle.read(READ_BYTES)
                data += chunk
                done = not chunk
                continue
            end = data.find(SHEET_DATA_END)
            if end >= 0:
                data, done = data[:end], True
            cut = data.find(ROW_END) if first else data.rfind(ROW_END, 0, self.block_bytes)
            if cut < 0:
                cut = data.find(ROW_END)  # a row longer than a block
            if cut < 0 and not done:
                if len(data) > 8 * self.block_bytes:
                    yield "rest", Joined([data], handle)
                    return
                chunk = handle.read(READ_BYTES)
                data += chunk
                done = not chunk
                continue
            if cut < 0 or (done and not first and len(data) <= self.block_bytes):
                cut = len(data)
            else:
                cut += len(ROW_END)
            if data[:cut].strip():
                yield "block", data[:cut]
            data = data[cut:]
            first = False
            if done and not data.strip():
                return

    def read_blocks(self, handle):  # what each block goes by, in one process (tests use it)
        """("fast", first row, Arrow batch), ("exact", block, None) or ("rest", XML, None)."""
        for kind, value in self.blocks(handle):
            if kind == "rest":
                yield "rest", value, None
                return
            yield self.read_block(value)

    def read_block(self, block):
        numbers = ROW_NUMBER.findall(block)
        ordered = bool(numbers) and not ROW_WITHOUT_R.search(block)
        if ordered:
            rows = list(map(int, numbers))
            first, last = rows[0], rows[-1]
            ordered = all(map(int.__lt__, rows, rows[1:]))  # as calamine will place them
        if (
            not ordered
            or first < 2
            or (last - first + 2) * self.width > MAX_BLOCK_CELLS
            or CELL_WITHOUT_R.search(block)  # placed by order: stream_rows does that
        ):
            return "exact", block, None
        data = self.rewritten(block)
        if data is None:
            return "exact", block, None
        try:
            batch = read_batch(self.package(first - 1, data))
        except columnar.NotColumnar:
            return "exact", block, None
        if batch.num_columns != self.width or not all(map(plain_type, batch.schema.types)):
            return "exact", block, None
        return "fast", first, (batch, block)

    def rewritten(self, block):
        """The block with shared-string and date cells turned into marked text, or None
        when some such cell is written in a way the byte replacements would miss."""
        if OTHER_TYPE.search(block) and block.count(b't="') != (
            block.count(b't="s"') + block.count(b't="b"') + block.count(b'<f t="')
        ):
            return None
        data = block.replace(b't="s"><v>', b't="str"><v>' + SHARED.encode())
        if b't="s"' in data:  # without a value, or with a formula before it
            return None
        for style, mark in self.date_styles:
            # The style goes (the block's package has no styles): what is left of it
            # must be on cells that hold no number.
            data = data.replace(style + b"><v>", b' t="str"><v>' + mark)
            if style in data and data.count(style) != (
                data.count(style + b"/>")
                + data.count(style + b' t="str"><v>' + SHARED.encode())
                + data.count(style + b' t="b"')
                + data.count(style + b' customFormat="1"')
            ):
                return None  # a number under a date style the replacement missed
        return data

    def package(self, header_row, data):
        """A stored xlsx package of one sheet: a header row at `header_row` with a cell in
        every column (so the batch starts at column A, on the row after it), then the block."""
        number = b"%d" % header_row
        header = b"".join(
            b'<c r="%s%s" t="inlineStr"><is><t>c%d</t></is></c>' % (letters, number, column)
            for column, letters in enumerate(self.letters)
        )
        sheet = b"".join(
            (self.root, SHEET_DATA, b'<row r="%s">' % number, header, ROW_END, data)
            + (SHEET_DATA_END, b"</worksheet>")
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for name, text in PACKAGE_PARTS:
                archive.writestr(name, text)
            archive.writestr("xl/worksheets/sheet1.xml", sheet)
        return out.getvalue()

    # Writing

    def write(self, binary):
        with self.archive.open(self.part) as handle:
            blocks = self.blocks(handle)
            try:
                kind, first = next(blocks)  # reads the head before a byte is written
            except StopIteration:
                raise NotBlockwise("no rows") from None
            self.strings = SharedText(self.archive)
            self.writer = CsvSheetWriter(binary, self.options, self.sheet.name)
            self.binary = binary
            self.lines = columnar.CsvLines(
                self.options.field_delimiter,
                self.options.quoting == "all",
                LINE_ENDINGS[self.options.line_ending],
            )
            helper = Helper.start(self) if wants_helper(self.parallel, self.strings) else None
            try:
                self.put(kind, first, None)
                for index, (kind, block) in enumerate(blocks, 1):
                    if self.produced >= self.limit:
                        break
                    done = helper.result() if helper and index % 2 and kind == "block" else None
                    if done is None and helper and index % 2 and kind == "block":
                        helper = helper.close()  # it is gone: read the rest here
                    self.put(kind, block, done)
            finally:
                if helper:
                    helper.close()
            self.writer.close()
        return self.written

    def put(self, kind, block, done):
        """Write one block: as read (`done`, by the helper), or read here."""
        if kind == "rest":
            return self.rest(block)
        if done is None:
            done = self.read_block(block)
            if done[0] == "fast":
                done = self.encoded(done[1], done[2][0])
        if done[0] == "fast" and done[1] >= self.position["next_row"]:
            return self.put_lines(*done[1:])
        return self.exact(block)

    def serve(self, out, path):
        """In the helper: read every other block (the odd ones) and send what is read."""
        with ooxml.Package(path) as archive, archive.open(self.part) as handle:
            for index, (kind, block) in enumerate(self.blocks(handle)):
                if kind == "rest":
                    return
                if not index % 2:
                    continue
                done = self.read_block(block)
                if done[0] == "fast":
                    done = self.encoded(done[1], done[2][0])
                if done[0] != "fast":
                    out.write(HEADER.pack(0, 0, 0, 0))
                    continue
                _, first, rows, payload, offsets = done
                out.write(HEADER.pack(1, first, rows, len(payload)))
                out.write(payload)
                out.write(offsets)
                out.flush()

    def encoded(self, first, batch):
        """("fast", first row, rows, CSV bytes, where each row's line starts) of a
        block's batch, or ("exact",) when Arrow would not read a value as stream_rows does."""
        if not batch.num_rows:
            return "fast", first, 0, b"", typed_array("i", [0])
        try:
            lines = self.lines.lines(self.texts(batch))
        except Exception:  # stream_rows then reads the block, and says what is wrong
            return ("exact",)
        _, offsets, data = lines.buffers()
        starts = memoryview(offsets).cast("i")[lines.offset : lines.offset + len(lines) + 1]
        base = starts[0]
        payload = bytes(memoryview(data)[base : starts[-1]]) if data is not None else b""
        relative = typed_array("i", (start - base for start in starts))
        return "fast", first, batch.num_rows, payload, relative

    def exact(self, block):
        self.rest(Joined([self.root, SHEET_DATA, block, SHEET_DATA_END, b"</worksheet>"]))

    def rest(self, handle):
        if not isinstance(handle, Joined) or not handle.buffer.startswith(self.root):
            handle = Joined([self.root, SHEET_DATA, handle.buffer], handle.handle)
        rows = ooxml.stream_rows(
            OnePart(handle),
            self.part,
            self.width,
            self.strings,
            self.kinds,
            self.date1904,
            position=self.position,
        )
        self.put_rows(islice(rows, self.limit - self.produced))

    def put_rows(self, rows):
        while batch := list(islice(rows, BATCH_ROWS)):
            start = self.produced
            self.produced += len(batch)
            if start < self.skip:
                batch = batch[self.skip - start :]
            if batch:
                self.writer.write_batches([(max(start, self.skip), batch)])
                self.written += len(batch)
            self.advance(self.produced - start)

    def put_lines(self, first, rows, payload, offsets):
        """A block read into CSV lines: the empty rows before it, then its lines (those
        after the rows skipped and up to the sheet's last row)."""
        if not rows:
            return
        gap = min(first - self.position["next_row"], self.limit - self.produced)
        if gap > 0:
            self.put_rows(iter(list(repeat("", self.width)) for _ in range(gap)))
        count = min(rows, self.limit - self.produced)
        if count <= 0:
            return
        begin = min(max(self.skip - self.produced, 0), count)
        if begin < count:
            self.writer.stream.flush()
            self.binary.write(memoryview(payload)[offsets[begin] : offsets[count]])
            self.written += count - begin
        self.produced += count
        self.position = {"row": first + rows - 1, "next_row": first + count}
        self.advance(count)

    # Values

    def texts(self, batch):
        return [
            self.marked(array) if columnar_is_string(array) else self.text.column(array)
            for array in batch.columns
        ]

    def marked(self, array):
        """A column of marked text: shared strings and dates as the streaming reader
        reads them."""
        pa, pc = self.text.pa, self.text.pc
        lit = columnar.literal
        result = pc.fill_null(array, lit(""))
        marks = pc.utf8_slice_codeunits(result, 0, 1)
        rest = pc.utf8_slice_codeunits(result, 1)
        found = pc.unique(marks).to_pylist()
        if not set(found) <= MARKS | {""}:  # text calamine made of something else
            raise columnar.NotColumnar("unmarked text in a block")
        if len(found) == 1 and not array.null_count:  # the usual column: one kind throughout
            return self.unmarked(found[0], rest)
        shared = pc.equal(marks, lit(SHARED))
        if pc.any(shared).as_py():
            indices = pc.cast(pc.filter(rest, shared), pa.int64())
            texts = self.strings.array.take(indices)
            if self.text.protect_formulas:
                texts = self.text.protected(texts)
            result = pc.replace_with_mask(result, shared, texts)
        for kind, mark in KIND_MARKS.items():
            where = pc.equal(marks, lit(mark))
            if pc.any(where).as_py():
                serials = pc.cast(pc.filter(rest, where), pa.float64())
                result = pc.replace_with_mask(result, where, self.moments(serials, kind))
        return result

    def unmarked(self, mark, rest):
        """A column all of one mark, without it: as marked() writes it."""
        pa, pc = self.text.pa, self.text.pc
        if mark == SHARED:
            texts = self.strings.array.take(pc.cast(rest, pa.int64()))
            return self.text.protected(texts) if self.text.protect_formulas else texts
        kind = next(kind for kind, each in KIND_MARKS.items() if each == mark)
        return self.moments(pc.cast(rest, pa.float64()), kind)

    def moments(self, serials, kind):
        """Serial numbers under a date or time format as text, by values.serial_moment's
        rules and the writer's: the usual range in Arrow, the rest through serial_moment."""
        pa, pc = self.text.pa, self.text.pc
        lit = columnar.literal
        millis = pc.round(pc.multiply(serials, lit(float(DAY_MS))), round_mode="half_to_even")
        if kind in ("date", "datetime"):
            low = 0.0 if self.date1904 else 61.0  # below day 61 Excel's count needs a day
            stamps_ms = pc.add(millis, lit(float(EPOCH_MS[self.date1904])))
            usual = pc.and_(
                pc.greater_equal(serials, lit(low)),
                pc.less(stamps_ms, lit(float(YEAR_10000_MS))),
            )
            safe = pc.if_else(usual, stamps_ms, lit(0.0))
            stamps = pc.cast(pc.cast(safe, pa.int64()), pa.timestamp("ms"))
            text = self.date_texts(stamps, kind == "date")
        elif kind == "time":
            usual = pc.and_(
                pc.greater_equal(serials, lit(0.0)), pc.less(millis, lit(float(DAY_MS)))
            )
            safe = pc.if_else(usual, millis, lit(0.0))
            stamps = pc.cast(pc.cast(safe, pa.int64()), pa.timestamp("ms"))
            text = self.clock_texts(stamps)
            # From a day up, and below zero: elapsed time, as for durations.
            longer = pc.and_(pc.invert(usual), self.elapsed(millis))
            if pc.any(longer).as_py():
                spans = self.spans(pc.if_else(longer, millis, lit(0.0)))
                text = pc.if_else(longer, spans, text)
                usual = pc.or_(usual, longer)
        else:
            usual = self.elapsed(millis)
            text = self.spans(pc.if_else(usual, millis, lit(0.0)))
        return self.text.redo(text, pc.invert(usual), serials, self.by_python(kind))

    def elapsed(self, millis):
        """Written as elapsed time: below values.LONG_DURATION; from there on a date-time,
        which serial_moment and the writer make."""
        pc = self.text.pc
        return pc.less(pc.abs(millis), columnar.literal(float(columnar.LONG_DURATION_MS)))

    def by_python(self, kind):
        date1904, format_value = self.date1904, self.format_value

        def text(serial):
            return str(format_value([serial_moment(serial, kind, date1904)])[0])

        return text

    def spans(self, millis):
        pa = self.text.pa
        return self.text.durations(
            self.text.pc.cast(self.text.pc.cast(millis, pa.int64()), pa.duration("ms"))
        )

    def clock_texts(self, stamps):
        """HH:MM:SS, and .ffffff when there are milliseconds: str() of a time."""
        pa, pc = self.text.pa, self.text.pc
        lit = columnar.literal
        seconds = pc.floor_temporal(stamps, unit="second")
        iso = pc.cast(pc.cast(seconds, pa.timestamp("s")), pa.string())
        return pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(iso, 11, 19), self.fraction(stamps, seconds), lit("")
        )

    def fraction(self, stamps, seconds):
        pa, pc = self.text.pa, self.text.pc
        lit = columnar.literal
        millis = pc.cast(pc.subtract(stamps, seconds), pa.int64())
        none = lit("")
        if not pc.any(pc.not_equal(millis, lit(0))).as_py():
            return none
        digits = pc.utf8_lpad(pc.cast(pc.multiply(millis, lit(1000)), pa.string()), 6, "0")
        return pc.if_else(
            pc.equal(millis, lit(0)), none, pc.binary_join_element_wise(lit("."), digits, none)
        )

    def date_texts(self, stamps, dates_at_midnight):
        """Date-times as the writer writes them (ISO with a fraction when there is one;
        otherwise by the date style, without); at midnight, under a date format, dates."""
        pa, pc = self.text.pa, self.text.pc
        lit = columnar.literal
        seconds = pc.floor_temporal(stamps, unit="second")
        iso = pc.cast(pc.cast(seconds, pa.timestamp("s")), pa.string())
        day = pc.utf8_slice_codeunits(iso, 0, 10)
        dates = day if self.text.iso else self.text.reordered(day)
        if self.text.iso:
            moments = pc.binary_join_element_wise(iso, self.fraction(stamps, seconds), lit(""))
        else:
            clock = pc.utf8_slice_codeunits(iso, 11, 19)
            moments = pc.binary_join_element_wise(dates, clock, lit(" "))
        if not dates_at_midnight:
            return moments
        midnight = pc.equal(pc.floor_temporal(stamps, unit="day"), stamps)
        return pc.if_else(midnight, dates, moments)


def read_batch(package):
    """One block's package read by fastexcel: its first row names the columns."""
    import fastexcel

    try:
        sheet = fastexcel.read_excel(package).load_sheet(
            0, header_row=0, schema_sample_rows=None, dtype_coercion="strict"
        )
        return sheet.to_arrow()
    except BaseException as error:  # pyo3 turns Rust panics into a BaseException
        if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        raise columnar.NotColumnar(f"fastexcel: {error}") from None


def plain_type(kind):
    """Types a block's column may have: calamine reads no dates here (they are marked)."""
    import pyarrow as pa

    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def columnar_is_string(array):
    import pyarrow as pa

    return pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
