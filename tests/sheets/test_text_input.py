"""Text files in: delimiter sniffing, encodings, decimal separators and date orders."""

import contextlib
import csv
import io
import threading

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sheets import BadOptions, Options, SheetError, convert, inspect, preview, survey
from app.sheets.text import SAMPLE_CHARS, sniff_delimiter


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
