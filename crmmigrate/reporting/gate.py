"""The report's gate: each `fail_on` limit judged against the metric the report computed."""

from __future__ import annotations

from collections.abc import Mapping

from crmmigrate.reporting.model import GateCheck
from crmmigrate.reporting.rules import Limit


def judge(metrics: Mapping[str, float], fail_on: Mapping[str, Limit]) -> list[GateCheck]:
    """A check per limit, in the rules' order. A metric the report could not compute (no
    records to judge it on) passes unless its limit is `required`."""
    checks = []
    for name, limit in fail_on.items():
        value = metrics.get(name)
        if value is None:
            passed = not limit.required
        elif limit.op == "min":
            passed = value >= limit.value
        else:
            passed = value <= limit.value
        checks.append(GateCheck(metric=name, value=value, limit=limit.value, op=limit.op, passed=passed))
    return checks
