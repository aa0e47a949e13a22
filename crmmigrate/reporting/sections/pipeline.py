"""Pipeline: open opportunities by stage, owner and close month (count, amount, weighted by
probability), and the dirt a pipeline shows: past close dates, probabilities that contradict
their stage, amounts out of all proportion for their stage, close dates piled at quarter ends.

Amounts are never added across currencies: every amount table is grouped by currency too.

Outliers need each stage's quartiles, and SQLite has no percentile_cont (PostgreSQL's is an
ordered-set aggregate MariaDB lacks as well). The portable way is a window: within each stage
and currency, ROW_NUMBER() over the amounts in order and COUNT(*) over the group; the
nearest-rank quartile p is the smallest amount whose rank r has r >= p * n, i.e. for Q1
MIN(amount) where 4r >= n and for Q3 where 4r >= 3n: integer arithmetic every database does
alike. The database sorts and aggregates; only one row per stage and currency comes back.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmmigrate.reporting.model import Section
from crmmigrate.reporting.sections.picklists import variants
from crmmigrate.reporting.sections.base import (
    Context,
    biggest_first,
    count_if,
    finding,
    in_order,
    lowered,
    norm,
    provenance,
    set_metric,
    share,
)

TITLE = "Pipeline"


def is_open(stage: sa.ColumnElement, ctx: Context) -> sa.ColumnElement:
    """An opportunity not in a won or lost stage (compared ignoring case and outer spaces)."""
    return sa.or_(stage.is_(None), norm(stage).not_in(lowered(ctx.rules.opportunity.closed)))


def expected_probability(stage: sa.ColumnElement, ctx: Context) -> sa.ColumnElement:
    """The probability the rules give the opportunity's stage, NULL for a stage they do not name."""
    rules = ctx.rules.opportunity
    stages = {s: rules.expected(s) for s in [*rules.stage_probability, *rules.closed]}
    whens = {s.strip().lower(): sa.literal_column(repr(float(p))) for s, p in stages.items() if p is not None}
    if not whens:
        return sa.null()
    return sa.case(whens, value=norm(stage), else_=sa.null())


def tolerance(stage: sa.ColumnElement, ctx: Context) -> sa.ColumnElement:
    rules = ctx.rules.opportunity
    return sa.case((norm(stage).in_(lowered(rules.closed)), sa.literal_column("0.0")),
                   else_=sa.literal_column(repr(float(rules.probability_tolerance))))


def quarter_end(day: sa.ColumnElement, ctx: Context) -> sa.ColumnElement:
    """A date in the last `quarter_end_days` days of its quarter (31 Mar, 30 Jun, 30 Sep, 31 Dec)."""
    days = ctx.rules.opportunity.quarter_end_days
    month, dom = sa.extract("month", day), sa.extract("day", day)
    return sa.or_(*[sa.and_(month == m, dom > last - days) for m, last in ((3, 31), (6, 30), (9, 30), (12, 31))])


def build(ctx: Context) -> Section:
    section = Section(key="pipeline", title=TITLE)
    opp = ctx.t("opportunity")
    open_ = is_open(opp.c.stage, ctx)
    probability = sa.func.coalesce(opp.c.probability, expected_probability(opp.c.stage, ctx))
    weighted = opp.c.amount * probability / 100
    figures = [sa.func.count().label("count"), sa.func.sum(opp.c.amount).label("amount"),
               sa.func.sum(weighted).label("weighted")]
    note = ("open: not in a won or lost stage; weighted: amount × probability (the stage's, from the rules, "
            "where the record has none); amounts are not added across currencies")

    def by(key: str, title: str, column: sa.ColumnElement, name: str) -> None:
        column, currency = ctx.exact(column), ctx.exact(opp.c.currency)
        statement = (sa.select(column.label(name), currency.label("currency"), *figures).where(open_)
                     .group_by(column, currency))
        section.tables.append(ctx.table(key, title, statement, order=biggest_first(2), chart="bar", x=name,
                                        y=["amount", "weighted"], series="currency", note=note))

    by("open_by_stage", "Open opportunities by stage", opp.c.stage, "stage")
    by("open_by_owner", "Open opportunities by owner", opp.c.owner, "owner")
    _by_month(ctx, section, open_, figures, note)

    opened = ctx.count(opp, open_)
    set_metric(section, "opportunity.open_count", opened)
    _past_due(ctx, section, open_, opened)
    _closed_in_all_but_spelling(ctx, section, opened)
    _probabilities(ctx, section)
    _outliers(ctx, section)
    _quarter_end(ctx, section, open_, opened)
    return section


def _by_month(ctx: Context, section: Section, open_: sa.ColumnElement, figures: list, note: str) -> None:
    opp = ctx.t("opportunity")
    year, month = sa.extract("year", opp.c.close_date), sa.extract("month", opp.c.close_date)
    currency = ctx.exact(opp.c.currency)
    statement = (sa.select(year, month, currency, *figures).where(open_)
                 .group_by(year, month, currency))
    rows = [[f"{int(y):04d}-{int(m):02d}" if y is not None else None, *rest] for y, m, *rest in ctx.rows(statement)]
    section.tables.append(ctx.table("open_by_close_month", "Open opportunities by close month", rows=rows,
                                    order=in_order(0, 1),
                                    columns=["close_month", "currency", "count", "amount", "weighted"],
                                    chart="line", x="close_month", y=["amount"], series="currency", note=note))


def _past_due(ctx: Context, section: Section, open_: sa.ColumnElement, opened: int) -> None:
    opp = ctx.t("opportunity")
    late = sa.and_(open_, opp.c.close_date < ctx.as_of)
    count = ctx.count(opp, late)
    examples = ctx.examples(sa.select(*provenance(opp), opp.c.name, opp.c.stage, opp.c.close_date, opp.c.owner)
                            .where(late).order_by(opp.c.close_date, opp.c.id))
    section.findings.append(finding(
        "pipeline.past_due", f"Open opportunities whose close date has passed (before {ctx.as_of.isoformat()})",
        count, opened, examples=examples, table="open_by_close_month",
        hint="Close them as won or lost, or move the close date: a forecast counting them overstates the pipeline."))
    set_metric(section, "opportunity.past_due_share", share(count, opened))


def _closed_in_all_but_spelling(ctx: Context, section: Section, opened: int) -> None:
    """Open opportunities whose stage is a won or lost stage misspelt ('Clsoed Won', 'closed-won'):
    the CRM counts them open, and so does this report, but they inflate the pipeline by what
    they hold. Found by the picklist section's own test of alike values."""
    opp = ctx.t("opportunity")
    column = ctx.exact(opp.c.stage)
    counts = {value: count for value, count in ctx.rows(
        sa.select(column, sa.func.count()).where(opp.c.stage.is_not(None)).group_by(column))}
    closed = list(ctx.rules.opportunity.closed)
    stages = set(ctx.validation.allowed("opportunity", "stage"))
    found = variants({**{c: 0 for c in closed}, **counts}, allowed=tuple(closed), rules=ctx.rules.picklists)
    misspelt = sorted(v.value for v in found
                      if v.variant_of in closed and v.value not in stages and is_open_value(v.value, ctx))
    count = ctx.count(opp, column.in_(misspelt)) if misspelt else 0
    examples = ctx.examples(sa.select(*provenance(opp), opp.c.name, opp.c.stage, opp.c.amount, opp.c.currency)
                            .where(column.in_(misspelt)).order_by(opp.c.id)) if misspelt else []
    section.findings.append(finding(
        "pipeline.closed_misspelt", "Open opportunities whose stage is a won or lost stage misspelt", count, opened,
        examples=examples, table="open_by_stage",
        hint="Map each spelling to the closed stage in the mapping's value map: the CRM counts these deals open, "
             "so its pipeline and forecast hold them."))


def is_open_value(value: str, ctx: Context) -> bool:
    """`is_open` for one value in Python (the rules' closed stages, ignoring case and outer spaces)."""
    return value.strip().lower() not in lowered(ctx.rules.opportunity.closed)


def _probabilities(ctx: Context, section: Section) -> None:
    opp = ctx.t("opportunity")
    expected = expected_probability(opp.c.stage, ctx)
    judged = sa.and_(opp.c.probability.is_not(None), expected.is_not(None))
    wrong = sa.and_(judged, sa.func.abs(opp.c.probability - expected) > tolerance(opp.c.stage, ctx))
    stage = ctx.exact(opp.c.stage)
    statement = (sa.select(stage.label("stage"), sa.func.count().label("count"),
                           sa.func.min(opp.c.probability).label("min_probability"),
                           sa.func.avg(opp.c.probability).label("avg_probability"),
                           sa.func.max(opp.c.probability).label("max_probability"),
                           sa.func.max(expected).label("expected"),
                           count_if(wrong).label("contradicting"))
                 .group_by(stage))
    section.tables.append(ctx.table(
        "probability_by_stage", "Probability by stage", statement, order=biggest_first(1), chart="bar", x="stage",
        y=["avg_probability"],
        note=f"expected: the rules' probability for the stage; an open stage may be "
             f"{ctx.rules.opportunity.probability_tolerance:g} points away, a closed one none"))
    count, of = ctx.count(opp, wrong), ctx.count(opp, judged)
    examples = ctx.examples(sa.select(*provenance(opp), opp.c.name, opp.c.stage, opp.c.probability,
                                      expected.label("expected")).where(wrong)
                            .order_by(sa.desc(sa.func.abs(opp.c.probability - expected)), opp.c.id))
    section.findings.append(finding(
        "pipeline.probability_mismatch", "Opportunities whose probability contradicts their stage", count, of,
        examples=examples, table="probability_by_stage",
        hint="A weighted pipeline multiplies by the probability: set it from the stage (or fix the stage)."))
    set_metric(section, "opportunity.probability_mismatch_share", share(count, of))


def _outliers(ctx: Context, section: Section) -> None:
    opp = ctx.t("opportunity")
    rules = ctx.rules.opportunity.outliers
    stage, currency = ctx.exact(opp.c.stage), sa.func.coalesce(ctx.exact(opp.c.currency), "")
    group = [stage, currency]
    ranked = (sa.select(stage.label("stage"), currency.label("currency"), opp.c.amount.label("amount"),
                        sa.func.row_number().over(partition_by=group, order_by=opp.c.amount).label("r"),
                        sa.func.count().over(partition_by=group).label("n"))
              .where(opp.c.amount.is_not(None)).subquery("ranked"))
    n = sa.func.min(ranked.c.n)
    quartiles = ctx.rows(sa.select(ranked.c.stage, ranked.c.currency, n.label("n"),
                                   sa.func.min(sa.case((4 * ranked.c.r >= ranked.c.n, ranked.c.amount))).label("q1"),
                                   sa.func.min(sa.case((4 * ranked.c.r >= 3 * ranked.c.n, ranked.c.amount))))
                         .group_by(ranked.c.stage, ranked.c.currency).having(n >= rules.min_group))
    # The fences go back as parameters of one CASE per side: a scan that compares each amount
    # with its own group's fences (joining the window query back would run it once more per
    # query, and SQLite would compare every amount with every group).
    fences = {(s, c): (q1 - rules.iqr_factor * (q3 - q1), q3 + rules.iqr_factor * (q3 - q1))
              for s, c, _, q1, q3 in quartiles}
    mine = [(sa.and_(stage == s, currency == c), f) for (s, c), f in fences.items()]
    counted: dict[tuple, int] = {}
    examples: list[dict] = []
    if mine:
        lower = sa.case(*[(where, low) for where, (low, _) in mine], else_=None)
        upper = sa.case(*[(where, high) for where, (_, high) in mine], else_=None)
        outside = sa.or_(opp.c.amount > upper, opp.c.amount < lower)
        counted = {(s, c): k for s, c, k in ctx.rows(
            sa.select(stage, currency, sa.func.count()).where(outside).group_by(stage, currency))}
        examples = ctx.examples(sa.select(*provenance(opp), opp.c.name, opp.c.stage, opp.c.currency, opp.c.amount,
                                          upper.label("upper_fence")).where(outside)
                                .order_by(sa.desc(opp.c.amount), opp.c.id))
    rows = [[s, c, n, q1, q3, round(fences[s, c][1], 4), counted.get((s, c), 0)] for s, c, n, q1, q3 in quartiles]
    section.tables.append(ctx.table(
        "amount_quartiles", "Amount quartiles by stage and currency", rows=rows, order=biggest_first(6, 0, 1),
        columns=["stage", "currency", "n", "q1", "q3", "upper_fence", "outliers"],
        note=f"outlier: beyond Q3 + {rules.iqr_factor:g} × IQR or below Q1 - {rules.iqr_factor:g} × IQR; "
             f"judged where a stage has at least {rules.min_group} amounts in a currency"))
    count, judged = sum(counted.values()), sum(row[2] for row in quartiles)
    section.findings.append(finding(
        "pipeline.amount_outliers", "Amounts that are outliers for their stage", count, judged, examples=examples,
        table="amount_quartiles",
        hint="Often a currency or unit slip (cents as units, a missing decimal point): check them in the old system."))
    set_metric(section, "opportunity.amount_outlier_share", share(count, judged))


def _quarter_end(ctx: Context, section: Section, open_: sa.ColumnElement, opened: int) -> None:
    opp = ctx.t("opportunity")
    late = quarter_end(opp.c.close_date, ctx)
    days = ctx.rules.opportunity.quarter_end_days
    in_end = sa.case((late, opp.c.amount), else_=0)
    currency = ctx.exact(opp.c.currency)
    statement = (sa.select(currency.label("currency"), sa.func.count().label("count"),
                           count_if(late).label("quarter_end_count"),
                           sa.func.sum(opp.c.amount).label("amount"), sa.func.sum(in_end).label("quarter_end_amount"))
                 .where(open_).group_by(currency))
    rows = [[*row, share(row[4] or 0, row[3] or 0)] for row in ctx.rows(statement)]
    section.tables.append(ctx.table(
        "quarter_end", f"Open pipeline closing in the last {days} days of a quarter", rows=rows,
        order=biggest_first(3, 0),
        columns=["currency", "count", "quarter_end_count", "amount", "quarter_end_amount", "quarter_end_share"],
        chart="bar", x="currency", y=["amount", "quarter_end_amount"],
        note="quarter_end_share: the share of the currency's open amount"))
    count = ctx.count(opp, open_, late)
    examples = ctx.examples(sa.select(*provenance(opp), opp.c.name, opp.c.stage, opp.c.close_date, opp.c.amount)
                            .where(open_, late).order_by(opp.c.close_date, opp.c.id))
    section.findings.append(finding(
        "pipeline.quarter_end", f"Open opportunities closing in the last {days} days of a quarter", count, opened,
        severity="info", examples=examples, table="quarter_end",
        hint="A pile at quarter ends is often a default close date rather than a forecast."))
    set_metric(section, "opportunity.quarter_end_share", share(count, opened))
