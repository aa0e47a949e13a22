"""What a report on a loaded target is made of: the one shape every part agrees on.

The queries (`crmmigrate.reporting.sections`) fill it from the database, the reconciliation
(`crmmigrate.reporting.reconcile`) adds the legacy side, the gate (`crmmigrate.reporting.gate`)
judges its metrics, and the writers (HTML, JSON, JUnit) only read it.

A `Report` has sections (pipeline, accounts, contacts, cases, leads, picklists, dates). Each
section has tables (aggregates as the database computed them, with a chart hint for the HTML),
findings (the dirt a report exposes, each counted and with examples, flagged beside its table)
and metrics (named numbers such as ``opportunity.contact_role_coverage`` that the gate's
`fail_on` thresholds can name).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Chart = Literal["bar", "stacked", "line", "none"]
Severity = Literal["info", "warning", "error"]
# How a number in a table is shown: count 1,234; amount 1,234.50; percent 42.0% (the value is
# a share, 0.42); number as it comes. Without one (crmmigrate.reporting.html.column_format): a
# column named share or *_share or *_coverage is a percent, whole numbers a count, others an amount.
Format = Literal["count", "amount", "percent", "number"]


@dataclass
class Table:
    """An aggregate as computed in the database: `rows` hold plain values (str, int, float,
    None) in the order of `columns`. For a chart, `x` names the category column, `y` the value
    columns drawn (a stacked chart stacks them; `series` splits rows by a second category)."""

    key: str  # unique within its section, e.g. "open_by_stage"
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart: Chart = "none"
    x: str | None = None
    y: list[str] = field(default_factory=list)
    series: str | None = None
    note: str = ""  # one line under the table: what it counts and how (e.g. "weighted: amount × probability")
    truncated: int = 0  # rows left out (a table shows at most its first N rows, biggest first)
    formats: dict[str, Format] = field(default_factory=dict)  # column -> how its numbers are shown


@dataclass
class Finding:
    """Dirt a report exposes: `count` records out of `of` (the population it is judged in),
    a few `examples` (each a dict of column: value, with the record's legacy source and id so it
    can be found in the old system), and what to do about it."""

    key: str  # e.g. "pipeline.past_due": unique in the report
    title: str  # "Open opportunities whose close date has passed"
    count: int
    of: int
    severity: Severity = "warning"
    examples: list[dict[str, Any]] = field(default_factory=list)
    hint: str = ""
    table: str | None = None  # the key of the table it is flagged beside, if any

    @property
    def rate(self) -> float:
        return self.count / self.of if self.of else 0.0


@dataclass
class Section:
    key: str  # pipeline, accounts, contacts, cases, leads, picklists, dates
    title: str
    tables: list[Table] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # "opportunity.contact_role_coverage": 0.42


@dataclass
class ReconcileLine:
    """One aggregate as the legacy data held it beside the loaded target, and why they differ."""

    aggregate: str  # "pipeline amount by stage", "contacts by owner", "cases by status"
    key: str  # the group: "Negotiation", "j.smith", "Closed"
    legacy: float
    target: float
    explained: dict[str, float] = field(default_factory=dict)  # {"rejected": 3, "merged": 2, "filtered": 0}
    unexplained: float = 0.0  # legacy - target - sum(explained): flagged when not 0

    @property
    def ok(self) -> bool:
        return abs(self.unexplained) < 1e-6


@dataclass
class GateCheck:
    metric: str
    value: float | None  # None: the metric could not be computed (no such data): fails only if `required`
    limit: float
    op: Literal["min", "max"]
    passed: bool


@dataclass
class Report:
    target: str  # the target URL, masked
    generated_at: str  # ISO 8601, UTC
    as_of: str  # the date "today" is for ages and past-due (ISO date); fixed in tests
    sections: list[Section] = field(default_factory=list)
    reconciliation: list[ReconcileLine] = field(default_factory=list)
    gate: list[GateCheck] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.gate)

    @property
    def metrics(self) -> dict[str, float]:
        found = {name: value for s in self.sections for name, value in s.metrics.items()}
        if self.reconciliation:  # reconciled with the legacy records: what the ledger does not explain
            found["reconciliation.unexplained_lines"] = sum(not line.ok for line in self.reconciliation)
        return found

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for section, raw in zip(self.sections, data["sections"]):
            for finding, raw_finding in zip(section.findings, raw["findings"]):
                raw_finding["rate"] = finding.rate
        for line, raw in zip(self.reconciliation, data["reconciliation"]):
            raw["ok"] = line.ok
        data["passed"] = self.passed
        return data
