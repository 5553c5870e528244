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
# Characters no file name may hold on Windows, macOS or Linux.
FORBIDDEN_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
# Windows opens a device, not a file, for these names with any extension ("CON.csv",
# "nul .txt"), and the superscript digits count as digits there.
DEVICE_NAME = re.compile(
    r"(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3])\s*",
    re.IGNORECASE,
)


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


def safe_file_stem(text, default):
    """`text` as the stem of a file name every system can save: visible characters only,
    forbidden ones as '_', no leading or trailing space or dot, never a Windows device."""
    stem = FORBIDDEN_IN_FILE_NAMES.sub("_", visible_text(text)).strip(" .")
    if not stem:
        return default
    if DEVICE_NAME.fullmatch(stem.split(".", 1)[0]):
        stem = "_" + stem
    return stem
