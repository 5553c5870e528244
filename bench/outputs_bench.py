"""Every output format beside the CSV path, in one run (issue 23): seconds, the ratio to
CSV's seconds (goal: at most 1.5x) and peak memory, each conversion in a fresh process.
Parquet beside pandas.to_parquet and polars.write_parquet, SQL beside pandas.to_sql into
SQLite (and Sheetport's script loaded into SQLite, to compare like with like).

    .venv/bin/python bench/outputs_bench.py                  # 100k rows
    .venv/bin/python bench/outputs_bench.py --sizes 100000,1000000
    .venv/bin/python bench/outputs_bench.py --sizes 1000000 --sheetport-only   # memory at 1M

The workbook is convert_bench.py's (generated once into bench/out/ and reused). Peak memory
is the process tree's, sampled, and the largest rusage of the process or its children:
Sheetport converts in a sandboxed child, as the web app does.
"""

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from convert_bench import OUT, ensure, tree_rss_kb  # noqa: E402 (after the path is set)

# --- what is measured, each in its own process --------------------------------------------


def run_sheetport(source, target, output_format, *options):
    from app.sheets import DEFAULT_LIMITS, Options, convert

    limits = DEFAULT_LIMITS
    if "rows" in options:  # CSV without its fast paths: row by row, as the other writers
        limits = type(limits)(
            **{**limits.__dict__, "stream_above_bytes": 2**62, "columnar_above_bytes": 2**62}
        )
    settings = dict(option.split("=", 1) for option in options if "=" in option)
    convert(source, target, Options(format=output_format, **settings), limits=limits, isolate=True)


def run_sheetport_sql_loaded(source, target):
    """Sheetport's SQL for SQLite, then the script run into a database file."""
    script = Path(target).with_suffix(".sql")
    run_sheetport(source, script, "sql")
    Path(target).unlink(missing_ok=True)
    with sqlite3.connect(target) as connection:
        connection.executescript(script.read_bytes().decode("utf-8"))


def pandas_frame(source):
    import pandas as pd

    return pd.read_excel(source, engine="calamine")


def run_pandas_parquet(source, target):
    pandas_frame(source).to_parquet(target)


def run_polars_parquet(source, target):
    import polars as pl

    pl.read_excel(source, engine="calamine").write_parquet(target)


def run_pandas_sql(source, target):
    Path(target).unlink(missing_ok=True)
    with sqlite3.connect(target) as connection:
        pandas_frame(source).to_sql("Data", connection, index=False)


RUNNERS = {
    "sheetport": run_sheetport,
    "sheetport-sql-loaded": run_sheetport_sql_loaded,
    "pandas-parquet": run_pandas_parquet,
    "polars-parquet": run_polars_parquet,
    "pandas-sql": run_pandas_sql,
}


def child_main(runner, source, target, args):
    sampled, done = [0], threading.Event()

    def sample():
        while not done.wait(0.02):
            sampled[0] = max(sampled[0], tree_rss_kb(os.getpid()))

    threading.Thread(target=sample, daemon=True).start()
    started = time.perf_counter()
    RUNNERS[runner](source, target, *args)
    seconds = time.perf_counter() - started
    done.set()
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        sampled[0],
    )
    print(json.dumps({"seconds": round(seconds, 3), "peak_mb": round(peak / 1024)}))


def measure(runner, source, target, *args):
    """(seconds, peak MB, error) of one run in a fresh process."""
    command = [sys.executable, __file__, "--run", runner, str(source), str(target), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return None, None, (done.stderr.strip().splitlines() or ["failed"])[-1][:100]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["seconds"], figures["peak_mb"], ""


def available(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--run", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--sheetport-only", action="store_true", help="no pandas or polars")
    args = parser.parse_args()
    if args.run:
        runner, source, target, *rest = args.run
        return child_main(runner, source, target, rest)

    from app.sheets import formats

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>9}  {'how':<46} {'seconds':>8} {'x CSV':>6} {'peak MB':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        book = ensure(OUT / f"mixed-{size}.xlsx", "xlsx", size)
        out = OUT / "outputs-result"

        def row(how, figures, csv_seconds, size=size):
            seconds, peak, error = figures
            ratio = f"{seconds / csv_seconds:.2f}" if seconds and csv_seconds else ""
            shown = f"{seconds:8.2f}" if seconds is not None else f"{'-':>8}"
            print(f"{size:>9}  {how:<46} {shown} {ratio:>6} {peak or '-':>8} {error}", flush=True)

        csv_figures = measure("sheetport", book, f"{out}.csv", "csv")
        csv_seconds = csv_figures[0]
        row("Sheetport csv (the baseline)", csv_figures, csv_seconds)
        row(
            "Sheetport csv, row by row (no fast path)",
            measure("sheetport", book, f"{out}.rows.csv", "csv", "rows"),
            csv_seconds,
        )
        for name in formats.NAMES:
            if name == "csv":
                continue
            extension = formats.output(name).extension
            row(
                f"Sheetport {name}",
                measure("sheetport", book, f"{out}.{extension}", name),
                csv_seconds,
            )
        row(
            "Sheetport sql, postgresql",
            measure("sheetport", book, f"{out}.pg.sql", "sql", "sql_dialect=postgresql"),
            csv_seconds,
        )
        if args.sheetport_only:
            continue
        if available("pandas") and available("pyarrow"):
            row(
                "pandas.read_excel + to_parquet",
                measure("pandas-parquet", book, f"{out}.pd.parquet"),
                csv_seconds,
            )
        if available("polars"):
            row(
                "polars.read_excel + write_parquet",
                measure("polars-parquet", book, f"{out}.pl.parquet"),
                csv_seconds,
            )
        row(
            "Sheetport sql, run into SQLite",
            measure("sheetport-sql-loaded", book, f"{out}.sp.sqlite"),
            csv_seconds,
        )
        if available("pandas"):
            row(
                "pandas.read_excel + to_sql (SQLite)",
                measure("pandas-sql", book, f"{out}.pd.sqlite"),
                csv_seconds,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
