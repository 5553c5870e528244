"""Names of files and sheets as people see them: nothing invisible, nothing that reorders."""

import re
import unicodedata
from pathlib import PurePosixPath

# Control (Cc), format (Cf: bidi overrides and isolates, zero-width characters, soft hyphen),
# surrogate, private-use and unassigned code points, and line/paragraph separators: none
# of them shows, and some make 'invoice<U+202E>xcod.csv' look like 'invoicedocx.csv'.
HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
SPACES = re.compile(r"\s+")
MAX_NAME = 255


def visible_text(text):
    """`text` in NFC without the characters that do not show, runs of spaces made one."""
    text = unicodedata.normalize("NFC", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) not in HIDDEN_CATEGORIES)
    return SPACES.sub(" ", text).strip()


def clean_file_name(name, default="upload", limit=MAX_NAME):
    """The one name an uploaded file is known by: its last path part, visible characters
    only, at most `limit` characters with the extension kept."""
    name = visible_text((name or "").replace("\\", "/"))
    name = PurePosixPath(name).name.strip(" .") if name else ""
    if not name:
        return default
    if len(name) > limit:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 10:
            name = stem[: limit - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:limit]
    return name
