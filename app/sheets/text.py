"""Delimited text files: delimiter sniffing and reading."""

import csv
from collections import Counter

from .errors import DamagedFile, TooLarge

DELIMITERS = ",;\t|"
SAMPLE_CHARS = 64 * 1024


def sniff_delimiter(sample):
    """The delimiter among , ; tab | that splits the sample's lines most consistently."""
    sample = sample[: sample.rfind("\n")] if "\n" in sample[:-1] else sample
    if not sample.strip():
        return ","
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    lines = [line for line in sample.splitlines() if line.strip()][:200]
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        counts = Counter(line.count(delimiter) for line in lines)
        count, lines_agreeing = counts.most_common(1)[0]
        score = lines_agreeing if count else 0
        if score > best_score:
            best, best_score = delimiter, score
    return best


def open_text(path, encoding):
    # newline="" lets csv see quoted newlines inside fields.
    return open(path, encoding=encoding, newline="", errors="strict")


def read_sample(path, encoding):
    with open_text(path, encoding) as handle:
        try:
            return handle.read(SAMPLE_CHARS)
        except UnicodeDecodeError:
            return ""


def text_rows(path, encoding, delimiter, limits):
    """Yield each record of the file as a list of strings (ragged, as written)."""
    csv.field_size_limit(limits.max_text_length)
    handle = open_text(path, encoding)
    reader = csv.reader(handle, delimiter=delimiter, strict=False)
    with handle:
        try:
            yield from reader
        except UnicodeDecodeError:
            raise DamagedFile(
                f"The text is not valid {encoding} after line {reader.line_num}. "
                "Save the file as UTF-8 and upload it again."
            ) from None
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                raise TooLarge(
                    f"A cell near line {reader.line_num} holds more than "
                    f"{limits.max_text_length:,} characters."
                ) from None
            raise DamagedFile(
                f"The text cannot be read near line {reader.line_num} ({error})."
            ) from None


def measure_text(path, encoding, delimiter, limits):
    """Rows and columns used, trailing empty rows and columns left out."""
    rows = columns = 0
    for number, record in enumerate(text_rows(path, encoding, delimiter, limits), 1):
        used = len(record)
        while used and not record[used - 1]:
            used -= 1
        if used:
            rows = number
            columns = max(columns, used)
            if columns > limits.max_columns:
                raise TooLarge(f"The file has more than {limits.max_columns:,} columns.")
    return rows, columns
