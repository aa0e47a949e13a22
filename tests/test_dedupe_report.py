"""The dedupe report (report.html) and summary.json's model: the headline figures, the warnings,
the fitted model, the match weight histogram, clusters by size and the biggest ones, review
reasons; every value escaped, the page bounded however many clusters there are, opened in
headless Chromium. Results come from the real dedupe stage on small frames."""

from __future__ import annotations

import html
import io
import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.cli.terminal.dedupe import dedupe_summary
from crmmigrate.dedupe import DedupeResult, EntityDedupe, dedupe, dedupe_html, write_outputs
from crmmigrate.dedupe.report import BIGGEST_CLUSTERS, CLUSTER_RECORDS
from tests.browser import Dom, chromium
from tests.test_dedupe import RULES, companies, crm, frame

SCRIPT = "<script>alert(1)</script>"
# Breaks out of an attribute if one is ever written unescaped, and would leave a mark if it ran.
ATTRIBUTE_BREAKER = '"><img src=x onerror="document.body.dataset.pwned=1">'


class Tables(HTMLParser):
    """Every table of a page: its class, caption and rows of cell texts (td only)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._open: list[dict] = []
        self._cell: list[str] | None = None
        self._in_caption = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._open.append({"class": dict(attrs).get("class") or "", "caption": "", "rows": []})
        elif tag == "tr" and self._open:
            self._open[-1]["rows"].append([])
        elif tag == "td" and self._open:
            self._cell = []
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._open:
            table = self._open.pop()
            table["rows"] = [r for r in table["rows"] if r]
            self.tables.append(table)
        elif tag == "td" and self._cell is not None and self._open:
            self._open[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption and self._open:
            self._open[-1]["caption"] += data

    def of_class(self, name: str) -> list[dict]:
        return [t for t in self.tables if t["class"] == name]


def section(page: str, entity: str) -> str:
    start = page.index(f'<section class="entity" id="entity-{entity}">')
    return page[start:page.index("</section>", start)]


def number(text: str) -> float:
    return 0.0 if text == "0 (neutral)" else float(text.replace("−", "-").replace(",", ""))


@pytest.fixture(scope="module")
def crm_result() -> DedupeResult:
    return dedupe(crm(), RULES)


def hostile() -> pd.DataFrame:
    """Background companies and one duplicate pair whose name would run as a script, one of
    them from a source whose name would break out of an attribute."""
    same = {"phone": "+4940999111", "email": "info@evil.example", "billing_street": "Hafenstraße 1",
            "billing_postal_code": "20459"}
    return frame("account", companies() + [{"id": "H1", "name": SCRIPT, **same},
                                           {"id": "H2", "name": f"{SCRIPT} GmbH", "_source": ATTRIBUTE_BREAKER,
                                            **same}])


@pytest.fixture(scope="module")
def hostile_result() -> DedupeResult:
    result = dedupe({"account": hostile()}, RULES)
    assert set(result.entities[0].clusters["legacy_id"]) == {"H1", "H2"}
    return result


# --- what the page holds -------------------------------------------------------------------


def test_headline_figures_per_entity(crm_result: DedupeResult) -> None:
    page = dedupe_html(crm_result)
    for found in crm_result.entities:
        s = found.summary()
        figures = re.findall(r'<span class="value">([\d,]+)</span><span class="label">([a-z ]+)</span>',
                             section(page, found.entity))
        assert {label: int(value.replace(",", "")) for value, label in figures} == {
            "records": s["records"], "candidate pairs": s["candidate_pairs"], "merged": s["merged"],
            "clusters": s["clusters"], "review pairs": s["review_pairs"]}


def test_the_model_table_holds_every_row_and_the_prior(crm_result: DedupeResult) -> None:
    page = dedupe_html(crm_result)
    for found in crm_result.entities:
        (table,) = Tables(section(page, found.entity)).of_class("model")
        prior, *rows = table["rows"]
        assert prior[0] == "prior" and number(prior[2]) == pytest.approx(found.prior, abs=5e-4)
        assert len(rows) == len(found.model)
        comparisons = []
        for cells, want in zip(rows, found.model.itertuples(index=False), strict=True):
            if len(cells) == 6:  # the first level of a comparison carries its name
                comparisons.append(cells[0])
                cells = cells[1:]
            level, m, u, weight, bar = cells
            assert level == want.level
            assert number(m) == pytest.approx(want.m, rel=0.01, abs=5e-4)
            assert number(u) == pytest.approx(want.u, rel=0.01, abs=5e-4)
            assert number(weight) == pytest.approx(want.weight, abs=0.005)
        named = dict(zip(found.model["comparison"], found.model["method"], strict=True))
        assert len(comparisons) == len(named)
        for cell, (name, method) in zip(comparisons, named.items(), strict=True):
            assert cell.startswith(f"{name}{method}")  # name, then method under it
        # One bar per weight that is not zero, blue for a match, red against.
        bars = re.findall(r'<td class="bar"><svg[^>]*>.*?</svg>', section(page, found.entity).split(
            '<table class="model">')[1].split("</table>")[0])
        assert len(bars) == len(found.model) + 1
        blue = sum('fill="#1565c0"' in b for b in bars)
        red = sum('fill="#c62828"' in b for b in bars)
        assert blue == (found.model["weight"] > 0).sum()
        assert red == (found.model["weight"] < 0).sum() + (found.prior < 0.5)


def test_the_histogram_holds_every_candidate_pair_and_the_bands(crm_result: DedupeResult) -> None:
    page = dedupe_html(crm_result)
    for found in crm_result.entities:
        part = section(page, found.entity)
        bins = re.findall(r'<rect class="bin"[^>]*><title>([^<]*) bits: ([\d,]+) pairs?</title>', part)
        edges, counts = found.histogram["edges"], found.histogram["counts"]
        shown = {label: int(n.replace(",", "")) for label, n in bins}
        assert sum(shown.values()) == sum(counts) == found.candidates
        for i, count in enumerate(counts):
            if count and 0 < i < len(counts) - 1:
                assert shown[f"{edges[i]:g} to {edges[i + 1]:g}"] == count
        assert "review ≥ 0.50" in part and "merge ≥ 0.95" in part  # the shipped rules' bands


def test_warnings_are_shown_first_and_prominently() -> None:
    # Three companies and one duplicate: too few candidate pairs to fit a model on.
    rows = companies()[:3] + [{**companies()[0], "id": "D1"}]
    result = dedupe({"account": frame("account", rows)}, RULES)
    (found,) = result.entities
    assert found.warnings
    page = dedupe_html(result)
    assert f"<strong>{len(found.warnings)} warning" in page.split('<section class="entity"')[0]
    part = section(page, "account")
    box = part[part.index('<div class="warnings"'):part.index("</div>", part.index('<div class="warnings"'))]
    for text in found.warnings:
        assert f"<li>{html.escape(text)}</li>" in box
    assert part.index('<div class="warnings"') < part.index('<table class="model">')


def test_clusters_by_size_and_the_biggest_with_their_records(crm_result: DedupeResult) -> None:
    accounts = crm_result.entities[0]
    page = dedupe_html(crm_result)
    tables = Tables(section(page, "account"))
    (sizes,) = tables.of_class("sizes")
    expected = accounts.clusters.groupby("cluster").size().value_counts()
    assert {int(r[0]): int(r[1]) for r in sizes["rows"]} == expected.to_dict()
    listed = [t for t in tables.tables if t["caption"].startswith("account-")]
    assert len(listed) == accounts.clusters["cluster"].nunique()
    for table in listed:
        name = table["caption"].split(" ")[0]
        members = accounts.clusters[accounts.clusters["cluster"] == name]
        assert [(r[0], r[1], r[2], r[3]) for r in table["rows"]] == [
            (s, i, "survivor" if v else "", f"{score:.3f}")
            for s, i, v, score in zip(members["_source"], members["legacy_id"], members["survivor"],
                                      members["score"], strict=True)]
    # The records are shown by their values too: ACME's name.
    assert "ACME Corporation" in section(page, "account")


def test_review_reasons_are_counted() -> None:
    # The same rare name, nothing apart from it: however high it scores (bands lowered to show
    # it), review, with the reason; the pairs between the bands are counted apart.
    rules = RULES.model_copy(update={"entities": {"account": RULES.entities["account"].model_copy(
        update={"merge": 0.02, "review": 0.01})}})
    same = {"billing_city": "Hamburg", "billing_postal_code": "22767", "billing_country": "DE"}
    rows = companies() + [{"id": "X1", "name": "Quastenflosser Feinmechanik", **same},
                          {"id": "X2", "name": "Quastenflosser Feinmechanik GmbH", **same}]
    result = dedupe({"account": frame("account", rows)}, rules)
    (found,) = result.entities
    reasons = found.review["why"].replace("", "scored between the review and merge bands").value_counts()
    assert any(r.startswith("no clue apart from the name") for r in reasons.index)
    (table,) = [t for t in Tables(dedupe_html(result)).of_class("narrow") if "review pairs" in t["caption"]]
    assert {r[0]: int(r[1].replace(",", "")) for r in table["rows"]} == reasons.to_dict()
    assert table["caption"] == f"{len(found.review):,} review pairs (review.csv)"


def test_hostile_values_are_escaped(hostile_result: DedupeResult) -> None:
    page = dedupe_html(hostile_result)
    assert SCRIPT not in page and ATTRIBUTE_BREAKER not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=&quot;document.body.dataset.pwned=1&quot;&gt;" in page
    assert not re.search(r"<(script|img|link|iframe|object|embed)\b", page, re.IGNORECASE)
    assert not re.search(r"https?://", page) and "url(" not in page and "@import" not in page


def test_the_page_stays_bounded_however_many_clusters() -> None:
    # 300 pairs, one cluster of each size from 3 to 18, and one of 30 records.
    rows = [{"id": f"P{i}-{k}", "name": f"Kontor {i} Handel", "phone": f"+4940{7000000 + i * 13}",
             "email": f"post@kontor{i}.example", "billing_street": f"Hafenstraße {i + 1}"}
            for i in range(300) for k in range(2)]
    for size in [*range(3, 19), 30]:
        rows += [{"id": f"S{size}-{k}", "name": f"Gruppe {size} Werke", "phone": f"+4930{5000000 + size * 7}",
                  "email": f"info@gruppe{size}.example", "billing_street": f"Ballindamm {size}"}
                 for k in range(size)]
    result = dedupe({"account": frame("account", rows)}, RULES)
    (found,) = result.entities
    sizes = found.clusters.groupby("cluster").size()
    assert len(sizes) == 317 and sizes.max() == 30

    page = dedupe_html(result)
    tables = Tables(page)
    listed = [t for t in tables.tables if t["caption"].startswith("account-")]
    assert len(listed) == BIGGEST_CLUSTERS
    assert [int(t["caption"].split(" ")[1]) for t in listed] == sorted(sizes, reverse=True)[:BIGGEST_CLUSTERS]
    assert len(listed[0]["rows"]) == CLUSTER_RECORDS + 1
    assert listed[0]["rows"][-1] == [f"and {30 - CLUSTER_RECORDS:,} more records (clusters.csv)"]
    assert f"The {BIGGEST_CLUSTERS} biggest of 317 clusters" in page
    (by_size,) = tables.of_class("sizes")  # sizes apart up to 10, then in ranges
    assert [r[:3] for r in by_size["rows"]] == [
        ["2", "300", "600"], *[[str(s), "1", str(s)] for s in range(3, 11)], ["11–20", "8", "116"],
        ["21–50", "1", "30"]]
    assert page.count("<tr") < 40 + BIGGEST_CLUSTERS * (CLUSTER_RECORDS + 2) + len(found.model)
    assert "P299-1" not in page  # no pair listed one by one


# --- summary.json and the command ----------------------------------------------------------


def test_summary_json_carries_the_model_prior_and_histogram(crm_result: DedupeResult, tmp_path: Path) -> None:
    files = write_outputs(crm_result, tmp_path, datasets=False)
    assert Path(files["report"]) == tmp_path / "report.html"
    assert Path(files["report"]).read_text(encoding="utf-8") == dedupe_html(crm_result)
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    summary = json.loads(text)
    for found in crm_result.entities:
        entity = summary["entities"][found.entity]
        assert entity["model"] == found.model.to_dict("records")
        assert list(entity["model"][0]) == ["comparison", "method", "level", "m", "u", "weight"]
        assert entity["prior"] == found.prior
        assert entity["histogram"] == found.histogram
        assert entity["warnings"] == found.warnings
        for warning in found.warnings:  # once, not again beside the model
            assert text.count(json.dumps(warning, ensure_ascii=False)) == 1


def test_warnings_are_printed_in_yellow(crm_result: DedupeResult) -> None:
    warned = [w for e in crm_result.entities for w in e.warnings]
    assert warned
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=1000,
                      highlight=False)
    dedupe_summary(crm_result, {}, console=console)
    printed = console.file.getvalue()
    for warning in warned:
        assert f"\x1b[33m{warning}\x1b[0m" in printed


def test_the_command_writes_the_report_and_names_it(tmp_path: Path) -> None:
    staged = [tmp_path / "accounts.csv", tmp_path / "contacts.csv"]
    crm()["account"].to_csv(staged[0], index=False)
    crm()["contact"].to_csv(staged[1], index=False)
    out = tmp_path / "out"
    done = CliRunner().invoke(app, ["dedupe", *map(str, staged), "-o", str(out), "--decisions",
                                    str(tmp_path / "decisions.csv")])
    assert done.exit_code == 0, done.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<section class="entity" id="entity-contact">' in page
    assert re.search(rf"^report\s+{re.escape(str(out / 'report.html'))}$", done.stdout, re.M)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for entity in summary["entities"].values():
        for warning in entity["warnings"]:
            assert warning in done.stdout


@pytest.mark.chromium
def test_the_report_in_headless_chromium(hostile_result: DedupeResult, tmp_path: Path) -> None:
    write_outputs(hostile_result, tmp_path, datasets=False)
    path = tmp_path / "report.html"
    dom_html = chromium(tmp_path, "--dump-dom", path.as_uri()).stdout
    dom = Dom(dom_html)
    text = dom.joined()

    assert text.index("crmmigrate dedupe report") < text.index("The fitted model") \
        < text.index("Match weights of all candidate pairs") < text.index("Clusters by size")
    assert ("section", {"class": "entity", "id": "entity-account"}) in dom.tags
    # The hostile values arrived as text, and none as markup: nothing ran.
    assert SCRIPT in text and ATTRIBUTE_BREAKER in text
    tag_names = {tag for tag, _ in dom.tags}
    assert "script" not in tag_names and "img" not in tag_names
    assert not any("data-pwned" in attrs for _, attrs in dom.tags)
    found: EntityDedupe = hostile_result.entities[0]
    bins = [attrs for tag, attrs in dom.tags if tag == "rect" and attrs.get("class") == "bin"]
    assert len(bins) >= sum(1 for c in found.histogram["counts"] if c)

    screenshot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={screenshot}", path.as_uri())
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1200, 2400)
