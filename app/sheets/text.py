"""Delimited text files: delimiter sniffing and reading."""

import csv
import io
import re
from collections import Counter
from itertools import islice, repeat
from pathlib import Path

from .errors import DamagedFile, TooLarge

DELIMITERS = ",;\t|"
SAMPLE_CHARS = 64 * 1024
SNIFF_RECORDS = 500  # records of the sample weighed: enough to see the pattern
DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")


def sniff_delimiter(sample):
    """The delimiter among , ; tab | that splits the sample's records most consistently.

    Linear in the sample and bounded by it: each candidate is one pass of the C csv
    reader (so quoted fields count as one) over at most SAMPLE_CHARS characters.
    csv.Sniffer was neither: its quote regexes backtrack, and 65 KB of `,"a` kept it
    busy for 15 seconds.
    """
    sample = sample[:SAMPLE_CHARS]
    if "\n" in sample[:-1] and not sample.endswith("\n"):  # the last line may be cut short
        sample = sample[: sample.rfind("\n") + 1]
    if not sample.strip():
        return ","
    scores = {d: delimiter_score(sample, d) for d in DELIMITERS if d in sample}
    if not scores:
        return ","
    best = max(scores, key=lambda d: (scores[d], -DELIMITERS.index(d)))
    # Decimal commas (1,5;2,5) can split a ;-file as consistently as its semicolons do.
    semicolons = scores.get(";", (0.0, 0))
    if (
        best == ","
        and semicolons[1]
        and semicolons[0] >= scores[","][0]
        and len(DECIMAL_COMMA.findall(sample)) == sample.count(",")
    ):
        return ";"
    return best


def delimiter_score(sample, delimiter):
    """(share of records with the usual number of fields, that number), or a low score
    when most records are not split at all."""
    counts = []
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, strict=False)
    try:
        for record in islice(reader, SNIFF_RECORDS):
            if any(record):
                counts.append(len(record))
    except csv.Error:  # a field past csv's size limit: the counts so far stand
        pass
    if not counts:
        return (0.0, 0)
    usual, agreeing = Counter(counts).most_common(1)[0]
    if usual < 2:
        split = sum(1 for count in counts if count > 1)
        return (split / len(counts) / 2, 1 if split else 0)
    return (agreeing / len(counts), usual)


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
                "Choose another encoding to read it as, or save the file as UTF-8 and "
                "upload it again."
            ) from None
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                raise TooLarge(
                    f"A cell near line {reader.line_num} holds more than "
                    f"{limits.max_text_length:,} characters."
                ) from None
            raise DamagedFile(
                f"The text cannot be read near line {reader.line_num}: a quote or a line "
                "break is out of place."
            ) from None


def measure_text(path, encoding, delimiter, limits):
    """Rows and columns used, trailing empty rows and columns left out."""
    measured = measure_plain_text(path, encoding, delimiter, limits)
    if measured is None:
        measured = measure_records(path, encoding, delimiter, limits)
    if measured[1] > limits.max_columns:
        raise TooLarge(f"The file has more than {limits.max_columns:,} columns.")
    return measured


def measure_records(path, encoding, delimiter, limits):
    """measure_text's answer, one record of the csv reader at a time."""
    rows = columns = 0
    for number, record in enumerate(text_rows(path, encoding, delimiter, limits), 1):
        used = len(record)
        while used and not record[used - 1]:
            used -= 1
        if used:
            rows = number
            columns = max(columns, used)
            if columns > limits.max_columns:
                break
    return rows, columns


PLAIN_CHUNK = 64 * 1024  # characters at once: a list of short lines costs ~50 bytes a line


def measure_plain_text(path, encoding, delimiter, limits):
    """measure_text's answer for text without quotes, lone carriage returns or NULs, where
    each line is one record and each delimiter ends a field, as the csv reader reads it:
    the lines are split and measured by C-level calls, a few times faster than the reader
    (an upload waits on this, and a file of short lines has millions of records). None
    for any other text (or text that does not decode), which measure_records reads."""
    rows = columns = seen = 0
    tail = ""
    try:
        with open_text(path, encoding) as handle:
            while True:
                chunk = handle.read(PLAIN_CHUNK)
                text = tail + chunk
                if chunk:  # whole lines only: the last one may go on in the next chunk
                    cut = text.rfind("\n") + 1
                    text, tail = text[:cut], text[cut:]
                    if len(tail) > limits.max_text_length:
                        return None
                elif not text:
                    return rows, columns
                text = text.replace("\r\n", "\n")
                if '"' in text or "\r" in text or "\0" in text:
                    return None
                lines = text.split("\n")
                if chunk:
                    lines.pop()  # the empty text after the last line break
                if not lines:
                    continue
                if max(map(len, lines)) > limits.max_text_length:
                    return None
                used = list(map(str.rstrip, lines, repeat(delimiter)))
                for last in range(len(used) - 1, -1, -1):
                    if used[last]:
                        rows = seen + last + 1
                        # A line holding nothing counts one field here, never the most.
                        widest = max(map(str.count, used, repeat(delimiter))) + 1
                        columns = max(columns, widest)
                        break
                seen += len(lines)
                if not chunk:
                    return rows, columns
    except UnicodeDecodeError:
        return None


def text_sheet_name(file_name):
    """A text file's one sheet is named after the file, as Excel and LibreOffice name it:
    sales.csv -> sales (Sheet1 when the name has no stem)."""
    return Path(str(file_name or "")).stem or "Sheet1"


# Evidence of the decimal separator: 47,91 or 1.234,56 says comma; 12.5 or 1,234.56 says
# point. 1.234 and 1,234 could be either and say nothing.
COMMA_DECIMAL = re.compile(r"-?\d+,(?:\d{1,2}|\d{4,})|-?\d{1,3}(?:\.\d{3})+,\d+")
POINT_DECIMAL = re.compile(r"-?\d+\.(?:\d{1,2}|\d{4,})|-?\d{1,3}(?:,\d{3})+\.\d+")
SEPARATED_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2\d{4}(?:[ T][\d:]+)?")
YEAR_FIRST_DATE = re.compile(r"\d{4}([/.])\d{1,2}\1\d{1,2}(?:[ T][\d:]+)?")


def number_style(sample, delimiter):
    """(decimal separator, date order) that a text file's numbers and dates suggest, for
    typing them: "," when numbers are written 47,91 or 1.234,56 (and, with no evidence
    either way, in a ;-separated file: the habit where the comma is the decimal mark);
    "dmy" when a date such as 25/03/2024 puts the day first, "mdy" when 03/25/2024 puts
    the month first, "ymd" for 2024/03/25; "" when the file has no such dates. Dates such
    as 02/03/2024 alone follow the decimal separator: dmy with a comma, else mdy."""
    commas = points = day_first = month_first = ambiguous = year_first = 0
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, strict=False)
    try:
        for record in islice(reader, SNIFF_RECORDS):
            for field in record:
                field = field.strip()
                if not field or not field[0].isdigit() and field[0] != "-":
                    continue
                if COMMA_DECIMAL.fullmatch(field):
                    commas += 1
                elif POINT_DECIMAL.fullmatch(field):
                    points += 1
                elif match := SEPARATED_DATE.fullmatch(field):
                    first, second = int(match.group(1)), int(match.group(3))
                    if first > 12 >= second:
                        day_first += 1
                    elif second > 12 >= first:
                        month_first += 1
                    else:
                        ambiguous += 1
                elif YEAR_FIRST_DATE.fullmatch(field):
                    year_first += 1
    except csv.Error:
        pass
    if commas != points:
        decimal = "," if commas > points else "."
    else:
        decimal = "," if delimiter == ";" else "."
    if day_first or month_first or ambiguous:
        if day_first != month_first:
            order = "dmy" if day_first > month_first else "mdy"
        else:
            order = "dmy" if decimal == "," else "mdy"
    else:
        order = "ymd" if year_first else ""
    return decimal, order
