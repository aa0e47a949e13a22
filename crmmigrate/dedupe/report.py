"""The dedupe report: one self-contained HTML page a person reads to judge a dedupe before
trusting it. Per entity: the headline counts, what the data could not decide (the warnings),
the fitted model (each comparison level's m, u and weight, drawn as bars), how the match
weights of all candidate pairs spread with the review and merge bands marked, clusters by size,
why pairs went to review, and the biggest clusters with their records.

The page stays small whatever the data's size: it shows counts and the top few, never every
pair or cluster (pairs.csv and clusters.csv hold those). Built with crmmigrate.page, like the
validation report: inline CSS and SVG, no script, every value escaped. Nothing here prints.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from crmmigrate.dedupe.engine import DedupeResult, EntityDedupe
from crmmigrate.dedupe.match import LEVELS
from crmmigrate.page import document, escape, nice_step, value_html, write_page
from crmmigrate.page import figures as figure_boxes

TITLE = "crmmigrate dedupe report"
BIGGEST_CLUSTERS = 20  # clusters listed with their records
CLUSTER_RECORDS = 25  # records listed per cluster
REASONS = 12  # review reasons counted one by one; the rest together
SHOWN_FIELDS = 3  # compared fields whose values a listed record shows
SKIPPED_BLOCKS = 5  # keys too common to pair by, listed

_BLUE, _RED, _GREY = "#1565c0", "#c62828", "#9e9e9e"
_REVIEW_FILL, _MERGE_FILL = "#fff3cd", "#e3f2e5"
_REVIEW_BAR, _MERGE_BAR = "#b7791f", "#2e7d32"

_CSS = """
.warnings { background: #fff3e0; border-left: 8px solid #e65100; border-radius: 4px;
  padding: 8px 16px; margin: 0 0 16px; color: #4e2600; }
.warnings ul { margin: 4px 0 0; padding-left: 20px; }
.warnings li { margin: 0 0 4px; }
.calm { color: #1b5e20; }
p.explain { color: #444; margin: 0 0 6px; max-width: 900px; }
table.model td, table.model th { padding: 3px 8px; }
table.model tr.first td { border-top: 2px solid #9a9a9a; }
table.model .method, table.model .filled { color: #555; font-size: 12px; }
table.model .filled.none { color: #8a3b00; font-weight: 600; }
table.model td[rowspan] { width: 15em; }
table.model tr.unused td:not([rowspan]) { color: #888; }
td.bar { padding-top: 4px; padding-bottom: 0; }
td.bar svg, th.bar svg { display: block; }
table.sizes { width: auto; }
.clusters table { margin: 0 0 10px; }
caption { text-align: left; font-weight: 600; padding: 6px 0 2px; }
caption .meta { font-weight: 400; }
table.narrow { width: auto; min-width: 420px; }
.tag.survivor { background: #1b5e20; color: #fff; }
.more { color: #555; font-style: italic; }
@media print { .warnings { break-inside: avoid; -webkit-print-color-adjust: exact;
  print-color-adjust: exact; } }
"""


def dedupe_html(result: DedupeResult, *, title: str = TITLE) -> str:
    """The report page as one string."""
    warned = sum(len(e.warnings) for e in result.entities)
    body = [f"<h1>{escape(title)}</h1>"]
    if warned:
        names = ", ".join(f'<a href="#entity-{escape(e.entity)}">{escape(e.entity)}</a>'
                          for e in result.entities if e.warnings)
        body.append(f'<p class="warnings" id="warned"><strong>{warned} warning{_s(warned)}</strong>: the '
                    f"data could not decide everything the model needs ({names}). Read them before "
                    "trusting a merge.</p>")
    body.append(_overview(result))
    body += [_entity_section(e) for e in result.entities]
    if not result.entities:
        body.append("<p>No entity was deduplicated: the rules name none of the datasets given.</p>")
    return document(title, "".join(body), css=_CSS)


def write_report(result: DedupeResult, path: Path, *, title: str = TITLE) -> None:
    """The report page written to `path`; `OutputError` when it cannot be."""
    write_page(path, dedupe_html(result, title=title))


# --- the page's parts ----------------------------------------------------------------------


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _overview(result: DedupeResult) -> str:
    rows = []
    for e in result.entities:
        s = e.summary()
        rows.append(
            f'<tr><td><a href="#entity-{escape(e.entity)}">{escape(e.entity)}</a></td>'
            + "".join(f'<td class="num">{s[k]:,}</td>' for k in ("records", "candidate_pairs", "merge_pairs",
                                                                   "review_pairs", "clusters", "merged", "kept"))
            + f'<td class="num">{len(e.warnings):,}</td></tr>')
    heads = "".join(f"<th class='num'>{h}</th>" for h in ("records", "candidate pairs", "merge pairs",
                                                           "review pairs", "clusters", "merged", "kept", "warnings"))
    counts = result.as_dict()
    notes = []
    if result.repointed:
        notes.append("Re-pointed to survivors: " + ", ".join(f"{escape(k)} {v:,}" for k, v in result.repointed.items())
                     + ".")
    if counts["leads_known"] or counts["leads_perhaps_known"]:
        notes.append(f"Leads a contact already is: {counts['leads_known']:,}, perhaps: "
                     f"{counts['leads_perhaps_known']:,} (lead_matches.csv).")
    return (f"<table><thead><tr><th>entity</th>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + "".join(f'<p class="meta">{n}</p>' for n in notes))


def _entity_section(e: EntityDedupe) -> str:
    s = e.summary()
    figures = [("records", s["records"]), ("candidate pairs", s["candidate_pairs"]), ("merged", s["merged"]),
               ("clusters", s["clusters"]), ("review pairs", s["review_pairs"])]
    parts = [
        f'<section class="entity" id="entity-{escape(e.entity)}">',
        f"<h2>{escape(e.entity)}</h2>",
        figure_boxes([(label, f"{value:,}") for label, value in figures]),
        _warnings(e),
        _model(e),
        _histogram(e),
        _sizes(e),
        _reasons(e),
        _biggest(e),
        "</section>",
    ]
    return "".join(parts)


def _warnings(e: EntityDedupe) -> str:
    items = [escape(w) for w in e.warnings]
    for key, value, size in e.skipped_blocks[:SKIPPED_BLOCKS]:
        items.append(f"key {escape(key)} = {value_html(value)} is shared by {size:,} records: too many to pair, "
                     "none paired by it")
    if len(e.skipped_blocks) > SKIPPED_BLOCKS:
        items.append(f"and {len(e.skipped_blocks) - SKIPPED_BLOCKS:,} more keys too common to pair by")
    if not items:
        return '<p class="calm">No warnings: the data decided what the model needs.</p>'
    return ('<div class="warnings" role="note"><strong>What the data could not decide</strong><ul>'
            + "".join(f"<li>{i}</li>" for i in items) + "</ul></div>")


# --- the model -----------------------------------------------------------------------------


def _log2_odds(probability: float) -> float:
    if probability <= 0:
        return -math.inf
    if probability >= 1:
        return math.inf
    return math.log2(probability / (1 - probability))


def _probability(weight: float) -> float:
    return 1 / (1 + 2.0 ** -weight)


def _bar_scale(weights: list[float]) -> float:
    """The bars' reach each side of zero: a round number of bits at or above the largest
    finite weight (an infinite one is drawn to the edge)."""
    finite = [abs(w) for w in weights if math.isfinite(w)]
    top = max(finite, default=1.0) or 1.0
    step = nice_step(top)
    return math.ceil(top / step - 1e-9) * step


_BAR_W, _BAR_H = 280, 16


def _bar(weight: float, scale: float) -> str:
    """One weight as a horizontal bar from the middle (zero): right and blue for evidence for a
    match, left and red against."""
    mid = _BAR_W / 2
    parts = [f'<svg width="{_BAR_W}" height="{_BAR_H}" viewBox="0 0 {_BAR_W} {_BAR_H}" role="img" '
             f'aria-label="weight {_weight_text(weight)} bits">',
             f'<line x1="{mid}" y1="0" x2="{mid}" y2="{_BAR_H}" stroke="#777" stroke-width="1"/>']
    if math.isnan(weight) or weight == 0:
        parts.append("</svg>")
        return "".join(parts)
    reach = min(abs(weight), scale) / scale * (mid - 2)
    x = mid if weight > 0 else mid - reach
    parts.append(f'<rect x="{x:.1f}" y="3" width="{max(reach, 1):.1f}" height="{_BAR_H - 6}" '
                 f'fill="{_BLUE if weight > 0 else _RED}"/></svg>')
    return "".join(parts)


def _bar_axis(scale: float) -> str:
    mid = _BAR_W / 2
    ticks = [(-scale, "start", 1), (0.0, "middle", mid), (scale, "end", _BAR_W - 1)]
    text = "".join(f'<text x="{x}" y="11" text-anchor="{anchor}" font-size="11" fill="#555">'
                   f"{_bits(value)}</text>" for value, anchor, x in ticks)
    return f'<svg width="{_BAR_W}" height="14" viewBox="0 0 {_BAR_W} 14" aria-hidden="true">{text}</svg>'


def _weight_text(weight: float, *, sign: bool = True) -> str:
    if math.isnan(weight):
        return "n/a"
    if math.isinf(weight):
        return "+∞" if weight > 0 else "−∞"
    return (f"{weight:+.2f}" if sign else f"{weight:.2f}").replace("-", "−")


def _bits(value: float) -> str:
    """An axis tick: a round number of bits, signed unless zero."""
    return (f"{value:+g}" if value else "0").replace("-", "−")


def _share(value: float) -> str:
    """m or u: a share, with enough digits to tell a tiny u from zero."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0 or value >= 0.001:
        return f"{value:.3f}"
    return f"{value:.2e}"


def _filled(e: EntityDedupe) -> dict[str, float]:
    """Per comparison, the share of the pairs at or above review where both records have a
    value (pairs.csv's evidence is not at the level "missing")."""
    if e.pairs.empty or e.model.empty:
        return {}
    out = {}
    for name, method in dict(zip(e.model["comparison"], e.model["method"], strict=True)).items():
        if name in e.pairs.columns and method in LEVELS:
            missing = e.pairs[name].astype(str).str.startswith(f"{LEVELS[method][0]} (")
            out[str(name)] = 1 - float(missing.mean())
    return out


def _filled_note(share: float | None, pairs: int) -> str:
    if share is None:
        return ""
    if share == 0:
        return (f'<br><span class="filled none">no value in any of the {pairs:,} pairs at or above review: '
                "its weights decided none of them</span>")
    if share < 1:
        return f'<br><span class="filled">both values in {100 * share:.0f}% of the pairs at or above review</span>'
    return ""


def _model(e: EntityDedupe) -> str:
    if e.model.empty:
        return "<h3>The fitted model</h3><p>No model was fitted.</p>"
    prior_weight = _log2_odds(e.prior)
    rows = list(e.model.itertuples(index=False))
    scale = _bar_scale([prior_weight, *(float(r.weight) for r in rows)])
    one_in = f" (1 in {1 / e.prior:,.0f})" if 0 < e.prior < 1 else ""
    body = [f'<tr class="first"><td><strong>prior</strong></td><td>two records drawn at random match{one_in}</td>'
            f'<td class="num">{_share(e.prior)}</td><td class="num"></td>'
            f'<td class="num">{_weight_text(prior_weight)}</td><td class="bar">{_bar(prior_weight, scale)}</td></tr>']
    sizes = e.model.groupby("comparison", sort=False).size()
    filled = _filled(e)
    seen: set[str] = set()
    for r in rows:
        first = r.comparison not in seen
        seen.add(r.comparison)
        head = ""
        share = filled.get(str(r.comparison))
        if first:
            head = (f'<td rowspan="{int(sizes[r.comparison])}"><strong>{escape(str(r.comparison))}</strong><br>'
                    f'<span class="method">{escape(str(r.method))}</span>{_filled_note(share, len(e.pairs))}</td>')
        weight = float(r.weight)
        shown = _weight_text(weight) if weight else "0 (neutral)"
        classes = " ".join(c for c in ("first" if first else "", "unused" if share == 0 else "") if c)
        body.append(f'<tr class="{classes}">{head}<td>{escape(str(r.level))}</td>'
                    f'<td class="num">{_share(float(r.m))}</td><td class="num">{_share(float(r.u))}</td>'
                    f'<td class="num">{shown}</td><td class="bar">{_bar(weight, scale)}</td></tr>')
    head = ("<tr><th>comparison</th><th>level</th><th class='num'>m</th><th class='num'>u</th>"
            f"<th class='num'>weight (bits)</th><th class='bar'>{_bar_axis(scale)}</th></tr>")
    return ("<h3>The fitted model</h3>"
            '<p class="explain">m: the share of true matches at a level; u: the share of pairs that do not '
            "match. A pair's match weight is the prior's plus, per comparison, its level's weight "
            "(log2 m/u: blue for a match, red against; a missing value weighs nothing).</p>"
            f'<table class="model"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>')


# --- the match weights of all candidate pairs ---------------------------------------------


def _shown_range(edges: list[float], counts: list[int], review: float, merge: float) -> tuple[float, float]:
    """The part of the weight axis worth drawing: from the first bin with pairs to the last,
    the bands always inside, a bin to spare each side."""
    filled = [i for i, c in enumerate(counts) if c]
    bands = [w for w in (review, merge) if math.isfinite(w)]
    width = edges[1] - edges[0]
    lo = min([edges[filled[0]], *[b - width for b in bands]]) - width
    hi = max([edges[filled[-1] + 1], *[b + width for b in bands]]) + width
    return max(lo, edges[0]), min(hi, edges[-1])


def _histogram(e: EntityDedupe) -> str:
    edges = [float(x) for x in e.histogram.get("edges", [])]
    counts = [int(c) for c in e.histogram.get("counts", [])]
    heading = "<h3>Match weights of all candidate pairs</h3>"
    if len(edges) < 2 or len(counts) != len(edges) - 1:
        return heading + "<p>No histogram was kept.</p>"
    total = sum(counts)
    if not total:
        return heading + "<p>No candidate pairs.</p>"
    review, merge = float(e.histogram.get("review", math.nan)), float(e.histogram.get("merge", math.nan))
    left, plot_w, right, top, plot_h, bottom = 64, 780, 20, 26, 200, 46
    width, height = left + plot_w + right, top + plot_h + bottom
    lo, hi = _shown_range(edges, counts, review, merge)

    def x(weight: float) -> float:
        return left + plot_w * (min(max(weight, lo), hi) - lo) / (hi - lo)

    # Candidate pairs are mostly non-matches: on a linear scale the few thousand matches among
    # millions would not show, so heights are logarithmic (1 pair is one decade's height).
    decades = math.log10(max(counts)) + 1

    def y(count: float) -> float:
        return top + plot_h - (plot_h * (math.log10(count) + 1) / decades if count >= 1 else 0)

    title = f"{e.entity}: match weights of {total:,} candidate pairs, review and merge bands marked"
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    if math.isfinite(review):
        end = merge if math.isfinite(merge) else hi
        parts.append(f'<rect x="{x(review):.1f}" y="{top}" width="{x(end) - x(review):.1f}" height="{plot_h}" '
                     f'fill="{_REVIEW_FILL}"/>')
    if math.isfinite(merge):
        parts.append(f'<rect x="{x(merge):.1f}" y="{top}" width="{x(hi) - x(merge):.1f}" height="{plot_h}" '
                     f'fill="{_MERGE_FILL}"/>')
    for power in range(math.floor(decades - 1e-9) + 1):
        ty = y(10**power)
        parts.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="#e2e2e2"/>'
                     f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{10**power:,}</text>')
    bin_w = plot_w * (edges[1] - edges[0]) / (hi - lo)
    for i, count in enumerate(counts):
        a, b = edges[i], edges[i + 1]
        if b <= lo or a >= hi:
            continue
        middle = (a + b) / 2
        colour = (_MERGE_BAR if math.isfinite(merge) and middle >= merge
                  else _REVIEW_BAR if math.isfinite(review) and middle >= review else _GREY)
        shown = (f"below {b:g}" if i == 0 else f"{a:g} or more" if i == len(counts) - 1 else f"{a:g} to {b:g}")
        label = f"{shown} bits: {count:,} pair{_s(count)}"
        top_y = y(count)
        parts.append(f'<rect class="bin" x="{x(a) + 1:.1f}" y="{top_y:.1f}" width="{bin_w - 2:.1f}" '
                     f'height="{top + plot_h - top_y:.1f}" fill="{colour}"><title>{escape(label)}</title></rect>')
    step = nice_step((hi - lo) / 2)  # a tick every 5 or 10 bits
    tick = math.ceil(lo / step) * step
    while tick <= hi + 1e-9:
        tx = x(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{top + plot_h}" x2="{tx:.1f}" y2="{top + plot_h + 5}" stroke="#555"/>'
                     f'<text class="tick" x="{tx:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                     f"{_bits(tick)}</text>")
        tick += step
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">match weight (bits; '
                 "0 is probability 0.5, +10 is 0.999)</text>")
    parts.append(f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2})">pairs (log scale)</text>')
    for weight, name in ((review, "review"), (merge, "merge")):
        if math.isfinite(weight):
            tx = x(weight)
            parts.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{top + plot_h}" stroke="#111" '
                         f'stroke-width="2" stroke-dasharray="5 3"/>'
                         f'<text x="{tx + (4 if name == "merge" else -4):.1f}" y="{top - 8}" '
                         f'text-anchor="{"start" if name == "merge" else "end"}" font-weight="700">'
                         f"{name} ≥ {_probability(weight):.2f}</text>")
    parts.append("</svg>")
    legend = (f'<p class="legend"><span class="swatch" style="background:{_GREY}"></span>below review '
              f'<span class="swatch" style="background:{_REVIEW_BAR}"></span>review band '
              f'<span class="swatch" style="background:{_MERGE_BAR}"></span>merge band. '
              f"Weights below {_bits(edges[1])} and from {_bits(edges[-2])} bits on are counted in the end bins. A merge "
              "also needs a clue apart from the name, so some pairs right of the merge line are reviewed "
              "instead.</p>")
    return heading + "".join(parts) + legend


# --- clusters ------------------------------------------------------------------------------


def _size_rows(sizes: pd.Series) -> list[tuple[str, int, int]]:
    """(size label, clusters, records): each size apart when there are few, else sizes up to 10
    apart and larger ones in ranges."""
    by_size = sizes.value_counts().sort_index()
    if len(by_size) <= 15:
        return [(f"{s:,}", int(c), int(s * c)) for s, c in by_size.items()]
    rows = [(f"{s:,}", int(c), int(s * c)) for s, c in by_size.items() if s <= 10]
    bounds = [11, 21, 51, 101, 1001, 10_001]
    for low, high in zip(bounds, [*bounds[1:], None], strict=True):
        inside = by_size[(by_size.index >= low) & ((by_size.index < high) if high else True)]
        if len(inside):
            label = f"{low:,}–{high - 1:,}" if high else f"{low:,} or more"
            rows.append((label, int(inside.sum()), int((inside.index.to_numpy() * inside.to_numpy()).sum())))
    return rows


def _sizes(e: EntityDedupe) -> str:
    heading = "<h3>Clusters by size</h3>"
    if e.clusters.empty:
        return heading + "<p>No clusters: nothing was merged.</p>"
    rows = _size_rows(e.clusters.groupby("cluster", sort=False).size())
    most = max(c for _, c, _ in rows)
    width = 300
    body = "".join(
        f'<tr><td class="num">{label}</td><td class="num">{count:,}</td><td class="num">{records:,}</td>'
        f'<td class="bar"><svg width="{width}" height="{_BAR_H}" viewBox="0 0 {width} {_BAR_H}" aria-hidden="true">'
        f'<rect x="0" y="3" width="{max(width * count / most, 1):.1f}" height="{_BAR_H - 6}" fill="{_BLUE}"/>'
        "</svg></td></tr>" for label, count, records in rows)
    return (heading + '<table class="sizes"><thead><tr><th class="num">records in the cluster</th>'
            '<th class="num">clusters</th><th class="num">records</th><th></th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _shown_fields(e: EntityDedupe) -> list[str]:
    """The compared fields whose two values pairs.csv holds, in the rules' order."""
    names = list(dict.fromkeys(e.model["comparison"])) if not e.model.empty else []
    return [n for n in names if f"{n}_a" in e.pairs.columns and f"{n}_b" in e.pairs.columns]


def _record_values(e: EntityDedupe, keys: set[tuple[str, str]], fields: list[str]) -> dict[tuple[str, str], dict]:
    """Each listed record's values of `fields`, as the pairs it is in show them."""
    if not keys or not fields or e.pairs.empty:
        return {}
    wanted = {f"{s}\x1f{i}" for s, i in keys}
    found: dict[tuple[str, str], dict] = {}
    for side in ("a", "b"):
        key = e.pairs[f"source_{side}"].astype(str) + "\x1f" + e.pairs[f"id_{side}"].astype(str)
        hit = key.isin(wanted) & ~key.duplicated()
        for source, legacy, *shown in zip(e.pairs.loc[hit, f"source_{side}"].astype(str),
                                          e.pairs.loc[hit, f"id_{side}"].astype(str),
                                          *(e.pairs.loc[hit, f"{f}_{side}"] for f in fields), strict=True):
            found.setdefault((source, legacy), dict(zip(fields, shown, strict=True)))
    return found


def _biggest(e: EntityDedupe) -> str:
    if e.clusters.empty:
        return ""
    sizes = e.clusters.groupby("cluster", sort=True).size()
    # Biggest first; among equal sizes, in the clusters' own order (stable sort).
    top = sizes.sort_values(ascending=False, kind="stable").head(BIGGEST_CLUSTERS)
    members = e.clusters[e.clusters["cluster"].isin(top.index)]
    shown = {c: g.head(CLUSTER_RECORDS) for c, g in members.groupby("cluster", sort=False)}
    keys = {(str(s), str(i)) for g in shown.values() for s, i in zip(g["_source"], g["legacy_id"], strict=True)}
    fields = _shown_fields(e)
    values = _record_values(e, keys, fields)
    filled = [f for f in fields if any(not _blank(v.get(f)) for v in values.values())][:SHOWN_FIELDS]
    heads = "".join(f"<th>{escape(f)}</th>" for f in filled)
    tables = []
    for name, size in top.items():
        rows = []
        group = shown[name]
        for source, legacy, survivor, score in zip(group["_source"].astype(str), group["legacy_id"].astype(str),
                                                   group["survivor"], group["score"], strict=True):
            record = values.get((source, legacy), {})
            tag = '<span class="tag survivor">survivor</span>' if survivor else ""
            cells = "".join(f"<td>{_cell(record.get(f))}</td>" for f in filled)
            rows.append(f"<tr><td>{escape(source)}</td><td>{escape(legacy)}</td><td>{tag}</td>"
                        f'<td class="num">{float(score):.3f}</td>{cells}</tr>')
        more = int(size) - len(shown[name])
        if more > 0:
            rows.append(f'<tr><td class="more" colspan="{4 + len(filled)}">and {more:,} more records '
                        "(clusters.csv)</td></tr>")
        tables.append(f'<table><caption>{escape(str(name))} <span class="meta">{int(size):,} records</span>'
                      "</caption><thead><tr><th>source</th><th>id</th><th></th><th class='num'>score</th>"
                      f"{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    count = len(sizes)
    which = f"The {len(top):,} biggest of {count:,} clusters" if count > len(top) else f"All {count:,} clusters"
    return (f"<h3>{which}</h3>"
            '<p class="explain">Each record with the best match probability it was merged on (score), '
            "the survivor first; a big cluster is where a chain of merges is worth a look.</p>"
            f'<div class="clusters">{"".join(tables)}</div>')


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _cell(value: object) -> str:
    return "" if _blank(value) else escape(str(value))


# --- why pairs went to review --------------------------------------------------------------


_TWO_RECORDS = r"records \S+ and \S+"


def _reasons(e: EntityDedupe) -> str:
    review = e.review
    heading = "<h3>Why pairs went to review</h3>"
    merges = e.pairs.loc[e.pairs["band"] == "merge", "clue"] if len(e.pairs) else pd.Series(dtype=object)
    clue_table = ""
    if len(merges):
        clues = merges.fillna("").value_counts()
        clue_table = ('<table class="narrow"><caption>What merge pairs rested on, apart from the name</caption>'
                      "<thead><tr><th>clue</th><th class='num'>merge pairs</th></tr></thead><tbody>"
                      + "".join(f"<tr><td>{escape(str(c)) or '(none)'}</td><td class='num'>{n:,}</td></tr>"
                                for c, n in clues.items()) + "</tbody></table>")
    if review.empty:
        return heading + "<p>No pair is in the review band.</p>" + clue_table
    # A reason naming two records ("would chain: records a:1 and a:7 clearly differ") is counted
    # with the others of its kind, the commonest named as an example. Reasons are few, pairs many:
    # each distinct reason is read once.
    counted = review["why"].fillna("").astype(str).value_counts()
    kind = counted.index.str.replace(_TWO_RECORDS, "records … and …", regex=True)
    reasons = counted.groupby(kind, sort=False).sum().sort_values(ascending=False, kind="stable")
    example = pd.Series(counted.index, index=kind).groupby(level=0, sort=False).first()
    rows = []
    for reason, n in reasons.head(REASONS).items():
        named = re.search(_TWO_RECORDS, example[reason])
        text = escape(reason) if reason else "scored between the review and merge bands"
        if named:
            text += f' <span class="why">(e.g. {escape(named.group())})</span>'
        rows.append(f"<tr><td>{text}</td><td class='num'>{int(n):,}</td></tr>")
    rest = reasons.iloc[REASONS:]
    if len(rest):
        rows.append(f'<tr><td class="more">{len(rest):,} other reason{_s(len(rest))}</td>'
                    f"<td class='num'>{int(rest.sum()):,}</td></tr>")
    return (heading + f'<table class="narrow"><caption>{len(review):,} review pairs (review.csv)</caption>'
            "<thead><tr><th>reason</th><th class='num'>pairs</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>" + clue_table)
