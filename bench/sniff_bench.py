"""Reading a text upload, each step beside its baseline on the same input, in one run:
delimiter sniffing beside csv.Sniffer, and measuring the file (rows and columns, which
the upload waits on) by its lines beside the csv reader's every record.

.venv/bin/python bench/sniff_bench.py
"""

import csv
import io
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.sheets.limits import DEFAULT_LIMITS  # noqa: E402
from app.sheets.text import (  # noqa: E402
    DELIMITERS,
    SAMPLE_CHARS,
    measure_records,
    measure_text,
    sniff_delimiter,
)


def ordinary_sample(rows=2000, limit=SAMPLE_CHARS):
    rng = random.Random(1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["id", "name", "city", "amount", "day"])
    for index in range(rows):
        writer.writerow(
            [
                index,
                f"Name {rng.randrange(10**6)}",
                "Besançon, FR",
                f"{rng.random() * 1000:.2f}",
                "2024-03-15",
            ]
        )
    return buffer.getvalue()[:limit]


def stdlib(sample):
    return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter


def timed(function, sample):
    start = time.perf_counter()
    answer = function(sample)
    return time.perf_counter() - start, answer


def main():
    samples = {
        "2,000-row CSV (64 KB sample)": ordinary_sample(),
        'hostile ,"a x 22,000': ',"a' * 22_000,
    }
    print(f"{'sample':32} {'csv.Sniffer':>14} {'Sheetport':>12} {'ratio':>8}")
    for name, sample in samples.items():
        base, base_answer = timed(stdlib, sample)
        ours, answer = timed(sniff_delimiter, sample)
        print(
            f"{name:32} {base:12.3f} s {ours:10.4f} s {base / ours:7.0f}x"
            f"   ({base_answer!r} / {answer!r})"
        )


def measuring():
    """Seconds to measure each file by measure_text and by the reader alone (best of 3)."""
    files = {  # name: (text, delimiter)
        "10 MB of 2-character lines": ("12\n" * 3_500_000, ","),
        "2,000-row CSV (;)": (ordinary_sample(limit=None), ";"),
        "30 MB CSV, 600,000 rows": (
            "abc,12.5,2024-01-02,hello world,,x,Besançon\r\n" * 600_000,
            ",",
        ),
        "10 MB CSV with quotes (the reader)": ('"a, b",1\n' * 1_000_000, ","),
    }
    print(f"\n{'measuring':36} {'csv reader':>11} {'Sheetport':>11} {'ratio':>7}  peak memory")
    with tempfile.TemporaryDirectory() as folder:
        for name, (text, delimiter) in files.items():
            path = Path(folder) / "t.csv"
            path.write_text(text, encoding="utf-8", newline="")
            args = (path, "utf-8", delimiter, DEFAULT_LIMITS)
            base = min(timed(lambda a: measure_records(*a), args)[0] for _ in range(3))
            ours, answer = min(timed(lambda a: measure_text(*a), args) for _ in range(3))
            peaks = [
                peak_bytes(function, args) / 1e6 for function in (measure_records, measure_text)
            ]
            print(
                f"{name:36} {base:9.3f} s {ours:9.3f} s {base / ours:6.1f}x"
                f"  {peaks[0]:.1f} / {peaks[1]:.1f} MB   {answer}"
            )


def peak_bytes(function, args):
    """The most memory Python held at once while function(*args) ran (a separate, slower
    run: tracemalloc counts every allocation)."""
    tracemalloc.start()
    function(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


if __name__ == "__main__":
    main()
    measuring()
