"""What the tests of a transform's bulk reading share: it agrees with the reading one by one."""

from __future__ import annotations

from typing import Any

import numpy as np

from crmmigrate.mapping.transforms import Invalid


def assert_bulk_is_one_by_one(read: Any, values: list[str], what: str) -> None:
    """Every value `read.bulk` reads is read as `read` reads it alone (which it may refuse:
    then the bulk reading should have left it too)."""
    for value, bulk in read.bulk(np.array(values, dtype=object)).items():
        try:
            one = read(value)
        except Invalid as exc:
            raise AssertionError(f"{value!r} {what}: bulk read {bulk!r}, one by one {exc}") from None
        assert bulk == one, (value, what)
