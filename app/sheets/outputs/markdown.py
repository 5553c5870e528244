"""Markdown: a GitHub (GFM) table per sheet under a heading with the sheet's name, every
chosen sheet in one file. Cells are text as the CSV output writes them, escaped so that a
CommonMark/GFM renderer shows exactly that text."""

import shutil
import tempfile
from pathlib import Path

from ..values import column_letter, text_batch_formatter

# Inline markup a table cell could start (emphasis, code, links, raw HTML, entities,
# strikethrough) and the pipe that ends a cell: each backslash-escaped. Line ends become
# <br> (what GitHub shows as a line break) and &#13;, a table row being one line. NUL
# cannot be in Markdown (CommonMark reads it as U+FFFD): written as what it will show.
ESCAPES = {char: "\\" + char for char in "\\`*_[]<&|~"}
ESCAPES |= {"\n": "<br>", "\r": "&#13;", "\x00": "\ufffd"}
CELL = str.maketrans(ESCAPES)
HEADING = str.maketrans(ESCAPES | {"#": "\\#"})  # "## a #" would lose its last "#"


def markdown_text(text, table=CELL):
    """`text` as Markdown inline content. A renderer strips the whitespace around a cell
    or heading: there, it is written as character references."""
    text = text.translate(table)
    if text and (text[0].isspace() or text[-1].isspace()):
        lead = len(text) - len(text.lstrip())
        trail = len(text) - len(text.rstrip()) if lead < len(text) else 0
        middle = text[lead : len(text) - trail]
        return references(text[:lead]) + middle + references(text[len(text) - trail :])
    return text


def references(text):
    return "".join(f"&#{ord(char)};" for char in text)


def cell_text(value):
    if value == "":
        return ""
    return markdown_text(value if type(value) is str else str(value))


class MarkdownWriter:
    """Every sheet in one Markdown file: a heading and a table each."""

    def __init__(self, path, options):
        self.path = Path(path)
        self.out = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 (closed by close())
        self.header = options.header
        self.format_batch = text_batch_formatter(options.date_style, False, options.full_precision)
        self.sheets = 0

    def write_sheet(self, name, batches, spend=None):
        spend = spend or (lambda count: None)
        heading = ("\n" if self.sheets else "") + f"## {markdown_text(name, HEADING)}\n\n"
        self.sheets += 1
        # The header row must be as wide as the widest row (GFM leaves out the cells of
        # a row beyond it): the rows wait in a file of their own until the width is known.
        with tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.path.parent) as body:
            header_row, width = None, 0
            for _, batch in batches:
                lines = []
                for row in self.format_batch(batch):
                    cells = list(map(cell_text, row))
                    width = max(width, len(cells))
                    if header_row is None and self.header:
                        header_row = cells
                        continue
                    lines.append("| " + " | ".join(cells) + " |\n")
                text = "".join(lines)
                spend(len(text))
                body.write(text)
            if not width:
                self.out.write(heading + "*This sheet is empty.*\n")
                return
            header_row = header_row or [column_letter(column) for column in range(width)]
            header_row += [""] * (width - len(header_row))
            head = "| " + " | ".join(header_row) + " |\n|" + " --- |" * width + "\n"
            spend(len(heading) + len(head))
            self.out.write(heading + head)
            body.seek(0)
            shutil.copyfileobj(body, self.out, 1 << 20)

    def close(self):
        self.out.close()
