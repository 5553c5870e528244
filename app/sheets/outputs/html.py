"""HTML: a standalone UTF-8 page with a table per sheet, captioned with the sheet's name,
every chosen sheet in one file. Cells are text as the CSV output writes them, escaped."""

from ..values import text_batch_formatter

# A page that runs nothing even if something got through: no scripts, no requests.
HEAD = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
table {{ border-collapse: collapse; margin: 0 0 2em; }}
caption {{ font-weight: bold; text-align: left; padding: 0.3em 0; }}
th, td {{ border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: top;
  white-space: pre-wrap; }}
th {{ background: #eee; }}
td.n {{ text-align: right; }}
</style>
</head>
<body>
"""
FOOT = "</body>\n</html>\n"

# Markup characters as references; a CR, which an HTML parser reads as LF, as &#13;; the
# C0 controls (parse errors, raw or not) as references too. NUL cannot be in an HTML page
# (parsers drop it or read U+FFFD): written as U+FFFD.
ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\x00": "\ufffd"}
ESCAPES |= {chr(code): f"&#{code};" for code in range(1, 32) if chr(code) not in "\t\n"}
TEXT = str.maketrans(ESCAPES)
NUMBERS = (int, float)


def html_text(value):
    if value == "":
        return ""
    return (value if type(value) is str else str(value)).translate(TEXT)


class HtmlWriter:
    """Every sheet in one page: a captioned table each, the header row as <th>."""

    def __init__(self, path, options):
        self.out = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 (closed by close())
        self.title = options.name_stem
        self.header = options.header
        self.format_batch = text_batch_formatter(options.date_style, False, options.full_precision)
        self.started = False

    def write_sheet(self, name, batches, spend=None):
        spend = spend or (lambda count: None)
        if not self.started:
            self.write(HEAD.format(title=html_text(self.title or name)), spend)
            self.started = True
        self.write(f"<table>\n<caption>{html_text(name)}</caption>\n", spend)
        header, opened = self.header, False
        for _, batch in batches:
            lines = []
            for kinds, row in zip(map(types, batch), self.format_batch(batch), strict=True):
                if header:
                    cells = "".join(f"<th>{html_text(value)}</th>" for value in row)
                    lines.append(f"<thead>\n<tr>{cells}</tr>\n</thead>\n")
                    header = False
                    continue
                if not opened:
                    lines.append("<tbody>\n")
                    opened = True
                cells = "".join(
                    f'<td class="n">{html_text(value)}</td>'
                    if kind in NUMBERS
                    else f"<td>{html_text(value)}</td>"
                    for kind, value in zip(kinds, row, strict=False)
                )
                lines.append(f"<tr>{cells}</tr>\n")
            self.write("".join(lines), spend)
        self.write("</tbody>\n</table>\n" if opened else "</table>\n", spend)

    def write(self, text, spend):
        spend(len(text))
        self.out.write(text)

    def close(self):
        if self.started:
            self.out.write(FOOT)
        self.out.close()


def types(row):
    return list(map(type, row))
