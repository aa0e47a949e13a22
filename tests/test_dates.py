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
from one_by_one import assert_bulk_is_one_by_one

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


def _near(fmt: str) -> st.SearchStrategy[list[str]]:
    """Values near a format: written in it (padded or not), with a day that does not exist,
    stray spaces, two-digit or far years, other separators and noise."""
    moments = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
    written = st.builds(lambda m: m.strftime(fmt), moments)
    unpadded = st.builds(lambda m: m.strftime(fmt).replace("/0", "/").lstrip("0"), moments)
    spaced = st.builds(lambda m: " " + m.strftime(fmt) + "  ", moments)
    noise = st.text(alphabet="0123456789/.-: APMapm,T", max_size=22)
    # strftime writes no year below 1000 padded: year 0000 (which Arrow reads, strptime not) by hand.
    impossible = st.sampled_from(["02/30/2020", "31.02.2021", "2021-02-29", "13/13/2013 01:00 PM", "00.01.2020",
                                  "0000-01-01", "01/01/0000", "01/01/0000 10:00", "00000101", "01.01.0000"])
    return st.lists(written | unpadded | spaced | noise | impossible, min_size=1, max_size=30)


@st.composite
def _dated(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """One to three formats, and values written in any of them or near them (a column a
    mapping reads in several formats: an export's dates, an Excel sheet's moments in ISO)."""
    formats = draw(st.lists(st.sampled_from(_FORMATS), min_size=1, max_size=3, unique=True))
    values = [value for fmt in formats for value in draw(_near(fmt))]
    return formats, draw(st.permutations(values))


@settings(max_examples=500, deadline=None)
@given(case=_dated(), time=st.booleans())
def test_dates_read_in_bulk_are_the_dates_read_one_by_one(case: tuple[list[str], list[str]], time: bool) -> None:
    """With several formats, their order decides a value two of them read (01/02/2020, day or
    month first): the bulk reading takes a later format's only where no earlier one could."""
    from crmmigrate.mapping.config import DateParse
    from crmmigrate.mapping.transforms import date, datetime

    formats, values = case
    assert_bulk_is_one_by_one((datetime if time else date)(DateParse(formats=formats)), values, f"in {formats}")


def test_a_later_format_is_read_in_bulk_where_no_earlier_one_reads_the_value():
    from crmmigrate.dates import read_in_order
    from crmmigrate.mapping.config import DateParse
    from crmmigrate.mapping.transforms import datetime

    # A sheet's moments come as ISO text, the mapping written for the CSV export's form: the
    # second format with its usual time reads them, in bulk.
    values = np.array(["2022-12-07T08:19:43", "2022-12-07 08:19:43", "2022-12-7T08:19:43"], dtype=object)
    read = read_in_order(values, ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d"])
    assert [str(v) for v in read] == ["2022-12-07T08:19:43", "2022-12-07T08:19:43", "NaT"]  # unpadded: one by one
    assert datetime(DateParse(formats=["%Y-%m-%d %H:%M:%S", "%Y-%m-%d"])).bulk(values) == {
        "2022-12-07T08:19:43": "2022-12-07T08:19:43", "2022-12-07 08:19:43": "2022-12-07T08:19:43"}
    # Day first before month first: 03/04/2020 is the first's; 13/04/2020 only the first reads;
    # 04/13/2020 only the second, which takes it in bulk, as no earlier format can read it.
    read = read_in_order(np.array(["03/04/2020", "13/04/2020", "04/13/2020", "4/13/2020"], dtype=object),
                         ["%d/%m/%Y", "%m/%d/%Y"])
    assert [str(v)[:10] for v in read] == ["2020-04-03", "2020-04-13", "2020-04-13", "NaT"]
    # Year 0000: Arrow reads it, strptime does not; left to the one-by-one reading, which refuses it
    # (or, here, reads it in the later format: 1900-01-01 at 00:00).
    assert np.isnat(read_in_order(np.array(["0000-01-01", "00000101"], dtype=object), ["%d.%m.%Y", "%Y-%m-%d"])).all()
    assert datetime(DateParse(formats=["%Y%m%d", "%H%M%m%d"])).bulk(np.array(["00000101"], dtype=object)) == {}


def test_dates_read_in_bulk_take_the_common_case_and_leave_the_rest():
    from crmmigrate.dates import read_exactly

    read = read_exactly(np.array(["09/17/2020 05:02 AM", "9/17/2020 05:02 AM", "02/30/2020 01:00 PM", "x"],
                                 dtype=object), "%m/%d/%Y %I:%M %p")
    assert (~np.isnat(read)).tolist() == [True, False, False, False]
    assert np.isnat(read_exactly(np.array(["01.02.20"], dtype=object), "%d.%m.%y")).all()  # the century is a guess
    assert np.isnat(read_exactly(np.array(["05:02"], dtype=object), "%I:%M")).all()  # no AM or PM: which?
