"""Text files in: delimiter sniffing, encodings, decimal separators and date orders."""

import contextlib
import csv
import datetime as dt
import io
import json
import threading
from unittest.mock import patch

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sheets import (
    BadOptions,
    Limits,
    Options,
    SheetError,
    TooLarge,
    convert,
    inspect,
    preview,
    survey,
)
from app.sheets import text as text_module
from app.sheets.text import SAMPLE_CHARS, sniff_delimiter, text_sheet_name
from app.sheets.values import text_typer


def finishes(function, *args, seconds=60):
    """Whether function(*args) returns within a wall limit far above what it needs
    (milliseconds): a check that it is not stuck, not a timing."""
    done = threading.Event()

    def run():
        with contextlib.suppress(SheetError):
            function(*args)
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return done.is_set()


# Sniffing


def test_sniffing_crafted_quotes_finishes(tmp_path):
    # 65 KB of ,"a kept csv.Sniffer busy for 15 seconds (quadratic backtracking).
    hostile = ',"a' * 22_000
    assert finishes(sniff_delimiter, hostile)
    assert finishes(sniff_delimiter, (hostile + "\n") * 40)
    source = tmp_path / "hostile.csv"
    source.write_text((hostile + "\n") * 4)
    assert finishes(inspect, source)
    assert inspect(source).delimiter == ","


def test_sniffing_reads_a_bounded_sample():
    # Whatever it is given, the detector looks at SAMPLE_CHARS characters at most.
    head = "a;b\n1;2\n" * (SAMPLE_CHARS // 8)
    assert sniff_delimiter(head + "x,y,z\n" * 100_000) == ";"


WORD = st.text(alphabet="abcdefxyz ABC0123456789.-_éü", min_size=0, max_size=12)


def ordinary_cell(delimiter):
    # What ordinary files hold: words and numbers, now and then a field that must be
    # quoted (the delimiter, a quote or a line break inside it).
    special = st.sampled_from([delimiter, '"', "\n", f"x{delimiter} y", 'say "hi"'])
    return st.one_of(WORD, WORD, WORD, st.builds(lambda a, b, c: a + b + c, WORD, special, WORD))


@st.composite
def ordinary_file(draw):
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(min_value=2, max_value=8))
    header = [f"col{index}" for index in range(width)]
    rows = draw(
        st.lists(
            st.lists(ordinary_cell(delimiter), min_size=width, max_size=width),
            min_size=1,
            max_size=30,
        )
    )
    buffer = io.StringIO()
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=ending)
    writer.writerows([header, *rows])
    return delimiter, buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(case=ordinary_file())
def test_sniffing_finds_the_delimiter_of_ordinary_files(case):
    delimiter, text = case
    assert sniff_delimiter(text) == delimiter


def test_sniffing_known_answers():
    assert sniff_delimiter('id,name\n1,"a; b"\n2,c\n') == ","
    assert sniff_delimiter("id;amount\n1;47,91\n2;1.234,56\n") == ";"
    assert sniff_delimiter("1,5;2,5\n3,5;4,5\n") == ";"  # decimal commas, no header
    assert sniff_delimiter("name\tnote\nA\thello, world\nB\tx, y, z\n") == "\t"
    assert sniff_delimiter("a|b|c\n1|2|3\n") == "|"
    assert sniff_delimiter("only one column\nsecond\n") == ","
    assert sniff_delimiter("") == ","
    assert sniff_delimiter("a,b\n1,2\n3,4,5\n6,7\n") == ","


# Encodings: real accented text as the Windows code page of its language writes it

LETTERS = {
    "French": (
        "cp1252",
        "nom;ville;montant\nJérôme Lefèvre;Besançon;47,91\nFrançoise Dubois;Nîmes;12,50\n"
        "Anaïs Mérel;Orléans;3,20\nHélène Cœur;Saint-Étienne;8,00\n",
    ),
    "German": (
        "cp1252",
        "Name;Stadt;Betrag\nJürgen Müller;München;47,91\nGrüße aus Köln;Düsseldorf;12,50\n"
        "Ärger Straße;Görlitz;1,00\nÖzlem Şahin;Lübeck;2,75\n".replace("Ş", "S"),
    ),
    "Spanish": (
        "cp1252",
        "nombre;ciudad\nJosé Núñez;Peñíscola\nMaría Ibáñez;Cádiz\nAñoranza pequeña;León\n"
        "¿Qué tal? ¡Olé!;A Coruña\n",
    ),
    "Polish": (
        "cp1250",
        "imię;miasto\nŁukasz Wiśniewski;Łódź\nZażółć gęślą jaźń;Kraków\n"
        "Grzegorz Brzęczyszczykiewicz;Gdańsk\nAgnieszka Żółkiewska;Bydgoszcz\n",
    ),
    "Czech": (
        "cp1250",
        "jméno;město\nJiří Dvořák;Plzeň\nPříliš žluťoučký kůň úpěl ďábelské ódy;Brno\n"
        "Šárka Čermáková;České Budějovice\nTomáš Řezníček;Ústí nad Labem\n",
    ),
    "Russian": (
        "cp1251",
        "имя;город;сумма\nДмитрий Иванов;Москва;47,91\n"
        "Съешь же ещё этих мягких французских булок;Санкт-Петербург;12\n"
        "Анна Каренина;Новосибирск;3\nЁлка Щукина;Екатеринбург;5\n",
    ),
    "Greek": (
        "cp1253",
        "όνομα;πόλη\nΓιώργος Παπαδόπουλος;Αθήνα\nΞεσκεπάζω την ψυχοφθόρα βδελυγμία;Θεσσαλονίκη\n"
        "Μαρία Κωνσταντίνου;Πάτρα\nΝίκος Χατζηδάκης;Ηράκλειο\n",
    ),
}


@pytest.mark.parametrize("language", LETTERS)
def test_legacy_encoding_is_detected_and_letters_survive(tmp_path, language):
    encoding, text = LETTERS[language]
    source = tmp_path / f"{language}.csv"
    source.write_bytes(text.encode(encoding))
    info = inspect(source)
    assert (info.encoding, info.delimiter) == (encoding, ";")
    convert(source, tmp_path / "out.xlsx", Options(format="xlsx"))
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    expected = [line.split(";") for line in text.splitlines()]
    assert [[cell.value for cell in row][:1] for row in sheet.rows] == [r[:1] for r in expected]


def test_latin1_french_is_not_a_baltic_code_page(tmp_path):
    # The file from the report: a short latin-1 ;-file, read as cp775 ("Jķr¶me").
    source = tmp_path / "clients.csv"
    source.write_bytes("name;city\nJérôme;Besançon\nNîmes;x\n".encode("latin-1"))
    assert inspect(source).encoding == "cp1252"
    assert preview(source).rows[1] == ["Jérôme", "Besançon"]


def test_utf8_wins_whenever_the_bytes_are_utf8(tmp_path):
    source = tmp_path / "u.csv"
    source.write_bytes("имя;πόλη;Łódź\nÄrger;é;ő\n".encode())
    assert inspect(source).encoding == "utf-8"


def test_input_encoding_overrides_the_guess(tmp_path):
    # Two short Czech lines read as well in cp1252 ("Jiøí"): the person says what they are.
    source = tmp_path / "cz.csv"
    source.write_bytes("jméno;město\nJiří Dvořák;Plzeň\n".encode("cp1250"))
    info = inspect(source, input_encoding="cp1250")
    assert info.encoding == "cp1250"
    assert preview(source, input_encoding="cp1250").rows[1] == ["Jiří Dvořák", "Plzeň"]
    info, shown = survey(source, input_encoding="windows-1250", text_sheet_name="cz")
    assert info.encoding == "cp1250" and shown.rows[1][0] == "Jiří Dvořák"
    out = tmp_path / "o.csv"
    convert(source, out, Options(input_encoding="cp1250", line_ending="lf"))
    assert out.read_text("utf-8") == "jméno,město\nJiří Dvořák,Plzeň\n"


def test_input_encoding_that_does_not_fit_says_so(tmp_path):
    source = tmp_path / "u.csv"
    source.write_bytes(("a,b\n" + "x,y\n" * 10 + "\u00e9\u00e9\n").encode())
    with pytest.raises(SheetError, match="not valid ascii after line .* another encoding"):
        convert(source, tmp_path / "o.csv", Options(input_encoding="ascii"))
    with pytest.raises(BadOptions, match="Unknown encoding to read the file as: 'rot13'"):
        convert(source, tmp_path / "o.csv", Options(input_encoding="rot13"))
    with pytest.raises(BadOptions, match="Unknown encoding"):
        inspect(source, input_encoding="no-such-code-page")


def test_input_encoding_is_ignored_for_workbooks(tmp_path, mixed_xlsx):
    assert inspect(mixed_xlsx, input_encoding="cp1251").encoding is None


# Decimal separators and date orders, for typing text input in XLSX and JSON


def typed_cells(tmp_path, text, name="t.csv", **options):
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "o.json"
    convert(source, out, Options(format="json", json_style="rows", **options))
    return json.loads(out.read_text("utf-8"))


def test_semicolon_file_with_decimal_commas_is_typed(tmp_path):
    text = "name;amount;total;day\nA;47,91;1.234,56;02/03/2024\nB;-3,5;12;25/12/2023\n"
    source = tmp_path / "t.csv"
    source.write_text(text)
    info = inspect(source)
    assert (info.delimiter, info.decimal_separator, info.date_order) == (";", ",", "dmy")
    rows = typed_cells(tmp_path, text)
    assert rows[1:] == [["A", 47.91, 1234.56, "2024-03-02"], ["B", -3.5, 12, "2023-12-25"]]
    convert(source, tmp_path / "o.xlsx", Options(format="xlsx"))
    sheet = openpyxl.load_workbook(tmp_path / "o.xlsx").active
    assert sheet["B2"].value == 47.91 and sheet["C2"].value == 1234.56
    assert sheet["D2"].is_date and sheet["D2"].value == dt.datetime(2024, 3, 2)


@pytest.mark.parametrize(
    "text, decimal, order",
    [
        ("a,b\n12.5,03/25/2024\n", ".", "mdy"),  # the month first: 25 cannot be a month
        ("a;b\n12,5;25.03.2024\n", ",", "dmy"),
        ("a\tb\n1,5\t2024/03/25\n", ",", "ymd"),
        ("a;b\nx;y\n", ",", ""),  # a ;-file: the comma habit, no dates
        ("a,b\nx,y\n", ".", ""),
        ('a,b\n"47,91",02/03/2024\n', ",", "dmy"),  # ambiguous dates follow the comma
        ("a,b\n4.5,02/03/2024\n", ".", "mdy"),
        ("a;b\n1.234;x\n", ",", ""),  # 1.234 says nothing; the ; does
    ],
)
def test_detected_number_style(tmp_path, text, decimal, order):
    source = tmp_path / "t.csv"
    source.write_text(text)
    info = inspect(source)
    assert (info.decimal_separator, info.date_order) == (decimal, order)


def test_number_style_is_none_for_workbooks(mixed_xlsx):
    info = inspect(mixed_xlsx)
    assert (info.decimal_separator, info.date_order) == (None, None)


def test_decimal_separator_and_date_order_options_win(tmp_path):
    text = "a;b;c\n47,91;02/03/2024;1.5\n"
    assert typed_cells(tmp_path, text)[1] == [47.91, "2024-03-02", "1.5"]
    assert typed_cells(tmp_path, text, date_order="mdy")[1] == [47.91, "2024-02-03", "1.5"]
    assert typed_cells(tmp_path, text, decimal_separator=".")[1] == ["47,91", "2024-03-02", 1.5]
    # Dates that do not exist in the order asked stay text.
    assert typed_cells(tmp_path, "a\n25/03/2024\n", date_order="mdy")[1] == ["25/03/2024"]
    # Without typing, everything stays text, and CSV output is never typed.
    assert typed_cells(tmp_path, text, infer_types=False)[1] == ["47,91", "02/03/2024", "1.5"]
    out = tmp_path / "o.csv"
    convert(tmp_path / "t.csv", out, Options(line_ending="lf"))
    assert out.read_text().splitlines()[1] == '"47,91",02/03/2024,1.5'


@pytest.mark.parametrize(
    "text, decimal, order, value",
    [
        ("47,91", ",", "", 47.91),
        ("1.234,56", ",", "", 1234.56),
        ("1.234", ",", "", 1234),
        ("-0,5", ",", "", -0.5),
        ("00,5", ",", "", "00,5"),  # leading zeros stay text, as with a point
        ("12.5", ",", "", "12.5"),  # a point under a decimal comma is not a decimal point
        ("1,2,3", ",", "", "1,2,3"),
        ("12.5", ".", "", 12.5),
        ("47,91", ".", "", "47,91"),
        ("02/03/2024", ".", "dmy", dt.date(2024, 3, 2)),
        ("02/03/2024", ".", "mdy", dt.date(2024, 2, 3)),
        ("2.3.2024 13:45", ",", "dmy", dt.datetime(2024, 3, 2, 13, 45)),
        ("02-03-2024 13:45:30", ".", "mdy", dt.datetime(2024, 2, 3, 13, 45, 30)),
        ("2024/03/02", ".", "ymd", dt.date(2024, 3, 2)),
        ("2024/03/02", ".", "dmy", "2024/03/02"),
        ("31/02/2024", ".", "dmy", "31/02/2024"),
        ("02/03/24", ".", "dmy", "02/03/24"),  # two-digit years stay text
        ("2024-03-15", ",", "mdy", dt.date(2024, 3, 15)),  # ISO dates in any order
        ("TRUE", ",", "dmy", True),
        ("0042", ".", "", "0042"),
    ],
)
def test_text_typer(text, decimal, order, value):
    typed = text_typer(decimal, order)(text)
    assert typed == value and type(typed) is type(value)


# A text file's sheet is named after the file


def test_text_sheet_is_named_after_the_file(tmp_path):
    source = tmp_path / "sales.csv"
    source.write_text("a,b\n1,2\n")
    assert [sheet.name for sheet in inspect(source).sheets] == ["sales"]
    assert preview(source).sheet == "sales"
    assert preview(source, sheet="sales").rows == [["a", "b"], ["1", "2"]]
    assert preview(source, sheet="Sheet1").sheet == "sales"  # the old name still answers
    # Callers that store the file under another name say what it was called.
    assert inspect(source, text_sheet_name="Q3 figures").sheets[0].name == "Q3 figures"
    convert(source, tmp_path / "o.xlsx", Options(format="xlsx", sheets=["sales"]))
    assert openpyxl.load_workbook(tmp_path / "o.xlsx").sheetnames == ["sales"]
    convert(source, tmp_path / "o.xlsx", Options(format="xlsx", name_stem="report"))
    assert openpyxl.load_workbook(tmp_path / "o.xlsx").sheetnames == ["report"]
    with pytest.raises(SheetError, match="no sheet named 'other'"):
        preview(source, sheet="other")


@pytest.mark.parametrize(
    "name, sheet", [("sales.csv", "sales"), ("a.b.tsv", "a.b"), (".csv", ".csv"), ("", "Sheet1")]
)
def test_text_sheet_name_rule(name, sheet):
    assert text_sheet_name(name) == sheet


# Measuring: lines split by C-level calls must count what the csv reader counts


def measured(function, path, encoding, delimiter, limits):
    """What function answers, or the error it raises (its kind and message)."""
    try:
        return function(path, encoding, delimiter, limits)
    except SheetError as error:
        return type(error).__name__, str(error)


def measured_by_the_reader(path, encoding, delimiter, limits):
    """measure_text as it was: the csv reader's every record."""
    rows, columns = text_module.measure_records(path, encoding, delimiter, limits)
    if columns > limits.max_columns:
        raise TooLarge(f"The file has more than {limits.max_columns:,} columns.")
    return rows, columns


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(
        # Mostly plain text, which the lines answer for; any text, which the reader does.
        st.lists(st.sampled_from(["a", "b", " ", ",", ";", "\t", "\n", "\r\n", "é", "\x0b"])).map(
            "".join
        ),
        st.text(alphabet='ab ,;\t\n\r"\x00é\x0b', max_size=60),
    ),
    delimiter=st.sampled_from(",;\t"),
    chunk=st.integers(1, 20),
    max_columns=st.integers(1, 6),
    max_text_length=st.integers(1, 12),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
def test_lines_measure_as_the_readers_records(
    tmp_path_factory, text, delimiter, chunk, max_columns, max_text_length, encoding
):
    """Any text (quotes, carriage returns, NULs and too-long cells included, each of which
    sends the measure back to the reader), cut into chunks of any size: the same rows and
    columns, or the same refusal."""
    path = tmp_path_factory.mktemp("measure") / "t.csv"
    path.write_bytes(text.encode(encoding))
    limits = Limits(max_columns=max_columns, max_text_length=max_text_length)
    kept = csv.field_size_limit()  # process-wide, and the reader sets it from the limits
    try:
        with patch.object(text_module, "PLAIN_CHUNK", chunk):
            answer = measured(text_module.measure_text, path, encoding, delimiter, limits)
        assert answer == measured(measured_by_the_reader, path, encoding, delimiter, limits)
    finally:
        csv.field_size_limit(kept)


def test_a_file_of_short_lines_is_measured_without_the_reader(tmp_path, monkeypatch):
    """The plain path answers for plain text (the reader is not asked), in whole lines
    across chunks, trailing empty rows and fields left out."""
    path = tmp_path / "short.csv"
    path.write_text("1,2\r\n" * 1000 + "3,,\r\n,,\r\n\r\n", encoding="utf-8", newline="")
    monkeypatch.setattr(text_module, "PLAIN_CHUNK", 7)
    monkeypatch.setattr(text_module, "measure_records", None)  # not called
    assert text_module.measure_text(path, "utf-8", ",", Limits()) == (1001, 2)


# UTF-16 without a byte order mark (issue 22, 6): what Windows tools and some exports write.

UTF16_TABLE = "id;name;city\r\n1;Zoë;Köln\r\n2;李雷;北京\r\n3;Ωmega;\r\n"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read_as_text(tmp_path, encoding):
    path = tmp_path / "export.csv"
    path.write_bytes(UTF16_TABLE.encode(encoding))
    info = inspect(path)
    assert info.format == "csv" and info.encoding == encoding
    out = tmp_path / "out.csv"
    convert(path, out, Options(line_ending="lf"))
    assert out.read_text("utf-8") == UTF16_TABLE.replace(";", ",").replace("\r\n", "\n")


def test_utf16_of_cjk_text_alone_is_read_too(tmp_path):
    path = tmp_path / "names.csv"
    path.write_bytes("名前,都市\n李雷,北京\n韩梅梅,上海\n".encode("utf-16-le"))
    assert inspect(path).encoding == "utf-16-le"


@pytest.mark.parametrize(
    "content",
    [
        b"\x00" * 4096,
        bytes(range(256)) * 64,
        b"a,b\n\x00\x00\x00\x01\x02\x03" * 200,
        "a,b\n1,2\n".encode("utf-16-le")[:-1] + b"\x00\xd8",  # a lone surrogate
    ],
    ids=["zeros", "every byte", "text with binary", "lone surrogate"],
)
def test_binary_with_nuls_is_still_not_text(tmp_path, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(SheetError, match="not a spreadsheet or a text file"):
        inspect(path)
