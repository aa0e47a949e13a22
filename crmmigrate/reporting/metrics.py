"""Every named number a report computes, said once: what it measures and which way is better.

The sections fill `Section.metrics` with these names only, the rules' `fail_on:` and
`--fail-on` may name only these (a typo gets "did you mean"), and a bare `--fail-on
METRIC=LIMIT` takes the direction from here: a coverage fails below its limit, a share of
dirt above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["min", "max"]


@dataclass(frozen=True)
class Metric:
    name: str
    direction: Direction  # "min": higher is better, a limit is a floor; "max": a ceiling
    meaning: str
    share: bool = True  # a share between 0 and 1 (else a count)


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("opportunity.open_count", "min", "open opportunities", share=False),
    Metric("opportunity.past_due_share", "max", "open opportunities whose close date has passed / open ones"),
    Metric("opportunity.probability_mismatch_share", "max",
           "opportunities whose probability contradicts their stage / those with a probability"),
    Metric("opportunity.amount_outlier_share", "max",
           "opportunities whose amount is an outlier for their stage / those with an amount"),
    Metric("opportunity.quarter_end_share", "max",
           "open opportunities closing in the last days of a quarter / open ones"),
    Metric("opportunity.contact_role_coverage", "min", "opportunities with at least one contact role / all"),
    Metric("opportunity.primary_role_coverage", "min", "opportunities with a primary contact role / all"),
    Metric("account.parent_missing_share", "max",
           "accounts whose parent was given but is not in the target / all accounts"),
    Metric("reconciliation.unexplained_lines", "max",
           "aggregates whose legacy and target figures differ by more than the ledger explains (with --legacy, "
           "and after a run)", share=False),
    Metric("account.hierarchy_cycles", "max", "accounts in a parent cycle", share=False),
    Metric("account.hierarchy_depth", "max", "levels of the deepest account hierarchy", share=False),
    Metric("account.unused_share", "max", "accounts with no contact and no opportunity / all"),
    Metric("contact.without_account_share", "max", "contacts with no account / all"),
    Metric("case.without_activity_share", "max", "cases with no activity logged / all"),
    Metric("case.open_count", "max", "open cases", share=False),
    Metric("lead.known_contact_share", "max", "leads whose email is already a contact's / all"),
    Metric("lead.open_count", "max", "open leads", share=False),
    Metric("picklist.variant_share", "max",
           "values that are variants of another value of their field / all values of picklist fields"),
    Metric("dates.out_of_order", "max", "records whose dates are out of order", share=False),
)}


def parse_limit(name: str, text: str, *, option: str = "--fail-on") -> float:
    """A limit as written on the command line: a number, or a percentage for a share."""
    metric = METRICS[name]
    text = text.strip()
    percent = text.endswith("%")
    try:
        value = float(text.rstrip("%")) / (100 if percent else 1)
    except ValueError:
        raise ValueError(f"{option} {name}: {text!r} is not a number") from None
    if metric.share and not 0 <= value <= 1:
        raise ValueError(f"{option} {name}: a share is between 0 and 1 (or 0% and 100%), not {text}")
    if not metric.share and (percent or value < 0):
        raise ValueError(f"{option} {name}: a count is a number of 0 or more, not {text}")
    return value
