"""Self-contained HTML pages for people (the validation report, the dedupe report): the
stylesheet they share, the page around a body, legacy values escaped and shown readably, and
round steps for chart axes.

A page loads nothing: no script, no stylesheet or font from elsewhere; charts are inline SVG.
Every value a page shows goes through `escape` (or `value_html`). Nothing here prints.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from crmmigrate.staging import write_bytes

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1120px; padding: 24px 20px 48px; color: #1b1b1b;
  background: #fff; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  "Noto Sans", "DejaVu Sans", sans-serif; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 18px; margin: 0 0 4px; }
.verdict { padding: 12px 16px; border-left: 8px solid; border-radius: 4px; font-weight: 600;
  font-size: 16px; margin: 0 0 16px; }
.verdict.fail { background: #fdecea; border-color: #b71c1c; color: #7f1010; }
.verdict.pass { background: #e8f5e9; border-color: #1b5e20; color: #0f3d13; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px;
  border-bottom: 1px solid #d6d6d6; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.tag { display: inline-block; padding: 0 6px; border-radius: 3px; font-weight: 700;
  font-size: 12px; }
.tag.fail { background: #b71c1c; color: #fff; }
.tag.pass { background: #1b5e20; color: #fff; }
tr.fail td { background: #fff6f5; }
section.entity { margin: 28px 0 0; padding-top: 12px; border-top: 2px solid #444;
  break-inside: auto; }
.meta { color: #444; margin: 0 0 8px; }
.notes { background: #fff8e1; border-left: 8px solid #8d6e00; border-radius: 4px;
  padding: 8px 16px; margin: 0 0 16px; }
.notes ul { margin: 4px 0 0; padding-left: 20px; }
.chart { display: block; width: 100%; max-width: 900px; height: auto; break-inside: avoid; }
.chart text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans",
  "DejaVu Sans", sans-serif; fill: #1b1b1b; }
.chart .tick { fill: #555; }
.legend { color: #444; font-size: 12px; margin: 2px 0 8px; }
.legend .swatch { display: inline-block; width: 12px; height: 10px; margin: 0 4px 0 10px;
  vertical-align: baseline; }
ul.list { margin: 0; padding: 0; list-style: none; }
ul.list li { margin: 0 0 3px; }
code.value { font: 12.5px "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
  background: #f0f0f0; border: 1px solid #d9d9d9; border-radius: 3px; padding: 0 3px;
  white-space: pre-wrap; word-break: break-all; }
.where, .why { color: #555; }
em.missing { color: #555; }
h3 { font-size: 15px; margin: 22px 0 4px; }
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 14px; }
.figure { border: 1px solid #d6d6d6; border-radius: 4px; padding: 6px 14px; min-width: 130px; }
.figure .value { display: block; font-size: 22px; font-weight: 700;
  font-variant-numeric: tabular-nums; }
.figure .label { color: #444; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  section.entity { break-before: auto; }
  tr, .verdict { break-inside: avoid; }
  .figure { break-inside: avoid; }
  .verdict.fail, .verdict.pass, .tag, tr.fail td { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
}
"""

escape = html.escape


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def shown_value(value: Any) -> str:
    """A legacy value as text a person can read: characters that would be invisible or break
    the file (control characters, lone surrogates from undecodable bytes) become escapes."""
    if is_missing(value):
        return "(missing)"
    text = str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def value_html(value: Any) -> str:
    """A legacy value in a page: escaped, shown readably, marked when missing."""
    if is_missing(value):
        return '<em class="missing">(missing)</em>'
    # <bdi> isolates right-to-left values so they cannot reorder the text around them.
    return f'<code class="value"><bdi>{escape(shown_value(value))}</bdi></code>'


def figures(items: list[tuple[str, str]]) -> str:
    """Headline figures in a row of boxes: each (label, value) with the value big above its
    label. Both are text; they are escaped here."""
    boxes = "".join(
        f'<div class="figure"><span class="value">{escape(value)}</span>'
        f'<span class="label">{escape(label)}</span></div>'
        for label, value in items
    )
    return f'<div class="figures">{boxes}</div>'


def nice_step(span: float) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving four or five ticks."""
    raw = span / 4
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def document(title: str, body: str, *, css: str = "") -> str:
    """The page as one string: `body` (already escaped) under `title`, the shared stylesheet
    and `css` inline, and a content security policy that lets nothing load."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing on this page may load anything: it is opened from CI artifacts and mail.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{CSS}{css}</style></head>\n"
        f"<body>{body}</body></html>\n"
    )


def write_page(path: Path, page: str) -> None:
    """The page written as UTF-8 under a temporary name, then renamed; `OutputError` when the
    path cannot be written."""
    # Values are escaped for display already; this only guards reasons and titles against a
    # lone surrogate, which UTF-8 cannot encode.
    write_bytes(path, page.encode("utf-8", errors="backslashreplace"))
