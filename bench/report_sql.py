"""The report's aggregates written by hand as plain SQL, one query per table or finding, as a
DBA would write them against the target schema: the reference `bench_report.py` times
`build_report` against.

`hand_queries(dialect, as_of, rules)` returns {name: SQL text} for "sqlite" or "postgresql",
named as the report names what they stand for ("cases.open_by_age" for that table,
"examples.leads.known_contacts" for a finding's example records); `run_hand(connection,
queries)` runs each and fetches every row. From the rows, `hand_metrics` gives the report's
named metrics (crmmigrate.reporting.metrics), `hand_findings` each finding's count and
population, and `with_derived` adds the tables the report makes in Python, so the two can be
compared number for number. Where a definition needs a choice (which stages are closed, what
the end of a quarter is, which statuses are open) it is the report rules', read from `rules`.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

def _quote(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


class Dialect:
    """What SQLite and PostgreSQL write differently, for the hand-written queries."""

    def __init__(self, name: str):
        self.name = name

    def month(self, column: str) -> str:
        return f"strftime('%Y-%m', {column})" if self.name == "sqlite" else f"to_char({column}, 'YYYY-MM')"

    def week(self, column: str) -> str:
        if self.name == "sqlite":
            return f"date({column}, '-6 days', 'weekday 1')"
        return f"CAST(date_trunc('week', {column}) AS DATE)"

    def days(self, start: str, end: str) -> str:
        """end - start in days (fractional)."""
        if self.name == "sqlite":
            return f"(julianday({end}) - julianday({start}))"
        return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 86400.0)"

    def as_date(self, text: str) -> str:
        return f"'{text}'" if self.name == "sqlite" else f"DATE '{text}'"

    def as_stamp(self, text: str) -> str:
        return f"'{text} 00:00:00.000000'" if self.name == "sqlite" else f"TIMESTAMP '{text}'"

    def text(self, column: str) -> str:
        """A JSON column as text, to search it."""
        return column if self.name == "sqlite" else f"CAST({column} AS TEXT)"

    def day_of(self, column: str) -> str:
        return f"date({column})" if self.name == "sqlite" else f"CAST({column} AS DATE)"

    def quarter_end_within(self, column: str, days: int) -> str:
        """The date falls in the last `days` days of its quarter."""
        if self.name == "sqlite":
            month = f"CAST(strftime('%m', {column}) AS INTEGER)"
            end = (f"date({column}, 'start of month', '+' || ((3 - ({month} - 1) % 3)) || ' months', '-1 day')")
            return f"julianday({end}) - julianday({column}) < {days}"
        end = f"(date_trunc('quarter', {column}) + INTERVAL '3 months' - INTERVAL '1 day')::date"
        return f"{end} - {column} < {days}"


def hand_queries(dialect: str, as_of: date, rules) -> dict[str, str]:
    """Every hand-written query of the report, by name."""
    d = Dialect(dialect)
    opp = rules.opportunity
    closed = _quote(s.strip().lower() for s in opp.closed)
    open_opp = f"lower(trim(o.stage)) NOT IN ({closed})"
    today = d.as_date(as_of.isoformat())
    stages = {s.strip().lower(): opp.expected(s) for s in [*opp.stage_probability, *opp.closed]}
    expected = " ".join(f"WHEN '{s}' THEN {float(p)}" for s, p in stages.items() if p is not None)
    won = _quote(s.strip().lower() for s in opp.closed_won)
    lost = _quote(s.strip().lower() for s in opp.closed_lost)
    tol = float(opp.probability_tolerance)
    open_case = _quote(s.strip().lower() for s in rules.case.open_statuses)
    open_lead = _quote(s.strip().lower() for s in rules.lead.open_statuses)

    q: dict[str, str] = {}
    # Pipeline: open opportunities by stage, owner and close month, per currency (amounts are
    # not added across currencies); weighted by the record's probability, else its stage's.
    weighted = f"sum(o.amount * coalesce(o.probability, CASE lower(trim(o.stage)) {expected} END) / 100.0)"
    open_opp = f"(o.stage IS NULL OR {open_opp})"
    for key, group in (("stage", "o.stage"), ("owner", "o.owner"), ("close_month", d.month("o.close_date"))):
        q[f"pipeline.open_by_{key}"] = f"""
            SELECT {group} AS k, o.currency, count(*) AS n, sum(o.amount) AS amount, {weighted} AS weighted
            FROM opportunity o WHERE {open_opp} GROUP BY {group}, o.currency"""
    q["pipeline.open_totals"] = f"""
        SELECT count(*) AS open,
               sum(CASE WHEN o.close_date < {today} THEN 1 ELSE 0 END) AS past_due,
               sum(CASE WHEN {d.quarter_end_within("o.close_date", opp.quarter_end_days)} THEN 1 ELSE 0 END)
                   AS quarter_end
        FROM opportunity o WHERE {open_opp}"""
    q["pipeline.quarter_end"] = f"""
        SELECT o.currency, count(*) AS n,
               sum(CASE WHEN {d.quarter_end_within("o.close_date", opp.quarter_end_days)} THEN 1 ELSE 0 END) AS late,
               sum(o.amount) AS amount,
               sum(CASE WHEN {d.quarter_end_within("o.close_date", opp.quarter_end_days)} THEN o.amount ELSE 0 END)
                   AS late_amount
        FROM opportunity o WHERE {open_opp} GROUP BY o.currency"""
    # A probability is judged where the stage has one in the rules: a closed stage must carry
    # exactly its own, an open one may be `probability_tolerance` points away.
    expect = f"CASE lower(trim(o.stage)) {expected} END"
    wrong = (f"CASE WHEN lower(trim(o.stage)) IN ({won}) THEN o.probability <> 100 "
             f"WHEN lower(trim(o.stage)) IN ({lost}) THEN o.probability <> 0 "
             f"ELSE abs(o.probability - {expect}) > {tol} END")
    q["pipeline.probability_by_stage"] = f"""
        SELECT o.stage, count(*) AS n, min(o.probability), avg(o.probability), max(o.probability),
               max({expect}) AS expected,
               sum(CASE WHEN o.probability IS NOT NULL AND {expect} IS NOT NULL AND {wrong} THEN 1 ELSE 0 END)
        FROM opportunity o GROUP BY o.stage"""
    q["pipeline.probability_mismatch"] = f"""
        SELECT count(*) AS judged, sum(CASE WHEN {wrong} THEN 1 ELSE 0 END) AS mismatched
        FROM opportunity o WHERE o.probability IS NOT NULL AND {expect} IS NOT NULL"""
    # Outliers: beyond Q3 + f x IQR (or below Q1 - f x IQR) of the amounts of the record's stage
    # (as written) and currency; quartiles by nearest rank, in groups of at least min_group.
    factor, least = opp.outliers.iqr_factor, opp.outliers.min_group
    if dialect == "postgresql":
        quartiles = f"""
            SELECT stage, coalesce(currency, '') AS currency, count(*) AS n,
                   percentile_disc(0.25) WITHIN GROUP (ORDER BY amount) AS q1,
                   percentile_disc(0.75) WITHIN GROUP (ORDER BY amount) AS q3
            FROM opportunity WHERE amount IS NOT NULL GROUP BY stage, coalesce(currency, '')
            HAVING count(*) >= {least}"""
    else:  # no percentile in SQLite: the nearest rank from a window
        quartiles = f"""
            SELECT stage, currency, max(n) AS n, min(CASE WHEN 4 * r >= n THEN amount END) AS q1,
                   min(CASE WHEN 4 * r >= 3 * n THEN amount END) AS q3
            FROM (SELECT stage, coalesce(currency, '') AS currency, amount,
                         row_number() OVER (PARTITION BY stage, coalesce(currency, '') ORDER BY amount) AS r,
                         count(*) OVER (PARTITION BY stage, coalesce(currency, '')) AS n
                  FROM opportunity WHERE amount IS NOT NULL) ranked
            GROUP BY stage, currency HAVING max(n) >= {least}"""
    # SQLite would otherwise scan the opportunities once per stage and currency (it has no
    # hash join): CROSS JOIN keeps them the outer loop, the few quartile rows looked up.
    join = "CROSS JOIN" if dialect == "sqlite" else "JOIN"
    q["pipeline.amount_quartiles"] = f"""
        WITH quartiles AS ({quartiles})
        SELECT q.stage, q.currency, q.n, q.q1, q.q3, q.q3 + (q.q3 - q.q1) * {factor} AS upper_fence,
               sum(CASE WHEN o.amount > q.q3 + (q.q3 - q.q1) * {factor}
                          OR o.amount < q.q1 - (q.q3 - q.q1) * {factor} THEN 1 ELSE 0 END) AS outliers
        FROM opportunity o {join} quartiles q ON o.stage = q.stage AND coalesce(o.currency, '') = q.currency
        WHERE o.amount IS NOT NULL
        GROUP BY q.stage, q.currency, q.n, q.q1, q.q3"""
    # The records a finding shows (the first five, as the report orders them).
    q["examples.pipeline.past_due"] = f"""
        SELECT o.legacy_source, o.legacy_id, o.name, o.stage, o.close_date, o.owner FROM opportunity o
        WHERE {open_opp} AND o.close_date < {today} ORDER BY o.close_date, o.id LIMIT 5"""
    q["examples.pipeline.probability_mismatch"] = f"""
        SELECT o.legacy_source, o.legacy_id, o.name, o.stage, o.probability, {expect} AS expected FROM opportunity o
        WHERE o.probability IS NOT NULL AND {expect} IS NOT NULL AND {wrong}
        ORDER BY abs(o.probability - {expect}) DESC, o.id LIMIT 5"""
    q["examples.pipeline.amount_outliers"] = f"""
        WITH quartiles AS ({quartiles})
        SELECT o.legacy_source, o.legacy_id, o.name, o.stage, o.currency, o.amount,
               q.q3 + (q.q3 - q.q1) * {factor} AS upper_fence
        FROM opportunity o {join} quartiles q ON o.stage = q.stage AND coalesce(o.currency, '') = q.currency
        WHERE o.amount > q.q3 + (q.q3 - q.q1) * {factor} OR o.amount < q.q1 - (q.q3 - q.q1) * {factor}
        ORDER BY o.amount DESC, o.id LIMIT 5"""
    q["examples.pipeline.quarter_end"] = f"""
        SELECT o.legacy_source, o.legacy_id, o.name, o.stage, o.close_date, o.amount FROM opportunity o
        WHERE {open_opp} AND {d.quarter_end_within("o.close_date", opp.quarter_end_days)}
        ORDER BY o.close_date, o.id LIMIT 5"""
    # Accounts.
    for key, column in (("owner", "owner"), ("industry", "industry"), ("country", "billing_country")):
        q[f"accounts.by_{key}"] = f"SELECT {column}, count(*) AS accounts FROM account GROUP BY {column}"
    tree = """WITH RECURSIVE tree(id, depth) AS (
            SELECT id, 1 FROM account WHERE parent_id IS NULL
            UNION ALL
            SELECT a.id, t.depth + 1 FROM account a JOIN tree t ON a.parent_id = t.id)"""
    q["accounts.hierarchy_depth"] = f"""
        {tree}
        SELECT depth, count(*) AS accounts FROM tree GROUP BY depth
        UNION ALL
        SELECT NULL, (SELECT count(*) FROM account) - (SELECT count(*) FROM tree)
        WHERE (SELECT count(*) FROM account) > (SELECT count(*) FROM tree)"""
    # Accounts no root reaches are in a cycle or below one; walking up from each of those (few)
    # finds the ones that come back to themselves.
    cycles = f"""
        {tree},
        stuck AS (SELECT a.id, a.parent_id FROM account a LEFT JOIN tree t ON t.id = a.id WHERE t.id IS NULL),
        walk(start, at, steps) AS (
            SELECT id, parent_id, 1 FROM stuck
            UNION ALL
            SELECT w.start, s.parent_id, w.steps + 1 FROM walk w JOIN stuck s ON s.id = w.at
            WHERE w.at <> w.start AND w.steps < (SELECT count(*) FROM stuck))"""
    q["accounts.cycles"] = f"{cycles} SELECT count(DISTINCT start) AS in_cycle FROM walk WHERE at = start"
    q["examples.accounts.hierarchy_cycles"] = f"""{cycles}
        SELECT a.legacy_source, a.legacy_id, a.name, a.parent_id FROM account a
        WHERE a.id IN (SELECT start FROM walk WHERE at = start) ORDER BY a.id LIMIT 5"""
    parent_lost = f"""a.parent_id IS NULL AND ({d.text("a.quarantine")} LIKE '%"field": "parent_id"%'
                                           OR {d.text("a.quarantine")} LIKE '%"field":"parent_id"%')"""
    q["accounts.parent_missing"] = f"SELECT count(*) AS n FROM account a WHERE {parent_lost}"
    q["examples.accounts.parent_missing"] = f"""
        SELECT a.legacy_source, a.legacy_id, a.name FROM account a WHERE {parent_lost} ORDER BY a.id LIMIT 5"""
    unused = """NOT EXISTS (SELECT 1 FROM contact c WHERE c.account_id = a.id)
          AND NOT EXISTS (SELECT 1 FROM opportunity o WHERE o.account_id = a.id)"""
    q["accounts.unused"] = f"SELECT count(*) AS n FROM account a WHERE {unused}"
    q["examples.accounts.unused"] = (f"SELECT a.legacy_source, a.legacy_id, a.name, a.owner FROM account a "
                                     f"WHERE {unused} ORDER BY a.id LIMIT 5")
    # Contacts and contact roles: coverage per stage (and so in all).
    has_role = "EXISTS (SELECT 1 FROM opportunity_contact_role r WHERE r.opportunity_id = o.id)"
    has_primary = ("EXISTS (SELECT 1 FROM opportunity_contact_role r WHERE r.opportunity_id = o.id "
                   "AND r.is_primary)")
    q["contacts.role_coverage_by_stage"] = f"""
        SELECT o.stage, count(*) AS opportunities, sum(CASE WHEN {has_role} THEN 1 ELSE 0 END) AS with_role,
               sum(CASE WHEN {has_primary} THEN 1 ELSE 0 END) AS with_primary
        FROM opportunity o GROUP BY o.stage"""
    q["contacts.roles"] = """
        SELECT role, count(*) AS roles, sum(CASE WHEN is_primary THEN 1 ELSE 0 END) AS "primary"
        FROM opportunity_contact_role GROUP BY role"""
    q["examples.contacts.opportunities_without_role"] = f"""
        SELECT o.legacy_source, o.legacy_id, o.name, o.stage, o.owner FROM opportunity o
        WHERE NOT {has_role} ORDER BY o.id LIMIT 5"""
    q["examples.contacts.opportunities_without_primary"] = f"""
        SELECT o.legacy_source, o.legacy_id, o.name, o.stage FROM opportunity o
        WHERE {has_role} AND NOT {has_primary} ORDER BY o.id LIMIT 5"""
    q["contacts.without_account"] = """
        SELECT count(CASE WHEN account_id IS NULL THEN 1 END) AS without, count(*) AS contacts FROM contact"""
    q["examples.contacts.without_account"] = """
        SELECT legacy_source, legacy_id, first_name, last_name, email FROM contact WHERE account_id IS NULL
        ORDER BY id LIMIT 5"""

    # Cases and activities. An age bucket: the first of the rules' day counts whose cutoff (the
    # start of the day that many days before as_of) the record's date is at or after.
    def buckets(column: str, days: list[int]) -> str:
        lows = [0, *(x + 1 for x in days[:-1])]
        whens = " ".join(f"WHEN {column} >= {d.as_stamp((as_of - timedelta(days=x)).isoformat())} "
                         f"THEN '{low}-{x} days'" for low, x in zip(lows, days))
        return f"CASE WHEN {column} IS NULL THEN 'no date' {whens} ELSE 'over {days[-1]} days' END"

    q["cases.open_by_age"] = f"""
        SELECT {buckets("c.opened_at", rules.case.age_days)} AS age, c.priority, count(*) AS cases
        FROM "case" c WHERE lower(trim(c.status)) IN ({open_case}) GROUP BY 1, 2"""
    q["cases.by_status"] = 'SELECT status, count(*) AS cases FROM "case" GROUP BY status'
    no_activity = ("NOT EXISTS (SELECT 1 FROM activity a WHERE a.related_entity = 'case' "
                   "AND a.related_id = c.id)")
    q["cases.without_activity"] = f"""
        SELECT count(CASE WHEN {no_activity} THEN 1 END) AS without, count(*) AS cases FROM "case" c"""
    q["examples.cases.without_activity"] = f"""
        SELECT c.legacy_source, c.legacy_id, c.subject, c.status, c.opened_at FROM "case" c
        WHERE {no_activity} ORDER BY c.id LIMIT 5"""
    q["cases.activities_by_week"] = f"""
        SELECT {d.week("coalesce(a.completed_at, a.due_at)")} AS week, a.type, a.owner, count(*) AS activities
        FROM activity a GROUP BY 1, 2, 3"""
    # Leads.
    q["leads.by_source_status"] = "SELECT source, status, count(*) AS leads FROM lead GROUP BY source, status"
    q["leads.open_by_age"] = f"""
        SELECT {buckets("l.created_at", rules.lead.age_days)} AS age, count(*) AS leads
        FROM lead l WHERE lower(trim(l.status)) IN ({open_lead}) GROUP BY 1"""
    known = ("l.email IS NOT NULL AND lower(trim(l.email)) IN "
             "(SELECT lower(trim(email)) FROM contact WHERE email IS NOT NULL)")
    q["leads.known_contacts"] = f"SELECT count(*) AS known, (SELECT count(*) FROM lead) FROM lead l WHERE {known}"
    q["examples.leads.known_contacts"] = f"""
        SELECT l.legacy_source, l.legacy_id, l.last_name, l.company, l.email, l.status FROM lead l WHERE {known}
        ORDER BY l.id LIMIT 5"""
    # Picklist noise: the values of each field with their counts and first record (variants
    # are told apart in Python, among the few distinct values; the first record of each is an
    # example).
    for table, column in picklist_fields():
        q[f"values.{table}.{column}"] = (f'SELECT {column} AS v, count(*) AS n, min(id) AS first FROM "{table}" '
                                         f"WHERE {column} IS NOT NULL GROUP BY {column}")
    # Dates out of order: each check's records out of order, and those judged (both dates
    # there, or the later one left empty by the load and kept in quarantine as out of order).
    def kept(column: str, first: str) -> str:
        text = d.text("quarantine")
        return (f"({column} IS NULL AND ({text} LIKE '%\"field\": \"{column}\"%\"reason\": \"before {first}%' "
                f"OR {text} LIKE '%\"field\":\"{column}\"%\"reason\":\"before {first}%'))")

    for key, table, first, then, wrong in (
            ("opportunity_closes_before_created", "opportunity", "created_at", "close_date",
             f"close_date < {d.day_of('created_at')}"),
            ("case_closed_before_opened", "case", "opened_at", "closed_at", "closed_at < opened_at"),
            ("activity_completed_long_before_due", "activity", "completed_at", "due_at",
             f"{d.days('completed_at', 'due_at')} > {rules.dates.activity_early_days}")):
        both = f"{first} IS NOT NULL AND {then} IS NOT NULL"
        q[f"dates.{key}"] = f"""
            SELECT count(CASE WHEN ({both} AND {wrong}) OR {kept(then, first)} THEN 1 END) AS out_of_order,
                   count(CASE WHEN ({both}) OR {kept(then, first)} THEN 1 END) AS judged
            FROM "{table}" """
        q[f"examples.dates.{key}"] = (f'SELECT legacy_source, legacy_id FROM "{table}" '
                                      f"WHERE ({both} AND {wrong}) OR {kept(then, first)} ORDER BY id LIMIT 5")
    tomorrow = d.as_stamp((as_of + timedelta(days=1)).isoformat())
    created = (("account", "created_at"), ("contact", "created_at"), ("lead", "created_at"),
               ("opportunity", "created_at"), ("case", "opened_at"))
    q["dates.created_in_future"] = "SELECT sum(n), sum(judged) FROM (" + " UNION ALL ".join(
        f'SELECT count(CASE WHEN {c} >= {tomorrow} THEN 1 END) AS n, count({c}) AS judged FROM "{t}"'
        for t, c in created) + ") counted"
    return q


def run_hand(connection: sa.Connection, queries: dict[str, str]) -> tuple[dict[str, list[tuple]], dict[str, float]]:
    """Every query run and fetched whole: rows and seconds per query."""
    rows: dict[str, list[tuple]] = {}
    seconds: dict[str, float] = {}
    for name, sql in queries.items():
        started = time.perf_counter()
        rows[name] = [tuple(r) for r in connection.exec_driver_sql(sql.replace("%", "%%")
                                                                     if connection.dialect.name == "postgresql"
                                                                     else sql).all()]
        seconds[name] = time.perf_counter() - started
    return rows, seconds


def _share(part: Any, whole: Any) -> float | None:
    return float(part or 0) / float(whole) if whole else None


def picklist_fields() -> list[tuple[str, str]]:
    """Every picklist field of the model, and every owner: the fields the report checks."""
    from crmmigrate.model import MODEL, FieldType

    return [(e.name, f.name) for e in MODEL for f in e.fields if f.type is FieldType.PICKLIST or f.name == "owner"]


def with_derived(rows: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The rows, plus the tables the report makes in Python from the hand SQL's rows: the
    picklist fields checked (distinct values and rows per field)."""
    rows = dict(rows)
    rows["picklists.fields"] = [(f"{t}.{c}", len(rows[f"values.{t}.{c}"]), sum(r[1] for r in rows[f"values.{t}.{c}"]))
                                for t, c in picklist_fields()]
    return rows


def hand_findings(rows: dict[str, list[tuple]]) -> dict[str, tuple]:
    """(count, of) of the report's findings, from the hand-written queries' rows ((count,)
    where the hand SQL counts no population of its own)."""
    found: dict[str, tuple] = {}
    open_count, past_due, quarter_end = rows["pipeline.open_totals"][0]
    judged, mismatched = rows["pipeline.probability_mismatch"][0]
    found["pipeline.past_due"] = (past_due, open_count)
    found["pipeline.closed_misspelt"] = (_closed_misspelt(rows), open_count)
    found["pipeline.quarter_end"] = (quarter_end, open_count)
    found["pipeline.probability_mismatch"] = (mismatched, judged)
    found["pipeline.amount_outliers"] = (sum(r[6] for r in rows["pipeline.amount_quartiles"]),
                                         sum(r[2] for r in rows["pipeline.amount_quartiles"]))
    accounts = sum(r[1] for r in rows["accounts.by_owner"])
    for key in ("accounts.parent_missing", "accounts.unused"):
        found[key] = (rows[key][0][0], accounts)
    found["accounts.hierarchy_cycles"] = (rows["accounts.cycles"][0][0], accounts)
    coverage = rows["contacts.role_coverage_by_stage"]
    opportunities = sum(r[1] for r in coverage)
    found["contacts.opportunities_without_role"] = (opportunities - sum(r[2] for r in coverage), opportunities)
    found["contacts.opportunities_without_primary"] = (opportunities - sum(r[3] for r in coverage), opportunities)
    for key in ("contacts.without_account", "cases.without_activity", "leads.known_contacts"):
        found[key] = tuple(rows[key][0])
    for key in rows:
        if key.startswith("dates."):
            found[key] = tuple(v or 0 for v in rows[key][0])
    return found


def _closed_misspelt(rows: dict[str, list[tuple]]) -> int:
    """Opportunities in a won or lost stage spelt otherwise: which spellings those are is told
    in Python among the few distinct stages (as the picklist variants are), with the shipped
    rules the bench reports with."""
    from crmmigrate.reporting import load_report_rules
    from crmmigrate.reporting.sections.picklists import variants
    from crmmigrate.validate import load_rules

    rules = load_report_rules()
    closed = list(rules.opportunity.closed)
    stages = set(load_rules().allowed("opportunity", "stage"))
    counts = {value: n for value, n, _first in rows["values.opportunity.stage"]}
    found = variants({**{c: 0 for c in closed}, **counts}, allowed=tuple(closed), rules=rules.picklists)
    spelt = {c.strip().lower() for c in closed}
    return sum(counts.get(v.value, 0) for v in found
               if v.variant_of in closed and v.value not in stages and v.value.strip().lower() not in spelt)


def hand_metrics(rows: dict[str, list[tuple]]) -> dict[str, float | None]:
    """The report's named metrics, from the hand-written queries' rows."""
    open_count, past_due, quarter_end = rows["pipeline.open_totals"][0]
    judged, mismatched = rows["pipeline.probability_mismatch"][0]
    with_amount = sum(r[2] for r in rows["pipeline.amount_quartiles"])
    outliers = sum(r[6] for r in rows["pipeline.amount_quartiles"])
    coverage = rows["contacts.role_coverage_by_stage"]
    opportunities = sum(r[1] for r in coverage)
    accounts = sum(r[1] for r in rows["accounts.by_owner"])
    depths = [depth for depth, _ in rows["accounts.hierarchy_depth"] if depth is not None]
    without_account, contacts = rows["contacts.without_account"][0]
    without_activity, cases = rows["cases.without_activity"][0]
    known, leads = rows["leads.known_contacts"][0]
    return {
        "opportunity.open_count": float(open_count),
        "opportunity.past_due_share": _share(past_due, open_count),
        "opportunity.probability_mismatch_share": _share(mismatched, judged),
        "opportunity.amount_outlier_share": _share(outliers, with_amount),
        "opportunity.quarter_end_share": _share(quarter_end, open_count),
        "opportunity.contact_role_coverage": _share(sum(r[2] for r in coverage), opportunities),
        "opportunity.primary_role_coverage": _share(sum(r[3] for r in coverage), opportunities),
        "account.parent_missing_share": _share(rows["accounts.parent_missing"][0][0], accounts),
        "account.hierarchy_cycles": float(rows["accounts.cycles"][0][0]),
        "account.hierarchy_depth": float(max(depths)) if depths else None,
        "account.unused_share": _share(rows["accounts.unused"][0][0], accounts),
        "contact.without_account_share": _share(without_account, contacts),
        "case.without_activity_share": _share(without_activity, cases),
        "case.open_count": float(sum(n for _, _, n in rows["cases.open_by_age"])),
        "lead.known_contact_share": _share(known, leads),
        "lead.open_count": float(sum(n for _, n in rows["leads.open_by_age"])),
        "dates.out_of_order": float(sum(rows[k][0][0] or 0 for k in rows if k.startswith("dates."))),
    }
