"""Inputs told apart by their text, not by a container: Excel 2003 XML (SpreadsheetML),
flat ODS, HTML tables, JSON and JSON Lines. Without these they would be read as delimited text, and
"converted" into their own markup. Apple Numbers (apple_numbers), a ZIP container, is told
apart by detect.py with the other containers and read here.

Each of the text formats' modules has `recognise(text, complete)`, which says from a file's first characters
(decoded) whether the file is its format, and a Book class that reads it within the same
limits as every other reader. detect.py asks them once containers and binary files are
ruled out; open_book() opens what they recognised with open_input().
"""

from . import apple_numbers, flat_ods, html_tables, json_data, spreadsheetml

# The order they are asked in: the XML formats name themselves in their root element, and
# HTML is told by its first tag; JSON last, as its first character could start a text file.
MODULES = (spreadsheetml, flat_ods, html_tables, json_data)
BOOKS = {
    "spreadsheetml": spreadsheetml.SpreadsheetMlBook,
    "fods": flat_ods.FlatOdsBook,
    "html": html_tables.HtmlBook,
    "json": json_data.JsonBook,
    "jsonl": json_data.JsonBook,
    # A ZIP container, told apart in detect.py with the others.
    "numbers": apple_numbers.NumbersBook,
}


def recognise(head, encoding, complete):
    """(format, encoding) of a text file whose first bytes are `head`, read as `encoding`,
    when one of these modules recognises it; else None. `complete`: head is the whole file."""
    text = head.decode(encoding, "replace")
    for module in MODULES:
        found = module.recognise(text, complete)
        if found == "html":  # a page's meta charset says how to read it
            return found, html_tables.page_encoding(head, encoding)
        if found:
            return found, encoding
    return None


def open_input(path, detection, limits, text_sheet_name):
    """The Book of a file recognise() named. A JSON list's one sheet is called
    `text_sheet_name`, as a text file's is."""
    if detection.format in ("json", "jsonl"):
        return json_data.JsonBook(path, detection, limits, text_sheet_name)
    return BOOKS[detection.format](path, detection, limits)
