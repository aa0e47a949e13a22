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


def test_a_misspelt_closed_stage_counts_open_and_is_flagged_in_the_pipeline(report):
    """O14's 'Clsoed Won' is open to the CRM (no closed stage is spelt so), so it stays in the
    open pipeline, and the pipeline says which open deals are a closed stage misspelt; the
    'negotiation' variant (O12) is an open stage's and is not among them."""
    finding = found(report, "pipeline.closed_misspelt")
    assert (finding.count, finding.of) == (1, 12)
    assert ids(finding) == ["O14"] and finding.examples[0]["stage"] == "Clsoed Won"
    assert finding.table == "open_by_stage"


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


def test_accounts_by_owner_industry_and_country(report):
    assert table(report, "accounts", "by_owner").rows == [[None, 5], ["Ann", 2], ["Bob", 2], ["ann", 1]]
    assert table(report, "accounts", "by_industry").rows == [[None, 6], ["Technology", 2], ["Retail", 1],
                                                             ["technology", 1]]
    assert table(report, "accounts", "by_country").rows == [[None, 6], ["DE", 2], ["FR", 1], ["US", 1]]


def test_hierarchy_depth_and_cycles(report):
    # A1 > A2 > A3; A4, A5 and A6 (its parent is gone) stand alone; A7, A8, A9 loop, A10 hangs below.
    assert table(report, "accounts", "hierarchy_depth").rows == [[1, 4], [2, 1], [3, 1], [None, 4]]
    assert report.metrics["account.hierarchy_depth"] == 3
    cycles = found(report, "accounts.hierarchy_cycles")
    assert (cycles.count, cycles.of, cycles.severity) == (3, 10, "error")
    assert ids(cycles) == ["A7", "A8", "A9"]
    assert report.metrics["account.hierarchy_cycles"] == 3


def test_parents_given_but_missing(report):
    finding = found(report, "accounts.parent_missing")
    assert (finding.count, finding.of) == (2, 10)
    assert finding.examples == [
        {"legacy_source": "legacy", "legacy_id": "A5", "name": "Lost Parent", "parent": "A99"},
        {"legacy_source": "legacy", "legacy_id": "A6", "name": "Dangling", "parent": "target id 999"},
    ]


def test_accounts_with_no_contact_and_no_opportunity(report):
    finding = found(report, "accounts.unused")
    assert (finding.count, finding.of) == (7, 10)
    assert ids(finding) == ["A4", "A5", "A6", "A7", "A8"]  # the first five
    assert report.metrics["account.unused_share"] == 0.7


def test_contact_role_coverage(report):
    without = found(report, "contacts.opportunities_without_role")
    assert (without.count, without.of) == (11, 14)  # roles on O1, O2 and O10 only
    no_primary = found(report, "contacts.opportunities_without_primary")
    assert (no_primary.count, no_primary.of) == (12, 14)  # primary on O1 and O10
    assert ids(no_primary) == ["O2"]  # examples: with roles, none primary
    assert report.metrics["opportunity.contact_role_coverage"] == pytest.approx(3 / 14)
    assert report.metrics["opportunity.primary_role_coverage"] == pytest.approx(2 / 14)
    assert table(report, "contacts", "roles").rows == [["Decision Maker", 2, 1], ["Evaluator", 1, 0],
                                                       ["decision maker", 1, 1]]


def test_contacts_without_an_account(report):
    finding = found(report, "contacts.without_account")
    assert (finding.count, finding.of) == (2, 4)
    assert [(e["legacy_id"], e["account_given"]) for e in finding.examples] == [("C3", False), ("C4", True)]


def test_open_cases_by_age_and_priority(report):
    assert table(report, "cases", "open_by_age").rows == [["0-7 days", "High", 1], ["31-90 days", "Low", 1],
                                                          ["over 365 days", None, 1]]
    assert report.metrics["case.open_count"] == 3  # 'closed ' is closed


def test_cases_with_no_activity_logged(report):
    finding = found(report, "cases.without_activity")
    # X3 points at account 2, not case 2: K2 has no activity.
    assert (finding.count, finding.of) == (4, 6)
    assert ids(finding) == ["K2", "K4", "K5", "K6"]


def test_activities_by_type_and_owner_per_week(report):
    assert table(report, "cases", "activities_by_week").rows == [
        ["2025-06-02", "call", "Ann", 1],
        ["2025-05-26", "call", "Ann", 1], ["2025-05-26", "meeting", "Ann", 1], ["2025-05-26", "task", "Bob", 1],
        ["2022-12-26", "email", "Bob", 1],  # completed (wrongly) on Sunday 1 January 2023
    ]


def test_leads_by_source_and_status_their_age_and_those_known_as_contacts(report):
    assert table(report, "leads", "by_source_status").rows == [
        ["Referral", "Converted", 1], ["Trade Show", "Unqualified", 1], ["Web", "New", 1], ["web", "Contacted", 1]]
    assert table(report, "leads", "open_by_age").rows == [["31-90 days", 1], ["over 365 days", 1]]
    known = found(report, "leads.known_contacts")
    assert (known.count, known.of) == (2, 4)
    assert ids(known) == ["L1", "L2"]


def test_picklist_values_that_differ_by_case_spacing_punctuation_or_an_edit(report):
    variants = table(report, "picklists", "variants")
    assert sorted(variants.rows) == [
        ["account.industry", "technology", 1, "Technology"],
        ["account.owner", "ann", 1, "Ann"],  # owner: compared by case and spacing only
        ["case.status", "closed ", 1, "Closed"],
        ["lead.source", "web", 1, "Web"],
        ["opportunity.stage", "Clsoed Won", 1, "Closed Won"],  # one swap: one edit
        ["opportunity.stage", "negotiation", 1, "Negotiation"],
        ["opportunity_contact_role.role", "decision maker", 1, "Decision Maker"],
    ]
    stage = found(report, "picklists.opportunity.stage")
    assert (stage.count, stage.of) == (2, 14)
    assert stage.examples == [
        {"legacy_source": "legacy", "legacy_id": "O14", "value": "Clsoed Won", "rows": 1, "variant_of": "Closed Won"},
        {"legacy_source": "legacy", "legacy_id": "O12", "value": "negotiation", "rows": 1,
         "variant_of": "Negotiation"}]
    # 'Petrov A.'-like owners a letter apart are not variants; 'Contacted' and 'Converted' neither.
    assert not any(f.key == "picklists.lead.status" for f in report.section("picklists").findings)
    fields = {row[0]: row[1:] for row in table(report, "picklists", "fields").rows}
    assert fields["opportunity.stage"] == [6, 14, 2, 2]
    valued = sum(rows for _, rows, _, _ in fields.values())
    assert report.metrics["picklist.variant_share"] == pytest.approx(7 / valued)


def test_dates_out_of_order(report):
    counts = {f.key: (f.count, f.of) for f in report.section("dates").findings}
    assert counts == {
        "dates.opportunity_closes_before_created": (1, 14),
        "dates.case_closed_before_opened": (2, 3),  # K3, and K6 as the load kept it
        "dates.activity_completed_long_before_due": (1, 2),  # X2: 876 days early; X1 an hour late
        "dates.created_in_future": (1, 26),  # dated: 2 accounts, 4 leads, 14 opportunities, 6 cases
    }
    assert found(report, "dates.case_closed_before_opened").examples == [
        {"legacy_source": "legacy", "legacy_id": "K3", "opened_at": "2025-01-01T10:00:00",
         "closed_at": "2024-12-01T10:00:00"},
        {"legacy_source": "legacy", "legacy_id": "K6", "opened_at": "2024-05-18T09:24:00",
         "closed_at": "2024-05-18T03:24:00", "loaded_empty": True}]
    future = found(report, "dates.created_in_future")
    assert future.examples == [{"entity": "account", "legacy_source": "legacy", "legacy_id": "A4",
                                "created": "2052-01-01T00:00:00"}]
    assert report.metrics["dates.out_of_order"] == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_target_is_opened_read_only_by_the_database(request, tmp_path, backend):
    import sqlalchemy as sa

    with planted_target(request, backend, tmp_path) as url:
        engine = open_target(url)
        try:
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT count(*) FROM account")).scalar() == 10
            with pytest.raises(sa.exc.DBAPIError, match="(?i)read.?only"), engine.begin() as connection:
                connection.execute(sa.text("DELETE FROM account"))
        finally:
            engine.dispose()


@pytest.mark.mariadb
def test_a_latin1_mariadb_target_is_grouped_byte_for_byte_too(mariadb_url):
    # A database made with a latin1 default has latin1 columns, which no utf8mb4 collation
    # fits: the report converts before it collates.
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from crmmigrate.load import connect
    from tests.reporting_target import plant

    name = f"crm_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(mariadb_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET latin1"))
    try:
        url = sa.make_url(mariadb_url).set(database=name).render_as_string(hide_password=False)
        engine = connect(url)
        plant(engine)
        engine.dispose()
        engine = open_target(url)
        try:
            report = build_report(engine, rules=ReportRules(), as_of=AS_OF)
        finally:
            engine.dispose()
        assert sorted(row[:2] for row in table(report, "picklists", "variants").rows) == [
            ["account.industry", "technology"], ["account.owner", "ann"], ["case.status", "closed "],
            ["lead.source", "web"], ["opportunity.stage", "Clsoed Won"], ["opportunity.stage", "negotiation"],
            ["opportunity_contact_role.role", "decision maker"]]
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


def test_tables_keep_their_biggest_rows_and_findings_their_first_examples(request, tmp_path):
    rules = ReportRules.model_validate({"table_rows": 2, "examples": 1})
    told = []
    with planted_target(request, "sqlite", tmp_path) as url:
        engine = open_target(url)
        try:
            report = build_report(engine, rules=rules, as_of=AS_OF, progress=lambda *a: told.append(a))
        finally:
            engine.dispose()
    owners = table(report, "accounts", "by_owner")
    assert (owners.rows, owners.truncated) == ([[None, 5], ["Ann", 2]], 2)
    assert ids(found(report, "pipeline.past_due")) == ["O14"]
    assert found(report, "pipeline.past_due").count == 2  # counted whole, shown in part
    # Progress is told per section, started and done.
    assert told[:2] == [("report", "pipeline", 0, 1), ("report", "pipeline", 1, 1)]
    assert [a[1] for a in told[::2]] == [s.key for s in report.sections]


def test_the_projects_validation_choices_name_the_value_meant(request, tmp_path):
    from crmmigrate.validate.rules import ValidationRules

    validation = ValidationRules.model_validate(
        {"entities": {"opportunity": {"fields": {"stage": {"choices": ["negotiation", "Closed Won"]}}}}})
    with planted_target(request, "sqlite", tmp_path) as url:
        engine = open_target(url)
        try:
            report = build_report(engine, rules=ReportRules(), as_of=AS_OF, validation=validation)
        finally:
            engine.dispose()
    stage = [row[1:] for row in table(report, "picklists", "variants").rows if row[0] == "opportunity.stage"]
    assert sorted(stage) == [["Clsoed Won", 1, "Closed Won"], ["Negotiation", 1, "negotiation"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sections_built_side_by_side_are_the_sections_built_in_one_transaction(request, tmp_path, backend):
    """A run holds the target's lock: its report's sections are built on a connection each,
    side by side; they say what the sections built one after another say, in the same order."""
    told = []
    with planted_target(request, backend, tmp_path) as url:
        engine = open_target(url)
        try:
            alone = build_report(engine, rules=ReportRules(), as_of=AS_OF).as_dict()
            held = build_report(engine, rules=ReportRules(), as_of=AS_OF, held=True,
                                progress=lambda *a: told.append(a)).as_dict()
        finally:
            engine.dispose()
    for report in (alone, held):
        report.pop("generated_at")
        report.pop("seconds", None)
    assert held == alone
    assert len(held["sections"]) == 7
    assert sorted(told) == sorted([("report", s["key"], n, 1) for s in held["sections"] for n in (0, 1)])
