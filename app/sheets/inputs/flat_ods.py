"""Flat OpenDocument spreadsheets (.fods): the XML an .ods package holds, saved as one file.
The ods fallback reader (expat over content.xml, book.OdsBook) reads it as it is."""

import re

from ..book import OdsBook
from ..errors import OtherDocument
from .common import first_tag

OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
SPREADSHEET = "application/vnd.oasis.opendocument.spreadsheet"
MIMETYPE = re.compile(r"""\bmimetype\s*=\s*["']([^"']*)""")


def recognise(text, complete):
    """ "fods" for an office:document root whose mimetype is a spreadsheet's. Other flat
    OpenDocument files (text, drawings) are refused as what they are."""
    tag = first_tag(text)
    if not tag or tag[0].rpartition(":")[2] != "document" or OFFICE not in tag[1]:
        return None
    stated = MIMETYPE.search(tag[1])
    mimetype = stated.group(1) if stated else ""
    if mimetype.startswith(SPREADSHEET) or not stated and "<office:spreadsheet" in text:
        return "fods"
    raise OtherDocument(
        "This is a flat OpenDocument file, but not a spreadsheet "
        f"({mimetype[:60] or 'unknown kind'})."
    )


class FlatOdsBook(OdsBook):
    """A .fods: its one XML is what content.xml is in an .ods, styles and all."""

    def open_content(self):
        return open(self.path, "rb")
