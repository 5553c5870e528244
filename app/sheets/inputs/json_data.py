"""JSON and JSON Lines, as REST APIs and exports give them.

- a list of objects is a table: one row per object, columns in the order their keys are
  first seen, nested objects flattened to dotted names (`address.city`), lists kept as JSON
  text, null as an empty cell;
- a list of lists is the rows themselves;
- an object whose values are such lists is a workbook: one sheet per key;
- JSON Lines is one object (or one list) per line, read as a list of them.
Anything else (a single value, a list of plain values, an object holding other things) is
refused, saying what the file holds.

The file is never decoded whole: a cursor reads it a piece at a time and the json module's
C decoder decodes one record (an item of the list, a line) at a time, so a file of any size
is read in flat memory. One record may hold at most limits.max_record_chars characters, and
is nested at most as deep as the decoder's recursion limit allows (about a thousand levels).
The file is read twice: once to measure it (columns, rows), once as its rows are written.
"""

import json
import re

from ..book import Book, SheetInfo
from ..errors import DamagedFile, EmptyFile, NotASpreadsheet, TooLarge
from ..names import visible_text
from .common import Deadline, unique_name

CHUNK = 1 << 20  # characters read at once
# The literal a sample may cut short the furthest from where it starts ("-Infinity", a
# \uXXXX escape): a decoding error closer than this to the end may be the cut, not the JSON.
CUT_MARGIN = 12
LONG_INTEGER = 300  # digits: longer integers are kept as their text (Python's int() has a limit)
FLATTENED_LEVELS = 32  # objects nested deeper than this are kept as JSON text
NOT_SPACE = re.compile(r"[^ \t\n\r]")
JSON_START = re.compile(r'\{\s*"|\[\s*[\[{]')  # an object's key, a list of lists or objects
SHAPES = (
    "Sheetport reads a list of objects (one row each), a list of lists (the rows), an "
    "object whose values are such lists (one sheet each), or JSON Lines of objects or lists."
)


def integer(text):
    return int(text) if len(text) <= LONG_INTEGER else text


DECODER = json.JSONDecoder(parse_int=integer)


def recognise(text, complete):
    """ "json" for text that starts as a JSON object or list; "jsonl" when another object
    or list follows the first one. A sample that ends inside the first value is JSON when
    what there is of it decodes up to the cut."""
    start = NOT_SPACE.search(text.lstrip("\ufeff"))
    text = text.lstrip("\ufeff")
    if not start or text[start.start()] not in "[{":
        return None
    # Damaged JSON that starts as only JSON does is JSON, for JsonBook to say what is wrong.
    likely = "json" if JSON_START.match(text, start.start()) else None
    try:
        _, end = DECODER.raw_decode(text, start.start())
    except json.JSONDecodeError as error:
        return "json" if not complete and cut_short(text, error) else likely
    except RecursionError:
        return "json"  # nested too deep to read: JsonBook says so
    following = NOT_SPACE.search(text, end)
    if following is None:
        return "json"
    if text[following.start()] in "[{" and "\n" in text[end : following.start()]:
        return "jsonl"
    return likely


def cut_short(text, error):
    """Whether a decoding error is the end of the text cutting a value short."""
    return error.msg.startswith("Unterminated string") or error.pos >= len(text) - CUT_MARGIN


class Cursor:
    """A JSON text read a piece at a time, each value decoded by the C decoder: no more
    than one value's text (and the piece after it) is held at once."""

    def __init__(self, handle, limits, deadline):
        self.handle, self.limits, self.deadline = handle, limits, deadline
        self.text, self.at, self.ended = "", 0, False

    def more(self, least=CHUNK):
        """Read on; False at the end of the file."""
        if self.ended:
            return False
        try:
            chunk = self.handle.read(max(CHUNK, least))
        except UnicodeDecodeError:
            raise DamagedFile(
                f"The JSON is not valid {self.handle.encoding} text: it is damaged, or "
                "in another encoding. Save it as UTF-8 and upload it again."
            ) from None
        self.deadline.check()
        if not chunk:
            self.ended = True
            return False
        self.text = self.text[self.at :] + chunk
        self.at = 0
        return True

    def peek(self):
        """The next character that is not white space, '' at the end."""
        while True:
            found = NOT_SPACE.search(self.text, self.at)
            if found:
                self.at = found.start()
                return self.text[self.at]
            self.at = len(self.text)
            if not self.more():
                return ""

    def take(self, char):
        if self.peek() != char:
            raise damaged(f"'{char}' was expected")
        self.at += 1

    def value(self):
        """The next value, decoded whole."""
        self.peek()
        while True:
            try:
                value, end = DECODER.raw_decode(self.text, self.at)
            except json.JSONDecodeError as error:
                held = len(self.text) - self.at
                if not cut_short(self.text, error):
                    raise damaged(error.msg.lower()) from None
                most = self.limits.max_record_chars
                if held > most:
                    size = f"{most >> 20:,} MB" if most % 2**20 == 0 else f"{most:,} characters"
                    raise TooLarge(
                        f"A record of the JSON file is longer than {size} of text, more than "
                        "Sheetport reads at once."
                    ) from None
                if not self.more(least=held):  # as much again: each try costs what was read
                    raise damaged("it ends early") from None
                continue
            except RecursionError:
                raise TooLarge(
                    "The JSON is nested too deeply (hundreds of levels) to be read as a table."
                ) from None
            self.at = end
            return value


def damaged(cause):
    return DamagedFile(f"The JSON is damaged and cannot be read: {cause}.")


def kind_of(value):
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "number"


def items(cursor, form, file_sheet):
    """(sheet name, item) for every item of every list in the file, and (sheet name, BEGINS)
    as each list begins. `form` is "json" or "jsonl"; a sheet name is its key in an object
    of lists, else `file_sheet`."""
    first = cursor.peek()
    if form == "jsonl":
        yield file_sheet, BEGINS
        while cursor.peek():
            yield file_sheet, cursor.value()
        return
    if first == "[":
        yield from list_items(cursor, file_sheet)
    elif first == "{":
        cursor.take("{")
        if cursor.peek() == "}":
            raise EmptyFile("The JSON is an empty object: there is nothing to convert.")
        while True:
            if cursor.peek() != '"':
                raise damaged("a key was expected")
            key = cursor.value()
            cursor.take(":")
            if cursor.peek() != "[":  # told by its first character: it may be huge
                what = STARTS.get(cursor.peek(), "number")
                raise NotASpreadsheet(
                    f"The JSON is an object whose '{visible_text(key)[:60]}' is {article(what)}, "
                    f"not a list. {SHAPES}"
                )
            yield from list_items(cursor, key)
            if cursor.peek() == ",":
                cursor.at += 1
                continue
            cursor.take("}")
            break
    else:
        raise NotASpreadsheet(f"The JSON is not a list or an object. {SHAPES}")
    if cursor.peek():
        raise damaged("more follows the end of its value")


STARTS = {"{": "object", '"': "text", "t": "true or false", "f": "true or false", "n": "null"}
BEGINS = object()  # what items() gives as a list begins


def list_items(cursor, sheet):
    cursor.take("[")
    yield sheet, BEGINS  # a sheet, even if the list is empty
    if cursor.peek() == "]":
        cursor.at += 1
        return
    while True:
        yield sheet, cursor.value()
        following = cursor.peek()
        cursor.at += 1
        if following == "]":
            return
        if following != ",":
            raise damaged("',' or ']' was expected after an item")


def article(kind):
    """A kind of value as a sentence says it: 'an object', 'text', 'null'."""
    return {"object": "an object", "list": "a list", "number": "a number"}.get(kind, kind)


class Shape:
    """What the measuring pass finds of one sheet: records (objects) or rows (lists)."""

    def __init__(self, name):
        self.name, self.kind = name, None
        self.columns = {}  # records: flattened key -> column
        self.width = self.count = 0


class JsonBook(Book):
    def __init__(self, path, detection, limits, sheet_name="Sheet1"):
        super().__init__(path, detection, limits)
        self.sheet_name = sheet_name
        self.shapes = {}  # the file's sheet names (keys) -> Shape
        for key, item in self.items():
            if item is not BEGINS:
                self.measure(self.shapes[key], item)
            elif key not in self.shapes:  # a key named twice reads on into the same sheet
                if len(self.shapes) >= limits.max_sheets:
                    raise TooLarge(f"The JSON holds more than {limits.max_sheets:,} lists.")
                self.shapes[key] = Shape(key)
        taken = set()
        self.names = {}  # sheet name -> the file's name for it
        for key, shape in self.shapes.items():
            name = unique_name(visible_text(key)[:100] or f"Sheet{len(taken) + 1}", taken)
            self.names[name] = key
            columns = len(shape.columns) if shape.kind == "object" else shape.width
            rows = shape.count + (shape.kind == "object") if columns else 0
            sheet = SheetInfo(name, True, rows, columns)
            self.check_size(sheet, rows, columns)
            self.sheets.append(sheet)

    def items(self):
        """items() of the file."""
        with open(self.path, encoding=self.detection.encoding, newline="") as handle:
            cursor = Cursor(handle, self.limits, Deadline(self.limits))
            yield from items(cursor, self.format, self.sheet_name)

    def measure(self, shape, item):
        kind = kind_of(item)
        if shape.kind is None:
            if kind not in ("object", "list"):
                where = f"'{shape.name}'" if shape.name != self.sheet_name else "The JSON"
                raise NotASpreadsheet(
                    f"{where} is a list of single values ({article(kind)} first), not of "
                    f"objects or lists. {SHAPES}"
                )
            shape.kind = kind
        elif kind != shape.kind:
            raise NotASpreadsheet(
                f"Item {shape.count + 1:,} of the JSON's list is {article(kind)}, where the "
                f"items before it are {shape.kind}s: a table's rows are all one or the other."
            )
        shape.count += 1
        if kind == "object":
            for name in flattened(item, self.limits):
                if name not in shape.columns:
                    shape.columns[name] = len(shape.columns)
                    if len(shape.columns) > self.limits.max_columns:
                        raise TooLarge(
                            f"The JSON's objects have more than {self.limits.max_columns:,} "
                            "different keys, more columns than a sheet holds."
                        )
            width = len(shape.columns)
        else:
            for value in item:
                cell(value, self.limits)  # a cell too long is refused when measured
            shape.width = width = max(shape.width, len(item))
            if width > self.limits.max_columns:
                raise TooLarge(
                    f"A list of the JSON has more than {self.limits.max_columns:,} items, "
                    "more columns than a sheet holds."
                )
        if shape.count * width > self.limits.max_cells:
            raise TooLarge(
                f"The JSON holds more than the {self.limits.max_cells:,} cells Sheetport "
                "converts at once."
            )

    def rows(self, sheet):
        key = self.names[sheet.name]
        shape = self.shapes[key]
        if not sheet.rows:
            return
        width, written = sheet.columns, 0
        if shape.kind == "object":
            yield list(shape.columns)
            written += 1
        for item_key, item in self.items():
            if item_key != key or item is BEGINS:
                continue
            if written >= sheet.rows:
                return
            if shape.kind == "object":
                row = [""] * width
                for name, value in flattened(item, self.limits).items():
                    row[shape.columns[name]] = value
            else:
                row = [cell(value, self.limits) for value in item]
                row.extend([""] * (width - len(row)))
            yield row
            written += 1


def flattened(record, limits, prefix="", level=0, into=None):
    """{dotted name: cell value} of an object: nested objects flattened, the rest cells."""
    into = {} if into is None else into
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else key
        if type(value) is dict and value and level < FLATTENED_LEVELS:
            flattened(value, limits, name, level + 1, into)
        else:
            into[name] = cell(value, limits)
    return into


def cell(value, limits):
    """A JSON value as a cell: text, numbers and booleans as they are, null empty, lists
    and objects as their JSON text."""
    if value is None:
        return ""
    if type(value) in (dict, list):
        try:
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:
            raise TooLarge("The JSON is nested too deeply to be written as a cell.") from None
    if type(value) is str and len(value) > limits.max_text_length:
        raise TooLarge(
            f"A value in the JSON holds more than {limits.max_text_length:,} characters."
        )
    return value
