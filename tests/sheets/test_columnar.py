"""The fast CSV path (columnar.py) writes exactly what the row-by-row path writes.

Each test converts the same workbook twice, once as usual and once with the fast path
switched off, and compares the bytes. The fast path is also checked to have been taken
where it should be, and left where it should not.
"""

import dataclasses
import datetime as dt
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sheets import DEFAULT_LIMITS, Options, columnar, convert
from app.sheets.values import full_number_for_text, number_for_text

from .books import Formula, write_xlsx
from .test_properties import TEXT

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
# Small sheets normally take the row-by-row path: these tests want the fast one.
FAST = dataclasses.replace(DEFAULT_LIMITS, columnar_above_bytes=0)


@pytest.fixture
def both_ways(tmp_path, monkeypatch):
    """convert_both(book, **options) -> (fast bytes, row-by-row bytes, fast path taken)."""
    taken = []
    write_csv = columnar.write_csv

    def counting(*args, **kwargs):
        rows = write_csv(*args, **kwargs)
        taken.append(rows)
        return rows

    def convert_both(book, **options):
        taken.clear()
        monkeypatch.setattr(columnar, "write_csv", counting)
        fast = tmp_path / "fast.csv"
        convert(book, fast, Options(**options), limits=FAST)
        used = bool(taken)
        monkeypatch.setattr(columnar, "suits", lambda options: False)
        slow = tmp_path / "slow.csv"
        convert(book, slow, Options(**options), limits=FAST)
        monkeypatch.undo()
        return fast.read_bytes(), slow.read_bytes(), used

    return convert_both


# Values as the row-by-row path gets them from calamine: dates and times to the millisecond.
def millis(moment):
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: float(f"{f:.16G}") == f  # what XlsxWriter stores
)
SPECIAL_TEXT = st.sampled_from(
    ["=1+1", "-5", "+x", "@a", "\tq", "\r", 'a,"b"', "x\ny", "a\rb", "a;b", "a|b", " sp ", "00123"]
)
COLUMN_KINDS = {
    "int": st.integers(min_value=-(10**15), max_value=10**15),
    "float": FLOATS,
    "text": st.one_of(TEXT, SPECIAL_TEXT),
    "bool": st.booleans(),
    "date": st.dates(min_value=dt.date(1900, 3, 1)),
    "datetime": st.datetimes(min_value=dt.datetime(1900, 3, 1)).map(millis),
    "time": st.times().map(millis),
    "duration": st.integers(min_value=0, max_value=10**10).map(
        lambda ms: dt.timedelta(milliseconds=ms)
    ),
}


@st.composite
def typed_tables(draw):
    """A header row, then columns that each hold one kind of value, with blanks."""
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_KINDS)), min_size=1, max_size=5))
    height = draw(st.integers(min_value=0, max_value=15))
    columns = [
        draw(st.lists(st.one_of(st.none(), COLUMN_KINDS[kind]), min_size=height, max_size=height))
        for kind in kinds
    ]
    header = [f"h{index}" for index in range(len(kinds))]
    return [header, *map(list, zip(*columns, strict=True))]


OPTIONS = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["csv", "tsv"]),
        "delimiter": st.sampled_from([",", ";", "|", ".", "-", ":", "0", "T"]),
        "quoting": st.sampled_from(["minimal", "all"]),
        "line_ending": st.sampled_from(["crlf", "lf"]),
        "date_style": st.sampled_from(["iso", "dmy", "mdy"]),
        "protect_formulas": st.booleans(),
        "full_precision": st.booleans(),
        "encoding": st.sampled_from(["utf-8", "utf-8-sig"]),
        "skip_rows": st.integers(min_value=0, max_value=1),
    }
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=typed_tables(), options=OPTIONS, date_1904=st.booleans())
def test_fast_path_writes_what_the_row_by_row_path_writes(
    tmp_path, both_ways, table, options, date_1904
):
    book = write_xlsx(tmp_path / "t.xlsx", {"S": table}, date_1904=date_1904)
    fast, slow, used = both_ways(book, **options)
    assert fast == slow
    # Text of only whitespace is data, but calamine reads it as empty: a sheet with nothing
    # else looks empty to the fast path, which leaves it to the row-by-row path.
    has_data = any(
        value is not None and not (isinstance(value, str) and not value.strip())
        for row in table[1:]
        for value in row
    )
    skipped_rows_hold_dates = (
        has_data
        and options["skip_rows"]
        and any(isinstance(value, (dt.date, dt.time, dt.timedelta)) for value in table[1])
    )
    # In a 1904 workbook a date before 1904 is a negative serial, which calamine misreads:
    # those sheets go row by row (values.serial_moment's rule), by design.
    negative_serials = date_1904 and any(
        isinstance(value, dt.date) and to_date(value) < dt.date(1904, 1, 1)
        for row in table[1:]
        for value in row
    )
    if has_data and not skipped_rows_hold_dates and not negative_serials:
        assert used


def to_date(value):
    return value.date() if isinstance(value, dt.datetime) else value


def test_dates_before_1904_in_a_1904_workbook_go_row_by_row(tmp_path, both_ways):
    table = [["h0"], [dt.date(1900, 3, 1)], [dt.date(2024, 5, 6)]]
    book = write_xlsx(tmp_path / "t.xlsx", {"S": table}, date_1904=True)
    fast, slow, used = both_ways(book, format="csv", line_ending="lf")
    assert fast == slow == b"h0\n1900-03-01\n2024-05-06\n" and not used


@settings(max_examples=300, deadline=None)
@given(
    numbers=st.lists(st.one_of(st.none(), st.floats()), min_size=1, max_size=50),
    full_precision=st.booleans(),
)
def test_numbers_follow_the_value_rules(numbers, full_precision):
    import pyarrow as pa

    columns = columnar.TextColumns(full_precision=full_precision)
    text = columns.column(pa.array(numbers, pa.float64())).to_pylist()
    rule = full_number_for_text if full_precision else number_for_text
    assert text == ["" if n is None else str(rule(n)) for n in numbers]


def test_the_usual_sheet_takes_the_fast_path(tmp_path, both_ways):
    rows = [
        ["id", "amount", "name", "when", "at", "flag", "code", "ratio"],
        *(
            [
                i,
                i * 1.25,
                f'Zoë, "{i}"\nline',
                dt.date(2024, 1, 1) + dt.timedelta(days=i),
                dt.datetime(2024, 1, 1, 12, 0, 0, 250_000) + dt.timedelta(minutes=i),
                i % 2 == 0,
                f"{i:05d}",
                1e-7 * i if i % 3 else None,
            ]
            for i in range(1, 200)
        ),
    ]
    book = write_xlsx(tmp_path / "u.xlsx", {"Data": rows})
    fast, slow, used = both_ways(book)
    assert used and fast == slow
    assert fast.splitlines()[1] == b'1,1.25,"Zo\xc3\xab, ""1""'
    assert b"2024-01-02,2024-01-01 12:01:00.250000,FALSE,00001,0.0000001" in fast


@pytest.mark.parametrize(
    "sheet, why",
    [
        ({(2, 1): "h", (3, 1): 1}, "data from B3: calamine and fastexcel start there"),
        ([["h", "g"], [1, "x"], ["y", 2]], "columns mixing numbers and text"),
        ([[dt.date(2024, 1, 1), "g"], [1, "x"]], "a date above the columns"),
        ([["", "g"], [1, 2]], "A1 empty"),
    ],
)
def test_other_sheets_take_the_row_by_row_path(tmp_path, both_ways, sheet, why):
    book = write_xlsx(tmp_path / "o.xlsx", {"S": sheet})
    fast, slow, used = both_ways(book)
    assert not used, why
    assert fast == slow


def test_error_cells_keep_their_text(tmp_path, both_ways):
    rows = [["h", "g"], [1, Formula("=1/0", "#DIV/0!")], [2, 3.5], [Formula("=NA()", "#N/A"), 4]]
    book = write_xlsx(tmp_path / "e.xlsx", {"S": rows})
    fast, slow, used = both_ways(book)
    assert used and fast == slow
    assert fast == b"h,g\r\n1,#DIV/0!\r\n2,3.5\r\n#N/A,4\r\n"


def test_a_single_column_writes_empty_cells_as_csv_writer_does(tmp_path, both_ways):
    book = write_xlsx(tmp_path / "one.xlsx", {"S": [["h"], [1], [None], [3]]})
    fast, slow, used = both_ways(book)
    assert used and fast == slow == b'h\r\n1\r\n""\r\n3\r\n'


def test_options_it_does_not_write_leave_it_alone(tmp_path, both_ways):
    book = write_xlsx(tmp_path / "c.xlsx", {"S": [["h", "g"], [1, "é"]]})
    for options in ({"encoding": "cp1252"}, {"quoting": "nonnumeric"}, {"fill_merged": True}):
        fast, slow, used = both_ways(book, **options)
        assert not used and fast == slow, options


def test_every_sheet_of_a_zip_takes_it(tmp_path, monkeypatch):
    calls = []
    write_csv = columnar.write_csv
    monkeypatch.setattr(
        columnar, "write_csv", lambda *a, **k: calls.append(1) or write_csv(*a, **k)
    )
    book = write_xlsx(tmp_path / "z.xlsx", {"A": [["h"], [1]], "B": [["g"], ["x"]]})
    result = convert(book, tmp_path / "z.zip", Options(all_sheets=True), limits=FAST)
    assert result.output == "zip" and result.rows == 4 and len(calls) == 2


def test_progress_is_reported(tmp_path):
    rows = [["h"], *([i] for i in range(columnar.SLICE_ROWS + 10))]
    book = write_xlsx(tmp_path / "p.xlsx", {"S": rows}, constant_memory=True)
    seen = []
    result = convert(
        book, tmp_path / "p.csv", Options(), progress=lambda d, t: seen.append(d), limits=FAST
    )
    assert result.rows == len(rows) and result.cells == len(rows)
    assert len(seen) >= 3 and seen[-1] == len(rows)


def test_it_never_makes_pyarrow_import_pandas(tmp_path):
    """pyarrow imports pandas, when installed, on converting any Python value: a third
    of a second. The fast path hands it Arrow values only."""
    book = write_xlsx(
        tmp_path / "n.xlsx",
        {"S": [["h", "d", "t"], [1.5, dt.datetime(2024, 1, 1, 1), dt.timedelta(hours=30)]]},
    )
    script = textwrap.dedent(
        f"""
        import sys
        class Spy:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "pandas":
                    raise SystemExit("pandas was imported")
        sys.meta_path.insert(0, Spy())
        from app.sheets import Limits, Options, columnar, convert
        limits = Limits(columnar_above_bytes=0)
        write_csv = columnar.write_csv
        columnar.write_csv = lambda *a, **k: print("fast path") or write_csv(*a, **k)
        options = Options(protect_formulas=True)
        convert({str(book)!r}, {str(tmp_path / "n.csv")!r}, options, limits=limits)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "fast path\n"
    assert (tmp_path / "n.csv").read_bytes() == b"h,d,t\r\n1.5,2024-01-01 01:00:00,30:00:00\r\n"


def test_small_sheets_take_the_row_by_row_path(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(columnar, "write_csv", lambda *a, **k: calls.append(1))
    book = write_xlsx(tmp_path / "s.xlsx", {"S": [["h"], [1]]})
    assert convert(book, tmp_path / "s.csv", Options()).rows == 2
    assert not calls and (tmp_path / "s.csv").read_bytes() == b"h\r\n1\r\n"


@pytest.mark.parametrize("inline_strings", [False, True], ids=["shared-strings", "inline-strings"])
@pytest.mark.parametrize("text", ["NA", "n/a", "#N/A", "null", "None", "nan", "<NA>", "-1.#IND"])
@pytest.mark.parametrize("kind", [2.5, dt.date(2024, 1, 1), True])
def test_texts_meaning_missing_stay_text(tmp_path, both_ways, inline_strings, text, kind):
    """fastexcel reads "NA" and the like as empty among numbers: such sheets go row by row."""
    rows = [["h", "g"], [kind, "x"], [text, "y"], [kind, "z"]]
    book = write_xlsx(tmp_path / "na.xlsx", {"S": rows}, constant_memory=inline_strings)
    fast, slow, used = both_ways(book)
    assert not used and fast == slow
    assert f"\r\n{text},y\r\n".encode() in fast


def test_texts_meaning_missing_in_a_text_column_keep_the_fast_path(tmp_path, both_ways):
    rows = [["h", "g"], [1, "NA"], [None, "n/a"], [3, "x"]]
    book = write_xlsx(tmp_path / "na.xlsx", {"S": rows})
    fast, slow, used = both_ways(book)
    assert used and fast == slow == b"h,g\r\n1,NA\r\n,n/a\r\n3,x\r\n"


@pytest.mark.parametrize("inline_strings", [False, True], ids=["shared-strings", "inline-strings"])
def test_rich_text_cannot_hide_a_missing_text(tmp_path, both_ways, inline_strings):
    import xlsxwriter

    path = tmp_path / "rich.xlsx"
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": inline_strings})
    sheet = workbook.add_worksheet("S")
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, ["h", "g"])
    sheet.write_row(1, 0, [1.5, "x"])
    sheet.write_rich_string(2, 0, "N", bold, "A")  # "NA" in two runs
    sheet.write(2, 1, "y")
    sheet.write_row(3, 0, [None, "z"])
    workbook.close()
    fast, slow, used = both_ways(path)
    assert not used and fast == slow
    assert b"\r\nNA,y\r\n" in fast


def test_a_sandboxed_conversion_takes_it_while_the_sheet_is_scanned(tmp_path, monkeypatch):
    """In a sandboxed child, a large sheet is scanned on the other core as fastexcel reads
    it: that scan must note the columns of texts such as NA too."""
    from app.sheets import book as books

    marker = tmp_path / "fast-path-taken"
    write_csv = columnar.write_csv

    def marking(*args, **kwargs):
        marker.touch()  # the child's calls are not seen here: it leaves a file
        return write_csv(*args, **kwargs)

    monkeypatch.setattr(columnar, "write_csv", marking)
    monkeypatch.setattr(books, "CONCURRENT_SCAN_ABOVE", 0)
    rows = [["h", "g"], [1, "NA"], [None, "n/a"], [3, "x"]]
    book = write_xlsx(tmp_path / "na.xlsx", {"S": rows})
    convert(book, tmp_path / "na.csv", Options(), limits=FAST, isolate=True)
    assert marker.exists()
    assert (tmp_path / "na.csv").read_bytes() == b"h,g\r\n1,NA\r\n,n/a\r\n3,x\r\n"
