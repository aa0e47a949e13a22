"""crmmigrate.dates: the date readings clean counts are the ones profile reports."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- dates read in bulk agree with the one-by-one reading ---------------------------------------

_FORMATS = ["%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%m/%d/%Y %I:%M %p", "%d/%m/%Y %H:%M", "%Y%m%d",
            "%d.%m.%y", "%b %d, %Y", "%Y-%m-%dT%H:%M:%S"]


@st.composite
def _dated(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A format and values near it: written in it (padded or not), with a day that does not
    exist, stray spaces, two-digit or far years, other separators and noise."""
    fmt = draw(st.sampled_from(_FORMATS))
    moments = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
    written = st.builds(lambda m: m.strftime(fmt), moments)
    unpadded = st.builds(lambda m: m.strftime(fmt).replace("/0", "/").lstrip("0"), moments)
    spaced = st.builds(lambda m: " " + m.strftime(fmt) + "  ", moments)
    noise = st.text(alphabet="0123456789/.-: APMapm,T", max_size=22)
    impossible = st.sampled_from(["02/30/2020", "31.02.2021", "2021-02-29", "13/13/2013 01:00 PM", "00.01.2020"])
    values = draw(st.lists(written | unpadded | spaced | noise | impossible, min_size=1, max_size=30))
    return fmt, values


@settings(max_examples=300, deadline=None)
@given(case=_dated(), time=st.booleans())
def test_a_date_read_in_bulk_is_the_date_read_one_by_one(case: tuple[str, list[str]], time: bool) -> None:
    from crmmigrate.mapping.config import DateParse
    from crmmigrate.mapping.transforms import Invalid, date, datetime

    fmt, values = case
    read = (datetime if time else date)(DateParse(formats=[fmt]))
    for value, bulk in read.bulk(np.array(values, dtype=object)).items():
        try:
            one = read(value)
        except Invalid as exc:
            raise AssertionError(f"{value!r} in {fmt}: bulk read {bulk!r}, one by one {exc}") from None
        assert bulk == one, (value, fmt)


def test_dates_read_in_bulk_take_the_common_case_and_leave_the_rest():
    from crmmigrate.dates import read_exactly

    read = read_exactly(np.array(["09/17/2020 05:02 AM", "9/17/2020 05:02 AM", "02/30/2020 01:00 PM", "x"],
                                 dtype=object), "%m/%d/%Y %I:%M %p")
    assert (~np.isnat(read)).tolist() == [True, False, False, False]
    assert np.isnat(read_exactly(np.array(["01.02.20"], dtype=object), "%d.%m.%y")).all()  # the century is a guess
    assert np.isnat(read_exactly(np.array(["05:02"], dtype=object), "%I:%M")).all()  # no AM or PM: which?
