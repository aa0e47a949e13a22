"""What the reports need to know that the data cannot say (rules/reports.yaml), parsed strictly:
which stages close a deal, the probability each stage should carry, which statuses are open,
what counts as the end of a quarter or an outlier, how much to show, and the gate's
`fail_on:` limits on the report's metrics.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crmmigrate import config
from crmmigrate.config import At
from crmmigrate.defaults import rules_file
from crmmigrate.errors import BadUsage, did_you_mean
from crmmigrate.model import MODEL
from crmmigrate.reporting.metrics import METRICS, Direction, parse_limit


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outliers(Strict):
    """An amount is an outlier for its stage (and currency) beyond Q3 + factor × IQR, or below
    Q1 - factor × IQR, judged only in groups of at least `min_group` amounts."""

    iqr_factor: float = Field(3.0, gt=0)
    min_group: int = Field(8, ge=4)


# Salesforce's standard stage probabilities, under the stage names validation.yaml allows
# (Salesforce's "Proposal/Price Quote" is "Proposal", "Negotiation/Review" "Negotiation").
STAGE_PROBABILITY = {"Prospecting": 10, "Qualification": 10, "Needs Analysis": 20, "Value Proposition": 50,
                     "Id. Decision Makers": 60, "Perception Analysis": 70, "Proposal": 75, "Negotiation": 90,
                     "Closed Won": 100, "Closed Lost": 0}

# The shipped gate (rules/reports.yaml says why each).
FAIL_ON = {"opportunity.contact_role_coverage": {"min": 0.5},
           "opportunity.past_due_share": {"max": 0.01},
           "account.hierarchy_cycles": {"max": 0},
           "reconciliation.unexplained_lines": {"max": 0}}


class OpportunityRules(Strict):
    closed_won: list[str] = ["Closed Won"]
    closed_lost: list[str] = ["Closed Lost"]
    # Percent, as the target holds probability (0 to 100).
    stage_probability: dict[str, float] = dict(STAGE_PROBABILITY)
    # How far (in percentage points) an open stage's probability may be from its stage's; a
    # closed stage must carry exactly its own (a won deal is certain, a lost one is not).
    probability_tolerance: float = Field(25, ge=0, le=100)
    # The last N days of a quarter's last month: quarter ends are 31 Mar, 30 Jun, 30 Sep, 31 Dec.
    quarter_end_days: int = Field(14, ge=1, le=30)
    outliers: Outliers = Outliers()

    @model_validator(mode="after")
    def _probabilities(self) -> OpportunityRules:
        for stage, value in self.stage_probability.items():
            if not 0 <= value <= 100:
                raise At(("stage_probability", stage), f"a probability is between 0 and 100, not {value}")
        both = set(self.closed_won) & set(self.closed_lost)
        if both:
            raise At(("closed_lost",), f"{sorted(both)[0]!r} is both won and lost")
        return self

    @property
    def closed(self) -> list[str]:
        return [*self.closed_won, *self.closed_lost]

    def expected(self, stage: str) -> float | None:
        """The probability a stage should carry: 100 for a won stage, 0 for a lost one, else
        the rules' figure (None for a stage they do not name)."""
        if stage in self.closed_won:
            return 100.0
        if stage in self.closed_lost:
            return 0.0
        return self.stage_probability.get(stage)


class OpenItems(Strict):
    """Which statuses of a record are still open, and the age buckets (days) of open ones."""

    open_statuses: list[str]
    age_days: list[int]

    @model_validator(mode="after")
    def _buckets(self) -> OpenItems:
        if sorted(set(self.age_days)) != self.age_days or any(v <= 0 for v in self.age_days):
            raise At(("age_days",), "age buckets are day counts above 0, in ascending order, each once")
        return self


class CaseRules(OpenItems):
    open_statuses: list[str] = ["New", "In Progress", "Escalated", "On Hold"]
    age_days: list[int] = [7, 30, 90, 365]


class LeadRules(OpenItems):
    open_statuses: list[str] = ["New", "Contacted", "Qualified"]
    age_days: list[int] = [30, 90, 180, 365]


class PicklistRules(Strict):
    # Two values of one field are variants when they are equal but for case, spacing and
    # punctuation, or (both at least min_length characters so compared) within max_edits
    # edits (a swap of two neighbouring letters is one edit).
    max_edits: int = Field(1, ge=0, le=3)
    min_length: int = Field(5, ge=1)
    # Fields compared only by case, spacing and punctuation: people's names that differ by a
    # letter ("Petrov A.", "Petrov B.") are different people.
    exact_spelling: list[str] = ["owner"]


class DateRules(Strict):
    # An activity completed this many days before it was due is a date typed wrong.
    activity_early_days: int = Field(365, ge=0)


class Limit(Strict):
    """One gate check: the metric must be at least `min`, or at most `max`. A metric that
    cannot be computed (no opportunities at all) fails only when `required`."""

    min: float | None = None
    max: float | None = None
    required: bool = False

    @model_validator(mode="after")
    def _one(self) -> Limit:
        if (self.min is None) == (self.max is None):
            raise ValueError("give one of min: or max:")
        return self

    @property
    def op(self) -> Direction:
        return "min" if self.min is not None else "max"

    @property
    def value(self) -> float:
        return self.min if self.min is not None else self.max  # type: ignore[return-value]


class ReportRules(Strict):
    opportunity: OpportunityRules = OpportunityRules()
    case: CaseRules = CaseRules()
    lead: LeadRules = LeadRules()
    picklists: PicklistRules = PicklistRules()
    dates: DateRules = DateRules()
    examples: int = Field(5, ge=0, le=100)  # examples per finding
    table_rows: int = Field(50, ge=1)  # rows per table, biggest first
    fail_on: dict[str, Limit] = {name: Limit(**limit) for name, limit in FAIL_ON.items()}

    @model_validator(mode="after")
    def _known(self) -> ReportRules:
        for name, limit in self.fail_on.items():
            if name not in METRICS:
                raise At(("fail_on", name), unknown_metric(name))
            try:
                parse_limit(name, str(limit.value), option="fail_on")
            except ValueError as exc:
                raise At(("fail_on", name), str(exc)) from None
        for name in self.picklists.exact_spelling:
            if not any(name in entity for entity in MODEL):
                raise At(("picklists", "exact_spelling"), f"no entity has a field {name!r}")
        return self

    def with_fail_on(self, items: list[str]) -> ReportRules:
        """These rules with `METRIC=LIMIT` limits from the command line added or replacing the
        file's; the direction is the metric's own (a coverage is a floor, a share of dirt a
        ceiling)."""
        limits = dict(self.fail_on)
        for item in items:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep:
                raise BadUsage(f"--fail-on {item!r}: write METRIC=LIMIT, e.g. opportunity.past_due_share=1%.")
            if name not in METRICS:
                raise BadUsage(f"--fail-on {item!r}: {unknown_metric(name)}.")
            try:
                value = parse_limit(name, text)
            except ValueError as exc:
                raise BadUsage(f"{exc}.") from None
            limits[name] = Limit(**{METRICS[name].direction: value})
        return self.model_copy(update={"fail_on": limits})


def unknown_metric(name: str) -> str:
    guess = did_you_mean(name, METRICS)
    return (f"unknown metric {name!r}" + (f" (did you mean {guess!r}?)" if guess else "")
            + f"; the metrics are: {', '.join(METRICS)}")


def load_report_rules(path: Path | str | None = None, *, project: Path | str = "") -> ReportRules:
    """`path`, else the project's rules/reports.yaml, else the default crmmigrate ships."""
    return config.load(ReportRules, Path(path) if path else rules_file("reports.yaml", project))
