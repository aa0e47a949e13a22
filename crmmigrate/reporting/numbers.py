"""Numbers of a report as a person reads them, the same on the page, in the terminal and in
JUnit: a count with thousands separators, an amount with two decimals, a share as a percentage,
and each metric as its kind (crmmigrate.reporting.metrics says which)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from crmmigrate.page import is_missing
from crmmigrate.reporting.metrics import METRICS
from crmmigrate.reporting.model import Format


def as_number(value: Any) -> float | None:
    """A value as a float when it is a finite number (int, float, Decimal; not a bool)."""
    if isinstance(value, bool) or is_missing(value):
        return None
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def is_whole(value: Any) -> bool:
    """An int, or a Decimal without decimals (what SUM of integers gives on PostgreSQL and
    MariaDB); not a float, which is what SUM of amounts gives on SQLite."""
    return isinstance(value, int) or (isinstance(value, Decimal) and value.as_tuple().exponent >= 0)


def percent(rate: float | None) -> str:
    """A share as a percentage with one decimal that never rounds a little to nothing or
    almost all to all (3 of 10,000 is "<0.1%", not "0.0%")."""
    if rate is None or not math.isfinite(rate):
        return "n/a"
    text = f"{100 * rate:.1f}%"
    if 0 < rate < 0.0005:
        return "<0.1%"
    if 0.9995 <= rate < 1:
        return ">99.9%"
    return text


def format_number(value: Any, fmt: Format | None = None) -> str:
    """A number as a person reads it: a count with thousands separators, an amount with two
    decimals, a share as a percentage. Without a format a whole number is a count and any other
    number an amount. Not a number: "n/a" (None, NaN, infinity)."""
    number = as_number(value)
    if number is None:
        return "n/a"
    if fmt is None:
        fmt = "count" if is_whole(value) else "amount"
    if fmt == "percent":
        return percent(number)
    if fmt == "count" and number == round(number):
        return f"{round(number):,}"
    if fmt == "number":
        if number == round(number) and abs(number) < 1e15:
            return f"{round(number):,}"
        return f"{number:,.2f}" if abs(number) >= 1 else f"{number:.4g}"
    return f"{number:,.2f}"


def metric_text(name: str, value: float | None) -> str:
    """A metric's value as its kind reads: a share as a percentage, a count with thousands
    separators (crmmigrate.reporting.metrics says which a metric is)."""
    metric = METRICS.get(name)
    return format_number(value, "number" if metric is None else "percent" if metric.share else "count")
