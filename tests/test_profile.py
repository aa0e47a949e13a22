"""The profiler: fill rates, top values, shapes, and the warnings a mapping must deal with."""

from __future__ import annotations

import pandas as pd
import pytest

from crmmigrate.errors import BadUsage
from crmmigrate.extract import Source
from crmmigrate.model import PROVENANCE
from crmmigrate.profile import (
    ColumnProfile,
    ValueCount,
    mask_of,
    profile_chunks,
    profile_source,
    shape_of,
)


def chunk(start: int = 1, **columns: list[str | None]) -> pd.DataFrame:
    """A chunk as a reader yields it: string columns, then provenance."""
    rows = len(next(iter(columns.values())))
    data = {name: pd.array(values, dtype="str") for name, values in columns.items()}
    data["_source"] = pd.array(["crm"] * rows, dtype="str")
    data["_file"] = pd.array(["crm.csv"] * rows, dtype="str")
    data["_row"] = pd.array([str(start + i) for i in range(rows)], dtype="str")
    return pd.DataFrame(data)


def one(values: list[str | None], *, top: int = 5) -> ColumnProfile:
    return profile_chunks([chunk(value=values)], top=top).column("value")


def codes(column: ColumnProfile) -> list[str]:
    return [w.code for w in column.warnings]


def test_fill_rate_counts_missing_and_blank_apart_and_skips_provenance():
    profile = profile_chunks([chunk(name=["Acme", None, "   ", "Globex", "", None, "x", "y"])])

    assert [c.name for c in profile.columns] == ["name"]
    assert not set(PROVENANCE) & {c.name for c in profile.columns}
    name = profile.column("name")
    assert (name.rows, name.filled, name.blank, name.missing) == (8, 4, 2, 2)
    assert name.fill_rate == 0.5
    assert name.as_dict()["fill_rate"] == 0.5


def test_top_values_exact_with_ties_broken_by_value():
    city = one(["Paris", "Berlin", "Rome", "Berlin", "Oslo", "Paris", "Berlin", " "], top=3)

    assert city.distinct == 4
    assert city.top == [ValueCount("Berlin", 3), ValueCount("Paris", 2), ValueCount("Oslo", 1)]


def test_shapes_and_masks():
    column = one(
        ["a@b.de", "x.y@acme.co.uk", "https://acme.de", "+49 30 1234567", "42", "Main 12",
         "Main 12", "Oak 34"]
    )

    assert {s.value: s.count for s in column.shapes} == {
        "email": 2, "url": 1, "phone": 1, "integer": 1, "text": 3,
    }
    assert column.masks[0] == ValueCount("Aa 99", 3)
    assert shape_of("1.234,50") == "1.234,50"
    assert shape_of("1,234.50") == "1,234.50"
    assert shape_of("1\u00a0234,50") == "1 234,50"
    assert shape_of("2021-03-25 10:30") == "yyyy-mm-dd hh:mm"
    assert shape_of("25.03.21") == "nn.nn.yy"
    assert mask_of("Berlin 10115") == "Aa 99999"


def test_ambiguous_date_column_is_warned():
    column = one(["01/02/2021", "03/04/2021", "05/06/2021 10:30", "12/11/2020"])

    [dates] = column.dates
    assert (dates.pattern, dates.rows, dates.order) == ("nn/nn/yyyy", 4, "ambiguous")
    assert (dates.day_first, dates.month_first, dates.either) == (0, 0, 4)
    assert codes(column) == ["ambiguous-dates"]
    assert "nn/nn/yyyy" in column.warnings[0].message


def test_a_value_that_is_a_date_in_neither_order_is_invalid_not_ambiguous():
    column = one(["32/13/2020"])

    [dates] = column.dates
    assert (dates.order, dates.invalid, dates.either) == ("invalid", 1, 0)
    assert codes(column) == ["invalid-dates"]
    assert "'32/13/2020'" in column.warnings[0].message


def test_only_values_valid_both_ways_are_counted_ambiguous():
    column = one(["32/13/2020", "01/02/2021", "03/04/2021"])

    [dates] = column.dates
    assert (dates.order, dates.either, dates.invalid) == ("ambiguous", 2, 1)
    assert codes(column) == ["ambiguous-dates", "invalid-dates"]
    assert column.warnings[0].message.startswith("2 date(s) look like nn/nn/yyyy")


def test_day_first_decided_by_a_day_above_twelve():
    column = one(["01.02.2021", "25.03.2021", "03.04.2021", "05.06.2021"])

    [dates] = column.dates
    assert (dates.order, dates.format) == ("day-first", "dd.mm.yyyy")
    assert (dates.day_first, dates.month_first, dates.either) == (1, 0, 3)
    assert dates.day_first_example == "25.03.2021"
    assert column.warnings == []


def test_month_first_decided_by_a_second_part_above_twelve():
    column = one(["01/02/2021", "03/25/2021", "02/13/2021 09:00", "04/05/2021"])

    [dates] = column.dates
    assert (dates.order, dates.format) == ("month-first", "mm/dd/yyyy")
    assert (dates.day_first, dates.month_first) == (0, 2)
    assert column.warnings == []


def test_contradictory_and_invalid_dates_are_warned():
    column = one(["25/03/2021", "03/25/2021", "01/02/2021", "31/02/2021"])

    [dates] = column.dates
    assert dates.order == "contradictory"
    assert (dates.day_first, dates.month_first, dates.invalid) == (1, 1, 1)
    assert codes(column) == ["contradictory-dates", "invalid-dates"]
    assert "'25/03/2021'" in column.warnings[0].message
    assert "'31/02/2021'" in column.warnings[1].message


def test_mixed_date_patterns_are_warned():
    column = one(["2021-03-25", "2021-03-26 10:00", "25.03.2021", "26.03.2021"])

    assert [(d.pattern, d.rows, d.order) for d in column.dates] == [
        ("nn.nn.yyyy", 2, "day-first"),
        ("yyyy-mm-dd", 2, "year-first"),
    ]
    assert codes(column) == ["mixed-date-patterns"]
    assert column.warnings[0].message.startswith(
        "dates come in 2 patterns: nn.nn.yyyy (2), yyyy-mm-dd (2);"
    )


def test_a_stray_date_in_a_text_column_is_not_a_date_column():
    column = one(["called back", "no answer", "wrong number", "01/02/2021"])

    assert column.shape_count("nn/nn/yyyy") == 1
    assert column.warnings == []


def test_mixed_decimal_marks_are_warned():
    column = one(["1.5", "2,5", "1.234,50", "3.25", "1,234.50", "7"])

    assert column.decimal_marks == {",": 2, ".": 3}
    assert codes(column) == ["mixed-decimal-marks"]
    assert column.warnings[0].message.startswith(
        "numbers use both decimal marks: 3 with '.' (e.g. '1,234.50') and 2 with ',' "
        "(e.g. '1.234,50');"
    )


def test_one_decimal_mark_with_ambiguous_groups_is_not_warned():
    column = one(["1.234,50", "2,5", "1.234", "12"])

    assert column.decimal_marks == {",": 2}
    assert column.shape_count("1.234 ambiguous") == 1
    assert column.warnings == []


def test_padding_and_case_variants_are_warned():
    column = one(["Acme GmbH", "ACME  GmbH", " Acme GmbH", "Acme GmbH", "Globex"])

    assert column.padded == 1
    assert column.distinct == 4
    assert codes(column) == ["padded-values", "case-variants"]
    assert column.warnings[0].message == (
        "1 value(s) have leading or trailing whitespace (e.g. ' Acme GmbH')."
    )
    assert column.warnings[1].message == (
        "1 value(s) are written in several ways that differ only by case or whitespace, in 4 "
        "rows (e.g. 'Acme GmbH' (2), ' Acme GmbH' (1), 'ACME  GmbH' (1))."
    )


def test_chunked_profile_equals_one_chunk_profile():
    values = [
        "25.03.2021", "Acme", "1,5", "acme ", None, "", "x@y.de", "01.02.2021", "Acme", "2.5",
        "Globex", "globex", "Initech", None, "1.234,50", "Umbrella", "Initech", "Globex", "7",
    ] * 3
    other = [str(i % 4) if i % 5 else None for i in range(len(values))]
    whole = chunk(value=values, other=other)

    pieces = [whole.iloc[i : i + 4] for i in range(0, len(whole), 4)]
    chunked = profile_chunks(pieces, top=3).as_dict()
    single = profile_chunks([whole], top=3).as_dict()

    assert chunked == single
    assert single["rows"] == 57
    assert single["columns"][0]["top"] == [
        {"value": "Acme", "count": 6}, {"value": "Globex", "count": 6},
        {"value": "Initech", "count": 6},
    ]


def test_columns_of_later_chunks_count_earlier_rows_as_missing():
    profile = profile_chunks(
        [chunk(a=["1", "2"]), chunk(3, a=["3"], b=["x"])], columns=["b", "a", "c"]
    )

    assert [c.name for c in profile.columns] == ["b", "a", "c"]
    assert (profile.column("b").filled, profile.column("b").missing) == (1, 2)
    assert (profile.column("c").rows, profile.column("c").missing) == (3, 3)


def test_negative_top_is_bad_usage():
    with pytest.raises(BadUsage, match="--top"):
        profile_chunks([], top=-1)


def test_profile_source_reads_a_csv_and_keeps_the_extraction_report(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(
        "Deal;Amount;Closed\nD1;1.234,50;25.03.2021\nD2;99,90;01.04.2021\nD3;;02.04.2021\n",
        encoding="utf-8",
    )

    profile = profile_source(Source(location=str(path), chunk_rows=2), top=2)

    assert profile.extract is not None
    assert (profile.extract.delimiter, profile.extract.header_row, profile.extract.rows) == (
        ";", 1, 3,
    )
    assert [c.name for c in profile.columns] == ["Deal", "Amount", "Closed"]
    amount = profile.column("Amount")
    assert (amount.filled, amount.missing + amount.blank) == (2, 1)
    assert amount.decimal_marks == {",": 2}
    assert profile.column("Closed").dates[0].format == "dd.mm.yyyy"
    assert profile.as_dict()["extract"]["delimiter"] == ";"
