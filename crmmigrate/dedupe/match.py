"""Candidate pairs, comparisons and match scores, with no training labels.

The model is Fellegi-Sunter's, as Splink fits it: each comparison sorts a pair into a level
(exact, close, far...); a level has `m`, the chance of it among true matches, and `u`, among
random pairs. A pair's match weight is the sum of log2(m/u) over its comparisons plus the prior
odds of two records matching; its match probability follows. `u` is measured on random pairs;
`m` is fitted by expectation-maximisation on the pairs each blocking key finds, leaving out the
comparisons of that key's own fields (those pairs agree on them by construction). An exact
agreement on a field with term frequencies counts for what its value's rarity says: two "Smith"s
are weaker evidence than two "Quintanilla"s.

Everything is columnar: keys are factorised and paired with numpy, similarities come from
rapidfuzz's `cpdist` on every core, levels are small integer arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import jellyfish
import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein, Indel, JaroWinkler

from crmmigrate.clean.normalisers import company_key
from crmmigrate.dedupe.rules import VIRTUAL_FIELDS, KeyPart, MatchSpec

RANDOM_PAIRS = 1_000_000  # random pairs measuring u
EM_ITERATIONS = 25
# EM's m is pulled toward the defaults by this many pseudo-matches: a few hundred records cannot
# outvote "true matches mostly agree on names", while thousands of matches decide for themselves.
PRIOR_MATCHES = 200.0
SEED = 20260101  # the same input gives the same pairs, parameters and scores


# -- values --------------------------------------------------------------------------------------


def prepared(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """Each field as an object array of trimmed text, None where blank (a virtual field, such
    as full_name, made from its fields)."""
    values = {}
    for name in names:
        if name in VIRTUAL_FIELDS and name not in frame:
            parts = [frame[f].astype("str").str.strip().fillna("") for f in VIRTUAL_FIELDS[name]]
            separator = "\x1f" if name == "person" else " "
            column = parts[0].str.cat(parts[1:], sep=separator)
            column = column.where(column.str.replace("\x1f", "").str.strip() != "", None).str.strip()
        else:
            column = frame[name].astype("str").str.strip()
        column = column.where(column.notna() & (column != ""), None)
        values[name] = column.to_numpy(dtype=object, na_value=None)
    return values


def _transform(values: np.ndarray, transform: str) -> np.ndarray:
    """A blocking key part: the values transformed once per distinct value."""
    if transform == "exact":
        return values
    function = _TRANSFORMS[transform]
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([function(v) for v in distinct] + [None], dtype=object)
    out = mapped[codes]  # -1 (missing) takes the trailing None
    out[out == ""] = None
    return out


def _domain(value: str) -> str | None:
    text = value.lower().rsplit("@", 1)[-1]
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    return text.removeprefix("www.").split("/", 1)[0] or None


_TRANSFORMS: dict[str, Callable[[str], str | None]] = {
    "lower": lambda v: v.casefold(),
    "digits": lambda v: "".join(c for c in v if c.isdigit()) or None,
    "metaphone": lambda v: jellyfish.metaphone(v) or v.casefold(),  # non-Latin script: itself
    "initial": lambda v: v[:1].casefold(),
    "prefix3": lambda v: v[:3].casefold(),
    "company_key": lambda v: company_key(v) or None,
    "company_prefix": lambda v: (company_key(v).split(" ") or [""])[0] or None,
    "domain": _domain,
    "sorted_tokens": lambda v: " ".join(sorted(v.casefold().split())),
}


def key_values(values: dict[str, np.ndarray], parts: list[KeyPart]) -> np.ndarray:
    """A blocking key per record (parts joined), None when any part is missing."""
    columns = [_transform(values[p.field], p.transform) for p in parts]
    if len(columns) == 1:
        return columns[0]
    missing = np.zeros(len(columns[0]), dtype=bool)
    for column in columns:
        missing |= pd.isna(column)
    joined = pd.Series(columns[0], dtype=object).fillna("").astype(str)
    for column in columns[1:]:
        joined = joined + "\x1f" + pd.Series(column, dtype=object).fillna("").astype(str)
    out = joined.to_numpy(dtype=object)
    out[missing] = None
    return out


# -- candidate pairs -----------------------------------------------------------------------------


@dataclass
class Pairs:
    """Candidate pairs as record positions (left < right) and which blocking keys found each
    (bit k for key k)."""

    left: np.ndarray
    right: np.ndarray
    via: np.ndarray
    skipped: list[tuple[int, str, int]] = field(default_factory=list)  # key, value, records: blocks too big

    def __len__(self) -> int:
        return len(self.left)


def pairs_within(keys: np.ndarray, max_block: int) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int]]]:
    """Every pair of records sharing a key value, except in blocks over `max_block` records."""
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    order, sorted_codes = order[sorted_codes >= 0], sorted_codes[sorted_codes >= 0]
    if not len(order):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_codes)])
    too_big = sizes > max_block
    skipped = [(str(uniques[sorted_codes[s]]), int(g)) for s, g in zip(starts[too_big], sizes[too_big], strict=True)]
    keep = (sizes >= 2) & ~too_big
    starts, sizes = starts[keep], sizes[keep]
    # Within a block, the record at offset o pairs with the (size - o - 1) records after it.
    positions = np.repeat(starts, sizes) + _ranges(sizes)
    after = np.repeat(starts + sizes, sizes) - positions - 1
    left = np.repeat(positions, after)
    right = left + 1 + _ranges(after)
    a, b = order[left], order[right]
    return np.minimum(a, b), np.maximum(a, b), skipped


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for every size, concatenated."""
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, np.int64)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total, dtype=np.int64) - starts


def candidate_pairs(values: dict[str, np.ndarray], spec: MatchSpec) -> Pairs:
    """The union of the pairs every blocking key finds."""
    found_left, found_right, found_via, skipped = [], [], [], []
    for number, parts in enumerate(spec.blocking):
        left, right, big = pairs_within(key_values(values, parts), spec.max_block)
        found_left.append(left)
        found_right.append(right)
        found_via.append(np.full(len(left), 1 << number, dtype=np.int64))
        skipped += [(number, value, size) for value, size in big]
    n = len(next(iter(values.values())))
    code = np.concatenate(found_left) * n + np.concatenate(found_right)
    via = np.concatenate(found_via)
    order = np.argsort(code, kind="stable")
    code, via = code[order], via[order]
    if not len(code):
        empty = np.zeros(0, np.int64)
        return Pairs(empty, empty.copy(), empty.copy(), skipped)
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    unique = code[starts]
    return Pairs(unique // n, unique % n, np.bitwise_or.reduceat(via, starts), skipped)


# -- comparisons ---------------------------------------------------------------------------------

# Level labels per method; level 0 is always "missing" (a blank on either side: no evidence).
LEVELS: dict[str, tuple[str, ...]] = {
    "exact": ("missing", "exact", "different"),
    "email": ("missing", "exact", "one edit", "same name, another domain", "different"),
    "phone": ("missing", "exact", "same last 8 digits", "different"),
    "name": ("missing", "exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.88", "jaro-winkler >= 0.7", "different"),
    "first_name": ("missing", "exact", "nickname", "jaro-winkler >= 0.92", "jaro-winkler >= 0.88",
                   "initial", "different"),
    "company": ("missing", "same match key", "key similarity >= 0.92", "key similarity >= 0.8", "different"),
    "jaro_winkler": ("missing", "exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.8", "different"),
    "levenshtein": ("missing", "exact", "1 edit", "2 edits", "different"),
    "date": ("missing", "exact", "1 edit", "different"),
    "name_tokens": ("missing", "exact", "same words in another order", "token sort >= 0.9", "different"),
    "person_name": ("missing", "exact", "first and last swapped", "nickname", "typo", "initial", "last name only",
                    "different"),
}


def _similarity(scorer, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a):
        return np.zeros(0)
    return process.cpdist(list(a), list(b), scorer=scorer, workers=-1)


def _graded(a: np.ndarray, b: np.ndarray, scorer, cuts: list[float], *, higher_is_closer: bool = True) -> np.ndarray:
    """Levels for pairs that differ: 0 for the first cut met, 1 for the next... len(cuts) else."""
    score = _similarity(scorer, a, b)
    level = np.full(len(score), len(cuts), dtype=np.int8)
    for index in range(len(cuts) - 1, -1, -1):
        met = score >= cuts[index] if higher_is_closer else score <= cuts[index]
        level[met] = index
    return level


_FOLDED = ("email", "company", "first_name", "name", "name_tokens", "person_name")


def normalised(values: np.ndarray, method: str) -> dict[str, np.ndarray]:
    """What a comparison method compares, per record, computed once (not once per pair):
    `value` (None where blank) and the parts some methods look at."""
    text = pd.Series(values, dtype="str")
    if method in _FOLDED:
        text = text.str.casefold()
    if method == "phone":
        text = text.str.replace(r"\D", "", regex=True)
    if method in ("company", "name_tokens"):
        codes, distinct = pd.factorize(text.to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
        function = (lambda v: company_key(v) or v) if method == "company" else (lambda v: " ".join(sorted(v.split())))
        text = pd.Series(np.array([function(v) for v in distinct] + [None], dtype=object)[codes], dtype="str")
    text = text.where(text.notna() & (text != ""), None).astype("str")
    out = {"value": text.to_numpy(dtype=object, na_value=None)}
    if method == "phone":
        out["tail"] = text.str[-8:].where(text.str.len() >= 8, None).to_numpy(dtype=object, na_value=None)
    if method == "email":
        out["local"] = text.str.extract(r"^([^@]*)", expand=False).to_numpy(dtype=object, na_value=None)
    if method in ("person_name", "first_name"):
        if method == "person_name":
            first = text.str.extract(r"^([^\x1f]*)", expand=False).fillna("")
            last = text.str.extract(r"\x1f(.*)$", expand=False).fillna("")
        else:
            first, last = text.fillna(""), pd.Series("", index=text.index, dtype="str")
        stripped = first.str.rstrip(".")
        out["first"] = first.to_numpy(dtype=object, na_value="")
        out["last"] = last.to_numpy(dtype=object, na_value="")
        out["bare"] = stripped.to_numpy(dtype=object, na_value="")  # without a trailing dot
        out["bare_length"] = stripped.str.len().fillna(0).to_numpy(dtype=np.int64)
        out["initial"] = first.str[:1].to_numpy(dtype=object, na_value="")
    return out


def compare(method: str, norm: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The level of each pair (left[i], right[i]) of records, from their `normalised` values."""
    value = norm["value"]
    a, b = value[left], value[right]
    level = np.zeros(len(a), dtype=np.int8)
    present = ~(pd.isna(a) | pd.isna(b))
    if not present.any():
        return level
    left, right = left[present], right[present]
    x, y = a[present], b[present]
    same = x == y
    out = np.full(len(x), 1, dtype=np.int8)
    rest = ~same
    xr, yr = x[rest], y[rest]
    lr, rr = left[rest], right[rest]
    if method == "exact":
        graded = np.zeros(len(xr), dtype=np.int8)
    elif method == "email":
        graded = _graded(xr, yr, DamerauLevenshtein.distance, [1], higher_is_closer=False)
        local = norm["local"][lr] == norm["local"][rr]
        graded[(graded == 1) & local] = 1
        graded[(graded == 1) & ~local] = 2
    elif method == "person_name":
        graded = _person_names(norm, lr, rr)
    elif method == "phone":
        tail = norm["tail"][lr]
        graded = np.where((tail == norm["tail"][rr]) & ~pd.isna(tail), 0, 1).astype(np.int8)
    elif method in ("name", "jaro_winkler"):
        cuts = [0.92, 0.88, 0.7] if method == "name" else [0.92, 0.8]
        graded = _graded(xr, yr, JaroWinkler.normalized_similarity, cuts)
    elif method == "first_name":
        graded = _graded(xr, yr, JaroWinkler.normalized_similarity, [0.92, 0.88]) + 1
        graded[_nicknames(xr, yr)] = 0
        initial = (graded == 3) & _initial_only(norm, lr, rr)
        graded[initial] = 3
        graded[(graded == 3) & ~initial] = 4
    elif method == "company":
        graded = _graded(xr, yr, Indel.normalized_similarity, [0.92, 0.8])
    elif method == "levenshtein":
        graded = _graded(xr, yr, DamerauLevenshtein.distance, [1, 2], higher_is_closer=False)
    elif method == "date":
        graded = _graded(xr, yr, DamerauLevenshtein.distance, [1], higher_is_closer=False)
    elif method == "name_tokens":
        # `value` holds the names' words sorted: equal here means the same words in another order.
        graded = _graded(xr, yr, Indel.normalized_similarity, [0.9]) + 1
    else:
        raise ValueError(f"unknown comparison method {method!r}")
    out[rest] = graded + 2
    level[present] = out
    return level


def _person_names(norm: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Levels (from "first and last swapped" on) of person names that differ."""
    fx, lx, fy, ly = norm["first"][left], norm["last"][left], norm["first"][right], norm["last"][right]
    if not len(fx):
        return np.zeros(0, dtype=np.int8)
    last_close = _similarity(JaroWinkler.normalized_similarity, lx, ly) >= 0.92
    first_close = _similarity(JaroWinkler.normalized_similarity, fx, fy) >= 0.92
    both = (fx != "") & (fy != "")
    nick = both & (lx == ly) & (fx != fy)
    nick[nick] = _nicknames(fx[nick], fy[nick])
    initial = both & _initial_only(norm, left, right)
    level = np.full(len(fx), 6, dtype=np.int8)  # different
    level[(lx == ly) & (lx != "")] = 5  # last name only
    level[last_close & initial] = 4
    level[last_close & (first_close | (fx == fy)) & ~((fx == fy) & (lx == ly))] = 3
    level[nick] = 2
    level[(fx == ly) & (lx == fy) & (fx != lx)] = 1
    return (level - 1).astype(np.int8)


def _initial_only(norm: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pairs where one first name is just the other's initial ("J." and "John")."""
    length_x, length_y = norm["bare_length"][left], norm["bare_length"][right]
    one_x = (length_x == 1) & (length_y > 1) & (norm["initial"][right] == norm["bare"][left])
    one_y = (length_y == 1) & (length_x > 1) & (norm["initial"][left] == norm["bare"][right])
    return one_x | one_y


def _company_keys(values: np.ndarray) -> np.ndarray:
    codes, distinct = pd.factorize(values)
    return np.array([company_key(v) or v for v in distinct], dtype=object)[codes]


@cache
def _nick_namer():
    from nicknames import NickNamer

    return NickNamer()


@cache
def _name_roots(name: str) -> frozenset[str]:
    """A first name and the formal names it can be short for (Bob -> robert, bobby...)."""
    namer = _nick_namer()
    return frozenset({name} | namer.canonicals_of(name) | namer.nicknames_of(name))


def _nicknames(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairs where one first name is the other's nickname (Bob/Robert, Liz/Elizabeth), looked
    up once per distinct pair of names."""
    if not len(x):
        return np.zeros(0, dtype=bool)
    pairs = pd.DataFrame({"x": x, "y": y})
    distinct = pairs.drop_duplicates()
    verdict = {(p, q): q in _name_roots(p) or p in _name_roots(q) for p, q in zip(distinct["x"], distinct["y"],
                                                                              strict=True)}
    return np.array([verdict[(p, q)] for p, q in zip(x, y, strict=True)], dtype=bool)


def levels(values: dict[str, np.ndarray], spec: MatchSpec, left: np.ndarray, right: np.ndarray) -> dict[str, np.ndarray]:
    """Every comparison's level for the pairs (left[i], right[i]). What each method compares is
    normalised per record once and kept in `values` (under "\0field:method")."""
    out = {}
    for name, c in spec.compare.items():
        key = f"\0{name}:{c.method}"
        if key not in values:
            values[key] = normalised(values[name], c.method)  # type: ignore[assignment]
        out[name] = compare(c.method, values[key], left, right)  # type: ignore[arg-type]
    return out


# -- the model -----------------------------------------------------------------------------------


@dataclass
class Model:
    """m and u per comparison level (index 0, missing, unused), the prior odds of two random
    records matching, and per field with term frequencies each record's value's share."""

    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    prior: float
    shares: dict[str, np.ndarray] = field(default_factory=dict)

    def weights(self, name: str) -> np.ndarray:
        weights = np.log2(self.m[name] / self.u[name])
        weights[0] = 0.0
        return weights


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


def random_pairs(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    total = n * (n - 1) // 2
    if total <= count:
        left, right = np.triu_indices(n, 1)
        return left.astype(np.int64), right.astype(np.int64)
    left = rng.integers(0, n, count)
    right = rng.integers(0, n - 1, count)
    right = right + (right >= left)
    return np.minimum(left, right), np.maximum(left, right)


def fit(values: dict[str, np.ndarray], spec: MatchSpec, pairs: Pairs,
        pair_levels: dict[str, np.ndarray]) -> Model:
    """u from random pairs, m by EM per blocking key, the prior from the expected matches."""
    n = len(next(iter(values.values())))
    rng = np.random.default_rng(SEED)
    left, right = random_pairs(n, RANDOM_PAIRS, rng)
    sampled = levels(values, spec, left, right)
    u = {name: _normalised(np.bincount(sampled[name], minlength=len(LEVELS[c.method])), 1e-7)
         for name, c in spec.compare.items()}
    defaults = {name: _normalised(_default_m(c.method), 1e-4) for name, c in spec.compare.items()}
    m = {name: value.copy() for name, value in defaults.items()}
    # EM per blocking key, its own fields left out: they agree by construction.
    fitted: dict[str, list[tuple[np.ndarray, float]]] = {name: [] for name in spec.compare}
    for parts in spec.training or spec.blocking:
        if parts in spec.blocking:  # a blocking key's pairs and levels are at hand already
            mine = (pairs.via & (1 << spec.blocking.index(parts))) != 0
            key_levels = {k: v[mine] for k, v in pair_levels.items()}
        else:
            left, right, _ = pairs_within(key_values(values, parts), spec.max_block)
            key_levels = levels(values, spec, left, right)
        if len(next(iter(key_levels.values()))) < 10:
            continue
        own = {p.field for p in parts}
        own |= {v for v, sources in VIRTUAL_FIELDS.items() if own & set(sources)}
        own |= {f for p in parts for f in VIRTUAL_FIELDS.get(p.field, ())}
        trained = [name for name in spec.compare if name not in own]
        if not trained:
            continue
        found, expected = _em({k: key_levels[k] for k in trained}, {k: m[k] for k in trained},
                              {k: u[k] for k in trained}, {k: defaults[k] for k in trained})
        for name in trained:
            fitted[name].append((found[name], expected))
    for name, results in fitted.items():
        if results and sum(e for _, e in results) > 0:
            total = sum(e for _, e in results)
            m[name] = _normalised(sum(r * e for r, e in results) / total, 1e-4)
    model = Model(m=m, u=u, prior=1.0)
    # The prior: how many of all pairs match, from the candidates' expected matches.
    weights = score_weights(model, pair_levels)
    odds = 2.0 ** np.clip(weights, -60, 60)
    candidate_prior = 0.5
    for _ in range(EM_ITERATIONS):
        posterior = candidate_prior * odds / (candidate_prior * odds + 1 - candidate_prior)
        candidate_prior = float(np.clip(posterior.mean(), 1e-9, 1 - 1e-9)) if len(posterior) else 1e-9
    expected = candidate_prior * len(odds)
    model.prior = max(expected, 1.0) / max(n * (n - 1) / 2, 1.0)
    model.shares = {name: _shares(values[f"\0{name}:{c.method}"]["value"]) for name, c in spec.compare.items()
                    if c.term_frequency}
    return model


def _em(pair_levels: dict[str, np.ndarray], m: dict[str, np.ndarray], u: dict[str, np.ndarray],
        defaults: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
    """m and the expected matches among these pairs, u fixed; m's estimate is a posterior mean
    with the defaults as a Dirichlet prior worth PRIOR_MATCHES matches."""
    m = {k: v.copy() for k, v in m.items()}
    prior = 0.1
    posterior = np.zeros(0)
    for _ in range(EM_ITERATIONS):
        log_odds = np.full(len(next(iter(pair_levels.values()))), math.log2(prior / (1 - prior)))
        for name, level in pair_levels.items():
            weights = np.log2(m[name] / u[name])
            weights[0] = 0.0
            log_odds += weights[level]
        posterior = 1.0 / (1.0 + 2.0 ** -np.clip(log_odds, -60, 60))
        new_prior = float(np.clip(posterior.mean(), 1e-6, 1 - 1e-6))
        change = abs(new_prior - prior)
        prior = new_prior
        for name, level in pair_levels.items():
            counts = np.bincount(level, weights=posterior, minlength=len(m[name]))
            counts[1:] += PRIOR_MATCHES * defaults[name][1:]
            before = m[name]
            m[name] = _normalised(counts, 1e-4)
            change = max(change, float(np.abs(m[name] - before).max()))
        if change < 1e-5:
            break
    return m, float(posterior.sum())


def _shares(values: np.ndarray) -> np.ndarray:
    """Per record, its value's share of the records that have one, as the comparison sees the
    value (normalised); 0 where it has none."""
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0])
    total = max(int(counts.sum()), 1)
    return np.where(codes >= 0, np.append(counts, 0)[codes] / total, 0.0)


def score_weights(model: Model, pair_levels: dict[str, np.ndarray], left: np.ndarray | None = None) -> np.ndarray:
    """Each pair's match weight without the prior; with the pairs' `left` records, exact
    agreements on fields with term frequencies weigh what their value's rarity says."""
    total = np.zeros(len(next(iter(pair_levels.values()))))
    for name, level in pair_levels.items():
        contribution = model.weights(name)[level]
        if left is not None and name in model.shares:
            exact = level == 1
            if exact.any():
                # u of a shared value is its share of the records (floored, as u is).
                contribution = contribution.copy()
                contribution[exact] = np.log2(model.m[name][1] / np.maximum(model.shares[name][left[exact]], 1e-7))
        total += contribution
    return total


def probabilities(model: Model, weights: np.ndarray) -> np.ndarray:
    log_odds = weights + math.log2(model.prior / (1 - model.prior))
    return 1.0 / (1.0 + 2.0 ** -np.clip(log_odds, -60, 60))


def score(frame: pd.DataFrame, spec: MatchSpec) -> tuple[Pairs, np.ndarray, Model]:
    """The candidate pairs of a frame's records (positions), their match probabilities and the
    fitted model: matching without clusters or survivors (for benchmarks and the review)."""
    values = prepared(frame.reset_index(drop=True), spec.fields)
    pairs = candidate_pairs(values, spec)
    pair_levels = levels(values, spec, pairs.left, pairs.right)
    model = fit(values, spec, pairs, pair_levels)
    return pairs, probabilities(model, score_weights(model, pair_levels, pairs.left)), model
