"""Delimiter sniffing: Sheetport's detector beside csv.Sniffer, on the same samples, in one run.

.venv/bin/python bench/sniff_bench.py
"""

import csv
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.sheets.text import DELIMITERS, SAMPLE_CHARS, sniff_delimiter  # noqa: E402


def ordinary_sample(rows=2000):
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
    return buffer.getvalue()[:SAMPLE_CHARS]


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


if __name__ == "__main__":
    main()
