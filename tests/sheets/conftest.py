import datetime as dt

import pytest

from .books import write_xlsx

MIXED = [
    ["id", "amount", "name", "when", "flag", "code"],
    [1, 12.5, 'Zoë, "the" first\nline two', dt.date(2024, 3, 15), True, "00123"],
    [2, -0.1, "plain", dt.datetime(2024, 3, 15, 13, 45, 30), False, "NA"],
]


@pytest.fixture
def mixed_xlsx(tmp_path):
    return write_xlsx(tmp_path / "mixed.xlsx", {"Data": MIXED, "Other": [["x"], [1]]})
