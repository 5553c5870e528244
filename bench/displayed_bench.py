"""As displayed (issue 25, 1) beside the CSV path, in one run: a workbook whose cells carry
number formats (amounts, percents, dates, date-times, a fraction, General ids and text),
converted to CSV with the values (the fast path), with the values row by row, and as
displayed; each conversion in a fresh process, best and median of `--repeat` runs.

    .venv/bin/python bench/displayed_bench.py                 # 100k rows
    .venv/bin/python bench/displayed_bench.py --rows 20000 --repeat 5

The workbook is written once into bench/out/ by XlsxWriter and reused.
"""

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FORMATS = ["General", "#,##0.00", "0.00%", "dd.mm.yyyy", "yyyy-mm-dd hh:mm", "# ?/?", "@"]


def ensure(rows):
    path = OUT / f"formatted-{rows}.xlsx"
    if path.exists():
        return path
    import xlsxwriter

    OUT.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    styles = [workbook.add_format({"num_format": code}) for code in FORMATS]
    sheet = workbook.add_worksheet("Data")
    sheet.write_row(0, 0, ["id", "amount", "margin", "day", "when", "part", "note"])
    start = dt.datetime(2020, 1, 1)
    for row in range(1, rows + 1):
        values = [
            row,
            (row * 37.31) % 100_000 - 5_000,
            (row % 997) / 1000,
            start + dt.timedelta(days=row % 1500),
            start + dt.timedelta(minutes=row * 7),
            (row % 16) / 16,
            f"item {row % 500}",
        ]
        for column, value in enumerate(values):
            if isinstance(value, str):
                sheet.write_string(row, column, value, styles[column])
            elif isinstance(value, dt.datetime):
                sheet.write_datetime(row, column, value, styles[column])
            else:
                sheet.write_number(row, column, value, styles[column])
    workbook.close()
    return path


def run(source, target, mode):
    """One conversion, in this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    from app.sheets import DEFAULT_LIMITS, Options, convert

    limits = DEFAULT_LIMITS
    if mode == "rows":  # the values without the fast paths: the path as displayed takes
        limits = type(limits)(
            **{**limits.__dict__, "stream_above_bytes": 2**62, "columnar_above_bytes": 2**62}
        )
    options = Options(as_displayed=mode == "displayed")
    convert(source, target, options, limits=limits, isolate=True)


def timed(source, mode):
    target = OUT / f"displayed-{mode}.csv"
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--run", str(source), str(target), mode], check=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--run", nargs=3, metavar=("SOURCE", "TARGET", "MODE"))
    args = parser.parse_args()
    if args.run:
        run(*args.run)
        return
    source = ensure(args.rows)
    modes = ["values", "rows", "displayed"]
    seconds = {mode: [] for mode in modes}
    for _ in range(args.repeat):  # interleaved, so a busy moment hits each alike
        for mode in modes:
            seconds[mode].append(timed(source, mode))
    base = statistics.median(seconds["values"])
    print(f"{args.rows:,} rows x {len(FORMATS)} columns, {args.repeat} runs each")
    print(f"{'mode':<10} {'best s':>8} {'median s':>9} {'x values':>9}")
    for mode in modes:
        median = statistics.median(seconds[mode])
        print(f"{mode:<10} {min(seconds[mode]):8.2f} {median:9.2f} {median / base:9.2f}")
    sample = (OUT / "displayed-displayed.csv").read_text(encoding="utf-8").splitlines()[:3]
    print("as displayed:", *sample, sep="\n  ")


if __name__ == "__main__":
    main()
