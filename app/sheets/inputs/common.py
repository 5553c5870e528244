"""What the readers of app/sheets/inputs share."""

import re
import time

from ..errors import TimedOut, TooLarge

MARKUP_SAMPLE = 64 * 1024  # characters searched for a markup file's first tag
# What comes before a markup file's first element: white space, the XML declaration and
# other processing instructions, comments and a document type.
PROLOGUE = re.compile(
    r"(?:\s+|<\?[^>]{0,4096}\?>|<!--.*?-->|<!DOCTYPE[^\[>]{0,4096}(?:\[.*?\])?\s*>)*", re.S | re.I
)
FIRST_TAG = re.compile(r"<([A-Za-z][\w:.-]{0,100})((?:\s[^<>]{0,32768})?)/?>?")


def first_tag(text):
    """(name, attributes text, prologue) of the first element of a markup text, or None."""
    text = text[:MARKUP_SAMPLE].lstrip("\ufeff")
    prologue = PROLOGUE.match(text)
    found = FIRST_TAG.match(text, prologue.end())
    if not found:
        return None
    return found.group(1), found.group(2), prologue.group()


class Deadline:
    """The time a conversion may take (limits.max_seconds), kept while a file is read
    before any row is written: convert's own tracker only starts after."""

    def __init__(self, limits):
        self.seconds = limits.max_seconds
        self.end = time.monotonic() + limits.max_seconds

    def check(self):
        if time.monotonic() > self.end:
            raise TimedOut(f"Reading the file took longer than {self.seconds:.0f} seconds.")


def unique_name(name, taken):
    """`name`, or `name (2)`, `name (3)`...: the first one not in `taken` (which it joins)."""
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name} ({number})", number + 1
    taken.add(candidate)
    return candidate


def check_merges(count, limits):
    if count > limits.max_merges:
        raise TooLarge(
            f"The file states more than {limits.max_merges:,} merged ranges, more than "
            "Sheetport reads."
        )
