"""Deduplicate canonical datasets: match, band, cluster, build survivors, re-point children.

`dedupe(datasets, rules)` runs every entity the rules name, parents first (accounts before
contacts, so contacts of merged accounts agree on their account before they are compared), and
returns the deduplicated datasets with, per entity, the scored pairs (with per-field evidence),
the clusters, the pairs for review and the merged records; plus the pointers re-pointed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crmmigrate import parallel
from crmmigrate.dedupe import match
from crmmigrate.dedupe.cluster import cluster
from crmmigrate.dedupe.comparisons import Patterns, radix_of
from crmmigrate.dedupe.related import related_fields
from crmmigrate.dedupe.rules import VIRTUAL_FIELDS, DedupeRules, MatchSpec
from crmmigrate.dedupe.survive import child_counts, chosen, rank, repoint, texts
from crmmigrate.model import MODEL
from crmmigrate.progress import Progress, Tally

DECISION_COLUMNS = ("entity", "source_a", "id_a", "source_b", "id_b", "decision")
CLUSTER_COLUMNS = ("entity", "cluster", "_source", "legacy_id", "survivor", "score")
MERGED_COLUMNS = ("entity", "_source", "_file", "_row", "legacy_id", "survivor_source", "survivor_id", "cluster")
DECISIONS = ("merge", "apart", "skip")
# What ranking and choosing look at in a clustered record, beside its fields' values.
SURVIVORSHIP_COLUMNS = ("_source", "_legacy", "_file", "_row", "created_at")
MODEL_COLUMNS = ("comparison", "method", "level", "m", "u", "weight")


@dataclass
class EntityDedupe:
    """What deduplicating one entity found and did."""

    entity: str
    records: int
    candidates: int  # pairs the blocking keys found
    pairs: pd.DataFrame  # pairs scored at or above the review band, with evidence and values
    clusters: pd.DataFrame  # CLUSTER_COLUMNS, clusters of two records or more
    merged: pd.DataFrame  # MERGED_COLUMNS
    skipped_blocks: list[tuple[str, str, int]] = field(default_factory=list)  # key, value, records
    # The fitted model: per comparison and level its m, u and weight (MODEL_COLUMNS), and the
    # prior (the chance that two records drawn at random match).
    model: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MODEL_COLUMNS)))
    prior: float = 0.0
    # How the candidate pairs' match weights spread (match.Histogram), the bands' weights beside.
    histogram: dict = field(default_factory=dict)
    # What the data could not decide, each with what to do about it (shown, and in summary.json).
    warnings: list[str] = field(default_factory=list)
    # Each merged record's position among the records deduplicated (the rows of `merged`).
    merged_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def review(self) -> pd.DataFrame:
        return self.pairs[self.pairs["band"] == "review"]

    def summary(self) -> dict:
        bands = self.pairs["band"].value_counts()
        return {"records": self.records, "candidate_pairs": self.candidates,
                "merge_pairs": int(bands.get("merge", 0)), "review_pairs": int(bands.get("review", 0)),
                "clusters": int(self.clusters["cluster"].nunique()) if len(self.clusters) else 0,
                "merged": len(self.merged), "kept": self.records - len(self.merged), "warnings": list(self.warnings)}


LEAD_MATCH_COLUMNS = ("lead_source", "lead_id", "contact_source", "contact_id", "probability", "known")


@dataclass
class DedupeResult:
    datasets: dict[str, pd.DataFrame]
    entities: list[EntityDedupe]
    repointed: dict[str, int]  # entity.field -> pointers re-pointed to a survivor
    lead_matches: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(LEAD_MATCH_COLUMNS)))
    # entity -> its merged records as dedupe was given them, before any pointer was re-pointed
    # (what merged_record keeps of them)
    merged_records: dict[str, pd.DataFrame] = field(default_factory=dict)

    def as_dict(self) -> dict:
        known = self.lead_matches["known"].value_counts()
        return {"entities": {e.entity: e.summary() for e in self.entities}, "repointed": self.repointed,
                "leads_known": int(known.get("yes", 0)), "leads_perhaps_known": int(known.get("perhaps", 0))}


def dedupe(datasets: dict[str, pd.DataFrame], rules: DedupeRules, *, decisions: pd.DataFrame | None = None,
           loaded: set[tuple[str, str, str]] | None = None,
           invalid: set[tuple[str, str, str]] | None = None, progress: Progress | None = None,
           pairing: match.Pairing | None = None) -> DedupeResult:
    """Deduplicate every entity `rules` names that has a dataset. `decisions` (DECISION_COLUMNS)
    are people's review decisions, applied before anything is merged; `loaded` holds the
    (entity, source, legacy id) records already in the target: they stay survivors; `invalid`
    the (file, row, field) values validation failed, which no surviving record takes from
    another record. `progress` is told each entity's phases (`find_duplicates`); `pairing`
    makes each entity's candidate pairs (default: `match.held_or_remade`, in this process,
    every pair held where they fit, and for the leads `match.RemadePairs.made`; the cluster
    engine's leaves them on its workers). An entity's records as given are let go once it is
    deduplicated (only its merged records are kept, `merged_records`): a caller that keeps no
    reference to them has their memory back before the next entity."""
    given = dict(datasets)
    datasets = {name: frame.copy(deep=False) for name, frame in datasets.items()}  # copy on write: theirs stay
    decisions = decisions if decisions is not None else pd.DataFrame(columns=list(DECISION_COLUMNS))
    loaded = loaded or set()
    found: list[EntityDedupe] = []
    repointed: dict[str, int] = {}
    merged_records: dict[str, pd.DataFrame] = {}
    for name in MODEL.load_order():
        if name not in rules.entities or name not in datasets or datasets[name].empty:
            continue
        mine = decisions[decisions["entity"] == name]
        result, survivors = survivors_of(
            datasets[name], rules.entities[name], entity=name, decisions=mine, datasets=datasets,
            loaded={(s, i) for e, s, i in loaded if e == name}, children=child_counts(datasets, name),
            invalid=invalid, progress=progress, pairing=pairing)
        found.append(result)
        merged_records[name] = given.pop(name).iloc[result.merged_at]
        # The records, held by nothing else now (the caller handed them over), let go a column
        # at a time as the deduplicated ones are built: not two copies of them at once.
        deduped = datasets[name] = survivors.of(_handed_over(datasets, name), owned=True)
        survivors = dict(zip(result.merged["legacy_id"], result.merged["survivor_id"], strict=True))
        legacy = _legacy(deduped)
        ids = pd.DataFrame({"s": deduped["_source"].astype(str), "id": legacy}).drop_duplicates()["id"]
        shared = set(ids[ids.duplicated()])  # a legacy id two sources share
        gone = pa.array(result.merged["legacy_id"].astype("str"))
        # A merged record's id that is still another record's (Arrow: pandas' isin takes seconds).
        shared |= set(gone.filter(pc.is_in(gone, value_set=pa.array(legacy.astype("str")))).to_pylist())
        repointed.update(repoint(datasets, name, survivors, shared))
        parallel.give_back()  # the records let go (read by forked processes: in the C heap)
    matches = pd.DataFrame(columns=list(LEAD_MATCH_COLUMNS))
    if rules.leads is not None and "lead" in datasets and "contact" in datasets:
        tally = Tally(progress, "dedupe", "lead: matched to contacts", len(datasets["lead"]) + len(datasets["contact"]))
        matches = lead_matches(datasets, rules.leads, pairing)
        tally.finish()
    del given
    return DedupeResult(datasets, found, repointed, matches, merged_records)


def _handed_over(datasets: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """`datasets[name]`, no longer held there (its place kept: the order of `datasets` is the
    order pointers are re-pointed and reported in)."""
    frame, datasets[name] = datasets[name], pd.DataFrame()
    return frame


def lead_matches(datasets: dict[str, pd.DataFrame], spec: MatchSpec, pairing: match.Pairing | None = None
                 ) -> pd.DataFrame:
    """Leads a contact already is: each lead scored against the contacts (the contacts' company
    is their account's name), `known` "yes" at or above the merge band, "perhaps" in review.
    `pairing` makes the candidate pairs (`dedupe`); by default they are made here a share at a
    time, holding only each pair's level pattern (`match.RemadePairs`): the leads' pairs are the
    most numerous of a run (52M at 1M contacts), and their matching runs beside the load, which
    holds the records."""
    leads, contacts = datasets["lead"], datasets["contact"]
    names: dict[str, str] = {}
    if "account" in datasets:
        accounts = datasets["account"]
        names = dict(zip(_legacy(accounts), accounts["name"].astype("str"), strict=True))
    company = contacts["account_id"].astype("str").str.strip().map(names)
    people = pd.concat([
        pd.DataFrame({"id": _legacy(leads), "_source": leads["_source"].astype(str), "first_name": leads["first_name"],
                      "last_name": leads["last_name"], "email": leads["email"], "phone": leads["phone"],
                      "mobile": leads["phone"], "company": leads["company"], "_lead": True}),
        pd.DataFrame({"id": _legacy(contacts), "_source": contacts["_source"].astype(str),
                      "first_name": contacts["first_name"], "last_name": contacts["last_name"],
                      "email": contacts["email"], "phone": contacts["phone"], "mobile": contacts["mobile"],
                      "company": company, "_lead": False}),
    ], ignore_index=True)
    is_lead = people["_lead"].to_numpy()
    values = match.prepared(people, spec.fields)
    who = people[["_source", "id"]]
    del people, company, names  # the compared fields, held as `values` from here
    parallel.give_back()  # what the frame held, given back (beside the load, every page counts)
    # Linked, not deduplicated (Splink's link_only): only lead-contact pairs are made and the model
    # is fitted on those. Pairing the contacts among themselves as well (the colleagues a company
    # or a switchboard holds, the namesakes) was most of the work, and none of it could be a match.
    pairs, model = match.fitted(values, spec, side=is_lead, pairing=pairing or match.RemadePairs.made)
    del values  # the compared values, let go: the pairs and the model are all `above` needs
    parallel.give_back()
    left, right, probability = match.above(pairs, model, spec, spec.review)
    del pairs
    lead = np.where(is_lead[left], left, right)
    contact = np.where(is_lead[left], right, left)
    leads_found, contacts_found = who.take(lead), who.take(contact)
    out = pd.DataFrame({
        "lead_source": leads_found["_source"].to_numpy(), "lead_id": leads_found["id"].to_numpy(),
        "contact_source": contacts_found["_source"].to_numpy(), "contact_id": contacts_found["id"].to_numpy(),
        "probability": np.round(probability, 6), "known": np.where(probability >= spec.merge, "yes", "perhaps")})
    return out.sort_values(["lead_source", "lead_id", "probability", "contact_source", "contact_id"],
                           ascending=[True, True, False, True, True], kind="stable").reset_index(drop=True)


def _legacy(frame: pd.DataFrame) -> pd.Series:
    return frame["id"].astype("str").str.strip().fillna("")


def find_duplicates(frame: pd.DataFrame, spec: MatchSpec, *, entity: str, decisions: pd.DataFrame | None = None,
                    loaded: set[tuple[str, str]] | None = None, children: dict[str, int] | None = None,
                    invalid: set[tuple[str, str, str]] | None = None,
                    datasets: dict[str, pd.DataFrame] | None = None,
                    progress: Progress | None = None, pairing: match.Pairing | None = None
                    ) -> tuple[EntityDedupe, pd.DataFrame]:
    """One entity's duplicates found and merged; returns what was found and the deduplicated
    frame (survivors carry the values survivorship chose; merged records are gone), indexed by
    the records' positions in `frame`. The arguments are `survivors_of`'s."""
    found, survivors = survivors_of(frame, spec, entity=entity, decisions=decisions, loaded=loaded,
                                    children=children, invalid=invalid, datasets=datasets, progress=progress,
                                    pairing=pairing)
    return found, survivors.of(frame)


def survivors_of(frame: pd.DataFrame, spec: MatchSpec, *, entity: str, decisions: pd.DataFrame | None = None,
                 loaded: set[tuple[str, str]] | None = None, children: dict[str, int] | None = None,
                 invalid: set[tuple[str, str, str]] | None = None,
                 datasets: dict[str, pd.DataFrame] | None = None,
                 progress: Progress | None = None, pairing: match.Pairing | None = None
                 ) -> tuple[EntityDedupe, Survivors]:
    """One entity's duplicates found, and which of its records survive with which values
    (`Survivors`, to build the deduplicated records with). `datasets`
    holds the records pointing at these, which related fields (an account's domain from its
    contacts' mail) are made with. `progress` is told each phase as its own item of the dedupe
    stage ("contact: comparing pairs"): blocking (records), comparing pairs (pairs), fitting
    (steps), scoring pairs (pairs), clustering (pairs to merge) and survivors (records)."""
    def phase(name: str, total: int) -> Tally:
        return Tally(progress, "dedupe", f"{entity}: {name}", total)

    frame = frame.reset_index(drop=True)
    n = len(frame)
    blocking = phase("blocking", n)
    frame["_legacy"] = _legacy(frame)
    related = related_fields(frame, entity, datasets or {}, spec.fields)
    values = match.prepared(frame.assign(**related) if related else frame, spec.fields)
    pairs = match.candidates(values, spec, pairing=pairing or match.held_or_remade)
    blocking.finish()
    comparing = phase("comparing pairs", len(pairs))
    pairs.compare(values, spec, done=comparing.add)
    comparing.finish()
    pointers = tuple(f.name for f in MODEL.entity(entity).pointers) if entity in MODEL.names else ()
    fitting = phase("fitting", match.fit_steps(spec))
    model = match.fit(values, spec, pairs, pointers, done=fitting.add)
    fitting.finish()
    forced, apart = _decided(decisions, frame)
    # From here on only the pairs at or above the review band matter, and those people decided.
    histogram = np.zeros(len(match.HISTOGRAM_EDGES) - 1, dtype=np.int64)
    scoring = phase("scoring pairs", len(pairs))
    left, right, codes = pairs.at_least(model, spec.review, histogram, done=scoring.add)
    scoring.finish()
    scored = _Scored(left, right, Patterns(codes, radix_of(spec)).levels(), n)
    candidates, skipped = len(pairs), pairs.skipped
    del pairs, left, right, codes
    scored.add(np.array(forced + apart, dtype=np.int64).reshape(-1, 2), values, spec, model)
    scored.weigh(model)

    # Precision first: a merge needs a clue apart from the name; without one, review at most.
    clue = match.clues(values, spec, scored.levels, scored.left, scored.right, pointers)
    merge = (scored.probability >= spec.merge) & (clue >= 0)
    strength = scored.probability.copy()
    at = scored.find(forced)
    merge[at], strength[at] = True, 2.0  # a person's decision outranks any score
    merge[scored.find(apart)] = False

    def distinct(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Record pairs that clearly differ: their comparisons together speak against a match
        (a Bayes factor below 1), or they differ on what a record has one of (`match.conflicts`:
        two first names, two addresses, two work mailboxes), scored on the spot when not among
        the pairs kept. Two records that merely share little are no reason to keep a cluster
        apart; two Johnsons at one company, joined through a third with no first name, are."""
        at, hit = _find(scored.code, a.astype(np.int64) * n + b.astype(np.int64))
        found = np.full(len(a), np.nan)
        found[hit] = scored.weights[at[hit]]
        levels = {name: np.zeros(len(a), dtype=np.int8) for name in scored.levels}
        for name, known in scored.levels.items():
            levels[name][hit] = known[at[hit]]
        missing = np.isnan(found)
        if missing.any():
            fresh = match.levels(values, spec, a[missing], b[missing])
            found[missing] = match.score_weights(model, fresh, a[missing])
            for name, level in fresh.items():
                levels[name][missing] = level
        return (found < 0) | match.conflicts(values, spec, levels, a, b, pointers, names=False)

    source, legacy = frame["_source"], frame["_legacy"]  # named one at a time, by a refusal only
    clustering = phase("clustering", int(merge.sum()))
    groups = cluster(n, scored.left[merge], scored.right[merge], strength[merge], apart=set(apart),
                     distinct=distinct, name=lambda i: f"{source.iat[i]}:{legacy.iat[i]}", done=clustering.add)
    clustering.finish()
    surviving = phase("survivors", n)
    evidence = _pairs_frame(entity, frame, spec, values, scored, model, groups.refused, forced, apart,
                            clue, pointers)
    clusters, merged, survivors, merged_at = _survive(entity, frame, spec, groups.label, evidence, loaded or set(),
                                                      children or {}, invalid or set())
    surviving.finish()
    skipped = [(" + ".join(f"{p.field}:{p.transform}" for p in spec.blocking[k]), v, s) for k, v, s in skipped]
    found = EntityDedupe(entity, n, candidates, evidence, clusters, merged, skipped,
                         model=pd.DataFrame(model.table(spec), columns=list(MODEL_COLUMNS)), prior=model.prior,
                         histogram={"edges": match.HISTOGRAM_EDGES.tolist(), "counts": histogram.tolist(),
                                    "merge": _weight(spec.merge), "review": _weight(spec.review)})
    found.warnings = undecided(found, spec, model)
    found.merged_at = merged_at
    return found, survivors


def _weight(probability: float) -> float:
    return float(np.log2(probability / (1 - probability)))


# Below this many candidate pairs, EM has too little to learn from.
FEW_CANDIDATES = 50


def undecided(found: EntityDedupe, spec: MatchSpec, model: match.Model) -> list[str]:
    """What the data could not decide, each with what to do: no candidate pairs, too few to fit
    the model, comparisons no training key fitted, no pair reaching review, or records whose
    names agree in full still scoring below review."""
    out = []
    fix = ("add a field that identifies a record apart from its name (email, phone, street address, "
           "website) to the rules' compare, lower the review band, or review the records by hand")
    if found.candidates == 0:
        return [f"{found.entity}: the blocking keys pair no records ({found.records:,} records): nothing can be "
                "matched. Check that the keys' fields are mapped and filled, or add a key."]
    if found.candidates < FEW_CANDIDATES:
        out.append(f"{found.entity}: only {found.candidates:,} candidate pairs: too few to fit the model, whose "
                   "weights are mostly its defaults; read pairs.csv before trusting a merge.")
    for name in model.untrained:
        out.append(f"{found.entity}: the comparison {name!r} was never fitted (no training key leaves it out "
                   "with enough pairs): its m are the defaults. Add a training key that does not use it.")
    top = model.table(spec)
    if not len(found.pairs):
        out.append(f"{found.entity}: no pair reaches the review band ({spec.review}) among "
                   f"{found.candidates:,} candidate pairs: {fix}.")
    names = [n for n, c in spec.compare.items() if c.method in match.NAME_METHODS]
    if names and found.candidates:
        best = sum(max(r["weight"] for r in top if r["comparison"] == n) for n in names)
        probability = float(match.probabilities(model, np.array([best]))[0])
        if probability < spec.review:
            out.append(f"{found.entity}: two records whose names agree in full, with nothing else known, score "
                       f"{probability:.2f}, below the review band ({spec.review}): names alone cannot raise a "
                       f"pair; {fix}.")
    return out


@dataclass
class _Scored:
    """The pairs that matter after scoring (at or above the review band, or decided by a person),
    in order of their codes (left * n + right), with their levels, weights and probabilities."""

    left: np.ndarray
    right: np.ndarray
    levels: dict[str, np.ndarray]
    n: int
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    probability: np.ndarray = field(default_factory=lambda: np.zeros(0))

    _code: np.ndarray | None = field(default=None, repr=False)

    @property
    def code(self) -> np.ndarray:
        """Each pair's code, left * n + right (made once: clustering asks for it over and over)."""
        if self._code is None or len(self._code) != len(self.left):
            self._code = self.left * self.n + self.right
        return self._code

    def find(self, wanted: list[tuple[int, int]]) -> np.ndarray:
        """Where the wanted pairs (left < right) are; each must be here."""
        at, hit = _find(self.code, np.array([a * self.n + b for a, b in wanted], dtype=np.int64))
        return at[hit]

    def add(self, wanted: np.ndarray, values: dict[str, match.Column], spec: MatchSpec, model: match.Model) -> None:
        """Pairs (rows of left, right) compared on the spot where not here yet."""
        codes = np.unique(wanted[:, 0] * self.n + wanted[:, 1]) if len(wanted) else np.zeros(0, np.int64)
        new = codes[~_find(self.code, codes)[1]]
        if not len(new):
            return
        left, right = new // self.n, new % self.n
        levels = match.levels(values, spec, left, right)
        order = np.argsort(np.r_[self.code, new], kind="stable")
        self.left, self.right = np.r_[self.left, left][order], np.r_[self.right, right][order]
        self._code = None
        self.levels = {k: np.r_[v, levels[k]][order] for k, v in self.levels.items()}

    def weigh(self, model: match.Model) -> None:
        self.weights = match.score_weights(model, self.levels, self.left)
        self.probability = match.probabilities(model, self.weights)


def _find(code: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each wanted pair code is among sorted pair codes, and whether it is there at all."""
    if not len(code):
        return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    at = np.minimum(np.searchsorted(code, wanted), len(code) - 1)
    return at, code[at] == wanted


def _decided(decisions: pd.DataFrame | None, frame: pd.DataFrame,
             ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """People's decisions as record position pairs (left < right): merge, keep apart. A
    decision about a record no longer in the data is ignored."""
    forced: list[tuple[int, int]] = []
    apart: list[tuple[int, int]] = []
    if decisions is None or decisions.empty:
        return forced, apart
    keys = pd.MultiIndex.from_arrays([frame["_source"].astype(str), frame["_legacy"]])
    first = ~keys.duplicated()  # a key twice: its first record
    positions = pd.Series(np.flatnonzero(first), index=keys[first])

    def at(source: pd.Series, legacy: pd.Series) -> np.ndarray:
        found = positions.reindex(pd.MultiIndex.from_arrays([source.astype(str), legacy.astype(str).str.strip()]))
        return found.to_numpy(dtype=float, na_value=np.nan)

    a, b = at(decisions["source_a"], decisions["id_a"]), at(decisions["source_b"], decisions["id_b"])
    for x, y, decision in zip(a, b, decisions["decision"], strict=True):
        if np.isnan(x) or np.isnan(y) or x == y:
            continue
        pair = (int(min(x, y)), int(max(x, y)))
        if decision == "merge":
            forced.append(pair)
        elif decision == "apart":
            apart.append(pair)
    return forced, apart


def _pairs_frame(entity: str, frame: pd.DataFrame, spec: MatchSpec, values: dict[str, match.Column],
                 scored: _Scored, model: match.Model, refused: list[tuple[int, int, str]],
                 forced: list[tuple[int, int]], apart: list[tuple[int, int]], clue: np.ndarray,
                 pointers: tuple[str, ...]) -> pd.DataFrame:
    """The pairs at or above the review band (and those a decision or the chaining guard
    touched), with the band, the probability, the clue apart from the name it has (or why it
    is only for review), each field's level and weight, and both values."""
    probability = scored.probability
    band = np.where(probability >= spec.merge, "merge", np.where(probability >= spec.review, "review", "distinct"))
    reason = np.full(len(band), "", dtype=object)
    sets = spec.clue_sets(pointers)
    named = np.array([" + ".join(c) for c in sets] + [""], dtype=object)
    evidence_of = named[np.where(clue >= 0, clue, len(sets))]
    unproven = (band == "merge") & (clue < 0)
    band[unproven] = "review"
    reason[unproven] = ("no clue apart from the name (" + (", ".join(named[:-1]) or "none compared")
                        + f" agreeing, on a value records of at most {spec.clue_max_records} names share, "
                        "with the names and where the records are not differing)")
    at = scored.find([(min(a, b), max(a, b)) for a, b, _ in refused])
    band[at] = "review"
    reason[at] = np.array([why for _, _, why in refused], dtype=object)
    decision = np.full(len(band), "", dtype=object)
    decision[scored.find(forced)] = "merge"
    decision[scored.find(apart)] = "apart"
    keep = (band != "distinct") | (decision != "")
    left, right = scored.left[keep], scored.right[keep]
    # Keys of the pairs' records only, as Python strings: all of them, at 5M contacts, were
    # 0.3 GB a column on top of the survivors phase's peak.
    source_l, source_r = (_objects(frame["_source"], at, text=True) for at in (left, right))
    legacy_l, legacy_r = (_objects(frame["_legacy"], at) for at in (left, right))
    # Each pair written with its records in key order, whatever order they came in.
    swap = (source_l > source_r) | ((source_l == source_r) & (legacy_l > legacy_r))
    left, right = np.where(swap, right, left), np.where(swap, left, right)
    out = pd.DataFrame({
        "entity": entity, "source_a": np.where(swap, source_r, source_l), "id_a": np.where(swap, legacy_r, legacy_l),
        "source_b": np.where(swap, source_l, source_r), "id_b": np.where(swap, legacy_l, legacy_r),
        "probability": np.round(probability[keep], 6), "band": band[keep],
        "decision": decision[keep], "why": reason[keep], "clue": evidence_of[keep],
    })
    for name, comparison in spec.compare.items():
        evidence = np.array([f"{label} ({w:+.1f})" for label, w in zip(match.LEVELS[comparison.method],
                                                                       model.weights(name), strict=True)],
                            dtype=object)
        out[name] = evidence[scored.levels[name][keep]]
        for side, records in (("a", left), ("b", right)):
            shown = values[name].text(records)
            if name in VIRTUAL_FIELDS:  # "first\x1flast" shown as "first last"
                shown = pd.Series(shown, dtype=object).str.replace("\x1f", " ").to_numpy(dtype=object)
            out[f"{name}_{side}"] = shown
    return out.sort_values(["probability", "source_a", "id_a", "source_b", "id_b"],
                           ascending=[False, True, True, True, True],
                           kind="stable").reset_index(drop=True)


def _objects(column: pd.Series, at: np.ndarray, *, text: bool = False) -> np.ndarray:
    """A column's values at positions `at` (`text`: as text), as a NumPy array of Python objects."""
    values = column.iloc[at]
    return (values.astype(str) if text else values).to_numpy(dtype=object)


def _survive(entity: str, frame: pd.DataFrame, spec: MatchSpec, label: np.ndarray, scored: pd.DataFrame,
             loaded: set[tuple[str, str]], children: dict[str, int],
             invalid: set[tuple[str, str, str]]) -> tuple[pd.DataFrame, pd.DataFrame, Survivors, np.ndarray]:
    """Clusters, merged records, what survives and where the merged records are in `frame`,
    every cluster at once."""
    fields = [f for f in MODEL.entity(entity).field_names if f != "id" and f in frame]
    sizes = np.bincount(label, minlength=len(frame))
    in_cluster = np.flatnonzero(sizes[label] > 1)
    if not len(in_cluster):
        return (pd.DataFrame(columns=list(CLUSTER_COLUMNS)), pd.DataFrame(columns=list(MERGED_COLUMNS)),
                Survivors.everyone(len(frame)), np.zeros(0, np.int64))
    # The clustered records' keys and stamps, and their fields' values a field at a time: a
    # copy of whole records (and a second, ranked) was most of this phase's memory.
    records = frame.loc[in_cluster, [c for c in SURVIVORSHIP_COLUMNS if c in frame]].assign(_cluster=label[in_cluster])
    text = texts(frame, fields, at=in_cluster)
    ranked = rank(records, spec.survivorship, fields=fields, loaded=loaded, children=children, text=text)
    picked = chosen(ranked, spec.survivorship, fields, invalid, text)
    masters = ranked[ranked["_rank"] == 0]
    cluster_id = pd.Series((f"{entity}-" + masters["_source"].astype(str) + "-" + masters["_legacy"]).to_numpy(),
                           index=masters["_cluster"].to_numpy())
    survivor_of = pd.Series(masters.index, index=masters["_cluster"].to_numpy())
    merge = scored[scored["band"] == "merge"]
    best = pd.concat([
        pd.Series(merge["probability"].to_numpy(), index=merge["source_a"] + "\x1f" + merge["id_a"]),
        pd.Series(merge["probability"].to_numpy(), index=merge["source_b"] + "\x1f" + merge["id_b"]),
    ]).groupby(level=0).max()
    key = ranked["_source"].astype(str) + "\x1f" + ranked["_legacy"]
    clusters = pd.DataFrame({
        "entity": entity, "cluster": cluster_id.loc[ranked["_cluster"]].to_numpy(),
        "_source": ranked["_source"].astype(str).to_numpy(), "legacy_id": ranked["_legacy"].to_numpy(),
        "survivor": (ranked["_rank"] == 0).to_numpy(), "score": key.map(best).fillna(1.0).to_numpy(),
    }).sort_values(["cluster", "survivor", "_source", "legacy_id"], ascending=[True, False, True, True],
                   kind="stable").reset_index(drop=True)
    gone = ranked[ranked["_rank"] > 0]
    master_rows = survivor_of.loc[gone["_cluster"]].to_numpy()
    merged = pd.DataFrame({
        "entity": entity, "_source": gone["_source"].astype(str).to_numpy(),
        "_file": gone["_file"].astype(str).to_numpy(), "_row": gone["_row"].astype(str).to_numpy(),
        "legacy_id": gone["_legacy"].to_numpy(),
        "survivor_source": frame.loc[master_rows, "_source"].astype(str).to_numpy(),
        "survivor_id": frame.loc[master_rows, "_legacy"].to_numpy(),
        "cluster": cluster_id.loc[gone["_cluster"]].to_numpy(),
    }, columns=list(MERGED_COLUMNS))
    staying = np.ones(len(frame), dtype=bool)
    merged_at = frame.index.get_indexer(gone.index).astype(np.int64)
    staying[merged_at] = False
    keep = np.flatnonzero(staying)
    rows = np.searchsorted(keep, frame.index.get_indexer(survivor_of.loc[picked.index]))  # survivors stay
    chosen_at = {name: frame.index.get_indexer(picked[name]) for name in picked if name in frame}
    return clusters, merged, Survivors(len(frame), keep, rows, chosen_at), merged_at


@dataclass
class Survivors:
    """What stays of an entity's records, as positions: the rows `keep` of every column, but for
    the survivors' rows (`rows`, positions within `keep`) of the columns in `chosen`, which take
    the values of the records survivorship chose (positions in the records). A plan rather than
    a frame, so that whoever owns the records builds the deduplicated ones (`of`) letting each
    column go as its survivors are taken: at 5M contacts a whole second copy held beside the
    first was the run's peak."""

    records: int
    keep: np.ndarray
    rows: np.ndarray
    chosen: dict[str, np.ndarray]

    @classmethod
    def everyone(cls, records: int) -> Survivors:
        return cls(records, np.arange(records, dtype=np.int64), np.zeros(0, np.int64), {})

    def of(self, frame: pd.DataFrame, *, owned: bool = False) -> pd.DataFrame:
        """The deduplicated records of `frame` (its rows in the order `keep` was made from,
        indexed by their positions). `owned`: the caller hands `frame` over, holding no other
        reference to it or its columns, and does not use it again; each column is taken out of
        it and let go once its survivors are taken."""
        if len(frame) != self.records:
            raise ValueError(f"{len(frame)} records, where the survivors were chosen among {self.records}")
        if len(self.keep) == self.records and not self.chosen:  # nothing merged: the records as they are
            return frame.reset_index(drop=True)
        index = pd.Index(self.keep)
        names = list(frame.columns)

        def taken(name: str, column: pd.Series) -> pd.Series:
            at = self.keep
            if name in self.chosen:
                at = self.keep.copy()
                at[self.rows] = self.chosen[name]
            return column.take(at).set_axis(index)

        # Each column taken once: a field's surviving values are other records' of the same
        # column, so the survivors' rows take theirs from the records chosen (nothing is written
        # into). Side by side: Arrow's take lets go of the GIL, and a million records' columns
        # take seconds. A column handed to the pool is held by its task alone, until it is done.
        with ThreadPoolExecutor(parallel.cores()) as pool:
            if owned:
                futures = [pool.submit(taken, name, frame.pop(name)) for name in names]
            else:
                futures = [pool.submit(taken, name, frame[name]) for name in names]
            columns = {name: future.result() for name, future in zip(names, futures, strict=True)}
        return pd.DataFrame(columns, index=index, columns=names)
