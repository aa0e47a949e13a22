"""crmmigrate.dates: the date readings clean counts are the ones profile reports."""

from __future__ import annotations

import pandas as pd
import pytest

from crmmigrate.dates import date_pattern_of, month_name_format, read_dates
from crmmigrate.profile import profile_chunks

COLUMN = [
    "13.01.2024", "13.01.2024", " 02.03.2024 ", "01/13/2024 10:30", "2024-01-31", "2024-02-30",
    "31.02.2021", "12-11-21", "", "   ", "Berlin", "+4930123456", "05 Mar 2021", "1.234,50",
]


def test_read_dates_counts_as_the_profile_does() -> None:
    profiled = profile_chunks([pd.DataFrame({"created": pd.Series(COLUMN, dtype="str")})])
    assert read_dates(COLUMN) == {d.pattern: d for d in profiled.column("created").dates}


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("13.01.2024", "nn.nn.yyyy"),
        ("01/13/2024 10:30 PM", "nn/nn/yyyy"),
        ("2024-01-31T08:00:00Z", "yyyy-mm-dd"),
        ("12-11-21", "nn-nn-yy"),
        ("05 Mar 2021", None),
        ("12.345", None),
    ],
)
def test_date_pattern_of(value: str, pattern: str | None) -> None:
    assert date_pattern_of(value) == pattern


def test_read_dates_leaves_out_blanks_and_missing_values() -> None:
    assert read_dates(["", "  ", None]) == {}


@pytest.mark.parametrize(
    ("value", "fmt"),
    [("05 Mar 2021", "%d %b %Y"), ("March 5, 2021", "%B %d, %Y"), ("05-Mar-21", "%d-%b-%y"),
     ("31 Feb 2021", None), ("Main Street 12", None)],
)
def test_month_name_format(value: str, fmt: str | None) -> None:
    assert month_name_format(value) == fmt
