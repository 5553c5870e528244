"""Helpers for URLs that come from the user."""

from urllib.parse import urlsplit


def is_safe_next(target):
    """True for a same-site path such as '/convert?x=1'; False for '//evil.com' and the like."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    # Browsers read a backslash as a slash, so '/\\evil.com' is another host.
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target, default):
    return target if is_safe_next(target) else default
