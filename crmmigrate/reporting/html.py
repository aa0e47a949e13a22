"""The report dashboard: one self-contained HTML page an executive opens first.

At the top the summary (the gate's verdict with each check, the headline metrics, the findings
by severity) and a table of contents; then each section's tables, each drawn as an inline SVG
chart beside it (bar, stacked bar or line, as the table's hint says) with the findings that
name it flagged right under it; last the reconciliation of the legacy data with the target.

Built with crmmigrate.page like the validation and dedupe reports: inline CSS and SVG, no
script, nothing fetched, every value escaped (they come from legacy data). The page stays small
whatever the data's size: a table shows its first rows, a chart its biggest categories, each
with a note saying what was left out. Collapsing uses <details>, which needs no script and
prints open. Nothing here prints.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmmigrate.page import document, escape, figures, is_missing, nice_step, shown_value, write_page
from crmmigrate.reporting.metrics import METRICS
from crmmigrate.reporting.numbers import as_number, format_number, is_whole, metric_text, percent
from crmmigrate.reporting.model import (
    Finding,
    Format,
    GateCheck,
    ReconcileLine,
    Report,
    Section,
    Table,
)

TITLE = "crmmigrate report"
TABLE_ROWS = 25  # rows a table shows; the rest are counted in a note
RECONCILE_ROWS = 50  # lines per aggregate; unexplained ones first
CHART_CATEGORIES = 25  # bars a bar chart draws: the biggest, in the table's order
LINE_POINTS = 400  # points a line chart draws
CHART_SERIES = 8  # series drawn; a stacked chart adds up the rest as "other"
WIDE_BARS = 3  # a bar chart with more bars a category takes the page's width, its table under it
COLUMNS_BESIDE = 5  # a table with more columns goes under its chart, not beside it
EXAMPLES = 10  # examples a finding lists
TEXT_CHARS = 100  # characters of a text value shown in a cell
LABEL_WIDTH = 24  # width (in Latin letters) of a category label in a chart

SEVERITIES = ("error", "warning", "info")
_SEVERITY_COLOUR = {"error": "#b71c1c", "warning": "#a65e00", "info": "#1565c0"}
# Tableau 10: tells ten series apart, and in grey print still by lightness.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
_OTHER = "#9e9e9e"
_AXIS, _GRID = "#555", "#e2e2e2"
_PROVENANCE = ("legacy_source", "legacy_id")  # listed first in a finding's examples

_CSS = """
nav.toc { background: #f7f7f7; border: 1px solid #e0e0e0; border-radius: 4px;
  padding: 8px 16px; margin: 0 0 16px; }
nav.toc ol { margin: 4px 0 0; padding-left: 20px; }
nav.toc ol ol { padding-left: 18px; font-size: 13px; }
nav.toc .flag { font-size: 11px; }
section.report { margin: 28px 0 0; padding-top: 12px; border-top: 2px solid #444; }
.block { margin: 18px 0 0; break-inside: auto; }
.pair { display: grid; grid-template-columns: minmax(0, 1.15fr) minmax(0, 1fr); gap: 18px;
  align-items: start; }
.pair.single { grid-template-columns: minmax(0, 1fr); }
.tablewrap { overflow-x: auto; }
.tablewrap table { margin-top: 0; font-size: 13px; }
td.text { overflow-wrap: anywhere; min-width: 8em; }
td.none { color: #888; }
.more { color: #555; font-style: italic; }
.flag { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px;
  font-weight: 700; color: #fff; vertical-align: middle; }
.tag.error, .flag.error { background: #b71c1c; color: #fff; }
.tag.warning, .flag.warning { background: #a65e00; color: #fff; }
.tag.info, .flag.info { background: #1565c0; color: #fff; }
.tag.none { background: #757575; color: #fff; }
.finding { border-left: 8px solid; border-radius: 4px; padding: 6px 14px; margin: 8px 0;
  break-inside: avoid; }
.finding.error { border-color: #b71c1c; background: #fdecea; }
.finding.warning { border-color: #a65e00; background: #fff4e0; }
.finding.info { border-color: #1565c0; background: #e8f0fb; }
.finding.clean { border-color: #2e7d32; background: #f1f8f1; padding: 3px 14px; }
.finding.clean h4 { font-weight: 400; }
tr.clean td { color: #555; }
.finding h4 { margin: 0 0 2px; font-size: 14px; }
.finding p { margin: 2px 0; }
.finding table { background: #fff; font-size: 12.5px; }
.finding summary { cursor: pointer; color: #333; }
.verdict.none { background: #f3f3f3; border-color: #757575; color: #333; }
tr.ok td.status { color: #1b5e20; }
td.zero { color: #aaa; }
/* Drawn at their own size, smaller only where the column is narrower: a chart alone on a
   row is not blown up to its width. */
.chart.bars, .chart.line { width: auto; max-width: 100%; }
.sevcounts .figure.error .value { color: #b71c1c; }
.sevcounts .figure.warning .value { color: #a65e00; }
.sevcounts .figure.info .value { color: #1565c0; }
@media (max-width: 900px) { .pair { grid-template-columns: minmax(0, 1fr); } }
@media print {
  nav.toc { display: none; }
  .pair { grid-template-columns: minmax(0, 1fr); }
  .tablewrap { overflow: visible; }
  .finding, .flag, .tag.error, .tag.warning, .tag.info { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
  section.report:not(.summary) { break-before: page; }  /* the summary stays under the verdict */
}
"""


def render_html(report: Report, *, title: str = TITLE) -> str:
    """The dashboard as one string: inline CSS and SVG, no script, nothing fetched."""
    body = [
        f"<h1>{escape(title)}</h1>",
        _meta(report),
        _verdict(report),
        _contents(report),
        _summary(report),
        *(_section(section) for section in report.sections),
        _reconciliation(report.reconciliation),
    ]
    return document(title, "".join(body), css=_CSS)


def write_html(report: Report, path: Path, *, title: str = TITLE) -> None:
    """The dashboard written to `path` under a temporary name, then renamed; `OutputError`
    when the path cannot be written."""
    write_page(path, render_html(report, title=title))


# --- numbers and values ---------------------------------------------------------------------


def _visible(value: Any) -> str:
    """A legacy value as text whose spaces can be seen where they matter: at either end and
    doubled ("Finance " and "Finance" are two picklist values, and HTML would show both
    alike). Each such space is shown as ␣; control characters as escapes (shown_value)."""
    text = shown_value(value)
    return re.sub(r"^ +| +$| {2,}", lambda m: "␣" * len(m.group()), text)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _cell(value: Any, fmt: Format | None = None) -> str:
    """A table cell: numbers right-aligned and formatted, text escaped, isolated from the text
    around it (right-to-left values), control characters shown, long text cut."""
    if is_missing(value):
        return '<td class="none">–</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if as_number(value) is not None or isinstance(value, (int, float, Decimal)):
        return f'<td class="num">{escape(format_number(value, fmt))}</td>'
    return f'<td class="text"><bdi>{escape(_cut(_visible(value), TEXT_CHARS))}</bdi></td>'


def _anchor(*parts: str) -> str:
    """An id from keys: letters, digits, '_' and '-' only."""
    return "-".join(re.sub(r"[^A-Za-z0-9_-]+", "-", part) for part in parts)


def _s(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


# --- the top of the page --------------------------------------------------------------------


def _meta(report: Report) -> str:
    parts = [
        f"target <code>{escape(report.target)}</code>",
        f"as of {escape(report.as_of)}",
        f"generated {escape(report.generated_at)}",
    ]
    if report.seconds:
        parts.append(f"in {report.seconds:,.1f} s")
    return f'<p class="meta">{"; ".join(parts)}</p>'


def _rule(check: GateCheck) -> str:
    word = "at least" if check.op == "min" else "at most"
    return f"{word} {metric_text(check.metric, check.limit)}"


def _verdict(report: Report) -> str:
    if not report.gate:
        return ('<p class="verdict none" id="verdict">No gate: no --fail-on threshold was set, '
                "so nothing here holds a cutover.</p>")
    failed = [c for c in report.gate if not c.passed]
    # A check on data the target does not hold passes unless required: say so, or a gate of
    # three checks on an empty pipeline reads as a pipeline that passed.
    unknown = sum(c.value is None for c in report.gate)
    tail = f" ({unknown:,} not computed: no such data)" if unknown else ""
    if not failed:
        line = f"PASSED: all {_s(len(report.gate), 'gate check')} within their thresholds{tail}"
        return f'<p class="verdict pass" id="verdict">{escape(line)}</p>'
    named = "; ".join(
        f"{c.metric} {'not computed' if c.value is None else metric_text(c.metric, c.value)}, "
        f"wanted {_rule(c)}"
        for c in failed
    )
    line = f"FAILED: {len(failed):,} of {_s(len(report.gate), 'gate check')}: {named}{tail}"
    return f'<p class="verdict fail" id="verdict">{escape(line)}</p>'


def _tag(passed: bool) -> str:
    return '<span class="tag pass">PASS</span>' if passed else '<span class="tag fail">FAIL</span>'


def _gate_table(report: Report) -> str:
    if not report.gate:
        return ""
    rows = []
    for check in report.gate:
        value = ("<em>not computed (no such data)</em>" if check.value is None
                 else escape(metric_text(check.metric, check.value)))
        rows.append(
            f'<tr class="{"pass" if check.passed else "fail"}"><td>{escape(check.metric)}</td>'
            f'<td class="num">{value}</td><td>{escape(_rule(check))}</td>'
            f"<td>{_tag(check.passed)}</td></tr>"
        )
    return ('<h3 id="gate">Gate</h3><table><thead><tr><th>metric</th><th class="num">value</th>'
            f"<th>wanted</th><th>verdict</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _all_findings(report: Report) -> list[tuple[Section, Finding]]:
    found = [(s, f) for s in report.sections for f in s.findings]
    # Errors first, then the biggest share of its population; what found nothing last, and
    # last of all what had nothing to judge.
    return sorted(found, key=lambda sf: (sf[1].count == 0, sf[1].of == 0, _rank(sf[1].severity),
                                         -sf[1].rate, -sf[1].count))


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _finding_id(finding: Finding) -> str:
    return _anchor("finding", finding.key)


def _summary(report: Report) -> str:
    parts = ['<section class="report summary" id="summary"><h2>Summary</h2>',
             _gate_table(report)]
    metrics = report.metrics
    if metrics:
        parts.append("<h3>Headline metrics</h3>")
        rows = "".join(
            f'<tr><td>{escape(name)}</td><td class="num">{escape(metric_text(name, value))}</td>'
            f'<td>{escape(METRICS[name].meaning if name in METRICS else "")}</td></tr>'
            for name, value in metrics.items()
        )
        parts.append('<table><thead><tr><th>metric</th><th class="num">value</th>'
                     f"<th>what it measures</th></tr></thead><tbody>{rows}</tbody></table>")
    found = _all_findings(report)
    parts.append('<h3 id="findings">Findings by severity</h3>')
    if not any(f.count for _, f in found):
        parts.append("<p>No report flagged any dirt.</p>")
    else:
        # A finding of nothing is a check that passed: listed, never counted as dirt.
        counts = {sev: sum(f.severity == sev and f.count > 0 for _, f in found) for sev in SEVERITIES}
        boxes = "".join(
            f'<div class="figure {sev}"><span class="value">{count:,}</span>'
            f'<span class="label">{sev}</span></div>'
            for sev, count in counts.items()
        )
        parts.append(f'<div class="figures sevcounts">{boxes}</div>')
    if found:
        rows = "".join(
            f'<tr class="{"" if f.count else "clean"}"><td>{_finding_tag(f)}</td>'
            f'<td><a href="#{_finding_id(f)}">{escape(f.title)}</a></td>'
            f"<td>{escape(s.title)}</td><td class=\"num\">{f.count:,}</td>"
            f'<td class="num">{f.of:,}</td><td class="num">{percent(f.rate) if f.of else "–"}</td></tr>'
            for s, f in found
        )
        parts.append('<div class="tablewrap"><table><thead><tr><th>severity</th><th>finding</th>'
                     "<th>section</th><th class='num'>count</th><th class='num'>of</th>"
                     f"<th class='num'>rate</th></tr></thead><tbody>{rows}</tbody></table></div>")
    if report.reconciliation:
        bad = sum(not line.ok for line in report.reconciliation)
        verdict = (f"{_s(bad, 'difference')} the ledger does not explain" if bad
                   else "every difference explained by the ledger")
        parts.append(f'<p class="meta">Reconciliation with the legacy data: '
                     f'{_s(len(report.reconciliation), "line")}, '
                     f'<a href="#reconciliation">{verdict}</a>.</p>')
    parts.append("</section>")
    return "".join(parts)


def _severity_tag(severity: str) -> str:
    cls = severity if severity in SEVERITIES else "none"
    return f'<span class="tag {cls}">{escape(severity.upper())}</span>'


def _contents(report: Report) -> str:
    items = ['<li><a href="#summary">Summary</a></li>']
    for section in report.sections:
        flagged = _flagged(section)
        subs = "".join(
            f'<li><a href="#{_anchor("table", section.key, t.key)}">{escape(t.title)}</a>'
            + _flags(flagged.get(t.key, [])) + "</li>"
            for t in section.tables
        )
        others = [f for f in section.findings if f.table not in {t.key for t in section.tables}]
        if others:
            subs += (f'<li><a href="#{_anchor("findings", section.key)}">Other findings</a>'
                     f"{_flags(others)}</li>")
        items.append(f'<li><a href="#{_anchor("section", section.key)}">{escape(section.title)}</a>'
                     + (f"<ol>{subs}</ol>" if subs else "") + "</li>")
    if report.reconciliation:
        items.append('<li><a href="#reconciliation">Reconciliation with the legacy data</a></li>')
    return f'<nav class="toc"><strong>Contents</strong><ol>{"".join(items)}</ol></nav>'


def _flags(found: list[Finding]) -> str:
    """Small coloured marks, one per severity present, with how many findings found dirt."""
    marks = []
    for sev in SEVERITIES:
        n = sum(f.severity == sev and f.count > 0 for f in found)
        if n:
            marks.append(f'<span class="flag {sev}" title="{_s(n, sev + " finding")}">'
                         f"{n} {sev}</span>")
    return " " + " ".join(marks) if marks else ""


# --- sections -------------------------------------------------------------------------------


def _flagged(section: Section) -> dict[str, list[Finding]]:
    by_table: dict[str, list[Finding]] = {}
    for finding in section.findings:
        if finding.table is not None:
            by_table.setdefault(finding.table, []).append(finding)
    return by_table


def _section(section: Section) -> str:
    parts = [f'<section class="report" id="{_anchor("section", section.key)}">',
             f"<h2>{escape(section.title)}</h2>"]
    if section.metrics:
        parts.append(figures([(name, metric_text(name, value)) for name, value in section.metrics.items()]))
    flagged = _flagged(section)
    for table in section.tables:
        parts.append(_table_block(section, table, flagged.get(table.key, [])))
    keys = {t.key for t in section.tables}
    others = [f for f in section.findings if f.table not in keys]
    if others:
        parts.append(f'<div class="block" id="{_anchor("findings", section.key)}">'
                     "<h3>Other findings</h3>" + "".join(_finding(f) for f in others) + "</div>")
    if not section.tables and not section.findings:
        parts.append("<p>Nothing to report: the target holds no data for this section.</p>")
    parts.append("</section>")
    return "".join(parts)


def _table_block(section: Section, table: Table, found: list[Finding]) -> str:
    head = f"<h3>{escape(table.title)}{_flags(found)}</h3>"
    if not table.rows and not table.truncated:
        # The target holds none of what it counts: a line, not an empty grid of headers.
        note = f" {escape(table.note)}" if table.note else ""
        return (f'<div class="block" id="{_anchor("table", section.key, table.key)}">{head}'
                f'<p class="meta">No rows: the target holds nothing this counts.{note}</p>'
                + "".join(_finding(f) for f in found) + "</div>")
    chart, wide = _chart(table)
    beside = chart and not wide and len(table.columns) <= COLUMNS_BESIDE
    pair_class = "pair" if beside else "pair single"
    return (
        f'<div class="block" id="{_anchor("table", section.key, table.key)}">{head}'
        f'<div class="{pair_class}">{f"<div>{chart}</div>" if chart else ""}'
        f'<div class="tablewrap">{_data_table(table)}</div></div>'
        + "".join(_finding(f) for f in found)
        + "</div>"
    )


def _data_table(table: Table) -> str:
    heads = "".join(
        f'<th class="{"num" if _numeric_column(table, i) else ""}">{_header(str(c))}</th>'
        for i, c in enumerate(table.columns)
    )
    formats = [column_format(table, column) for column in table.columns]
    rows = []
    for row in table.rows[:TABLE_ROWS]:
        cells = [_cell(value, fmt) for fmt, value in zip(formats, row)]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    notes = []
    if table.note:
        notes.append(escape(table.note))
    left_out = max(len(table.rows) - TABLE_ROWS, 0) + table.truncated
    if left_out:
        notes.append(f"{_s(left_out, 'more row')} not shown (the first {min(len(table.rows), TABLE_ROWS):,} are).")
    note = "".join(f'<p class="meta">{n}</p>' for n in notes)
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def _header(column: str) -> str:
    # A name like quarter_end_amount may break after each "_": a narrow table stays in its
    # half of the page instead of scrolling.
    return escape(column).replace("_", "_<wbr>")


def column_format(table: Table, column: str) -> Format:
    """How a column's numbers are shown: as the table says; else a share column ("share",
    "..._share", "..._coverage") as a percentage, a column of whole numbers as a count, any
    other as an amount."""
    if column in table.formats:
        return table.formats[column]
    if re.search(r"(^|_)(share|coverage)$", column):
        return "percent"
    index = table.columns.index(column)
    values = [row[index] for row in table.rows if as_number(row[index]) is not None]
    return "count" if all(is_whole(v) for v in values) else "amount"


def _numeric_column(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows[:TABLE_ROWS] if index < len(row) and not is_missing(row[index])]
    return bool(values) and all(as_number(v) is not None for v in values)


def _finding_tag(finding: Finding) -> str:
    if finding.count:
        return _severity_tag(finding.severity)
    if not finding.of:
        return '<span class="tag none">NO DATA</span>'
    return '<span class="tag pass">CLEAN</span>'


def _finding(finding: Finding) -> str:
    if not finding.count:
        said = f"none of {finding.of:,}" if finding.of else "nothing to judge: the target holds no such records"
        return (f'<div class="finding clean" id="{_finding_id(finding)}"><h4>{_finding_tag(finding)} '
                f"{escape(finding.title)}</h4><p>{said}</p></div>")
    sev = finding.severity if finding.severity in SEVERITIES else "info"
    parts = [
        f'<div class="finding {sev}" id="{_finding_id(finding)}">',
        f"<h4>{_severity_tag(finding.severity)} {escape(finding.title)}</h4>",
        f"<p><strong>{finding.count:,}</strong> of {finding.of:,} ({percent(finding.rate)})</p>",
    ]
    if finding.hint:
        parts.append(f'<p class="hint">{escape(finding.hint)}</p>')
    if finding.examples:
        shown = finding.examples[:EXAMPLES]
        columns = [c for c in _PROVENANCE if any(c in e for e in shown)]
        columns += list(dict.fromkeys(k for e in shown for k in e if k not in columns))
        heads = "".join(f"<th>{_header(str(c))}</th>" for c in columns)
        rows = "".join("<tr>" + "".join(_cell(e.get(c)) for c in columns) + "</tr>" for e in shown)
        more = len(finding.examples) - len(shown)
        tail = f'<p class="more">and {_s(more, "more example")}</p>' if more else ""
        parts.append(f"<details open><summary>{_s(len(finding.examples), 'example')}</summary>"
                     f'<div class="tablewrap"><table><thead><tr>{heads}</tr></thead>'
                     f"<tbody>{rows}</tbody></table></div>{tail}</details>")
    parts.append("</div>")
    return "".join(parts)


# --- charts ---------------------------------------------------------------------------------


class _Series:
    """A chart's data: category labels in order, series names, and each value (None: none)."""

    def __init__(self) -> None:
        self.categories: list[str] = []
        self.names: list[str] = []
        self.values: dict[tuple[str, str], float | None] = {}
        self.notes: list[str] = []
        self.colours: dict[str, str] = {}
        self._seen: set[str] = set()
        self.order: dict[str, tuple] = {}  # how the categories sort: numbers as numbers, blank last

    def add(self, category: str, name: str, value: float | None, colour: str) -> None:
        if category not in self._seen:
            self._seen.add(category)
            self.categories.append(category)
        if name not in self.names:
            self.names.append(name)
            self.colours[name] = colour
        # Two rows of one category and series (the table's grain is finer than the chart's)
        # add up.
        old = self.values.get((category, name))
        self.values[(category, name)] = value if old is None else old + (value or 0.0)

    def get(self, category: str, name: str) -> float | None:
        return self.values.get((category, name))

    def total(self, category: str) -> float:
        return sum(abs(self.get(category, n) or 0.0) for n in self.names)

    def series_total(self, name: str) -> float:
        return sum(abs(self.get(c, name) or 0.0) for c in self.categories)


def _label(value: Any) -> str:
    if is_missing(value) or value == "":
        return "(blank)"
    return _visible(value)


def _chart_data(table: Table) -> _Series | str:
    """The table's rows as series, or why it cannot be drawn."""
    missing = [c for c in [table.x, *table.y, table.series] if c is not None and c not in table.columns]
    if table.x is None or not table.y or missing:
        return f"no chart: the hint names {', '.join(map(str, missing)) or 'no x or y column'}"
    xi = table.columns.index(table.x)
    yi = [table.columns.index(y) for y in table.y]
    si = table.columns.index(table.series) if table.series else None
    data = _Series()
    groups: dict[str, int] = {}  # each series value's place, which picks its colour
    for row in table.rows:
        category = _label(row[xi])
        number = as_number(row[xi])
        data.order.setdefault(category, (category == "(blank)", number is None, number or 0.0, category))
        for j, (y, index) in enumerate(zip(table.y, yi)):
            value = as_number(row[index])
            if si is None:
                name, colour = y, PALETTE[j % len(PALETTE)]
            else:
                group = _label(row[si])
                place = groups.setdefault(group, len(groups))
                # One hue per series value, lighter for each further value column: "RUB ·
                # amount" dark blue, "RUB · weighted" light blue.
                name = group if len(table.y) == 1 else f"{group} · {y}"
                colour = _tint(PALETTE[place % len(PALETTE)], 1 - 0.5 ** j)
            data.add(category, name, value, colour)
    return data


def _tint(colour: str, white: float) -> str:
    """`colour` (#rrggbb) mixed with `white` parts of white."""
    channels = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * white):02x}" for c in channels)


def _keep_series(data: _Series, *, stacked: bool) -> None:
    if len(data.names) <= CHART_SERIES:
        return
    ranked = sorted(data.names, key=lambda n: -data.series_total(n))
    keep = ranked[: CHART_SERIES - 1] if stacked else ranked[:CHART_SERIES]
    rest = [n for n in data.names if n not in keep]
    if stacked:
        other = f"other ({len(rest):,})"
        for c in data.categories:
            values = [data.get(c, n) for n in rest]
            present = [v for v in values if v is not None]
            data.values[(c, other)] = sum(present) if present else None
        data.notes.append(f"The {len(rest):,} smallest series are added up as “{other}”.")
        data.names = [n for n in data.names if n in keep] + [other]
        data.colours[other] = _OTHER
    else:
        data.notes.append(f"{_s(len(rest), 'smaller series', 'smaller series')} not drawn "
                          "(the table lists them).")
        data.names = [n for n in data.names if n in keep]


def _keep_categories(data: _Series, limit: int, *, biggest: bool) -> None:
    """At most `limit` categories: the biggest, unless the table lists them in order (weeks,
    months, ages: an axis with holes where small weeks were would mislead), then the first."""
    if len(data.categories) <= limit:
        return
    total = len(data.categories)
    keys = [data.order[c] for c in data.categories]
    in_order = keys in (sorted(keys), sorted(keys, reverse=True))
    if biggest and not in_order:
        top = set(sorted(data.categories, key=lambda c: -data.total(c))[:limit])
        data.categories = [c for c in data.categories if c in top]
        data.notes.append(f"The {limit:,} biggest of {total:,} categories drawn, in the table's order.")
    else:
        data.categories = data.categories[:limit]
        data.notes.append(f"The first {limit:,} of {total:,} {'categories' if biggest else 'points'} drawn.")


def _width(text: str) -> float:
    """Display width in Latin letters: East Asian wide characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _shorten(text: str, width: float = LABEL_WIDTH) -> str:
    if _width(text) <= width:
        return text
    out, used = [], 0.0
    for c in text:
        w = _width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


def _compact(value: float) -> str:
    """An axis tick: a round number, short (12k, 1.5M)."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _axis(lo: float, hi: float, fmt: Format) -> tuple[float, float, float]:
    """Round ends and step for an axis holding lo..hi and zero; a count's ticks are whole."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0:
        hi = 1.0
    step = nice_step(hi - lo)
    if fmt == "count":
        step = max(step, 1.0)
    # The tolerance keeps an end already on a step (0, 500) there, not one step further out.
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step, step


def chart_svg(table: Table) -> str:
    """The table drawn as its hint says, or "" for none. Horizontal bars (long category names
    read on the left), stacked bars (negative parts to the left of zero), or lines over the
    categories in order."""
    return _chart(table)[0]


def _chart(table: Table) -> tuple[str, bool]:
    """The chart, and whether it needs the page's whole width (more bars a category than
    half of it shows readably)."""
    if table.chart == "none" or not table.rows:
        return "", False
    data = _chart_data(table)
    if isinstance(data, str):
        return f'<p class="meta">{escape(data)}</p>', False
    if not any(data.values.values()):
        # Bars of no length say nothing; the table under this says the same in numbers.
        return f'<p class="meta">No chart: every value of {escape(", ".join(table.y))} is 0 or empty.</p>', True
    fmt = column_format(table, table.y[0])
    if table.chart == "line":
        return _line_chart(table, data, fmt), False
    stacked = table.chart == "stacked"
    _keep_series(data, stacked=stacked)
    _keep_categories(data, CHART_CATEGORIES, biggest=True)
    wide = not stacked and len(data.names) > WIDE_BARS
    return _bar_chart(table, data, fmt, stacked=stacked, wide=wide), wide


def _colour(data: _Series, name: str) -> str:
    return data.colours.get(name, _OTHER)


def _legend(data: _Series) -> str:
    if len(data.names) < 2:
        return ""
    items = "".join(f'<span class="swatch" style="background:{_colour(data, n)}"></span>'
                    f"<bdi>{escape(_shorten(n, 40))}</bdi>" for n in data.names)
    return f'<p class="legend">{items}</p>'


def _chart_notes(data: _Series) -> str:
    return "".join(f'<p class="meta">{escape(n)}</p>' for n in data.notes)


def _svg_open(table: Table, width: float, height: float, kind: str) -> str:
    what = {"bar": "bar chart", "stacked": "stacked bar chart", "line": "line chart"}[kind]
    label = f"{table.title}: {what} of {', '.join(table.y)} by {table.x}"
    return (f'<svg class="chart {"line" if kind == "line" else "bars"}" role="img" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
            f'aria-label="{escape(label)}"><title>{escape(label)}</title>')


def _bar_chart(table: Table, data: _Series, fmt: Format, *, stacked: bool, wide: bool) -> str:
    label_w, plot_w, value_w = 190, 690 if wide else 290, 84
    top, gap = 22, 8
    k = 1 if stacked else max(len(data.names), 1)
    bar_h = {1: 14, 2: 12}.get(k, max(4, min(10, 28 // k)))
    row_h = k * bar_h + gap
    width = label_w + plot_w + value_w
    height = top + row_h * len(data.categories) + 6

    if stacked:
        ends = []
        for c in data.categories:
            values = [data.get(c, n) or 0.0 for n in data.names]
            ends += [sum(v for v in values if v > 0), sum(v for v in values if v < 0)]
    else:
        ends = [v for v in data.values.values() if v is not None]
    lo, hi, step = _axis(min(ends, default=0.0), max(ends, default=0.0), fmt)

    def x(value: float) -> float:
        return label_w + plot_w * (value - lo) / (hi - lo)

    parts = [_svg_open(table, width, height, "stacked" if stacked else "bar")]
    for i in range(round((hi - lo) / step) + 1):
        tick = lo + i * step
        tx = x(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height - 4}" '
                     f'stroke="{_GRID}"/><text class="tick" x="{tx:.1f}" y="{top - 9}" '
                     f'text-anchor="middle">{escape(_compact(tick))}</text>')
    zero = x(0.0)
    for row, category in enumerate(data.categories):
        y0 = top + row * row_h + gap / 2
        label = _shorten(category)
        parts.append(f"<g><title>{escape(category)}</title>"
                     f'<text x="{label_w - 8}" y="{y0 + min(k * bar_h, 14) - 3:.1f}" '
                     f'text-anchor="end">{escape(label)}</text></g>')
        if stacked:
            pos = neg = 0.0
            for name in data.names:
                value = data.get(category, name)
                if not value:
                    continue
                start = pos if value > 0 else neg + value
                if value > 0:
                    pos += value
                else:
                    neg += value
                parts.append(_rect(x(start), y0, x(start + abs(value)) - x(start), bar_h,
                                   _colour(data, name), f"{category} · {name}: {format_number(value, fmt)}"))
            values = [data.get(category, n) for n in data.names]
            total = sum(v for v in values if v is not None) if any(v is not None for v in values) else None
            parts.append(_value_text(x(max(pos, 0.0)) + 4, y0 + bar_h - 3, total, fmt))
        else:
            for j, name in enumerate(data.names):
                value = data.get(category, name)
                by = y0 + j * bar_h
                if value is None:
                    # A row without a value says so where there is room; a series with no row
                    # for this category has nothing to say.
                    if k <= 2 and (category, name) in data.values:
                        parts.append(f'<text class="tick" x="{zero + 4:.1f}" y="{by + bar_h - 2:.1f}" '
                                     f'font-size="10">n/a</text>')
                    continue
                left, right = sorted((x(value), zero))
                tip = f"{category} · {name}: {format_number(value, fmt)}" if k > 1 else \
                    f"{category}: {format_number(value, fmt)}"
                parts.append(_rect(left, by, right - left, bar_h - (1 if k > 1 else 0),
                                   _colour(data, name), tip))
                if k <= 2:  # more would not fit their bars' height
                    parts.append(_value_text(max(right, zero) + 4, by + bar_h - 2.5, value, fmt))
    if lo < 0:
        parts.append(f'<line x1="{zero:.1f}" y1="{top - 6}" x2="{zero:.1f}" y2="{height - 4}" '
                     f'stroke="{_AXIS}" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts) + _legend(data) + _chart_notes(data)


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return (f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{h}" '
            f'fill="{fill}"><title>{escape(tip)}</title></rect>')


def _value_text(x: float, y: float, value: float | None, fmt: Format | None) -> str:
    if value is None:
        return ""
    return (f'<text class="value" x="{x:.1f}" y="{y:.1f}" font-size="11">'
            f"{escape(format_number(value, fmt))}</text>")


def _line_chart(table: Table, data: _Series, fmt: Format) -> str:
    _keep_series(data, stacked=False)
    # A line runs along an ordered axis (months, weeks): sorted, whatever the rows' order.
    data.categories.sort(key=data.order.__getitem__)
    _keep_categories(data, LINE_POINTS, biggest=False)
    left, right, top, bottom = 64, 16, 14, 40
    plot_w, plot_h = 480, 200
    width, height = left + plot_w + right, top + plot_h + bottom
    n = len(data.categories)
    values = [v for (_, name), v in data.values.items() if v is not None and name in data.names]
    lo, hi, step = _axis(min(values, default=0.0), max(values, default=0.0), fmt)

    def px(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def py(value: float) -> float:
        return top + plot_h * (hi - value) / (hi - lo)

    parts = [_svg_open(table, width, height, "line")]
    for i in range(round((hi - lo) / step) + 1):
        tick = lo + i * step
        ty = py(tick)
        colour = _AXIS if tick == 0 else _GRID
        parts.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" '
                     f'stroke="{colour}"/><text class="tick" x="{left - 6}" y="{ty + 4:.1f}" '
                     f'text-anchor="end">{escape(_compact(tick))}</text>')
    every = max(1, math.ceil(n / 8))  # at most eight labels under the axis
    for i, category in enumerate(data.categories):
        if i % every == 0:
            parts.append(f'<text class="tick" x="{px(i):.1f}" y="{top + plot_h + 16}" '
                         f'text-anchor="middle">{escape(_shorten(category, 12))}</text>')
    for name in data.names:
        colour = _colour(data, name)
        runs: list[list[tuple[float, float, str]]] = [[]]
        for i, category in enumerate(data.categories):
            if (category, name) not in data.values:
                continue  # no row: the line goes on to the next point
            value = data.get(category, name)
            if value is None:  # a row without a value: a gap in the line, not a drop to zero
                runs.append([])
                continue
            tip = f"{category} · {name}: {format_number(value, fmt)}"
            runs[-1].append((px(i), py(value), tip))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in run)
                parts.append(f'<polyline class="series" points="{points}" fill="none" '
                             f'stroke="{colour}" stroke-width="2"/>')
            # Every point is marked while they are few; a point alone always (no line shows it).
            if n <= 60 or len(run) == 1:
                parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                          f"<title>{escape(tip)}</title></circle>" for x, y, tip in run]
    parts.append(f'<text class="tick" x="{left + plot_w / 2:.0f}" y="{height - 4}" '
                 f'text-anchor="middle">{escape(str(table.x))}</text>')
    parts.append("</svg>")
    return "".join(parts) + _legend(data) + _chart_notes(data)


# --- reconciliation -------------------------------------------------------------------------


def _grouped(lines: Iterable[ReconcileLine]) -> dict[str, list[ReconcileLine]]:
    groups: dict[str, list[ReconcileLine]] = {}
    for line in lines:
        groups.setdefault(line.aggregate, []).append(line)
    return groups


def _amount_cell(value: float, fmt: Format) -> str:
    # Zeros greyed: in a wall of them the few numbers that explain something stand out.
    zero = " zero" if abs(value) < 1e-9 else ""
    return f'<td class="num{zero}">{format_number(value, fmt)}</td>'


def _reconciliation(lines: list[ReconcileLine]) -> str:
    if not lines:
        return ""
    parts = ['<section class="report" id="reconciliation"><h2>Reconciliation with the legacy data</h2>',
             '<p class="meta">Each aggregate as the legacy exports held it beside the loaded '
             "target. A difference is explained by what the ledger says became of the records "
             "(rejected, merged, filtered, ...); what it does not explain is flagged.</p>"]
    for aggregate, group in _grouped(lines).items():
        # An aggregate of whole numbers is a count; any fraction makes it an amount.
        numbers = [v for line in group for v in (line.legacy, line.target, *line.explained.values())]
        fmt: Format = "count" if all(float(v).is_integer() for v in numbers) else "amount"
        reasons = list(dict.fromkeys(k for line in group for k in line.explained))
        bad = [line for line in group if not line.ok]
        shown = (bad + [line for line in group if line.ok])[:RECONCILE_ROWS]
        heads = "".join(f"<th class='num'>{escape(r)}</th>" for r in reasons)
        rows = []
        for line in shown:
            cells = "".join(_amount_cell(line.explained.get(r, 0.0), fmt) for r in reasons)
            status = ('<td class="status">explained</td>' if line.ok
                      else '<td class="status"><span class="tag fail">UNEXPLAINED</span></td>')
            rows.append(
                f'<tr class="{"ok" if line.ok else "fail"}">{_cell(line.key)}'
                f'<td class="num">{format_number(line.legacy, fmt)}</td>'
                f'<td class="num">{format_number(line.target, fmt)}</td>'
                f'{_amount_cell(line.legacy - line.target, fmt)}{cells}'
                f'{_amount_cell(line.unexplained, fmt)}{status}</tr>'
            )
        verdict = (f'<span class="tag fail">{len(bad):,} UNEXPLAINED</span>' if bad
                   else '<span class="tag pass">EXPLAINED</span>')
        more = len(group) - len(shown)
        tail = (f'<p class="meta">{_s(more, "more line")} not shown, all explained.</p>'
                if more and len(bad) <= RECONCILE_ROWS else
                f'<p class="meta">{_s(more, "more line")} not shown.</p>' if more else "")
        parts.append(
            f'<div class="block" id="{_anchor("reconcile", aggregate)}"><h3>{escape(aggregate)} {verdict}</h3>'
            '<div class="tablewrap"><table><thead><tr><th>group</th><th class="num">legacy</th>'
            '<th class="num">target</th><th class="num">difference</th>'
            f'{heads}<th class="num">unexplained</th><th>status</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>{tail}</div>"
        )
    parts.append("</section>")
    return "".join(parts)
