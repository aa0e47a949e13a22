"""bench/bench_report.py's parts at a tiny size: the target generator loads into the target
schema with the dirt the report looks for, the hand-written SQL runs on it, and the report's
numbers equal the hand SQL's (the check the benchmark makes at 1M)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_report  # noqa: E402
import report_sql  # noqa: E402
import report_target  # noqa: E402

from crmmigrate.load.schema import check_target  # noqa: E402
from crmmigrate.reporting import build_report, load_report_rules  # noqa: E402

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    return report_target.sqlite_target(3000, seed=3, cache=tmp_path_factory.mktemp("cache"), log=lambda _: None)


@pytest.fixture(scope="module")
def hand(target):
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.connect() as connection:
        rows, seconds = report_sql.run_hand(connection, report_sql.hand_queries("sqlite", AS_OF, load_report_rules()))
    engine.dispose()
    return rows, seconds


def test_the_target_is_a_crmmigrate_target_of_the_sizes_asked(target):
    engine = sa.create_engine(f"sqlite:///{target}")
    assert check_target(engine) == []
    with engine.connect() as connection:
        count = {t: connection.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar()
                 for t in ("account", "contact", "opportunity", "case", "lead")}
        roles = connection.exec_driver_sql("SELECT count(DISTINCT opportunity_id) FROM opportunity_contact_role").scalar()
        stamp = connection.exec_driver_sql("SELECT created_at FROM contact LIMIT 1").scalar()
    engine.dispose()
    assert count == {"account": 840, "contact": 3000, "opportunity": 2070, "case": 690, "lead": 900}
    assert 0.55 < roles / count["opportunity"] < 0.75
    # A datetime as SQLAlchemy (and so crmmigrate's loader) stores it in SQLite.
    assert dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")


def test_the_target_holds_the_dirt_the_report_looks_for(hand):
    rows, _ = hand
    metrics = report_sql.hand_metrics(rows)
    assert metrics["account.hierarchy_cycles"] >= 2  # one planted cycle of two accounts at least
    assert metrics["account.hierarchy_depth"] >= 3
    assert metrics["account.parent_missing_share"] > 0
    assert metrics["dates.out_of_order"] > 0
    assert 0 < metrics["opportunity.probability_mismatch_share"] < 0.1
    assert 0 < metrics["opportunity.past_due_share"] < 0.5
    assert 0 < metrics["lead.known_contact_share"] < 0.2
    stages = {value for value, *_ in rows["values.opportunity.stage"]}
    assert {"Closed Won", "closed won", "Clsoed Won"} <= stages


def test_the_same_data_is_made_from_the_same_seed():
    first, second = report_target.make_target(500, seed=4), report_target.make_target(500, seed=4)
    assert all(first[name].equals(second[name]) for name in first)
    assert not report_target.make_target(500, seed=5)["opportunity"].equals(first["opportunity"])


def test_the_report_agrees_with_the_hand_written_sql(target, hand):
    rows, seconds = hand
    report = build_report(sa.create_engine(f"sqlite:///{target}"), rules=load_report_rules(), as_of=AS_OF)
    # Every finding but the picklists' (variants are told in Python) is counted by the hand SQL.
    assert {f.key for s in report.sections for f in s.findings if s.key != "picklists"} <= set(
        report_sql.hand_findings(rows))
    assert _agreement(sa.create_engine(f"sqlite:///{target}"), "sqlite") == []
    # Every section the report has is timed against hand-written queries of its own.
    assert set(bench_report.hand_seconds({"queries": seconds}, [s.key for s in report.sections])) == {
        s.key for s in report.sections}


def test_a_difference_is_found_and_named(target, hand):
    rows, _ = hand
    metrics = report_sql.hand_metrics(rows)
    changed = {**metrics, "opportunity.past_due_share": metrics["opportunity.past_due_share"] + 0.01}
    key = "pipeline.open_by_stage"
    table = [list(r) for r in rows[key]]
    table[0][2] += 1  # one stage's count off by one
    report = {"metrics": changed, "tables": {key: (["stage", "currency", "count", "amount", "weighted"], table, 0)},
              "findings": {}}
    findings = report_sql.hand_findings(rows)
    count, of = findings["accounts.unused"]
    report["findings"] = {"accounts.unused": (count + 1, of, [list(e) for e in rows["examples.accounts.unused"]])}
    found = bench_report.differences(report, {"metrics": metrics, "rows": rows, "findings": findings})
    assert len(found) == 3
    assert found[0].startswith("metric opportunity.past_due_share: report")
    assert found[1].startswith("table pipeline.open_by_stage: 1 of the report's rows not in the hand SQL's")
    assert found[2].startswith("finding accounts.unused: report")


def test_seconds_per_section_from_the_progress_calls():
    # A call as each section begins and ends; or one call a section, timed until the next.
    assert bench_report.section_seconds([("a", 1.0), ("a", 3.0), ("b", 3.5), ("b", 4.0)], 9.0) == {"a": 2.0, "b": 0.5}
    assert bench_report.section_seconds([("a", 1.0), ("b", 3.0)], 4.5) == {"a": 2.0, "b": 1.5}


def _agreement(engine: sa.Engine, dialect: str) -> list[str]:
    rules = load_report_rules()
    with engine.connect() as connection:
        rows, seconds = report_sql.run_hand(connection, report_sql.hand_queries(dialect, AS_OF, rules))
    report = build_report(engine, rules=rules, as_of=AS_OF)
    result = {"metrics": report.metrics,
              "tables": {f"{s.key}.{t.key}": (t.columns, t.rows, t.truncated) for s in report.sections
                         for t in s.tables},
              "findings": {f.key: (f.count, f.of, [list(e.values()) for e in f.examples])
                           for s in report.sections for f in s.findings}}
    return bench_report.differences(result, {"metrics": report_sql.hand_metrics(rows),
                                             "findings": report_sql.hand_findings(rows),
                                             "rows": report_sql.with_derived(rows), "queries": seconds})


@pytest.mark.postgres
def test_on_postgresql_the_report_agrees_with_the_hand_written_sql(request, tmp_path):
    from conftest import empty_database

    databases = empty_database(request, "postgres", tmp_path)
    url = next(databases)
    try:
        report_target.load_postgres(url, "bench", report_target.make_target(3000, seed=3))
        engine = report_target.postgres_engine(url, "bench")
        assert _agreement(engine, "postgresql") == []
        engine.dispose()
    finally:
        databases.close()
