"""What the tests of the inputs recognised by content (app/sheets/inputs/) share."""

import tempfile
import time
from pathlib import Path

import pytest

from app.sheets import Options, SheetError, convert, inspect, preview

from .books import read_text

QUICKLY = 20  # seconds: far below the engine's limit, far above what a bounded read takes


def csv_of(path, sheet=None, **options):
    """The CSV Sheetport writes for one sheet of `path` (default: the first visible one)."""
    sheets = [sheet] if sheet else []
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "out.csv"
        convert(path, target, Options(format="csv", sheets=sheets, **options))
        return read_text(target).replace("\r\n", "\n")


def refused_everywhere(path, error, match, limits=None):
    """inspect, preview and convert each refuse `path` with `error` matching `match`, in
    this process and in the sandbox, quickly, leaving no output behind."""
    kwargs = {"limits": limits} if limits else {}
    target = path.parent / f"{path.name}.out.csv"
    for isolate in (False, True):
        started = time.monotonic()
        with pytest.raises(error, match=match):
            inspect(path, isolate=isolate, **kwargs)
        with pytest.raises(error, match=match):
            preview(path, isolate=isolate, **kwargs)
        with pytest.raises(error, match=match):
            convert(path, target, Options(format="csv"), isolate=isolate, **kwargs)
        assert time.monotonic() - started < QUICKLY
        assert not target.exists()


def read_everywhere(path, limits=None):
    """inspect, preview and convert to CSV, in this process and in the sandbox, quickly:
    what each gives (the sandbox must agree), or the SheetError raised."""
    kwargs = {"limits": limits} if limits else {}
    outcomes = []
    for isolate in (False, True):
        started = time.monotonic()
        try:
            info = inspect(path, isolate=isolate, **kwargs)
            shown = preview(path, isolate=isolate, **kwargs)
            target = path.parent / f"{path.name}.{isolate}.csv"
            convert(path, target, Options(format="csv"), isolate=isolate, **kwargs)
            outcome = (info.format, [(s.name, s.rows, s.columns) for s in info.sheets])
            outcome += (shown.rows[:3], read_text(target)[:1000])
        except SheetError as error:
            assert str(error) and "Traceback" not in str(error)
            outcome = (type(error).__name__, str(error))
        assert time.monotonic() - started < QUICKLY
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1]
    return outcomes[0]
