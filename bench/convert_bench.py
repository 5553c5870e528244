"""Speed and memory of Sheetport's engine beside the usual ways, measured in one run.

    make bench                        # 10k, 100k and 1M rows (about 15 minutes)
    .venv/bin/python bench/convert_bench.py --sizes 10000,100000 --skip-slow

Each measurement runs in a fresh process; peak memory is that process's peak RSS
(with its children: Sheetport converts in a sandboxed child, as the web app does).
Workbooks are generated once into bench/out/ and reused. Figures are machine-dependent:
compare the ratios, which come from the same run.
"""

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

HEADER = ["id", "amount", "name", "date", "datetime", "flag", "code", "blank", "ratio", "note"]
NAMES = ["Zoë Müller", 'Smith, "Jr"', "Line\nbreak", "Ørsted", "李雷", "plain name"]


def mixed_rows(count, seed=42):
    """ids, amounts, unicode names with commas, quotes and newlines, dates, date-times,
    booleans, leading-zero codes, blanks, floats and text that looks like NA."""
    rng = random.Random(seed)
    base = dt.datetime(2020, 1, 1)
    for i in range(1, count + 1):
        yield [
            i,
            round(rng.uniform(-1e5, 1e5), 2),
            f"{rng.choice(NAMES)} {i}",
            (base + dt.timedelta(days=i % 3000)).date(),
            base + dt.timedelta(seconds=i * 37),
            i % 3 == 0,
            f"{i % 1000:05d}",
            "",
            rng.random() if i % 7 else "",
            "NA" if i % 11 == 0 else f"note {i % 97}",
        ]


def make_xlsx(path, sheets, odd_amounts=False):
    """sheets: {name: row count}. Shared strings, as Excel writes them. With odd_amounts,
    every 50th amount is the text "n/a": a column mixing numbers and text."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_urls": False})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, count in sheets.items():
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, HEADER)
        for r, row in enumerate(mixed_rows(count), 1):
            if odd_amounts and r % 50 == 0:
                row[1] = "n/a"
            for c, value in enumerate(row):
                if value == "":
                    continue
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, moment)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(r, c, value, date)
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write(r, c, value)
    book.close()


def make_csv(path, count):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for row in mixed_rows(count):
            writer.writerow(["TRUE" if v is True else "FALSE" if v is False else v for v in row])


def ensure(path, kind, *counts):
    """Generate an input once, in its own process: Linux carries a process's peak RSS
    over into the processes it starts, so the measuring parent must stay small."""
    if not path.exists():
        print(f"  generating {path.name} ...", file=sys.stderr, flush=True)
        partial = path.with_suffix(".partial" + path.suffix)
        command = [sys.executable, __file__, "--make", kind, str(partial), *map(str, counts)]
        subprocess.run(command, check=True)
        partial.rename(path)
    return path


def make_main(kind, path, counts):
    counts = [int(c) for c in counts]
    if kind == "csv":
        make_csv(path, counts[0])
    elif kind == "xlsx-odd":
        make_xlsx(path, {"Data": counts[0]}, odd_amounts=True)
    elif len(counts) == 1:
        make_xlsx(path, {"Data": counts[0]})
    else:
        make_xlsx(
            path,
            {name: count for name, count in zip(("One", "Two", "Three"), counts, strict=False)},
        )


# Measurements: each runs in its own process (see measure()).


def run_sheetport(source, target, *args):
    from app.sheets import DEFAULT_LIMITS, Options, convert

    limits = DEFAULT_LIMITS
    options = Options(format=target.rsplit(".", 1)[1])
    if "stream" in args:
        limits = type(limits)(**{**limits.__dict__, "stream_above_bytes": 0})
    if "whole" in args:
        limits = type(limits)(**{**limits.__dict__, "stream_above_bytes": 2**62})
    if "rows" in args:  # no columnar fast path
        limits = type(limits)(**{**limits.__dict__, "columnar_above_bytes": 2**62})
    if "rows-stream" in args:  # the streaming reader row by row, without blocks
        limits = type(limits)(**{**limits.__dict__, "block_bytes": 0})
    if "helper" in args:  # blocks, every other one read by a helper process
        limits = type(limits)(**{**limits.__dict__, "block_helper": True})
    if "all" in args:
        options.all_sheets = True
        options.format = "csv"
    convert(source, target, options, limits=limits, isolate=True)


def run_bare(source, target):
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(source)
    sheet = book.get_sheet_by_name(book.sheet_names[0])
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in sheet.iter_rows():
            writer.writerow(row)


def run_pandas(source, target, engine=None):
    import pandas as pd

    if source.endswith(".csv"):
        pd.read_csv(source).to_excel(target, index=False)
        return
    frame = pd.read_excel(source, engine=engine)
    if target.endswith(".json"):
        frame.to_json(target, orient="records", date_format="iso", force_ascii=False)
    else:
        frame.to_csv(target, index=False)


def run_pandas_all_sheets(source, target):
    import zipfile

    import pandas as pd

    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, frame in pd.read_excel(source, sheet_name=None, engine="calamine").items():
            archive.writestr(f"{name}.csv", frame.to_csv(index=False))


def typed_csv_rows(source):
    from app.sheets.values import typed_value

    with open(source, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            yield [typed_value(v) for v in row]


def run_pyexcelerate(source, target):
    from pyexcelerate import Workbook

    book = Workbook()
    book.new_sheet("Sheet1", data=list(typed_csv_rows(source)))
    book.save(target)


def run_rustpy(source, target):
    from rustpy_xlsxwriter import FastExcel

    rows = typed_csv_rows(source)
    header = next(rows)
    FastExcel(target).sheet("Sheet1", (dict(zip(header, row, strict=False)) for row in rows)).save()


RUNNERS = {
    "sheetport": run_sheetport,
    "bare": run_bare,
    "pandas": run_pandas,
    "pandas-all": run_pandas_all_sheets,
    "pyexcelerate": run_pyexcelerate,
    "rustpy": run_rustpy,
}


def measure(runner, source, target, *args):
    """Run one measurement in a fresh process; return (seconds, peak MB)."""
    command = [sys.executable, __file__, "--run", runner, str(source), str(target), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return None, None, done.stderr.strip().splitlines()[-1][:120]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["seconds"], figures["peak_mb"], ""


def tree_rss_kb(pid):
    """Resident memory of a process and all its descendants, summed (KB)."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            total = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            total += sum(tree_rss_kb(int(child)) for child in children.read().split())
    except (OSError, StopIteration, ValueError):
        pass
    return total


def child_main(runner, source, target, args):
    # rusage gives the largest single process; Sheetport may run two at once (its
    # sandboxed child and that child's helper), so the tree's sum is sampled as well.
    sampled = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            sampled[0] = max(sampled[0], tree_rss_kb(os.getpid()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    RUNNERS[runner](source, target, *args)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        sampled[0],
    )
    print(json.dumps({"seconds": round(seconds, 3), "peak_mb": round(peak / 1024)}))


class Table:
    def __init__(self):
        self.rows = []

    def add(self, task, size, name, figures, baseline=None):
        seconds, peak, error = figures
        ratio = ""
        if baseline and baseline[0] and seconds:
            ratio = f"{baseline[0] / seconds:.2f}x"
        self.rows.append((task, size, name, seconds, peak, ratio, error))
        shown = f"{seconds:8.2f} s {peak:6d} MB" if seconds else f"failed: {error}"
        print(f"{task:<22} {size:>9} {name:<34} {shown} {ratio}", flush=True)

    def markdown(self):
        lines = [
            "| task | rows | how | seconds | peak MB | speed vs. first row of the group |",
            "| --- | ---: | --- | ---: | ---: | ---: |",
        ]
        for task, size, name, seconds, peak, ratio, error in self.rows:
            shown = f"{seconds:.2f} | {peak}" if seconds else f"failed ({error}) | "
            lines.append(f"| {task} | {size:,} | {name} | {shown} | {ratio} |")
        return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--skip-slow", action="store_true", help="no pandas+openpyxl above 100k")
    parser.add_argument("--run", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        return make_main(args.make[0], args.make[1], args.make[2:])
    if args.run:
        runner, source, target, *rest = args.run
        return child_main(runner, source, target, rest)

    OUT.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    table = Table()
    print(f"{'task':<22} {'rows':>9} {'how':<34} {'time':>10} {'peak':>9} ratio")
    for size in sizes:
        book = ensure(OUT / f"mixed-{size}.xlsx", "xlsx", size)
        out = OUT / "result"
        pandas_first = size <= 100_000 or not args.skip_slow
        group = "XLSX -> CSV"
        if pandas_first:
            base = measure("pandas", book, f"{out}.csv", "openpyxl")
            table.add(group, size, "pandas.read_excel (openpyxl) + to_csv", base)
        else:
            base = measure("pandas", book, f"{out}.csv", "calamine")
            table.add(group, size, "pandas.read_excel (calamine) + to_csv", base)
        bare = measure("bare", book, f"{out}.csv")
        table.add(group, size, "bare calamine + csv.writer loop", bare, base)
        table.add(group, size, "Sheetport", measure("sheetport", book, f"{out}.csv"), base)
        table.add(
            group,
            size,
            "Sheetport, whole-sheet path",
            measure("sheetport", book, f"{out}.csv", "whole"),
            bare,
        )
        table.add(
            group,
            size,
            "Sheetport, whole-sheet row-by-row path",
            measure("sheetport", book, f"{out}.csv", "whole", "rows"),
            bare,
        )
        table.add(
            group,
            size,
            "Sheetport, streaming path (blocks)",
            measure("sheetport", book, f"{out}.csv", "stream"),
            bare,
        )
        if size >= 1_000_000:  # the two parts of the blocks path, and what came before it
            table.add(
                group,
                size,
                "Sheetport, blocks with a helper process",
                measure("sheetport", book, f"{out}.csv", "stream", "helper"),
                bare,
            )
            table.add(
                group,
                size,
                "Sheetport, streaming row by row (expat)",
                measure("sheetport", book, f"{out}.csv", "stream", "rows-stream"),
                bare,
            )
        if size == 100_000:  # a failed try of the fast path costs a read by fastexcel
            group = "XLSX -> CSV, mixed column"
            odd = ensure(OUT / f"odd-{size}.xlsx", "xlsx-odd", size)
            odd_bare = measure("bare", odd, f"{out}.csv")
            table.add(group, size, "bare calamine + csv.writer loop", odd_bare)
            sheetport = measure("sheetport", odd, f"{out}.csv")
            table.add(group, size, "Sheetport (fast path tried, row by row)", sheetport, odd_bare)
        if size >= 1_000_000 and pandas_first:
            table.add(
                group,
                size,
                "pandas.read_excel (calamine) + to_csv",
                measure("pandas", book, f"{out}.csv", "calamine"),
                base,
            )

        if size <= 100_000:
            group = "XLSX -> JSON"
            base = measure("pandas", book, f"{out}.json", "calamine")
            table.add(group, size, "pandas (calamine) + to_json(records)", base)
            table.add(group, size, "Sheetport", measure("sheetport", book, f"{out}.json"), base)

            group = "CSV -> XLSX"
            text = ensure(OUT / f"mixed-{size}.csv", "csv", size)
            base = measure("pandas", text, f"{out}.xlsx")
            table.add(group, size, "pandas.read_csv + to_excel", base)
            for name, runner in [
                ("Sheetport (own cell XML, XlsxWriter package)", "sheetport"),
                ("PyExcelerate (typed rows)", "pyexcelerate"),
                ("rustpy-xlsxwriter (records)", "rustpy"),
            ]:
                table.add(group, size, name, measure(runner, text, f"{out}.xlsx"), base)

            group = "all sheets -> zip"
            third = size // 3
            multi = ensure(OUT / f"multi-{size}.xlsx", "xlsx", third, third, third)
            base = measure("pandas-all", multi, f"{out}.zip")
            table.add(group, size, "pandas (calamine), every sheet to_csv", base)
            table.add(
                group, size, "Sheetport", measure("sheetport", multi, f"{out}.zip", "all"), base
            )

    small = min(sizes)
    soffice = shutil.which("soffice")
    for kind in ("xls", "ods") if small <= 100_000 else ():  # LibreOffice is slow past that
        source = OUT / f"mixed-{small}.{kind}"
        if not source.exists() and soffice:
            print(f"  generating {source.name} with LibreOffice ...", file=sys.stderr, flush=True)
            subprocess.run(
                [
                    soffice,
                    "--headless",
                    "--convert-to",
                    kind,
                    "--outdir",
                    str(OUT),
                    str(OUT / f"mixed-{small}.xlsx"),
                ],
                capture_output=True,
                check=False,
            )
        if source.exists():
            group = f"{kind.upper()} -> CSV"
            bare = measure("bare", source, f"{OUT / 'result'}.csv")
            table.add(group, small, "bare calamine + csv.writer loop", bare)
            table.add(
                group,
                small,
                "Sheetport",
                measure("sheetport", source, f"{OUT / 'result'}.csv"),
                bare,
            )
        else:
            print(f"{kind.upper()}: no input (install libreoffice-calc to generate one)")
    (OUT / "results.md").write_text(table.markdown() + "\n")
    print(f"\nMarkdown table written to {OUT / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
