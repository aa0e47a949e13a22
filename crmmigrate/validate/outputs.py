"""Every file a validation result is written to: JSON for programs, JUnit XML for CI test
reports, the failing values as CSV or Parquet, and one self-contained HTML page for people.

Each writer takes a `ValidationResult` and a path, writes the file under a temporary name and
renames it when complete (a failed write never leaves a file that looks finished), and raises
`OutputError` when the path cannot be written. Nothing here prints.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from crmmigrate.page import document, escape, is_missing, nice_step, value_html, write_page
from crmmigrate.staging import write_bytes, write_frames
from crmmigrate.validate.result import (
    FAILURE_COLUMNS,
    Check,
    EntityResult,
    ValidationResult,
)

FAILURE_CHUNK_ROWS = 100_000


# --- wording shared by every output and the terminal --------------------------------------


def percent_pair(rate: float, threshold: float) -> tuple[str, str]:
    """A rate and its threshold as percentages, with one decimal unless that would make two
    different numbers look equal: 1.04% over a 1% threshold must not read "1.0% exceeds 1.0%"."""
    for decimals in range(1, 5):
        shown = f"{100 * rate:.{decimals}f}%", f"{100 * threshold:.{decimals}f}%"
        if shown[0] != shown[1] or rate == threshold:
            return shown
    return shown


def _rows(count: int) -> str:
    return "row" if count == 1 else "rows"


def check_summary(check: Check) -> str:
    """One sentence naming the rate, the threshold and its class, e.g.
    "contact.email: 8.0% invalid (20 of 250 rows) exceeds the general threshold 5.0%"."""
    rate, threshold = percent_pair(check.rate, check.threshold)
    counts = f"{check.errors:,} of {check.rows:,} {_rows(check.rows)}"
    verdict = "within" if check.passed else "exceeds"
    return f"{check.name}: {rate} invalid ({counts}) {verdict} the {check.cls} threshold {threshold}"


def verdict_line(result: ValidationResult) -> str:
    """The gate's verdict in one line, the same in the terminal, the HTML page and CI logs."""
    total = len(result.checks)
    failed = result.failed
    if failed:
        noun = "check over its threshold" if total == 1 else "checks over their threshold"
        names = ", ".join(c.name for c in failed)
        return f"FAILED: {len(failed)} of {total:,} {noun}: {names}"
    if total == 1:
        return "PASSED: the 1 check is within its threshold"
    return f"PASSED: all {total:,} checks within their thresholds"


def severity(check: Check) -> float:
    """How far over (or under) its threshold a check is; what "worst first" sorts by. A zero
    threshold tolerates nothing, so any error there is infinitely bad."""
    if check.threshold > 0:
        return check.rate / check.threshold
    return math.inf if check.errors else 0.0


def worst_first(checks: list[Check]) -> list[Check]:
    # sorted() is stable, so checks that tie keep the validator's order.
    return sorted(checks, key=lambda c: (-severity(c), -c.rate))


def _sample_row(sample: dict[str, Any]) -> str:
    row = sample.get("row")
    return "row ?" if is_missing(row) or row == "" else f"row {row}"


# --- files ---------------------------------------------------------------------------------


def json_default(value: Any) -> Any:
    # Counts computed with pandas arrive as numpy scalars, which json does not know.
    if hasattr(value, "item"):
        return value.item()
    if is_missing(value):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_json(result: ValidationResult, path: Path) -> None:
    """`result.as_dict()` as indented UTF-8 JSON, non-ASCII characters kept as they are."""
    write_json_data(result.as_dict(), path)


def write_json_data(data: Any, path: Path) -> None:
    """Any result's dict as indented UTF-8 JSON, written whole or not at all."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=json_default)
    # A lone surrogate (an undecodable byte kept by surrogateescape) cannot be encoded as UTF-8;
    # backslashreplace turns it into the six characters \udcxx, which is the same string again
    # in JSON's own escape syntax, so the file stays valid and round-trips.
    write_bytes(path, (text + "\n").encode("utf-8", errors="backslashreplace"))


# --- JUnit XML -----------------------------------------------------------------------------

# XML 1.0 cannot hold these characters even escaped; ElementTree writes them anyway and every
# CI parser then rejects the whole report.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: repr(m.group())[1:-1], text)


def _failure_text(check: Check) -> str:
    lines = ["reasons:"]
    lines += [f"  {reason}: {count:,} {_rows(count)}" for reason, count in check.reasons.items()]
    if check.samples:
        lines.append("sample failing values:")
        for sample in check.samples:
            value = sample.get("value")
            shown = "(missing)" if is_missing(value) else repr(str(value))
            reason = sample.get("reason")
            lines.append(f"  {_sample_row(sample)}: {shown}" + (f" ({reason})" if reason else ""))
    return "\n".join(lines) + "\n"


def suite_attributes(name: str, tests: int, failures: int) -> dict[str, str]:
    # errors, skipped and time are optional in the JUnit schema, but some readers (older
    # Jenkins plugins, a few GitHub reporters) treat a missing count as a malformed report.
    return {
        "name": name,
        "tests": str(tests),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
        "time": "0",
    }


def junit_tree(result: ValidationResult) -> ET.ElementTree:
    """The JUnit document: one testsuite per entity, one testcase per check."""
    root = ET.Element(
        "testsuites", suite_attributes("crmmigrate", len(result.checks), len(result.failed))
    )
    for entity in result.entities:
        suite_name = f"crmmigrate.{entity.entity}"
        suite = ET.SubElement(
            root, "testsuite", suite_attributes(suite_name, len(entity.checks), len(entity.failed))
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="rows", value=str(entity.rows))
        for check in entity.checks:
            case = ET.SubElement(
                suite, "testcase", classname=suite_name, name=xml_text(check.field), time="0"
            )
            if check.passed:
                ET.SubElement(case, "system-out").text = xml_text(check_summary(check))
            else:
                failure = ET.SubElement(
                    case, "failure", message=xml_text(check_summary(check)), type="ThresholdExceeded"
                )
                failure.text = xml_text(_failure_text(check))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(result: ValidationResult, path: Path) -> None:
    """JUnit XML for CI test reports (GitLab, Jenkins, GitHub reporters): a failing check is a
    failing test whose message names the rate, the threshold and its class."""
    write_junit_tree(junit_tree(result), path)


def write_junit_tree(tree: ET.ElementTree, path: Path) -> None:
    """A JUnit document written whole or not at all, with its XML declaration."""
    body = ET.tostring(tree.getroot(), encoding="unicode")
    write_bytes(path, ("<?xml version='1.0' encoding='utf-8'?>\n" + body + "\n").encode("utf-8"))


# --- failing values ------------------------------------------------------------------------


def _failure_chunks(failures: pd.DataFrame) -> Iterator[pd.DataFrame]:
    columns = list(FAILURE_COLUMNS)
    if failures.empty and list(failures.columns) != columns:
        # "No failures" is often built as a bare pd.DataFrame(); the file still gets its header.
        failures = pd.DataFrame(columns=columns)
    missing = [c for c in columns if c not in failures.columns]
    if missing:
        raise ValueError(f"the failures frame lacks column(s) {missing}")
    # At least one chunk even when empty, so the file always exists with its header.
    for start in range(0, max(len(failures), 1), FAILURE_CHUNK_ROWS):
        # Staged files hold strings only; converting chunk by chunk bounds the extra memory.
        yield failures.iloc[start : start + FAILURE_CHUNK_ROWS][columns].astype("string")


def write_failures(result: ValidationResult, path: Path) -> int:
    """Every failing value, one row per (row, field, reason), to .csv or .parquet with the
    columns FAILURE_COLUMNS. Returns the number of rows written."""
    return write_frames(Path(path), _failure_chunks(result.failures))


# --- HTML ----------------------------------------------------------------------------------

_RED = "#c62828"
_GREEN = "#2e7d32"
def _axis_max(checks: list[Check]) -> float:
    """The chart's right edge. One field missing 90% of its values would otherwise squash every
    1% threshold into the first pixel; the axis stops at four times the largest threshold and
    bars beyond it are drawn cut off, their rate written next to them."""
    top_threshold = max(c.threshold for c in checks)
    top_rate = max(c.rate for c in checks)
    shown_rate = min(top_rate, top_threshold * 4) if top_threshold > 0 else top_rate
    wanted = max(top_threshold * 1.25, shown_rate, 0.001)
    step = nice_step(min(wanted, 1.0))
    return min(math.ceil(wanted / step - 1e-9) * step, 1.0)


def _chart(entity: EntityResult, checks: list[Check]) -> str:
    label_w, plot_w, value_w = 190, 470, 210
    top, row_h, bar_h = 26, 26, 14
    width = label_w + plot_w + value_w
    height = top + row_h * len(checks) + 6
    axis = _axis_max(checks)
    step = nice_step(axis)

    def x(rate: float) -> float:
        return label_w + plot_w * min(rate, axis) / axis

    title = f"{entity.entity}: error rate of each field against its threshold"
    parts = [
        (
            f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" aria-label="{escape(title)}">'
        ),
        f"<title>{escape(title)}</title>",
    ]
    for i in range(round(axis / step) + 1):
        tick = i * step  # multiplied, not summed: repeated += drifts off the round numbers
        tx = x(tick)
        label = f"{100 * tick:g}%"
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height - 4}" '
            f'stroke="#e2e2e2" stroke-width="1"/>'
            f'<text class="tick" x="{tx:.1f}" y="{top - 10}" text-anchor="middle">{label}</text>'
        )
    for i, check in enumerate(checks):
        y = top + i * row_h + (row_h - bar_h) / 2
        colour = _GREEN if check.passed else _RED
        rate, threshold = percent_pair(check.rate, check.threshold)
        off_scale = check.rate > axis
        field = check.field if len(check.field) <= 26 else check.field[:25] + "…"
        parts.append(f"<g><title>{escape(check_summary(check))}</title>")
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h - 3}" text-anchor="end">{escape(field)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y:.1f}" width="{x(check.rate) - label_w:.1f}" '
            f'height="{bar_h}" fill="{colour}"/>'
        )
        if off_scale:
            # A white zigzag across the bar's end says "cut off here".
            ex = label_w + plot_w
            parts.append(
                f'<polyline points="{ex - 10},{y - 1:.1f} {ex - 6},{y + bar_h / 2:.1f} '
                f'{ex - 10},{y + bar_h + 1:.1f}" fill="none" stroke="#fff" stroke-width="2.5"/>'
            )
        tx = x(check.threshold)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{y - 5:.1f}" x2="{tx:.1f}" y2="{y + bar_h + 5:.1f}" '
            f'stroke="#111" stroke-width="2.5"/>'
        )
        label_x = max(x(check.rate), tx) + 8
        note = " (off scale)" if off_scale else ""
        parts.append(
            f'<text x="{label_x:.1f}" y="{y + bar_h - 3}">'
            f'<tspan font-weight="700" fill="{colour}">{rate}</tspan> of max {threshold}{note}</text>'
        )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _tag(passed: bool) -> str:
    return '<span class="tag pass">PASS</span>' if passed else '<span class="tag fail">FAIL</span>'


def _checks_table(checks: list[Check]) -> str:
    rows = []
    for check in checks:
        rate, threshold = percent_pair(check.rate, check.threshold)
        reasons = "".join(
            f"<li>{escape(str(reason))}: {count:,}</li>" for reason, count in check.reasons.items()
        )
        samples = "".join(
            f'<li><span class="where">{escape(_sample_row(s))}</span> {value_html(s.get("value"))}'
            + (f' <span class="why">{escape(str(s["reason"]))}</span>' if s.get("reason") else "")
            + "</li>"
            for s in check.samples
        )
        rows.append(
            f'<tr class="{"pass" if check.passed else "fail"}">'
            f"<td><strong>{escape(check.field)}</strong></td><td>{escape(check.cls)}</td>"
            f'<td class="num">{check.errors:,}</td><td class="num">{check.rows:,}</td>'
            f'<td class="num">{rate}</td><td class="num">{threshold}</td>'
            f"<td>{_tag(check.passed)}</td>"
            f'<td><ul class="list">{reasons}</ul></td><td><ul class="list">{samples}</ul></td></tr>'
        )
    head = (
        "<tr><th>field</th><th>class</th><th class='num'>errors</th><th class='num'>rows</th>"
        "<th class='num'>rate</th><th class='num'>threshold</th><th>verdict</th>"
        "<th>reasons</th><th>sample failing values</th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _entity_section(entity: EntityResult) -> str:
    failed = len(entity.failed)
    status = (
        f"{failed} of {len(entity.checks)} checks over their threshold"
        if failed
        else f"all {len(entity.checks)} checks within their thresholds"
    )
    parts = [
        f'<section class="entity" id="entity-{escape(entity.entity)}">',
        f"<h2>{escape(entity.entity)} {_tag(entity.passed)}</h2>",
        f'<p class="meta">{entity.rows:,} rows; {status}</p>',
    ]
    if not entity.checks:
        parts.append("<p>No checks ran for this entity.</p></section>")
        return "".join(parts)
    checks = worst_first(entity.checks)
    parts.append(_chart(entity, checks))
    parts.append(
        '<p class="legend">Worst first (rate divided by threshold).'
        f'<span class="swatch" style="background:{_RED}"></span>over its threshold'
        f'<span class="swatch" style="background:{_GREEN}"></span>within it'
        '<span class="swatch" style="background:#111;width:3px"></span>threshold</p>'
    )
    parts.append(_checks_table(checks))
    parts.append("</section>")
    return "".join(parts)


def _overview(result: ValidationResult) -> str:
    rows = "".join(
        f'<tr class="{"pass" if e.passed else "fail"}">'
        f'<td><a href="#entity-{escape(e.entity)}">{escape(e.entity)}</a></td>'
        f'<td class="num">{e.rows:,}</td><td class="num">{len(e.checks):,}</td>'
        f'<td class="num">{len(e.failed):,}</td><td>{_tag(e.passed)}</td></tr>'
        for e in result.entities
    )
    return (
        "<table><thead><tr><th>entity</th><th class='num'>rows</th><th class='num'>checks</th>"
        f"<th class='num'>failed</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _notes(result: ValidationResult) -> str:
    if not result.notes:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in result.notes)
    return f'<div class="notes"><strong>Not checked:</strong><ul>{items}</ul></div>'


def render_html(result: ValidationResult, *, title: str = "crmmigrate validation report") -> str:
    """The report page as one string: inline CSS and SVG, no script, nothing fetched."""
    verdict_class = "pass" if result.passed else "fail"
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="verdict {verdict_class}" id="verdict">{escape(verdict_line(result))}</p>',
        _notes(result),
        _overview(result),
        *(_entity_section(e) for e in result.entities),
    ]
    return document(title, "".join(body))


def write_html(
    result: ValidationResult, path: Path, *, title: str = "crmmigrate validation report"
) -> None:
    """One self-contained HTML page: the verdict, per entity a chart of each field's error rate
    against its threshold (worst first) and a table of the checks with sample failing values."""
    write_page(path, render_html(result, title=title))
