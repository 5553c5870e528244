"""Sizes as people read them."""


def format_size(size):
    """1048576 -> '1 MB', 2000 -> '1.95 KB'."""
    if size < 1024:
        return f"{size} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:.3g} {unit}"
    return ""
