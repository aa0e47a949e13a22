"""The report's sections on a planted target (tests/reporting_target.py says what is planted),
on SQLite, PostgreSQL and MariaDB: every finding's exact count, its examples' provenance, the
tables and the metrics."""

from __future__ import annotations

import pytest

from crmmigrate.reporting import build_report, open_target
from crmmigrate.reporting.metrics import METRICS
from crmmigrate.reporting.model import Report
from crmmigrate.reporting.rules import ReportRules
from tests.reporting_target import AS_OF, planted_target

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
            pytest.param("mariadb", marks=pytest.mark.mariadb)]


@pytest.fixture(scope="module", params=BACKENDS)
def report(request, tmp_path_factory) -> Report:
    with planted_target(request, request.param, tmp_path_factory.mktemp("target")) as url:
        engine = open_target(url)
        try:
            yield build_report(engine, rules=ReportRules(), as_of=AS_OF)
        finally:
            engine.dispose()


def found(report: Report, key: str):
    return next(f for s in report.sections for f in s.findings if f.key == key)


def table(report: Report, section: str, key: str):
    return next(t for t in report.section(section).tables if t.key == key)


def ids(finding) -> list[str]:
    return [e["legacy_id"] for e in finding.examples]


def test_open_pipeline_by_stage_owner_and_month_weighted_by_probability(report):
    by_stage = table(report, "pipeline", "open_by_stage")
    assert by_stage.columns == ["stage", "currency", "count", "amount", "weighted"]
    # Prospecting EUR: O1-O8 (1000..1700) and O9 (100000), all at 10%.
    assert by_stage.rows[0] == ["Prospecting", "EUR", 9, 110800.0, 11080.0]
    assert sorted(by_stage.rows[1:]) == [["Clsoed Won", "USD", 1, 4000.0, 4000.0],
                                         ["Negotiation", "USD", 1, 2000.0, 1600.0],
                                         ["negotiation", "USD", 1, 3000.0, 600.0]]
    by_owner = table(report, "pipeline", "open_by_owner")
    assert by_owner.rows == [["Ann", "EUR", 8, 10800.0, 1080.0], ["Ann", "USD", 2, 7000.0, 4600.0],
                             ["Bob", "EUR", 1, 100000.0, 10000.0], ["Bob", "USD", 1, 2000.0, 1600.0]]
    by_month = table(report, "pipeline", "open_by_close_month")
    assert [row[:3] for row in by_month.rows] == [["2025-02", "USD", 1], ["2025-05", "USD", 1],
                                                  ["2025-06", "EUR", 1], ["2025-07", "EUR", 8],
                                                  ["2025-12", "USD", 1]]
    assert report.metrics["opportunity.open_count"] == 12


def test_past_due_open_opportunities(report):
    finding = found(report, "pipeline.past_due")
    assert (finding.count, finding.of) == (2, 12)
    assert ids(finding) == ["O14", "O11"]  # oldest close date first
    assert finding.examples[0]["legacy_source"] == "legacy"
    assert report.metrics["opportunity.past_due_share"] == pytest.approx(2 / 12)


def test_probability_contradicting_the_stage(report):
    finding = found(report, "pipeline.probability_mismatch")
    # Closed Won at 10 (closed: no tolerance) and 'negotiation' at 20 (Negotiation is 90);
    # Negotiation at 80 is within 25 points; 'Clsoed Won' is no stage the rules know.
    assert (finding.count, finding.of) == (2, 12)
    assert ids(finding) == ["O10", "O12"]  # furthest off first (90 points, then 70)
    assert finding.examples[0]["expected"] == 100.0


def test_amount_outliers_per_stage_and_currency(report):
    finding = found(report, "pipeline.amount_outliers")
    assert (finding.count, finding.of) == (1, 9)  # only Prospecting EUR has 8 amounts or more
    assert ids(finding) == ["O9"]
    quartiles = table(report, "pipeline", "amount_quartiles")
    # nearest rank of 9 amounts: Q1 the 3rd (1200), Q3 the 7th (1600); fence 1600 + 3 x 400
    assert quartiles.rows == [["Prospecting", "EUR", 9, 1200.0, 1600.0, 2800.0, 1]]


def test_share_closing_at_quarter_ends(report):
    finding = found(report, "pipeline.quarter_end")
    assert (finding.count, finding.of) == (2, 12)  # 25 June and 20 December
    assert sorted(ids(finding)) == ["O12", "O9"]
    assert finding.severity == "info"


def test_every_metric_is_a_known_one(report):
    assert set(report.metrics) <= set(METRICS)
