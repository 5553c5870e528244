"""Where uploads and results live: random names in one folder outside static/."""

import re
import secrets
from pathlib import Path

from .sheets.names import visible_text

STORED_NAME = re.compile(r"[0-9a-f]{32}(\.[a-z]{3,4})?")
UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class Storage:
    def __init__(self, root):
        self.root = Path(root)

    def path(self, stored_name):
        if not STORED_NAME.fullmatch(stored_name or ""):
            raise ValueError(f"not a stored name: {stored_name!r}")
        return self.root / stored_name

    def new_name(self, extension=""):
        return secrets.token_hex(16) + (f".{extension}" if extension else "")

    def save_upload(self, stream, limit):
        """Copy an uploaded stream to a new file; returns (stored_name, size), or
        (None, size) when it passes `limit` bytes, in which case nothing is kept."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = self.new_name()
        path = self.path(name)
        size = 0
        try:
            with path.open("xb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        break
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size > limit:
            path.unlink(missing_ok=True)
            return None, size
        return name, size

    def delete(self, *stored_names):
        for name in stored_names:
            if name:
                self.path(name).unlink(missing_ok=True)

    def usage(self):
        """Bytes used by every stored file."""
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())


def download_name(original, extension, sheet=None):
    """'report.xlsx' -> 'report.csv'; with a sheet: 'report - Sheet 1.csv'. Safe in any OS."""
    stem = visible_text(Path(original or "").stem)
    stem = UNSAFE_IN_NAMES.sub("_", stem).strip(" .") or "converted"
    if sheet:
        stem = f"{stem} - {UNSAFE_IN_NAMES.sub('_', visible_text(sheet)).strip(' .')}"
    return f"{stem[:150]}.{extension}"
