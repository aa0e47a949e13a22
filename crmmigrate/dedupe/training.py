"""The model (`Model`): u measured on random pairs, m fitted by expectation-maximisation on the
pairs each blocking key finds, the prior odds of two records matching, and term frequencies."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from crmmigrate.dedupe.blocking import blocks, key_codes, pairs_within
from crmmigrate.dedupe.clues import holders, name_coded
from crmmigrate.dedupe.columns import Coded, Column, sorted_distinct
from crmmigrate.dedupe.comparisons import LEVELS, NEUTRAL, Patterns, patterns, radix_of
from crmmigrate.dedupe.rules import IDENTIFYING, RELATED_FIELDS, VIRTUAL_FIELDS, MatchSpec

if TYPE_CHECKING:
    from crmmigrate.dedupe.pairset import PairSet


RANDOM_PAIRS = 1_000_000  # random pairs measuring u
EM_ITERATIONS = 25
# EM's m is pulled toward the defaults by this many pseudo-matches: a few hundred records cannot
# outvote "true matches mostly agree on names", while thousands of matches decide for themselves.
PRIOR_MATCHES = 200.0
# u is measured on random pairs and pulled toward "random pairs differ" by this many pairs: a
# field only a handful of records have cannot claim, from the few pairs it gives, that random
# records never differ on it (a weight of 20 bits from 3 pairs); millions of pairs decide alone.
U_PRIOR_PAIRS = 20.0
SEED = 20260101  # the same input gives the same pairs, parameters and scores


@dataclass
class Model:
    """m and u per comparison level (index 0, missing, unused), the prior odds of two random
    records matching, and per field with term frequencies each record's value's share."""

    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    prior: float
    # Term frequencies: per field, per level, each record's own u at that level (its value's
    # share of the records, for "exact"; scaled by its last name's for person_name's levels
    # that agree on the last name), which replaces the level's u where the pair is at it.
    tf: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    neutral: dict[str, tuple[int, ...]] = field(default_factory=dict)  # levels that count for nothing
    shared: dict[str, np.ndarray] = field(default_factory=dict)  # per record: its value is widely held
    untrained: list[str] = field(default_factory=list)  # comparisons whose m no training key fitted

    def weights(self, name: str) -> np.ndarray:
        return _level_weights(self.m[name], self.u[name], self.neutral.get(name, ()))

    def table(self, spec: MatchSpec) -> list[dict]:
        """Per comparison and level: m, u and the weight (log2 m/u; 0 for missing and neutral)."""
        rows = []
        for name, c in spec.compare.items():
            for level, (label, m, u, w) in enumerate(zip(LEVELS[c.method], self.m[name], self.u[name],
                                                          self.weights(name), strict=True)):
                if level:
                    rows.append({"comparison": name, "method": c.method, "level": label, "m": float(m),
                                 "u": float(u), "weight": float(w)})
        return rows


def _level_weights(m: np.ndarray, u: np.ndarray, neutral: tuple[int, ...] = ()) -> np.ndarray:
    weights = np.log2(m / u)
    weights[0] = 0.0
    weights[list(neutral)] = 0.0
    return weights


def _neutral(spec: MatchSpec) -> dict[str, tuple[int, ...]]:
    return {name: NEUTRAL[c.method] for name, c in spec.compare.items() if c.built_from and c.method in NEUTRAL}


def _default_u(method: str) -> np.ndarray:
    """u before measuring: two records drawn at random mostly differ (the last level)."""
    count = len(LEVELS[method]) - 1
    return np.array([0.0] + [0.1 / (count - 1)] * (count - 1) + [0.9])


def _default_m(method: str) -> np.ndarray:
    """m before fitting: most true matches agree exactly, fewer at each level after."""
    count = len(LEVELS[method]) - 1
    return np.array([0.0] + [0.8 * 0.4**i for i in range(count)])


def _normalised(counts: np.ndarray, floor: float) -> np.ndarray:
    share = counts.astype(float).copy()
    share[0] = 0.0
    total = share[1:].sum()
    share[1:] = share[1:] / total if total else 1.0 / (len(share) - 1)
    share[1:] = np.maximum(share[1:], floor)
    share[1:] /= share[1:].sum()
    share[0] = 1.0
    return share


def random_pairs(n: int, count: int, rng: np.random.Generator, side: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """`count` pairs of records drawn at random (every pair when there are no more), as
    positions left < right; with `side` (per record, whether it is of the first of two datasets
    linked), pairs of a record of each: what u is measured on, as Splink does for link_only."""
    if side is not None:
        ones, others = np.flatnonzero(side), np.flatnonzero(~side)
        if len(ones) * len(others) <= count:
            left, right = (grid.ravel() for grid in np.meshgrid(ones, others, indexing="ij"))
        else:
            left, right = ones[rng.integers(0, len(ones), count)], others[rng.integers(0, len(others), count)]
        return np.minimum(left, right).astype(np.int64), np.maximum(left, right).astype(np.int64)
    total = n * (n - 1) // 2
    if total <= count:
        left, right = np.triu_indices(n, 1)
        return left.astype(np.int64), right.astype(np.int64)
    left = rng.integers(0, n, count)
    right = rng.integers(0, n - 1, count)
    right = right + (right >= left)
    return np.minimum(left, right), np.maximum(left, right)


def fit_steps(spec: MatchSpec) -> int:
    """The steps `fit` tells `done` of: u, EM per training key, term frequencies, the prior."""
    return len(spec.training or spec.blocking) + 3


def fit(values: dict[str, Column], spec: MatchSpec, pairs: PairSet,
        pointers: tuple[str, ...] = (), done: Callable[[int], None] | None = None) -> Model:
    """u from random pairs, m by EM per blocking key, the prior from the expected matches, on
    the candidate pairs compared (wherever they are held: `PairSet`).
    `pointers`: the compared fields that point at a parent (the account), which tell one
    person's copies from namesakes when counting who holds a name. `done(1)` is told after
    each of its `fit_steps`."""
    step = done or (lambda _: None)
    n = len(next(iter(values.values())))
    rng = np.random.default_rng(SEED)
    left, right = random_pairs(n, RANDOM_PAIRS, rng, pairs.side)
    sampled, counts = patterns(values, spec, left, right).counts()
    step(1)
    u = {name: _normalised(np.bincount(sampled[name], weights=counts, minlength=len(LEVELS[c.method]))
                           + U_PRIOR_PAIRS * _default_u(c.method), 1e-7)
         for name, c in spec.compare.items()}
    defaults = {name: _normalised(_default_m(c.method), 1e-4) for name, c in spec.compare.items()}
    neutral = _neutral(spec)
    m = {name: value.copy() for name, value in defaults.items()}
    # EM per blocking key, its own fields left out: they agree by construction.
    fitted: dict[str, list[tuple[np.ndarray, float]]] = {name: [] for name in spec.compare}
    for parts in spec.training or spec.blocking:
        if parts in spec.blocking:  # a blocking key's pairs and levels are at hand already
            codes, counts = pairs.counts(spec.blocking.index(parts))
            key_levels = Patterns(codes, radix_of(spec)).levels()
        else:
            codes, _ = blocks(*key_codes(values, parts, spec), spec.max_block)
            key_levels, counts = patterns(values, spec, *pairs_within(codes, pairs.side)).counts()
        step(1)
        if counts.sum() < 10:
            continue
        own = {p.field for p in parts}
        own |= {v for v, sources in _MADE_FROM.items() if own & set(sources)}
        own |= {f for p in parts for f in _MADE_FROM.get(p.field, ())}
        trained = [name for name in spec.compare if name not in own]
        if not trained:
            continue
        estimate, expected = _em({k: key_levels[k] for k in trained}, counts, {k: m[k] for k in trained},
                                 {k: u[k] for k in trained}, {k: defaults[k] for k in trained},
                                 {k: v for k, v in neutral.items() if k in trained})
        for name in trained:
            fitted[name].append((estimate[name], expected))
    untrained = []
    for name, results in fitted.items():
        if results and sum(e for _, e in results) > 0:
            total = sum(e for _, e in results)
            m[name] = _normalised(sum(r * e for r, e in results) / total, 1e-4)
        else:
            untrained.append(name)
    model = Model(m=m, u=u, prior=1.0, neutral=neutral, untrained=untrained)
    where = next((values[p].coded("exact") for p in pointers if p in spec.compare), None)
    model.tf = {name: _term_frequencies(values[name].coded(c.method), c.method, u[name], where)
                for name, c in spec.compare.items() if c.term_frequency}
    # A number or address that records of many different names hold (a switchboard, info@) is
    # a fact about where they work, which the account already tells: agreeing on it counts for
    # nothing, as it is no clue (see `clues`).
    named = name_coded(values, spec)
    for name, c in spec.compare.items():
        if c.term_frequency and c.method in IDENTIFYING:
            coded = values[name].coded(c.method)
            held = holders(coded, named)
            widely = np.append(held > spec.clue_max_records, False)[coded.codes]
            if widely.any():
                model.shared[name] = widely
            if named is not None:
                # The chance that another record holds an identifying value by coincidence is
                # how many *others* hold it: the records of other names. A value's share counts
                # the duplicates themselves, so a mailbox only its own person's two records hold
                # would look as common as one two strangers share. Half a record where none
                # other does.
                filled = max(int((coded.codes >= 0).sum()), 1)
                others = np.append(np.maximum(held - 1, 0.5) / filled, 1.0).astype(np.float32)[coded.codes]
                model.tf[name][1] = np.minimum(model.tf[name][1], others)
    for name, c in spec.compare.items():
        if c.method == "website" and c.built_from in spec.compare:
            model.tf.setdefault(name, {})[2] = _sites_of_the_name(values, spec, name, model.m[name][2])
    step(1)
    everyone = n * (n - 1) / 2 if pairs.side is None else float(pairs.side.sum()) * float((~pairs.side).sum())
    model.prior = _prior(pairs.best(model, n) if len(pairs) else None, everyone)
    step(1)
    return model


def _sites_of_the_name(values: dict[str, Column], spec: MatchSpec, name: str, m: float) -> np.ndarray:
    """The same domain spelt from the name ("same domain, built from the name"): per record, the
    chance that two different organisations of its name share a domain, taken as one over how
    many different domains the records of that name hold (capped at the level's m, so it never
    weighs against). The name's comparison has counted the name; what is left is which of
    the Martinez LLCs it is: where forty hold forty domains, martinezaustin.com says a good
    deal; where the name's records hold one domain between them, nothing."""
    c = spec.compare[name]
    site = values[name].coded(c.method).codes.astype(np.int64)
    owner = values[c.built_from].coded(spec.compare[c.built_from].method).codes.astype(np.int64)
    both = (site >= 0) & (owner >= 0)
    width = int(site.max()) + 2
    distinct = sorted_distinct(owner[both] * width + site[both])
    domains = np.bincount(distinct // width, minlength=int(owner.max()) + 2).astype(float)
    chance = 1.0 / np.maximum(np.append(domains, 1.0)[owner], 1.0)
    return np.minimum(chance, m).astype(np.float32)


# Fields made from others (a virtual or related field: the sources it is made from): a key on
# either leaves both out of its training, as they agree there by construction.
_MADE_FROM = {**VIRTUAL_FIELDS, **{name: sources for fields in RELATED_FIELDS.values() for name, sources in fields.items()}}


def _prior(best: np.ndarray | None, pairs: float) -> float:
    """The chance that two records drawn at random match: the matches expected among the
    candidates over all `pairs` there are (of the n records, or of a record of each of two
    datasets linked). The matches expected are taken as the records' best chances of
    having a duplicate (`best`: each record's strongest candidate pair's weight, term
    frequencies counted; None: no candidate pairs): right for clusters of
    three, twice a cluster of two, fewer than the pairs of a bigger one; found by iterating
    with the prior they imply. Summing every pair's
    chance instead lets the namesakes and colleagues that blocking pairs by the thousand pass
    for matches, more so as the data grows, and the model grows credulous with it."""
    if best is None:  # no candidate pairs (two records: not one in two, which divides by zero later)
        return min(1.0 / max(pairs, 1.0), 0.5)
    best = best[np.isfinite(best)].astype(float)
    prior = 1e-3
    for _ in range(100):
        log_odds = np.clip(best + math.log2(prior / (1 - prior)), -60, 60)
        expected = float((1.0 / (1.0 + 2.0 ** -log_odds)).sum())
        before, prior = prior, min(max(expected, 1.0) / max(pairs, 1.0), 0.5)
        if abs(math.log(prior / before)) < 1e-4:
            break
    return prior


# person_name's levels that agree on the last name but not the whole name: their u scales with
# how common the record's last name is (two Smiths who are "nicknames" of each other are weaker
# evidence than two Quintanillas).
_LAST_NAME_LEVELS = ("first and last swapped", "nickname", "initial", "first name missing", "last name only")


def _term_frequencies(coded: Coded, method: str, u: np.ndarray, where: Coded | None = None
                      ) -> dict[int, np.ndarray]:
    """Per level with term frequencies, each record's u there (float32): for "exact", the
    share of the records its value has; for person_name's levels in _LAST_NAME_LEVELS, the
    level's u times its last name's share over the chance that two random records share a
    last name (so averaged over random pairs it is the level's u)."""
    out = {1: coded.shares().astype(np.float32)}
    if method == "person_name" and coded.names is not None:
        out[1] = _namesake_chance(coded, out[1], where)
        last = coded.records["last"]  # codes into names + 1, 0 blank, -1 no name
        present = last > 0
        counts = np.bincount(last[present], minlength=len(coded.names.vocab) + 1).astype(float)
        share = counts / max(counts.sum(), 1.0)
        agree = float((share ** 2).sum())
        if agree > 0:
            scale = np.where(present, share[np.maximum(last, 0)] / agree, 1.0)
            for label in _LAST_NAME_LEVELS:
                level = LEVELS[method].index(label)
                out[level] = np.minimum(u[level] * scale, 1.0).astype(np.float32)
    return out


def _namesake_chance(coded: Coded, share: np.ndarray, where: Coded | None) -> np.ndarray:
    """person_name "exact": per record with a first and a last name, the chance that another
    person has its whole name. A whole name's share of the records counts the person's own
    copies: "Jesus Keith", held only by one man's two records, would look as common as a name
    two strangers share, and the more copies a person had the weaker they would match. The
    chance is rather how common its first name is times how common its last name is, each
    counted over the different whole names (a person's copies count once), as names are drawn
    far more independently than one person's copies are; or, where the whole name is held at
    more places than one (`where`: the account, a record without one a place of its own; each
    record where the rules compare none), the share of those other places, whichever is more
    (Maria Garcia is commoner than Maria and Garcia apart say). Others keep their name's share."""
    first, last = coded.records["first"], coded.records["last"]  # codes into names + 1, 0 blank
    named = (first > 0) & (last > 0)
    total = int(named.sum())
    if not total:
        return share
    _, one = np.unique(coded.codes[named], return_index=True)  # a record of each whole name
    width = len(coded.names.vocab) + 1
    first_share = np.bincount(first[named][one], minlength=width) / len(one)
    last_share = np.bincount(last[named][one], minlength=width) / len(one)
    chance = first_share[np.maximum(first, 0)] * last_share[np.maximum(last, 0)]
    places = holders(coded, where) if where is not None else coded.counts.astype(np.int64) - 1
    beyond = np.append(np.maximum(places - 1, 0) / total, 0.0)[coded.codes]
    return np.where(named, np.maximum(chance, beyond), share).astype(np.float32)


def _em(pair_levels: dict[str, np.ndarray], counts: np.ndarray, m: dict[str, np.ndarray],
        u: dict[str, np.ndarray], defaults: dict[str, np.ndarray],
        neutral: dict[str, tuple[int, ...]] | None = None) -> tuple[dict[str, np.ndarray], float]:
    """m and the expected matches among these pairs (level patterns and how many pairs have
    each), u fixed; m's estimate is a posterior mean with the defaults as a Dirichlet prior
    worth PRIOR_MATCHES matches."""
    m = {k: v.copy() for k, v in m.items()}
    prior = 0.1
    posterior = np.zeros(0)
    total = counts.sum()
    for _ in range(EM_ITERATIONS):
        log_odds = np.full(len(counts), math.log2(prior / (1 - prior)))
        for name, level in pair_levels.items():
            log_odds += _level_weights(m[name], u[name], (neutral or {}).get(name, ()))[level]
        posterior = 1.0 / (1.0 + 2.0 ** -np.clip(log_odds, -60, 60))
        new_prior = float(np.clip((posterior * counts).sum() / total, 1e-6, 1 - 1e-6))
        change = abs(new_prior - prior)
        prior = new_prior
        for name, level in pair_levels.items():
            found = np.bincount(level, weights=posterior * counts, minlength=len(m[name]))
            found[1:] += PRIOR_MATCHES * defaults[name][1:]
            before = m[name]
            m[name] = _normalised(found, 1e-4)
            change = max(change, float(np.abs(m[name] - before).max()))
        if change < 1e-5:
            break
    return m, float((posterior * counts).sum())
