"""Text files in: delimiter sniffing, encodings, decimal separators and date orders."""

import contextlib
import csv
import io
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sheets import SheetError, inspect
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
