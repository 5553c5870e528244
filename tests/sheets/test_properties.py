"""Round trips and fuzzing: random tables survive, mutated files never crash the engine."""

import csv
import dataclasses
import io
import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sheets import DEFAULT_LIMITS, Options, SheetError, convert, inspect, preview
from app.sheets.sandbox import EngineCrash, run_isolated
from app.sheets.values import full_number_for_text, number_for_text

from .books import FIXTURES, write_xlsx

# Text that a spreadsheet stores as typed: no control characters Excel cannot hold, nor
# the noncharacters U+FFFE and U+FFFF (XlsxWriter stores them as _xFFFE_, which calamine
# leaves as it is).
TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00\ufffe\uffff"
    ),
    max_size=30,
)
CELL = st.one_of(
    TEXT,
    st.integers(min_value=-(10**15), max_value=10**15),
    # XlsxWriter, which builds the test workbooks, stores 16 significant digits.
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: float(f"{f:.16G}") == f),
    st.booleans(),
)
TABLE = st.integers(min_value=1, max_value=6).flatmap(
    lambda width: st.lists(st.lists(CELL, min_size=width, max_size=width), min_size=1, max_size=12)
)


def expected_text(value, full_precision=False):
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        rule = full_number_for_text if full_precision else number_for_text
        return str(rule(float(value)))
    return value


def trimmed(rows):
    """The table as the engine writes it: trailing empty rows and columns dropped."""
    rows = [list(row) for row in rows]
    while rows and not any(rows[-1]):
        rows.pop()
    width = max(
        (max((i + 1 for i, v in enumerate(row) if v), default=0) for row in rows), default=0
    )
    return [row[:width] + [""] * (width - len(row[:width])) for row in rows]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=TABLE, full_precision=st.booleans())
def test_round_trip_xlsx_to_csv(tmp_path, table, full_precision):
    book = write_xlsx(tmp_path / "r.xlsx", {"S": table})
    out = tmp_path / "r.csv"
    expected = trimmed([[expected_text(v, full_precision) for v in row] for row in table])
    convert(book, out, Options(full_precision=full_precision))
    back = list(csv.reader(io.StringIO(out.read_text("utf-8"), newline="")))
    assert back == expected
    # Numbers come back as the same numbers: exactly with full precision, else as
    # Excel shows them (15 significant digits; integers up to 2**53 exact).
    for row, original in zip(back, table, strict=False):
        for text, value in zip(row, original, strict=False):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if full_precision or (float(value).is_integer() and abs(value) <= 2**53):
                    assert float(text) == float(value)
                else:
                    assert float(text) == float(f"{value:.15g}")
                    assert len(text.replace("-", "").replace(".", "").strip("0")) <= 15


SMALL = dataclasses.replace(DEFAULT_LIMITS, max_cells=2_000_000, max_seconds=20)


def mutate(data, rng):
    data = bytearray(data)
    action = rng.randrange(4)
    if action == 0:  # flip bytes
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif action == 1:  # truncate
        data = data[: rng.randrange(1, len(data))]
    elif action == 2:  # insert junk
        at = rng.randrange(len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 64))
    else:  # repeat a slice
        start = rng.randrange(len(data))
        data[start:start] = data[start : start + rng.randint(1, 256)] * rng.randint(1, 8)
    return bytes(data)


def test_fuzzed_files_get_a_message_never_a_crash(tmp_path):
    book = write_xlsx(
        tmp_path / "seed.xlsx",
        {"Data": [["id", "name", "amount"], [1, "a", 1.5], [2, "b", -3]], "More": [["x"]]},
    )
    csv_seed = tmp_path / "seed.csv"
    csv_seed.write_text('id;name\n1;"quoted ; text"\n2;naïve\n', encoding="utf-8")
    sources = [book, csv_seed] + [
        FIXTURES / name
        for name in (
            "mixed.xls",
            "mixed.xlsb",
            "mixed.ods",
            "errors.xls",
            "errors.ods",
            "errors.xlsb",
            "serials.xls",
            "serials.xlsb",
            "serials.ods",
            "tabs.ods",
        )
    ]
    originals = [source.read_bytes() for source in sources]
    cases = int(os.environ.get("SHEETPORT_FUZZ_CASES", "150"))
    outcomes = {"converted": 0, "refused": 0}
    for seed in range(cases):
        rng = random.Random(seed)
        path = tmp_path / f"case-{seed}"
        path.write_bytes(mutate(originals[seed % len(sources)], rng))
        output = rng.choice(["csv", "json", "xlsx"])
        try:
            # One child per case: an abort in native code is reported, not fatal.
            run_isolated(fuzz_case, path, output, memory_bytes=2**31, seconds=30)
            outcomes["converted"] += 1
        except SheetError as error:
            assert str(error) and "Traceback" not in str(error)
            outcomes["refused"] += 1
        except EngineCrash as crash:
            raise AssertionError(
                f"case {seed} from {sources[seed % len(sources)].name}:\n{crash}"
            ) from None
    assert outcomes["refused"] > 0 and outcomes["converted"] > 0


def fuzz_case(path, output):
    inspect(path, limits=SMALL)
    preview(path, rows=5, limits=SMALL)
    convert(path, path.with_suffix(f".{output}"), Options(format=output), limits=SMALL)
