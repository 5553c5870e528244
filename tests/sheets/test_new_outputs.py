"""The outputs of issue 23 (markdown, html, jsonl, sql, ods, parquet), each read back by a
real reader of its format and compared, cell for cell, with the CSV conversion of the same
sheet: hostile text included, several sheets, empty sheets, and the types of typed formats."""

import csv
import datetime as dt
import io
import json
import os
import re
import sqlite3
import uuid
import zipfile
from xml.etree import ElementTree

import html5lib
import pyarrow.parquet as pq
import pytest
from markdown_it import MarkdownIt
from python_calamine import CalamineWorkbook

from app.sheets import BadOptions, Options, SheetError, convert
from app.sheets import formats as registry
from app.sheets.values import display_text, duration_text

from .books import Formula, write_text, write_xlsx

HOSTILE = [
    "pipe | and \\| escaped",
    "back\\slash\\",
    "quotes \"double\" and 'single' and `back`",
    "</table></td><table>",
    "<script>alert(1)</script>",
    "';DROP TABLE data;--",
    "nul\x00here",
    "cr\ronly, lf\nonly, both\r\nend\n",
    "\u202eright-to-left\u200f mark \u05e9\u05dc\u05d5\u05dd",
    "  spaces  around\t",
    "*emph* _u_ [link](http://x) ![i](y) ~~s~~ &amp; &#13; <br> # h \\n",
    "\x01control\x1f characters\x7f",
    "x" * 32_767,
    "=1+1",
    "-",
    "",
]
HOSTILE_HEADER = ["text", 'a "b" `c` [d]', "id", "id", "", "';DROP TABLE x;--", "\u202ename"]
# Sheet names that are neither identifiers nor file names (Excel allows them all).
SHEET_NAMES = ["Sales 2024 (draft)", 'Tom\'s "list"', "CON", "..", "select", "1; DROP TABLE x"]

TYPED_HEADER = ["int", "float", "text", "date", "datetime", "time", "duration", "flag"]
TYPED_HEADER += ["mixed", "empty", "sparse", "error"]
TYPED_ROWS = [
    [1, 1.5, "a", dt.date(2024, 3, 15), dt.datetime(2024, 3, 15, 13, 45, 30), dt.time(13, 45, 30)]
    + [dt.timedelta(hours=30, minutes=5), True, 1, "", 2, Formula("=1/0", "#DIV/0!")],
    [2, -0.1, "b", dt.date(1999, 12, 31), dt.datetime(2000, 1, 1, 12, 0), dt.time(0, 0, 1)]
    + [dt.timedelta(minutes=90), False, "x", "", "", "plain"],
    [-3, 1e-7, "", dt.date(2000, 2, 29), dt.datetime(1999, 1, 2, 3, 4, 5), dt.time(23, 59, 59)]
    + [dt.timedelta(seconds=1), True, dt.date(2024, 1, 1), "", 3, Formula("=NA()", "#N/A")],
    [2**40, 123456.789, "z", "", "", "", "", "", 2.5, "", "", ""],
]
NEW = ("markdown", "html", "jsonl", "sql", "ods", "parquet")
TEXT_READERS = ("markdown", "html")  # formats whose cells read back as text


# --- the CSV every output is compared with --------------------------------------------


def csv_sheets(book, names, **options):
    """{sheet: rows of text} of the CSV conversion, one sheet at a time."""
    sheets = {}
    for name in names:
        out = book.with_name(f"{book.stem}.{uuid.uuid4().hex[:6]}.csv")
        convert(book, out, Options(format="csv", sheets=[name], **options))
        text = out.read_bytes().decode("utf-8")
        sheets[name] = list(csv.reader(io.StringIO(text, newline="")))
    return sheets


def as_text(value):
    """A value read back, as the CSV conversion writes it."""
    if value is None:
        return ""
    if isinstance(value, dt.timedelta):
        return duration_text(value)
    if isinstance(value, bool | float):
        return display_text(value)
    return str(value)


def same_cells(read, expected):
    """Grids equal cell for cell, trailing empty cells and rows not counting (a reader may
    stop at the last cell that holds something, CSV at the sheet's last column)."""

    def trimmed(rows):
        rows = [list(row) for row in rows]
        for row in rows:
            while row and row[-1] == "":
                row.pop()
        while rows and not rows[-1]:
            rows.pop()
        return rows

    return trimmed(read) == trimmed(expected)


def unrepresentable(rows, characters):
    """The CSV's rows with each of `characters` as U+FFFD, what a format that cannot hold
    them (NUL in HTML and Markdown, every C0 control but tab and line ends in ODS) holds."""
    table = dict.fromkeys(map(ord, characters), "\ufffd")
    return [[cell.translate(table) for cell in row] for row in rows]


NO_NUL = "\x00"
NOT_XML = "".join(map(chr, [*range(0, 9), 11, 12, *range(14, 32)]))


# --- the readers ----------------------------------------------------------------------


def element_text(element):
    """An element's text as a browser's textContent, with <br> as a line break."""
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "br" else element_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def html_tables(document):
    """[(caption or None, rows of cell texts)] of every table in an html5lib tree."""
    tables = []
    for table in document.iter("table"):
        caption = table.find("caption")
        rows = [
            [element_text(cell) for cell in tr if cell.tag in ("td", "th")]
            for tr in table.iter("tr")
        ]
        tables.append((None if caption is None else element_text(caption), rows))
    return tables


def read_html(path):
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    with open(path, "rb") as page:
        document = parser.parse(page)  # finds UTF-8 from the page's <meta charset>
    return document, html_tables(document)


def read_markdown(path):
    """Headings and tables as a GFM parser reads them: [(heading, rows)]. Cells are read
    from its tokens (rendered HTML would turn a CR into LF, as every HTML parser does); a
    cell holding anything but text and the <br> of a line break is not what was written."""
    text = path.read_bytes().decode("utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sheets, rows, inside = [], None, None
    for token in tokens:
        if token.type == "heading_open":
            assert token.tag == "h2"
            inside = "heading"
        elif token.type == "table_open":
            assert sheets and not sheets[-1][1], "one table under each heading"
            rows = sheets[-1][1]
        elif token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and inside == "heading":
            sheets.append((inline_text(token), []))
            inside = None
        elif token.type == "inline" and rows is not None:
            rows[-1].append(inline_text(token))
        elif token.type == "table_close":
            rows = None
    return sheets


def inline_text(token):
    parts = []
    for child in token.children:
        if child.type == "html_inline":
            assert child.content == "<br>", child.content
            parts.append("\n")
        else:
            assert child.type in ("text", "text_special"), child.type
            parts.append(child.content)
    return "".join(parts)


def read_jsonl(path, header=True):
    text = path.read_bytes().decode("utf-8")
    assert text == "" or text.endswith("\n")
    records = [json.loads(line) for line in text.split("\n")[:-1]]  # not splitlines(): \u2028
    keys = list(records[0]) if records else []
    for record in records:
        assert list(record) == keys
    rows = [[as_text(value) for value in record.values()] for record in records]
    return [keys, *rows] if header and records else rows


def script_of(out):
    return out.read_bytes().decode("utf-8")  # not read_text(): it makes a CR in a literal LF


def sqlite_tables(script):
    """{table: (columns, types, rows of text)} after SQLite runs `script`."""
    connection = sqlite3.connect(":memory:")
    connection.executescript(script)
    tables = {}
    names = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")
    for (name,) in names.fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        info = connection.execute(f"PRAGMA table_info({quoted})").fetchall()
        columns, types = [c[1] for c in info], [c[2] for c in info]
        rows = []
        for row in connection.execute(f"SELECT * FROM {quoted} ORDER BY rowid"):
            rows.append(
                [
                    ("TRUE" if value else "FALSE")
                    if kind == "BOOLEAN" and value is not None
                    else as_text(value)
                    for value, kind in zip(row, types, strict=True)
                ]
            )
        tables[name] = (columns, types, rows)
    connection.close()
    return tables


POSTGRES_URL = os.environ.get("SHEETPORT_TEST_DATABASE_URL", "")


def postgres_tables(script):
    """{table: (columns, types, rows of text)} after PostgreSQL runs `script`, in a schema
    of its own that is dropped after."""
    import psycopg

    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"outputs_{uuid.uuid4().hex[:8]}"
    tables = {}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        try:
            connection.execute(f"SET search_path TO {schema}")
            connection.execute(script)
            names = connection.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.oid",
                (schema,),
            ).fetchall()
            for (name,) in names:
                quoted = '"' + name.replace('"', '""') + '"'
                cursor = connection.execute(f"SELECT * FROM {quoted} ORDER BY ctid")
                columns = [d.name for d in cursor.description]
                types = connection.execute(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                    " WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
                    (f"{schema}.{quoted}",),
                ).fetchall()
                rows = [[as_text(value) for value in row] for row in cursor.fetchall()]
                tables[name] = (columns, [t[0] for t in types], rows)
        finally:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
    return tables


ODS_DURATION = re.compile(r"(-?)PT(\d+)H(\d+)M(\d+(?:\.\d+)?)S")


def read_ods(path, durations=()):
    """{sheet: rows of text} as python-calamine reads them. calamine gives a duration of a
    day or more as its ISO text and a shorter one as a time of day (only the cell's style
    tells them apart): the columns numbered in `durations` are read as durations."""
    workbook = CalamineWorkbook.from_path(str(path))
    sheets = {}
    for name in workbook.sheet_names:
        rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for row in rows:
            for column, value in enumerate(row):
                match = ODS_DURATION.fullmatch(value) if isinstance(value, str) else None
                if match:
                    sign, hours, minutes, seconds = match.groups()
                    delta = dt.timedelta(
                        hours=int(hours), minutes=int(minutes), seconds=float(seconds)
                    )
                    row[column] = -delta if sign else delta
                elif column in durations and isinstance(value, dt.time):
                    row[column] = dt.datetime.combine(dt.date.min, value) - dt.datetime.min
        sheets[name] = [[as_text(value) for value in row] for row in rows]
    return sheets


def read_parquet(path, header=True):
    table = pq.read_table(path)
    rows = [[as_text(value) for value in row.values()] for row in table.to_pylist()]
    return table.schema, ([table.column_names, *rows] if header else rows)


# --- conversions ----------------------------------------------------------------------


def converted(book, format, suffix=None, **options):
    out = book.with_name(f"{book.stem}.{uuid.uuid4().hex[:6]}.{suffix or format}")
    result = convert(book, out, Options(format=format, **options))
    return out, result


@pytest.fixture
def hostile_book(tmp_path):
    rows = [HOSTILE_HEADER] + [[text, *[f"{text}{i}" for i in range(1, 7)]] for text in HOSTILE]
    return write_xlsx(tmp_path / "hostile.xlsx", {"Hostile": rows})


@pytest.fixture
def typed_book(tmp_path):
    return write_xlsx(tmp_path / "typed.xlsx", {"Typed": [TYPED_HEADER, *TYPED_ROWS]})


@pytest.fixture
def named_book(tmp_path):
    sheets = {name: [["name", "n"], [name, index]] for index, name in enumerate(SHEET_NAMES)}
    return write_xlsx(tmp_path / "named.xlsx", sheets)


# --- the registry ----------------------------------------------------------------------


def test_the_registry_has_the_new_outputs_with_what_several_sheets_make():
    for name in NEW:
        assert name in registry.OUTPUTS
    one_file = {name for name in NEW if registry.output(name).one_file}
    assert one_file == {"markdown", "html", "sql", "ods"}
    assert registry.output("markdown").extension == "md"
    assert registry.output("sql").options >= {"sql_dialect", "header"}
    assert registry.formats_with("sql_dialect") == ("sql",)


def test_sql_dialect_is_checked():
    with pytest.raises(BadOptions, match="SQL dialect"):
        Options(sql_dialect="oracle").validate()


# --- hostile text: each format, read back, equals the CSV --------------------------------


def test_jsonl_hostile_text(hostile_book):
    expected = csv_sheets(hostile_book, ["Hostile"])["Hostile"]
    out, _ = converted(hostile_book, "jsonl")
    rows = read_jsonl(out)
    # Keys are unique (id, id_2) and blank headings are column letters, as the json output's.
    assert rows[0] == [
        "text",
        'a "b" `c` [d]',
        "id",
        "id_2",
        "E",
        "';DROP TABLE x;--",
        "\u202ename",
    ]
    assert rows[1:] == expected[1:]


def test_jsonl_line_separators_are_escaped(tmp_path):
    book = write_xlsx(tmp_path / "ls.xlsx", {"S": [["a"], ["one\u2028two\u2029three"]]})
    out, _ = converted(book, "jsonl")
    data = out.read_bytes()
    assert b"\\u2028" in data and "\u2028".encode() not in data
    assert read_jsonl(out) == [["a"], ["one\u2028two\u2029three"]]


def test_markdown_hostile_text(hostile_book):
    expected = csv_sheets(hostile_book, ["Hostile"])["Hostile"]
    out, _ = converted(hostile_book, "markdown", "md")
    [(heading, rows)] = read_markdown(out)
    assert heading == "Hostile"
    assert rows == unrepresentable(expected, NO_NUL)
    assert "<script>" not in MarkdownIt("commonmark").enable("table").render(out.read_text())


def test_html_hostile_text(hostile_book):
    expected = csv_sheets(hostile_book, ["Hostile"])["Hostile"]
    out, _ = converted(hostile_book, "html")
    document, [(caption, rows)] = read_html(out)
    assert caption == "Hostile"
    assert rows == unrepresentable(expected, NO_NUL)
    assert document.find(".//script") is None
    assert document.find(".//thead/tr/th") is not None


def test_sql_hostile_text_in_sqlite(hostile_book):
    expected = csv_sheets(hostile_book, ["Hostile"])["Hostile"]
    out, _ = converted(hostile_book, "sql")
    [(name, (columns, _, rows))] = sqlite_tables(script_of(out)).items()
    assert name == "Hostile"
    assert columns == [
        "text",
        'a "b" `c` [d]',
        "id",
        "id_2",
        "E",
        "';DROP TABLE x;--",
        "\u202ename",
    ]
    assert rows == expected[1:]


def test_ods_hostile_text(hostile_book):
    expected = csv_sheets(hostile_book, ["Hostile"])["Hostile"]
    out, _ = converted(hostile_book, "ods")
    # calamine leaves out <text:tab/>, the tab of ODF text: Sheetport's own reader keeps it.
    without_tabs = [[cell.replace("\t", "") for cell in row] for row in expected]
    assert same_cells(read_ods(out)["Hostile"], unrepresentable(without_tabs, NOT_XML))
    again = csv_sheets(out, ["Hostile"])["Hostile"]
    assert same_cells(again, unrepresentable(expected, NOT_XML))
    with zipfile.ZipFile(out) as package:
        for part in ("content.xml", "styles.xml", "meta.xml", "META-INF/manifest.xml"):
            ElementTree.fromstring(package.read(part))  # well-formed XML


def test_parquet_hostile_text(hostile_book):
    expected = csv_sheets(hostile_book, ["Hostile"])["Hostile"]
    out, _ = converted(hostile_book, "parquet")
    _, rows = read_parquet(out)
    assert rows[0] == [
        "text",
        'a "b" `c` [d]',
        "id",
        "id_2",
        "E",
        "';DROP TABLE x;--",
        "\u202ename",
    ]
    assert rows[1:] == expected[1:]


@pytest.mark.postgresql_only
def test_sql_hostile_text_in_postgresql(tmp_path):
    # PostgreSQL's text cannot hold NUL: every other hostile text, and NUL refused below.
    texts = [text for text in HOSTILE if "\x00" not in text]
    rows = [HOSTILE_HEADER] + [[text, *[f"{text}{i}" for i in range(1, 7)]] for text in texts]
    book = write_xlsx(tmp_path / "hostile.xlsx", {"Hostile": rows})
    expected = csv_sheets(book, ["Hostile"])["Hostile"]
    out, _ = converted(book, "sql", sql_dialect="postgresql")
    [(name, (columns, _, read))] = postgres_tables(script_of(out)).items()
    assert name == "Hostile" and columns[3] == "id_2"
    assert read == expected[1:]


def test_sql_for_postgresql_refuses_nul_with_the_cell(hostile_book):
    with pytest.raises(SheetError, match=r"A8 .*PostgreSQL"):
        converted(hostile_book, "sql", sql_dialect="postgresql")


# --- typed cells ------------------------------------------------------------------------


def test_parquet_columns_are_typed(typed_book):
    import pyarrow as pa

    expected = csv_sheets(typed_book, ["Typed"])["Typed"]
    out, _ = converted(typed_book, "parquet")
    schema, rows = read_parquet(out)
    assert rows == expected
    types = dict(zip(schema.names, schema.types, strict=True))
    assert types == {
        "int": pa.int64(),
        "float": pa.float64(),
        "text": pa.string(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us"),
        "time": pa.time64("us"),
        "duration": pa.duration("us"),
        "flag": pa.bool_(),
        "mixed": pa.string(),
        "empty": pa.string(),
        "sparse": pa.int64(),
        "error": pa.string(),
    }
    table = pq.read_table(out)
    assert table.column("sparse").null_count == 2 and table.column("empty").null_count == 4
    assert table.column("text").to_pylist()[2] is None  # an empty cell is null, not ""


def test_sql_columns_are_typed_in_sqlite(typed_book):
    expected = csv_sheets(typed_book, ["Typed"])["Typed"]
    out, _ = converted(typed_book, "sql")
    [(columns, types, rows)] = sqlite_tables(script_of(out)).values()
    assert [columns, *rows] == expected
    assert types == ["INTEGER", "REAL", "TEXT", "DATE", "DATETIME", "TIME", "TEXT", "BOOLEAN"] + [
        "TEXT",
        "TEXT",
        "INTEGER",
        "TEXT",
    ]


@pytest.mark.postgresql_only
def test_sql_columns_are_typed_in_postgresql(typed_book):
    expected = csv_sheets(typed_book, ["Typed"])["Typed"]
    out, _ = converted(typed_book, "sql", sql_dialect="postgresql")
    [(columns, types, rows)] = postgres_tables(script_of(out)).values()
    assert [columns, *rows] == expected
    assert types[:8] == [
        "bigint",
        "double precision",
        "text",
        "date",
        "timestamp without time zone",
        "time without time zone",
        "interval",
        "boolean",
    ]


@pytest.mark.parametrize(
    "dialect, quoted",
    [
        ("sqlite", '"Tom\'s ""list"""'),
        ("postgresql", '"Tom\'s ""list"""'),
        ("mysql", '`Tom\'s "list"`'),
    ],
)
def test_sql_quotes_identifiers_per_dialect(named_book, dialect, quoted):
    out, _ = converted(named_book, "sql", all_sheets=True, sql_dialect=dialect)
    script = script_of(out)
    assert f"CREATE TABLE {quoted} (" in script
    assert script.count("CREATE TABLE") == len(SHEET_NAMES)
    assert ("SET NAMES utf8mb4;" in script) == (dialect == "mysql")


def test_sql_mysql_literals_do_not_depend_on_backslash_escapes(hostile_book):
    # MySQL reads \ in a '...' literal as an escape unless NO_BACKSLASH_ESCAPES: text with a
    # backslash is written as a hex literal, read the same in either mode.
    out, _ = converted(hostile_book, "sql", sql_dialect="mysql")
    script = script_of(out)
    assert "back\\slash" not in script
    assert "_utf8mb4 X'" + b"back\\slash\\".hex().upper() + "'" in script
    assert "\x00" not in script


def test_ods_cells_are_typed(typed_book):
    expected = csv_sheets(typed_book, ["Typed"])["Typed"]
    out, _ = converted(typed_book, "ods")
    read = read_ods(out, durations={TYPED_HEADER.index("duration")})["Typed"]
    assert same_cells(read, expected)
    workbook = CalamineWorkbook.from_path(str(out))
    first = workbook.get_sheet_by_name("Typed").to_python()[1]
    # (calamine gives a duration of a day or more as its ISO text: PT30H05M00S)
    kinds = [float, float, str, dt.date, dt.datetime, dt.time, str, bool]
    assert [type(value) for value in first[:8]] == kinds
    with zipfile.ZipFile(out) as package:
        first = package.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert package.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        content = package.read("content.xml").decode()
    assert 'office:value-type="boolean"' in content and 'office:value-type="date"' in content


def test_ods_is_read_back_by_sheetport_too(typed_book):
    out, _ = converted(typed_book, "ods")
    again = csv_sheets(out, ["Typed"])["Typed"]
    expected = csv_sheets(typed_book, ["Typed"])["Typed"]
    # An ODS duration under a day is a time value like a time of day (only its style says
    # otherwise), and Sheetport reads it as one: 1:30:00 comes back as 01:30:00.
    column = TYPED_HEADER.index("duration")
    for row in expected[1:]:
        hours, _, rest = row[column].partition(":")
        if rest and int(hours) < 24:
            row[column] = f"{int(hours):02d}:{rest}"
    assert same_cells(again, expected)


@pytest.mark.parametrize("format", ["markdown", "html"])
def test_text_outputs_of_typed_cells(typed_book, format):
    expected = csv_sheets(typed_book, ["Typed"])["Typed"]
    out, _ = converted(typed_book, format, "md" if format == "markdown" else None)
    tables = read_markdown(out) if format == "markdown" else read_html(out)[1]
    [(_, rows)] = tables
    assert rows == expected


def test_jsonl_of_typed_cells_is_the_json_records(typed_book):
    out, _ = converted(typed_book, "jsonl")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    whole, _ = converted(typed_book, "json")
    assert records == json.loads(whole.read_text())
    assert read_jsonl(out) == csv_sheets(typed_book, ["Typed"])["Typed"]


# --- without a header -------------------------------------------------------------------


@pytest.mark.parametrize("format", NEW)
def test_without_a_header_columns_are_letters(tmp_path, format):
    book = write_xlsx(tmp_path / "plain.xlsx", {"S": [["a", 1], ["b", 2]]})
    expected = csv_sheets(book, ["S"])["S"]
    out, _ = converted(book, format, "md" if format == "markdown" else None, header=False)
    if format == "jsonl":
        assert read_jsonl(out, header=False) == expected
        assert list(json.loads(out.read_text().splitlines()[0])) == ["A", "B"]
    elif format == "parquet":
        schema, rows = read_parquet(out, header=False)
        assert rows == expected and schema.names == ["A", "B"]
    elif format == "sql":
        [(columns, _, rows)] = sqlite_tables(script_of(out)).values()
        assert columns == ["A", "B"] and rows == expected
    elif format == "ods":
        assert read_ods(out)["S"] == expected
    elif format == "html":
        document, [(_, rows)] = read_html(out)
        assert rows == expected and document.find(".//th") is None
    else:
        [(_, rows)] = read_markdown(out)
        assert rows == [["A", "B"], *expected]


# --- several sheets, and empty ones -----------------------------------------------------


def sheets_read(format, out, names):
    """{sheet: rows of text} of an output holding several sheets."""
    if format == "markdown":
        return dict(read_markdown(out))
    if format == "html":
        return dict(read_html(out)[1])
    if format == "sql":
        return {name: [c, *r] for name, (c, _, r) in sqlite_tables(script_of(out)).items()}
    if format == "ods":
        return read_ods(out)
    with zipfile.ZipFile(out) as archive:
        members = archive.namelist()
        assert len(members) == len(names)
        read = {}
        for name, member in zip(names, members, strict=True):
            path = out.with_name(f"member.{uuid.uuid4().hex[:6]}")
            path.write_bytes(archive.read(member))
            read[name] = read_jsonl(path) if format == "jsonl" else read_parquet(path)[1]
        return read


@pytest.mark.parametrize("format", NEW)
def test_several_sheets_one_file_or_a_zip(named_book, format):
    out, result = converted(named_book, format, all_sheets=True)
    output = registry.output(format)
    assert result.output == (format if output.one_file else registry.ZIP)
    if not output.one_file:
        with zipfile.ZipFile(out) as archive:
            names = archive.namelist()
        assert all(name.endswith("." + output.extension) for name in names)
        assert "CON.jsonl" not in names and "CON.parquet" not in names  # a Windows device
        assert len(set(names)) == len(SHEET_NAMES)
    read = sheets_read(format, out, SHEET_NAMES)
    expected = csv_sheets(named_book, SHEET_NAMES)
    assert list(read) == SHEET_NAMES
    for name in SHEET_NAMES:
        assert same_cells(read[name], expected[name]), name


@pytest.mark.parametrize("format", NEW)
def test_an_empty_sheet(tmp_path, format):
    book = write_xlsx(tmp_path / "empty.xlsx", {"Nothing": []})
    out, result = converted(book, format, "md" if format == "markdown" else None)
    assert result.output == format and result.rows == 0
    if format == "jsonl":
        assert out.read_bytes() == b""
    elif format == "parquet":
        assert pq.read_table(out).num_rows == 0
    elif format == "sql":
        assert sqlite_tables(script_of(out)) == {}
        assert "Nothing" in out.read_text()  # a comment says it was empty
    elif format == "ods":
        assert read_ods(out) in ({"Nothing": []}, {"Nothing": [[""]]})
    elif format == "html":
        assert read_html(out)[1] == [("Nothing", [])]
    else:
        assert read_markdown(out) == [("Nothing", [])]


@pytest.mark.parametrize("format", NEW)
def test_a_header_without_rows(tmp_path, format):
    book = write_xlsx(tmp_path / "head.xlsx", {"Head": [["a", "b"]]})
    out, _ = converted(book, format, "md" if format == "markdown" else None)
    if format == "sql":
        [(columns, _, rows)] = sqlite_tables(script_of(out)).values()
        assert columns == ["a", "b"] and rows == []
    elif format == "parquet":
        assert pq.read_table(out).column_names == ["a", "b"]
    elif format == "jsonl":
        assert out.read_bytes() == b""
    elif format == "ods":
        assert read_ods(out)["Head"] == [["a", "b"]]
    elif format == "html":
        assert read_html(out)[1] == [("Head", [["a", "b"]])]
    else:
        assert read_markdown(out) == [("Head", [["a", "b"]])]


def test_text_input_is_typed_for_the_typed_outputs(tmp_path):
    import pyarrow as pa

    book = write_text(tmp_path / "in.csv", "n,when,code\n12,2024-03-15,00123\n3.5,,007\n")
    out, _ = converted(book, "parquet")
    schema, _ = read_parquet(out)
    assert schema.types == [pa.float64(), pa.date32(), pa.string()]
    out, _ = converted(book, "sql")
    [(_, types, rows)] = sqlite_tables(script_of(out)).values()
    assert types == ["REAL", "DATE", "TEXT"] and rows == [
        ["12", "2024-03-15", "00123"],
        ["3.5", "", "007"],
    ]
    out, _ = converted(book, "markdown", "md")
    assert read_markdown(out)[0][1] == [
        ["n", "when", "code"],
        ["12", "2024-03-15", "00123"],
        ["3.5", "", "007"],
    ]


def test_sql_inserts_are_batched(tmp_path):
    rows = [["n", "t"]] + [[i, f"row {i}"] for i in range(1, 1201)]
    book = write_xlsx(tmp_path / "many.xlsx", {"Many": rows})
    out, _ = converted(book, "sql")
    script = script_of(out)
    assert 2 <= script.count("INSERT INTO") <= 5
    [(_, _, read)] = sqlite_tables(script).values()
    assert len(read) == 1200 and read[-1] == ["1200", "row 1200"]


def test_parquet_writes_row_groups(tmp_path, monkeypatch):
    from app.sheets.outputs import parquet

    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 1000)
    rows = [["n", "t"]] + [[i, f"row {i}"] for i in range(1, 4501)]
    book = write_xlsx(tmp_path / "many.xlsx", {"Many": rows})
    out, _ = converted(book, "parquet")
    assert pq.ParquetFile(out).metadata.num_row_groups == 3  # batches of 2,000 rows
    assert pq.read_table(out).column("n").to_pylist()[-1] == 4500
