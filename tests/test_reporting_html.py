"""The report dashboard (crmmigrate.reporting.html): a hand-built Report with every kind of
table, chart, finding, reconciliation line and gate check, hostile legacy values in each place
a value can go, rendered and read back as a browser would."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.errors import OutputError
from crmmigrate.reporting import build_report, load_report_rules, open_target
from crmmigrate.reporting.html import (
    CHART_CATEGORIES,
    TABLE_ROWS,
    chart_svg,
    render_html,
    write_html,
)
from crmmigrate.reporting.numbers import format_number, metric_text, percent
from crmmigrate.reporting.rules import ReportRules
from crmmigrate.reporting.model import (
    Finding,
    GateCheck,
    ReconcileLine,
    Report,
    Section,
    Table,
)
from tests.browser import Dom, chromium, png_pixels
from tests.reporting_target import AS_OF, planted_target

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE_BREAKER = '"><img src=x onerror="document.body.dataset.pwned=1">'
QUOTES = "O'Brien \"Bob\" & Co"
FORMULA = '=HYPERLINK("http://evil.example/x","click")'
RTL = "שלום עולם מכירות"
CJK = "北京贸易有限公司华东区销售部第一分公司"
LONG = ("Very long owner name " * 30).strip()
EXAMPLE_URL = "https://legacy.example.com/account/17"

runner = CliRunner()

SECTION_TITLES = ("Pipeline", "Accounts", "Contacts and contact roles", "Picklist noise")


def hostile_report() -> Report:
    by_stage = Table(
        key="open_by_stage", title="Open opportunities by stage",
        columns=["stage", "count", "amount", "weighted"],
        rows=[["Prospecting", 120, 1_250_000.5, 125_000.05],
              ["Negotiation", 40, Decimal("980000.00"), 686_000.0],
              [SCRIPT, 3, 1200.0, None],
              [None, 2, -500.0, -50.0]],
        chart="bar", x="stage", y=["amount"], note="weighted: amount × probability",
    )
    by_owner = Table(
        key="open_by_owner", title="Open pipeline by owner and stage",
        columns=["owner", "stage", "amount"],
        rows=[[LONG, "Prospecting", 5000.0], [LONG, "Negotiation", 2500.0],
              [CJK, "Prospecting", 7000.0], [RTL, "Negotiation", -1000.0],
              [QUOTES, "Closed Won", None]],
        chart="stacked", x="owner", y=["amount"], series="stage",
    )
    by_month = Table(
        key="by_close_month", title="Open pipeline by close month",
        columns=["close_month", "count", "amount"],
        rows=[["2024-03", 5, 50_000.0], ["2024-01", 3, 12_000.0], ["2024-02", 0, None],
              ["2024-04", 8, 91_500.25]],
        chart="line", x="close_month", y=["count"],
    )
    coverage = Table(
        key="role_coverage", title="Opportunities with contact roles",
        columns=["kind", "opportunities", "share"],
        rows=[["with a contact role", 300, 0.42], ["with a primary one", 100, 0.14]],
        chart="none", formats={"share": "percent"},
    )
    variants = Table(
        key="stage_variants", title="Values of opportunity.stage that differ only a little",
        columns=["value", "count"],
        rows=[["Closed Won", 210], ["closed-won", 4], [FORMULA, 1], [ATTRIBUTE_BREAKER, 1],
              ["Closed Won ", 1], [" Closed  Won", 1]],
        chart="bar", x="value", y=["count"],
    )
    past_due = Finding(
        key="pipeline.past_due", title="Open opportunities whose close date has passed",
        count=37, of=165, severity="error", table="open_by_stage",
        hint="Move the close date or close them before users see the forecast.",
        examples=[{"legacy_source": "legacy_crm", "legacy_id": "OPP-17", "name": SCRIPT,
                   "close_date": "2023-01-31"},
                  {"name": RTL, "legacy_id": "OPP-18", "legacy_source": "sales_reps",
                   "close_date": None}],
    )
    probability = Finding(
        key="pipeline.stage_probability", title="Closed Won at 10%", count=2, of=165,
        severity="warning", table="open_by_stage", hint="Probability contradicts the stage.",
        examples=[{"legacy_source": "legacy_crm", "legacy_id": FORMULA, "url": EXAMPLE_URL}],
    )
    no_mismatch = Finding(
        key="pipeline.clean", title="Amounts in no currency", count=0, of=165, severity="error",
        table="open_by_stage", hint="Give every amount its currency.",
    )
    quarter_end = Finding(
        key="pipeline.quarter_end", title="Pipeline closing in the last days of a quarter",
        count=3, of=10_000, severity="info", table=None,
    )
    noise = Finding(
        key="picklists.opportunity.stage", title=f"Variants of 'Closed Won': {ATTRIBUTE_BREAKER}",
        count=6, of=216, severity="warning", table="stage_variants",
        examples=[{"legacy_source": CJK, "legacy_id": LONG, "value": "Clsoed Won"},
                  {"legacy_source": "calls", "legacy_id": "bad\udcffbyte", "value": "tab\there\nnull\x00"}],
    )
    sections = [
        Section(key="pipeline", title="Pipeline", tables=[by_stage, by_owner, by_month],
                findings=[past_due, probability, no_mismatch, quarter_end],
                metrics={"opportunity.past_due_share": 37 / 165, "opportunity.open_count": 165.0}),
        Section(key="accounts", title="Accounts", tables=[], findings=[]),
        Section(key="contacts", title="Contacts and contact roles", tables=[coverage],
                metrics={"opportunity.contact_role_coverage": 0.42}),
        Section(key="picklists", title="Picklist noise", tables=[variants], findings=[noise]),
    ]
    reconciliation = [
        ReconcileLine(aggregate="pipeline amount by stage", key="Negotiation", legacy=1_000_000.5,
                      target=980_000.5, explained={"rejected": 15_000.0, "merged": 5_000.0, "filtered": 0.0}),
        ReconcileLine(aggregate="pipeline amount by stage", key=SCRIPT, legacy=2_000.0,
                      target=1_200.0, explained={"rejected": 300.0}, unexplained=500.0),
        ReconcileLine(aggregate="contacts by owner", key=RTL, legacy=250, target=240,
                      explained={"merged": 10}),
    ]
    gate = [
        GateCheck(metric="opportunity.contact_role_coverage", value=0.42, limit=0.5, op="min", passed=False),
        GateCheck(metric="opportunity.past_due_share", value=37 / 165, limit=0.25, op="max", passed=True),
        GateCheck(metric="account.hierarchy_cycles", value=None, limit=0, op="max", passed=True),
    ]
    return Report(target="sqlite:///demo/migration.db", generated_at="2026-12-05T16:00:00Z",
                  as_of="2026-12-01", sections=sections, reconciliation=reconciliation, gate=gate,
                  seconds=1.25)


class Blocks(HTMLParser):
    """Each element with an id, and the text and tags inside it (ids of nested blocks too)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, str | None]] = []
        self.text: dict[str, list[str]] = {}
        self.tags: dict[str, list[tuple[str, dict[str, str | None]]]] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for block in self._ids():
            self.tags[block].append((tag, attributes))
        if tag not in ("br", "meta", "img", "input", "hr", "link"):
            self.open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text[attributes["id"]] = []
                self.tags[attributes["id"]] = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for block in self._ids():
            self.tags[block].append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if any(name == tag for name, _ in self.open):
            while self.open.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        for block in self._ids():
            self.text[block].append(data)

    def _ids(self) -> list[str]:
        return [i for _, i in self.open if i]

    def of(self, block: str) -> str:
        return "".join(self.text[block])


@pytest.fixture
def report() -> Report:
    return hostile_report()


@pytest.fixture
def page(report: Report) -> str:
    return render_html(report)


# --- numbers --------------------------------------------------------------------------------


def test_numbers_are_formatted_by_kind() -> None:
    assert format_number(1234567) == "1,234,567"
    assert format_number(1234567.5) == "1,234,567.50"
    assert format_number(Decimal("980000.00")) == "980,000.00"
    assert format_number(3.0, "count") == "3"
    assert format_number(0.4231, "percent") == "42.3%"
    assert format_number(12.0, "amount") == "12.00"
    assert format_number(-500.0) == "-500.00"
    assert format_number(None) == format_number(float("nan")) == format_number(float("inf")) == "n/a"
    assert format_number(0.4231, "number") == "0.4231" and format_number(165.0, "number") == "165"


def test_metrics_read_as_their_kind() -> None:
    assert metric_text("opportunity.contact_role_coverage", 0.42) == "42.0%"
    assert metric_text("opportunity.open_count", 1234.0) == "1,234"
    assert metric_text("not.a_metric", 0.125) == "0.125"
    assert metric_text("opportunity.open_count", None) == "n/a"


def test_columns_read_as_their_kind() -> None:
    table = Table(key="t", title="t", columns=["currency", "count", "amount", "quarter_end_share", "avg"],
                  rows=[["EUR", Decimal("12"), Decimal("5000.00"), 0.1295, 0.5],
                        ["USD", Decimal("3"), Decimal("7.50"), None, 2.0]],
                  formats={"avg": "number"})
    page = render_html(Report(target="t", generated_at="g", as_of="a",
                              sections=[Section(key="s", title="S", tables=[table])]))
    cells = re.findall(r'<td class="num">([^<]*)</td>', page)
    assert cells == ["12", "5,000.00", "13.0%", "0.5", "3", "7.50", "2"]


def test_percent_never_rounds_to_none_or_all() -> None:
    assert percent(3 / 10_000) == "<0.1%"
    assert percent(9_999 / 10_000) == ">99.9%"
    assert percent(0.0) == "0.0%" and percent(1.0) == "100.0%"


# --- structure ------------------------------------------------------------------------------


def test_summary_comes_first_with_verdict_gate_metrics_and_findings(page: str) -> None:
    blocks = Blocks(page)
    verdict = blocks.of("verdict")
    assert verdict.startswith("FAILED: 1 of 3 gate checks")  # the fixture's own three limits
    assert "opportunity.contact_role_coverage 42.0%, wanted at least 50.0%" in verdict
    summary = blocks.of("summary")
    for metric, value in (("opportunity.contact_role_coverage", "42.0%"),
                          ("opportunity.past_due_share", "22.4%"), ("opportunity.open_count", "165")):
        assert f"{metric}{value}" in summary
    assert "open opportunities whose close date has passed / open ones" in summary  # its meaning
    assert "not computed (no such data)" in summary  # the gate check with no value
    assert "at most 25.0%" in summary and "at most 0" in summary
    # Findings counted by severity, errors first in the list.
    counts = re.findall(r'<div class="figure (\w+)"><span class="value">(\d+)</span>', page)
    assert counts == [("error", "1"), ("warning", "2"), ("info", "1")]
    assert summary.index("close date has passed") < summary.index("Closed Won at 10%") \
        < summary.index("last days of a quarter")
    assert "3 lines" in summary and "1 difference the ledger does not explain" in summary
    assert page.index('id="summary"') < page.index('id="section-pipeline"')


def test_contents_link_every_section_and_table(page: str, report: Report) -> None:
    links = set(re.findall(r'href="#([^"]+)"', page))
    ids = set(re.findall(r'id="([^"]+)"', page))
    assert links <= ids, links - ids
    for section in report.sections:
        assert f"section-{section.key}" in links
        for table in section.tables:
            assert f"table-{section.key}-{table.key}" in links
    assert "reconciliation" in links and "summary" in links


def test_each_finding_is_flagged_beside_its_table(page: str) -> None:
    blocks = Blocks(page)
    stage = blocks.tags["table-pipeline-open_by_stage"]
    found = [attrs["id"] for tag, attrs in stage if tag == "div" and (attrs.get("class") or "").startswith("finding")]
    assert found == ["finding-pipeline-past_due", "finding-pipeline-stage_probability", "finding-pipeline-clean"]
    text = blocks.of("table-pipeline-open_by_stage")
    # The flags in the table's heading, then count, rate, hint and the examples with provenance.
    assert "Open opportunities by stage 1 error 1 warning" in text
    past_due = blocks.of("finding-pipeline-past_due")
    assert "37 of 165 (22.4%)" in past_due
    assert "Move the close date" in past_due
    assert "legacy_sourcelegacy_idnameclose_date" in past_due  # provenance first
    assert "legacy_crmOPP-17" in past_due and "sales_repsOPP-18" in past_due
    assert 'class="finding error"' in page and 'class="finding warning"' in page
    # Examples scroll in their box on a narrow screen, not the page.
    assert '<details open><summary>2 examples</summary><div class="tablewrap"><table>' in page
    # A finding naming no table is listed at the end of its section.
    assert "finding-pipeline-quarter_end" in {a.get("id") for _, a in blocks.tags["findings-pipeline"]}
    assert "finding-picklists-opportunity-stage" in {
        a.get("id") for _, a in blocks.tags["table-picklists-stage_variants"]}


def test_a_finding_of_nothing_is_a_clean_check_not_dirt(page: str) -> None:
    blocks = Blocks(page)
    clean = blocks.of("finding-pipeline-clean")
    assert clean == "CLEAN Amounts in no currencynone of 165"  # no hint, no rate: nothing to do
    # Not counted among the errors, not flagged in the table's heading; last in the summary.
    assert re.findall(r'<div class="figure (\w+)"><span class="value">(\d+)</span>', page)[0] == ("error", "1")
    assert "Open opportunities by stage 1 error 1 warning" in blocks.of("table-pipeline-open_by_stage")
    summary = blocks.of("summary")
    assert summary.index("last days of a quarter") < summary.index("Amounts in no currency")
    assert '<tr class="clean"><td><span class="tag pass">CLEAN</span>' in page


def test_one_bar_per_row_and_a_line_per_series(page: str) -> None:
    blocks = Blocks(page)

    def bars(block: str) -> list[dict[str, str | None]]:
        return [a for t, a in blocks.tags[block] if t == "rect" and a.get("class") == "bar"]

    assert len(bars("table-pipeline-open_by_stage")) == 4  # the negative one too
    assert len(bars("table-picklists-stage_variants")) == 6
    # Stacked: one segment per non-empty (owner, stage); the long owner's two rows stack.
    assert len(bars("table-pipeline-open_by_owner")) == 4
    lines = [a for t, a in blocks.tags["table-pipeline-by_close_month"] if t == "polyline"]
    assert len(lines) == 1
    # Sorted by month, whatever the rows' order.
    points = [tuple(map(float, p.split(","))) for p in lines[0]["points"].split()]
    assert [x for x, _ in points] == sorted(x for x, _ in points) and len(points) == 4
    # No chart where the hint says none: the table alone.
    assert not [t for t, _ in blocks.tags["table-contacts-role_coverage"] if t == "svg"]
    assert "42.0%" in blocks.of("table-contacts-role_coverage")


def test_negative_bars_start_at_zero() -> None:
    table = Table(key="t", title="t", columns=["k", "v"], rows=[["up", 100], ["down", -50]],
                  chart="bar", x="k", y=["v"])
    svg = chart_svg(table)
    rects = re.findall(r'<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    (up_x, up_w), (down_x, down_w) = [(float(x), float(w)) for x, w in rects]
    assert down_x + down_w == pytest.approx(up_x, abs=0.11)  # both meet at zero
    assert up_w == pytest.approx(2 * down_w, abs=0.2)
    assert "-50" in svg and ">-50<" in svg


def test_a_line_over_numbers_runs_in_their_order() -> None:
    table = Table(key="t", title="t", columns=["days", "n"], rows=[[10, 1], [2, 2], [None, 5], [1, 3]],
                  chart="line", x="days", y=["n"])
    labels = re.findall(r'text-anchor="middle">([^<]*)</text>', chart_svg(table))
    assert labels[:4] == ["1", "2", "10", "(blank)"]


def test_none_values_draw_no_bar_and_break_the_line() -> None:
    bars = Table(key="t", title="t", columns=["k", "v"], rows=[["a", 1], ["b", None]],
                 chart="bar", x="k", y=["v"])
    assert chart_svg(bars).count('<rect class="bar"') == 1 and ">n/a<" in chart_svg(bars)
    line = Table(key="t", title="t", columns=["m", "v"],
                 rows=[["1", 1], ["2", 2], ["3", None], ["4", 4], ["5", 5]], chart="line", x="m", y=["v"])
    assert chart_svg(line).count("<polyline") == 2


def test_a_missing_row_joins_the_line_and_a_lone_point_is_marked() -> None:
    months = [f"2024-{m:02d}" for m in range(1, 13)] * 8  # 96 points: too many to mark each
    rows = [[f"{2000 + i}-{m}", "EUR", float(i)] for i, m in enumerate(months)]
    rows += [["2000-01", "USD", 5.0], ["2000-03", "USD", 7.0]]  # no USD row for 2000-02
    rows += [["2001-05", "CNY", 1.0]]
    table = Table(key="t", title="t", columns=["month", "currency", "amount"], rows=rows,
                  chart="line", x="month", y=["amount"], series="currency")
    svg = chart_svg(table)
    assert svg.count("<polyline") == 2  # EUR, and USD across its missing month
    assert svg.count("<circle") == 1 and "2001-05 · CNY: 1.00" in svg


def test_series_by_hue_and_value_columns_by_lightness() -> None:
    rows = [["Prospecting", "RUB", 100.0, 50.0], ["Prospecting", "USD", 80.0, 20.0],
            ["Negotiation", "RUB", 60.0, 45.0]]
    table = Table(key="t", title="t", columns=["stage", "currency", "amount", "weighted"], rows=rows,
                  chart="bar", x="stage", y=["amount", "weighted"], series="currency")
    svg = chart_svg(table)
    fills = dict(re.findall(r'fill="(#[0-9a-f]{6})"><title>[^:]*· ([A-Z]{3} · \w+):', svg))
    assert {name: fill for fill, name in fills.items()} == {
        "RUB · amount": "#4e79a7", "RUB · weighted": "#a6bcd3",
        "USD · amount": "#f28e2b", "USD · weighted": "#f8c695"}
    # Four bars a stage: the chart takes the page's width and its table goes under it.
    page = render_html(Report(target="t", generated_at="g", as_of="a",
                              sections=[Section(key="s", title="S", tables=[table])]))
    assert '<div class="pair single"><div><svg class="chart bars"' in page
    assert "n/a" not in chart_svg(table)  # USD has no Negotiation row: nothing to say
    assert 'viewBox="0 0 964 ' in page


def test_a_table_of_many_columns_goes_under_its_chart() -> None:
    def layout(columns: list[str]) -> str:
        table = Table(key="t", title="t", columns=columns, rows=[[f"r{i}", *range(1, len(columns))]
                                                              for i in range(3)],
                      chart="bar", x=columns[0], y=[columns[1]])
        page = render_html(Report(target="t", generated_at="g", as_of="a",
                                  sections=[Section(key="s", title="S", tables=[table])]))
        return re.search(r'<div class="(pair[^"]*)">', page).group(1)

    assert layout(["stage", "count", "amount"]) == "pair"
    assert layout(["stage", "count", "min_p", "avg_p", "max_p", "expected_p"]) == "pair single"


def test_counts_tick_in_whole_numbers_and_all_zero_draws_nothing() -> None:
    small = Table(key="t", title="t", columns=["k", "n"], rows=[["a", 2], ["b", 1]],
                  chart="bar", x="k", y=["n"])
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', chart_svg(small))
    assert ticks == ["0", "1", "2"]
    zero = Table(key="t", title="t", columns=["k", "n"], rows=[["a", 0], ["b", None]],
                 chart="bar", x="k", y=["n"])
    assert chart_svg(zero) == '<p class="meta">No chart: every value of n is 0 or empty.</p>'


def test_many_categories_draw_the_biggest_and_say_so() -> None:
    rows = [[f"owner {i * 37 % 100:03d}", i] for i in range(100)]  # not in the names' order
    table = Table(key="t", title="t", columns=["owner", "n"], rows=rows, chart="bar", x="owner", y=["n"])
    svg = chart_svg(table)
    assert svg.count('<rect class="bar"') == CHART_CATEGORIES
    assert f"owner {99 * 37 % 100:03d}<" in svg and "owner 000<" not in svg
    assert f"The {CHART_CATEGORIES} biggest of 100 categories drawn" in svg


def test_many_categories_listed_in_order_keep_the_first() -> None:
    weeks = [[f"2024-W{w:02d}", "call", 100 if w % 2 else 1] for w in range(52, 0, -1)]  # newest first
    table = Table(key="t", title="t", columns=["week", "type", "n"], rows=weeks, chart="stacked",
                  x="week", y=["n"], series="type")
    svg = chart_svg(table)
    labels = re.findall(r'text-anchor="end">(2024-W\d\d)<', svg)
    assert labels == [f"2024-W{w:02d}" for w in range(52, 52 - CHART_CATEGORIES, -1)]
    assert f"The first {CHART_CATEGORIES} of 52 categories drawn." in svg
    depths = Table(key="t", title="t", columns=["depth", "n"], rows=[[d, d % 3] for d in range(1, 41)],
                   chart="bar", x="depth", y=["n"])  # in order as numbers, not as text
    assert re.findall(r'text-anchor="end">(\d+)<', chart_svg(depths)) == [str(d) for d in range(1, 26)]


def test_many_series_stack_the_rest_as_other() -> None:
    rows = [["a", f"s{i}", i + 1] for i in range(12)]
    table = Table(key="t", title="t", columns=["k", "s", "v"], rows=rows, chart="stacked",
                  x="k", y=["v"], series="s")
    svg = chart_svg(table)
    assert svg.count('<rect class="bar"') == 8 and "other (5)" in svg
    assert ">78<" in svg  # the total of all twelve, at the end of the stack


def test_a_hint_naming_a_missing_column_is_said_not_drawn() -> None:
    table = Table(key="t", title="t", columns=["k", "v"], rows=[["a", 1]], chart="bar", x="k", y=["amount"])
    assert chart_svg(table) == '<p class="meta">no chart: the hint names amount</p>'


def test_long_and_wide_labels_are_shortened_with_the_whole_in_a_tooltip(page: str) -> None:
    blocks = Blocks(page)
    owner = "".join(blocks.text["table-pipeline-open_by_owner"])
    assert "Very long owner name Ve…" in owner
    assert f"<title>{LONG}</title>" in page  # the whole name on hover
    # Chinese characters are twice as wide: fewer of them fit.
    label = re.search(r'text-anchor="end">(北京[^<]*)</text>', page).group(1)
    assert label.endswith("…") and len(label) <= 15


def test_table_rows_are_capped_with_a_note() -> None:
    rows = [[f"owner {i}", i] for i in range(TABLE_ROWS + 30)]
    table = Table(key="t", title="t", columns=["owner", "n"], rows=rows, truncated=400)
    page = render_html(Report(target="t", generated_at="g", as_of="a",
                              sections=[Section(key="s", title="S", tables=[table])]))
    assert page.count("<td class=\"text\"><bdi>owner ") == TABLE_ROWS
    assert f"430 more rows not shown (the first {TABLE_ROWS} are)." in page


def test_reconciliation_flags_what_the_ledger_does_not_explain(page: str) -> None:
    blocks = Blocks(page)
    amounts = blocks.of("reconcile-pipeline-amount-by-stage")
    assert "1 UNEXPLAINED" in amounts
    assert "rejectedmergedfiltered" in amounts
    # Unexplained first; amounts with two decimals; the legacy - target difference.
    assert amounts.index(SCRIPT) < amounts.index("Negotiation")
    assert "1,000,000.50980,000.5020,000.0015,000.005,000.000.000.00explained" in amounts
    assert "2,000.001,200.00800.00300.000.000.00500.00UNEXPLAINED" in amounts
    # Zeros greyed, so the numbers that explain something stand out.
    assert '<td class="num zero">0.00</td>' in page and '<td class="num">15,000.00</td>' in page
    counts = blocks.of("reconcile-contacts-by-owner")
    assert "EXPLAINED" in counts and "25024010" in counts  # counts as whole numbers


def test_an_empty_table_and_a_finding_with_nothing_to_judge_say_so() -> None:
    table = Table(key="open", title="Open cases", columns=["age", "cases"], rows=[], chart="bar",
                  x="age", y=["cases"], note="open: New, Escalated")
    finding = Finding(key="cases.old", title="Cases open for years", count=0, of=0, table="open")
    clean = Finding(key="cases.closed", title="Cases closed before opened", count=0, of=5)
    gate = [GateCheck(metric="case.open_count", value=None, limit=10, op="max", passed=True)]
    page = render_html(Report(target="t", generated_at="g", as_of="a", gate=gate, sections=[
        Section(key="cases", title="Cases", tables=[table], findings=[finding, clean])]))
    blocks = Blocks(page)
    assert blocks.of("table-cases-open") == (
        "Open casesNo rows: the target holds nothing this counts. open: New, Escalated"
        "NO DATA Cases open for yearsnothing to judge: the target holds no such records")
    assert "<table" not in page.split('id="table-cases-open"')[1]
    assert "NO DATA" in blocks.of("summary") and "Cases open for yearsCases00–" in blocks.of("summary")
    assert 'class="figure error"' not in page  # no dirt: no boxes counting none of it
    # What had nothing to judge comes after what was judged clean.
    assert blocks.of("summary").index("closed before opened") < blocks.of("summary").index("open for years")
    assert blocks.of("verdict") == "PASSED: all 1 gate check within their thresholds (1 not computed: no such data)"


def test_a_required_metric_not_computed_fails_by_name() -> None:
    gate = [GateCheck(metric="opportunity.contact_role_coverage", value=None, limit=0.5, op="min", passed=False)]
    page = render_html(Report(target="t", generated_at="g", as_of="a", gate=gate))
    assert Blocks(page).of("verdict") == (
        "FAILED: 1 of 1 gate check: opportunity.contact_role_coverage not computed, wanted at least 50.0% "
        "(1 not computed: no such data)")


def test_no_gate_says_so() -> None:
    page = render_html(Report(target="t", generated_at="g", as_of="a"))
    assert "No gate: no --fail-on threshold was set" in page
    assert "No report flagged any dirt." in page


def test_passed_gate() -> None:
    gate = [GateCheck(metric="m", value=1.0, limit=0.5, op="min", passed=True)]
    page = render_html(Report(target="t", generated_at="g", as_of="a", gate=gate))
    assert '<p class="verdict pass" id="verdict">PASSED: all 1 gate check within their thresholds' in page


# --- safety ---------------------------------------------------------------------------------


def test_every_legacy_value_is_escaped(page: str) -> None:
    assert SCRIPT not in page and ATTRIBUTE_BREAKER not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=&quot;document.body.dataset.pwned=1&quot;&gt;" in page
    assert "O&#x27;Brien &quot;Bob&quot; &amp; Co" in page
    for value in (RTL, CJK, "=HYPERLINK(&quot;http://evil.example/x&quot;,&quot;click&quot;)"):
        assert value in page
    assert f"<bdi>{RTL}</bdi>" in page  # right-to-left values isolated from the text around
    # Undecodable bytes and control characters shown as escapes, not swallowed or fatal.
    assert "bad\\udcffbyte" in page and "tab\\there\\nnull\\x00" in page
    # A long text value is cut, saying how much.
    assert "… (" in page and "more characters)" in page


def test_spaces_that_tell_values_apart_are_shown(page: str) -> None:
    blocks = Blocks(page)
    variants = blocks.of("table-picklists-stage_variants")
    for shown in ("Closed Won␣", "␣Closed␣␣Won"):
        assert variants.count(shown) == 4, shown  # the bar's label, tooltips, the table's cell


def test_the_page_loads_nothing(page: str) -> None:
    # The only URLs are legacy values, shown as text between tags, never in a tag.
    assert re.search(r"https?://", page)
    assert not [tag for tag in re.findall(r"<[^>]*>", page) if re.search(r"https?:", tag)]
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    assert not re.search(r'(href|src)="(?!#)', page)


def test_write_html_is_atomic_and_names_an_unwritable_path(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.html"
    write_html(report, path)
    assert path.read_text(encoding="utf-8") == render_html(report)
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as raised:
        write_html(report, blocker / "report.html")
    assert str(blocker / "report.html") in str(raised.value)


def test_a_big_report_stays_small_and_fast() -> None:
    owners = [[f"owner {i:04d}", i * 3, i * 1000.5] for i in range(500)]
    stages = [[f"owner {i:04d}", stage, i * 10.0] for i in range(500)
              for stage in ("Prospecting", "Qualification", "Proposal", "Negotiation")]
    sections = [Section(key=f"s{n}", title=f"Section {n}", tables=[
        Table(key="owners", title="By owner", columns=["owner", "count", "amount"], rows=owners,
              chart="bar", x="owner", y=["count", "amount"]),
        Table(key="stages", title="By owner and stage", columns=["owner", "stage", "amount"],
              rows=stages, chart="stacked", x="owner", y=["amount"], series="stage"),
        Table(key="months", title="By month", columns=["month", "n"],
              rows=[[f"{2000 + i // 12}-{i % 12 + 1:02d}", i] for i in range(300)],
              chart="line", x="month", y=["n"]),
    ]) for n in range(7)]
    lines = [ReconcileLine(aggregate="contacts by owner", key=f"owner {i}", legacy=i, target=i)
             for i in range(500)]
    big = Report(target="t", generated_at="g", as_of="a", sections=sections, reconciliation=lines)
    started = time.perf_counter()
    page = render_html(big)
    seconds = time.perf_counter() - started
    assert len(page.encode()) < 600_000, len(page.encode())  # 345 kB when measured
    assert seconds < 5, seconds
    assert "450 more lines not shown, all explained." in page


# --- in a browser ---------------------------------------------------------------------------


@pytest.mark.chromium
def test_the_dashboard_in_headless_chromium(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(report, path)
    dom_html = chromium(tmp_path, "--dump-dom", path.as_uri()).stdout
    dom = Dom(dom_html)
    text = dom.joined()
    positions = [text.index(t) for t in ("crmmigrate report", "Summary", *SECTION_TITLES,
                                          "Reconciliation with the legacy data")]
    assert positions[1:] == sorted(positions[1:])
    for value in (SCRIPT, ATTRIBUTE_BREAKER, QUOTES, FORMULA, RTL, CJK):
        assert value in text, value
    tag_names = {tag for tag, _ in dom.tags}
    assert "script" not in tag_names and "img" not in tag_names
    assert not any("data-pwned" in attrs for _, attrs in dom.tags)
    assert sum(tag == "rect" for tag, _ in dom.tags) == 4 + 4 + 6

    screenshot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={screenshot}", path.as_uri())
    width, height, pixels = png_pixels(screenshot.read_bytes())
    assert (width, height) == (1200, 2400)
    colours = set(pixels)
    white = sum(p == (255, 255, 255) for p in pixels) / len(pixels)
    assert len(colours) > 50 and white < 0.95
    # The red of the failed verdict and the blue of the first bar series are on screen.
    assert (253, 236, 234) in colours and (78, 121, 167) in colours


@pytest.mark.chromium
def test_printed_each_section_starts_a_page(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(report, path)
    pdf = tmp_path / "report.pdf"
    chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", path.as_uri())
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    # The title, verdict and summary, then a page at least for each section and the
    # reconciliation (the contents, links only, are not printed).
    assert pages >= 1 + len(report.sections) + 1, pages


@pytest.mark.chromium
def test_a_chart_alone_on_its_row_keeps_its_size(tmp_path: Path) -> None:
    columns = ["stage", "count", "min_p", "avg_p", "max_p", "expected_p"]  # too many to sit beside
    table = Table(key="t", title="t", columns=columns, rows=[["Won", 100, 1, 2, 3, 4], ["Lost", 50, 1, 2, 3, 4]],
                  chart="bar", x="stage", y=["count"])
    path = tmp_path / "report.html"
    write_html(Report(target="t", generated_at="g", as_of="a",
                      sections=[Section(key="s", title="S", tables=[table])]), path)
    screenshot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1200,1400", f"--screenshot={screenshot}", path.as_uri())
    width, _, pixels = png_pixels(screenshot.read_bytes())
    bar = [i % width for i, p in enumerate(pixels) if p == (78, 121, 167)]
    # The longest bar ends where the chart draws it (190 + 290 px in, past the page's margin),
    # not stretched across the 1,080 px the page would give it.
    assert bar and max(bar) < 650, max(bar)


# --- the samples, loaded --------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The report on the samples as `crmmigrate run --allow-failing` loads them."""
    folder = tmp_path_factory.mktemp("samples")
    project = folder / "demo"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    done = runner.invoke(app, ["run", str(project / "migration.yaml"), "--allow-failing"])
    assert done.exit_code == 0, done.output
    engine = sa.create_engine(f"sqlite:///{project / 'migration.db'}")
    try:
        return build_report(engine, rules=load_report_rules(), as_of=dt.date(2026, 12, 1))
    finally:
        engine.dispose()


def test_the_samples_report_has_every_part_in_its_place(samples_report: Report) -> None:
    page = render_html(samples_report)
    blocks = Blocks(page)
    assert blocks.of("verdict").startswith(("PASSED", "FAILED", "No gate"))
    for section in samples_report.sections:
        assert section.title in blocks.of(f"section-{section.key}")
        keys = {t.key for t in section.tables}
        for table in section.tables:
            block = f"table-{section.key}-{table.key}"
            ids = {a.get("id") for _, a in blocks.tags[block]}
            # Each finding beside the table it names, with its count.
            for finding in section.findings:
                if finding.table == table.key:
                    assert f"finding-{finding.key.replace('.', '-')}" in ids
                    said = f"{finding.count:,} of {finding.of:,}" if finding.count else f"none of {finding.of:,}"
                    assert said in blocks.of(block)
            drawn = [a for t, a in blocks.tags[block] if t in ("rect", "polyline", "circle")]
            y = [table.columns.index(c) for c in table.y]
            assert bool(drawn) == (table.chart != "none" and any(r[i] for r in table.rows for i in y)), table.key
            if drawn and table.chart == "bar" and table.series is None and len(table.y) == 1:
                x, y = table.columns.index(table.x), table.columns.index(table.y[0])
                valued = {str(r[x]) for r in table.rows if r[y] is not None}
                assert len(drawn) == min(len(valued), CHART_CATEGORIES), table.key
        for finding in section.findings:
            if finding.table not in keys:
                assert f"finding-{finding.key.replace('.', '-')}" in {
                    a.get("id") for _, a in blocks.tags[f"findings-{section.key}"]}


@pytest.mark.chromium
def test_the_samples_report_in_headless_chromium(samples_report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(samples_report, path)
    text = Dom(chromium(tmp_path, "--dump-dom", path.as_uri()).stdout).joined()
    titles = ["Summary", *(s.title for s in samples_report.sections)]
    positions = [text.index(title) for title in titles]
    assert positions == sorted(positions)
    screenshot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1200,3000", f"--screenshot={screenshot}", path.as_uri())
    _, _, pixels = png_pixels(screenshot.read_bytes())
    assert len(set(pixels)) > 50
    assert sum(p == (255, 255, 255) for p in pixels) / len(pixels) < 0.95


# --- the same page from every database ------------------------------------------------------


def _page_on(request: pytest.FixtureRequest, backend: str, folder: Path) -> str:
    folder.mkdir()
    with planted_target(request, backend, folder) as url:
        engine = open_target(url)
        try:
            report = build_report(engine, rules=ReportRules(), as_of=AS_OF)
        finally:
            engine.dispose()
    report.target, report.generated_at, report.seconds = "target", "now", 0.0
    return render_html(report)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres),
                                     pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_the_page_reads_the_same_from_every_database(request: pytest.FixtureRequest, backend: str,
                                                     tmp_path: Path) -> None:
    """A count is a count and an amount has two decimals whatever types the driver returns
    (Decimal sums on PostgreSQL and MariaDB, floats and ints on SQLite)."""
    on_sqlite = _page_on(request, "sqlite", tmp_path / "sqlite")
    on_server = _page_on(request, backend, tmp_path / backend)
    if on_server != on_sqlite:
        lines = difflib.unified_diff(Dom(on_sqlite).joined().split("\n"), Dom(on_server).joined().split("\n"),
                                     lineterm="")
        diff = [line for line in difflib.ndiff(re.split(r"(?<=</tr>)", on_sqlite),
                                               re.split(r"(?<=</tr>)", on_server)) if line[:1] in "+-"]
        pytest.fail("\n".join([*lines, *diff[:20]]))
