"""Comparisons: each sorts a pair of values into a level (`LEVELS`: exact, close, far...),
computed once per distinct pair of values; a pair's levels stored as one pattern code (`Patterns`)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, DamerauLevenshtein, Indel, JaroWinkler

from crmmigrate.clean.normalisers import company_key
from crmmigrate.dedupe.blocking import shared_method
from crmmigrate.dedupe.columns import Coded, Column, chunked, sorted_distinct, domain, nick_namer
from crmmigrate.dedupe.rules import DISTANCE_CUTS, MatchSpec


# Level labels per method; level 0 is always "missing" (a blank on either side: no evidence).
LEVELS: dict[str, tuple[str, ...]] = {
    "exact": ("missing", "exact", "different"),
    "email": ("missing", "exact", "one edit", "same name, another domain",
              "same local part built from the name, another domain", "one edit, built from the name", "different"),
    "phone": ("missing", "exact", "same last 8 digits", "different"),
    "name": ("missing", "exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.88", "jaro-winkler >= 0.7", "different"),
    "first_name": ("missing", "exact", "nickname", "jaro-winkler >= 0.92", "jaro-winkler >= 0.88",
                   "initial", "different"),
    "company": ("missing", "same match key", "key similarity >= 0.92", "same distinctive words",
                "key similarity >= 0.8", "different"),
    "jaro_winkler": ("missing", "exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.8", "different"),
    "levenshtein": ("missing", "exact", "1 edit", "2 edits", "different"),
    "date": ("missing", "exact", "1 edit", "different"),
    "name_tokens": ("missing", "exact", "same words in another order", "token sort >= 0.9", "different"),
    "person_name": ("missing", "exact", "first and last swapped", "nickname", "typo", "initial",
                    "first name missing", "last name only", "different"),
    "website": ("missing", "same domain", "same domain, built from the name", "different"),
    "address": ("missing", "exact", "same number, street alike", "street alike", "different"),
    "postcode": ("missing", "exact", "one the other's start", "different"),
    "token_overlap": ("missing", "same words", "overlap >= threshold 1", "overlap >= threshold 2", "different"),
    "list_overlap": ("missing", "same items", "overlap >= threshold 1", "overlap >= threshold 2", "different"),
    "numeric": ("missing", "exact", "within threshold 1", "within threshold 2", "different"),
    "days": ("missing", "same day", "within threshold 1", "within threshold 2", "within threshold 3", "different"),
    "geo": ("missing", "same place", "within threshold 1", "within threshold 2", "within threshold 3", "different"),
}

# Levels whose agreement is on a part often made from another field (`Comparison.built_from`):
# (the level, the level it becomes where either record's value is so made). That one is
# neutral: it counts for nothing (weight 0), since the other field's comparison counts it.
DERIVABLE: dict[str, dict[int, int]] = {"email": {3: 4, 2: 5}, "website": {1: 2}}
NEUTRAL: dict[str, tuple[int, ...]] = {method: tuple(levels.values()) for method, levels in DERIVABLE.items()}


def _memo(x: np.ndarray, y: np.ndarray, function: Callable[[np.ndarray, np.ndarray], np.ndarray],
          table: np.ndarray) -> np.ndarray:
    """function(x, y) per pair of codes (a symmetric function of two distinct values, returning
    int8 >= 0), evaluated once per distinct pair: the common values of real data (names,
    cities) pair with each other over and over. Pairs of common values are kept in `table`
    (Coded.table) across calls; the others are evaluated once per distinct pair in the call."""
    if not len(x):
        return np.zeros(0, dtype=np.int8)
    side = math.isqrt(len(table))
    small = (x < side) & (y < side)
    every = bool(small.all())
    key = x * np.int32(side) + y  # int32: side² fits (wrapping where not small, unused)
    if not every:
        key = key[small]
    found = table[key]
    unknown = found < 0
    if unknown.any():
        new = sorted_distinct(key[unknown])
        first, second = new // side, new % side
        # Both ways round (the function is symmetric); racing threads write the same values.
        table[new] = table[second * side + first] = function(first, second)
        found[unknown] = table[key[unknown]]
    if every:
        return found
    out = np.zeros(len(x), dtype=np.int8)
    out[small] = found
    lo, hi = np.minimum(x[~small], y[~small]), np.maximum(x[~small], y[~small])
    key = lo.astype(np.int64) << 32 | hi
    distinct = sorted_distinct(key)
    values = function((distinct >> 32).astype(np.int32), (distinct & 0xFFFFFFFF).astype(np.int32))
    out[~small] = values[np.searchsorted(distinct, key)]
    return out


def pair_scores(scorer, vocab: np.ndarray, x: np.ndarray, y: np.ndarray, **kwargs) -> np.ndarray:
    if not len(x):
        return np.zeros(0)
    return process.cpdist(list(vocab[x]), list(vocab[y]), scorer=scorer, workers=-1, **kwargs)


def _cut(score: np.ndarray, cuts: list[float], *, higher_is_closer: bool = True) -> np.ndarray:
    """0 for the first cut met, 1 for the next... len(cuts) for none."""
    level = np.full(len(score), len(cuts), dtype=np.int8)
    for index in range(len(cuts) - 1, -1, -1):
        level[score >= cuts[index] if higher_is_closer else score <= cuts[index]] = index
    return level


def _graded(vocab: np.ndarray, scorer, cuts: list[float], *, higher_is_closer: bool = True, **kwargs):
    """A memo function: the level of two distinct values by a rapidfuzz scorer and cuts."""
    return lambda x, y: _cut(pair_scores(scorer, vocab, x, y, **kwargs), cuts, higher_is_closer=higher_is_closer)


def compare(method: str, coded: Coded, left: np.ndarray, right: np.ndarray, cuts: list[float] | None = None,
            ) -> np.ndarray:
    """The level of each pair (left[i], right[i]) of records, from their `normalised` values
    (`cuts`: a distance method's thresholds, by default DISTANCE_CUTS')."""
    if not len(coded.vocab):  # blank everywhere
        return np.zeros(len(left), dtype=np.int8)
    if method == "person_name":
        return _person_names(coded, left, right)
    x, y = coded.codes[left], coded.codes[right]
    level = np.zeros(len(x), dtype=np.int8)
    present = (x >= 0) & (y >= 0)
    level[present & (x == y)] = 1
    differ = present & (x != y)
    if differ.any():
        level[differ] = _differing(method, coded, x[differ], y[differ],
                                   DISTANCE_CUTS.get(method, []) if cuts is None else cuts) + 2
    return level


def _differing(method: str, coded: Coded, x: np.ndarray, y: np.ndarray, cuts: list[float]) -> np.ndarray:
    """Levels (from the one after "exact") of pairs of distinct values x, y (codes); `cuts`
    are a distance method's thresholds."""
    vocab, parts = coded.vocab, coded.parts
    if method == "exact":
        return np.zeros(len(x), dtype=np.int8)
    if method == "phone":
        tail = parts["tail"]
        return np.where((tail[x] >= 0) & (tail[x] == tail[y]), 0, 1).astype(np.int8)
    if method == "email":
        return _emails(coded, x, y)
    if method in ("name", "jaro_winkler"):
        cuts = [0.92, 0.88, 0.7] if method == "name" else [0.92, 0.8]
        return _memo(x, y, _graded(vocab, JaroWinkler.normalized_similarity, cuts), coded.table(method))
    if method == "first_name":
        return _memo(x, y, lambda a, b: _first_names(coded, a, b), coded.table(method))
    if method == "company":
        return _memo(x, y, lambda a, b: _companies(coded, a, b), coded.table(method))
    if method == "website":
        return np.full(len(x), 1, dtype=np.int8)  # the built-from-the-name level is set by `levels`
    if method == "postcode":
        return _memo(x, y, lambda a, b: _postcodes(coded, a, b), coded.table(method))
    if method == "address":
        return _memo(x, y, lambda a, b: _addresses(coded, a, b), coded.table(method))
    if method in ("token_overlap", "list_overlap"):
        return _memo(x, y, lambda a, b: _overlaps(coded, a, b, cuts), coded.table(method))
    if method in ("numeric", "days", "geo"):
        return _distances(method, coded, x, y, cuts)
    if method == "levenshtein":
        return _memo(x, y, _graded(vocab, DamerauLevenshtein.distance, [1, 2], higher_is_closer=False),
                     coded.table(method))
    if method == "date":
        return _memo(x, y, _graded(vocab, DamerauLevenshtein.distance, [1], higher_is_closer=False),
                     coded.table(method))
    if method == "name_tokens":
        # The values hold the names' words sorted: equal here means the same words in another order.
        return _memo(x, y, _graded(vocab, Indel.normalized_similarity, [0.9]), coded.table(method)) + 1
    raise ValueError(f"unknown comparison method {method!r}")


def _companies(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """company's levels for distinct match keys: similarity >= 0.92 (0); the distinctive words
    of one all among the other's (1: "Beasley" in "Beasley CPC", "Joe's" in "Joe's Cafe" where
    cafes abound); similarity >= 0.8 (2); different (3)."""
    similar = _cut(pair_scores(Indel.normalized_similarity, coded.vocab, x, y), [0.92, 0.8])
    level = np.array([0, 2, 3], dtype=np.int8)[similar]
    below = np.flatnonzero(level > 0)
    if len(below):
        level[below[_words_within(coded, x[below], y[below])]] = 1
    return level


# The whitespace rapidfuzz's token scorers split words at: Python's but for U+0085 and U+00A0.
_TOKEN_GAP = re.compile(r"[^\S\x85\xa0]+")


def _words_within(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairs of company keys whose distinctive words share one and one holds all the other's:
    what rapidfuzz's token_set_ratio scores 100, found as a set lookup. Each distinct pair of
    names runs to the millions where blocking pairs namesakes at different firms (leads against
    contacts), and scoring each with token_set_ratio was most of the comparing."""
    if "distinctive_words" not in coded.parts:  # racing threads make the same
        words: dict[str, int] = {}
        held = sorted({(value, words.setdefault(word, len(words)))
                       for value, text in enumerate(coded.parts["distinctive"])
                       for word in _TOKEN_GAP.split(text) if word})
        pairs = np.array(held, dtype=np.int64).reshape(-1, 2)
        width = len(words) + 1
        coded.parts["distinctive_words"] = (pairs[:, 0] * width + pairs[:, 1], width,
                                            np.bincount(pairs[:, 0], minlength=len(coded.vocab)))
    keys, width, count = coded.parts["distinctive_words"]
    starts = np.cumsum(count) - count  # where each value's words begin among the keys (sorted)
    many = count[x]
    total = int(many.sum())
    at = np.repeat(starts[x], many) + (np.arange(total) - np.repeat(np.cumsum(many) - many, many))
    wanted = np.repeat(y.astype(np.int64), many) * width + keys[at] % width
    found = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    hit = keys[found] == wanted if len(keys) else np.zeros(total, dtype=bool)
    shared = np.bincount(np.repeat(np.arange(len(x)), many), weights=hit, minlength=len(x))
    return (shared > 0) & ((shared == count[x]) | (shared == count[y]))


def _addresses(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """address's levels for distinct streets: the same house number with the rest alike
    (token set similarity >= 0.85) (0); the whole alike (>= 0.9: a number mistyped) (1);
    different (2)."""
    number, rest = coded.parts["number"], coded.parts["rest"]
    level = np.full(len(x), 2, dtype=np.int8)
    same_number = (number[x] >= 0) & (number[x] == number[y])
    at = np.flatnonzero(same_number)
    if len(at):
        alike = pair_scores(fuzz.token_set_ratio, rest, x[at], y[at]) >= 85
        level[at[alike]] = 0
    at = np.flatnonzero(level == 2)
    if len(at):
        level[at[pair_scores(Indel.normalized_similarity, coded.vocab, x[at], y[at]) >= 0.9]] = 1
    return level


def _overlaps(coded: Coded, x: np.ndarray, y: np.ndarray, cuts: list[float]) -> np.ndarray:
    """token_overlap's and list_overlap's levels for distinct sets (joined by "\x1f"): the
    share of the smaller set found in the other, cut."""
    vocab = coded.vocab
    shares = np.empty(len(x))
    for index, (a, b) in enumerate(zip(x, y, strict=True)):
        first, second = set(vocab[a].split(" \x1f")), set(vocab[b].split(" \x1f"))
        shares[index] = len(first & second) / max(min(len(first), len(second)), 1)
    return _cut(shares, cuts)


def _distances(method: str, coded: Coded, x: np.ndarray, y: np.ndarray, cuts: list[float]) -> np.ndarray:
    """numeric's (relative difference), days' (days apart) and geo's (km, haversine) levels
    for distinct values, cut."""
    at = coded.parts["at"]
    a, b = at[x], at[y]
    if method == "numeric":
        distance = np.abs(a[:, 0] - b[:, 0]) / np.maximum(np.maximum(np.abs(a[:, 0]), np.abs(b[:, 0])), 1e-12)
    elif method == "days":
        distance = np.abs(a[:, 0] - b[:, 0])
    else:
        lat1, lon1, lat2, lon2 = (np.radians(v) for v in (a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
        h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        distance = 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    return _cut(distance, cuts, higher_is_closer=False)


def _postcodes(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0 where one postal code is the other's start (74121 and 74121-2695, SW1A and SW1A 1AA), else 1."""
    a, b = coded.vocab[x].astype(str), coded.vocab[y].astype(str)
    return np.where(np.char.startswith(a, b) | np.char.startswith(b, a), 0, 1).astype(np.int8)


def _emails(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One edit apart (0), the same local part at another domain (1), different (4).

    Emails are mostly distinct, so instead of memoising, an edit distance is computed only
    where one edit is possible: the same local part (the edit is in the domain); the same
    domain with local parts at most a letter apart in length that, from 9 letters on, share
    their first or their last 4 letters (one edit cannot touch both ends of so long a word);
    the same letters once "@" is taken out (the "@" dropped, doubled or swapped with a
    neighbour); or, rarely, as many letters but a different number of "@"s (an "@" typed for
    another letter, or the other way round)."""
    local, domain, length = coded.parts["local"], coded.parts["domain"], coded.parts["length"]
    head, tail, bare = coded.parts["head"], coded.parts["tail"], coded.parts["bare"]
    ats, size = coded.parts["ats"], coded.parts["size"]
    same_local = local[x] == local[y]
    level = np.where(same_local, 1, 4).astype(np.int8)  # 2 and 3, built from the name, are set by `levels`
    # Narrowed step by step, each test only on the pairs the earlier ones left.
    near = np.flatnonzero(np.abs(size[x] - size[y]) <= 1)  # one edit changes the length by one at most
    possible = [near[same_local[near]]]
    rest = near[~same_local[near]]
    a, b = x[rest], y[rest]
    found = (bare[a] == bare[b]) | ((ats[a] != ats[b]) & (size[a] == size[b]))
    possible.append(rest[found])
    rest, a, b = rest[~found], a[~found], b[~found]
    same_domain = domain[a] == domain[b]
    rest, a, b = rest[same_domain], a[same_domain], b[same_domain]
    la, lb = length[a], length[b]
    possible.append(rest[(np.abs(la - lb) <= 1) & ((np.minimum(la, lb) < 9) | (head[a] == head[b])
                                                   | (tail[a] == tail[b]))])
    at = np.concatenate(possible)
    close = pair_scores(OSA.distance, coded.vocab, x[at], y[at], score_cutoff=1) <= 1
    # The same letters with another number are two mailboxes (john.smith@ and john.smith2@, a
    # second John Smith), not a typo: different.
    numbered = (coded.parts["letters_code"][x[at]] == coded.parts["letters_code"][y[at]]) & (
        coded.parts["digits"][x[at]] != coded.parts["digits"][y[at]])
    level[at[close & ~numbered]] = 0
    return level


def _first_names(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """first_name's levels for distinct first names: nickname (0), jaro-winkler >= 0.92 (1),
    >= 0.88 (2), initial (3), different (4)."""
    level = _cut(pair_scores(JaroWinkler.normalized_similarity, coded.vocab, x, y), [0.92, 0.88]) + 1
    level[_nicknames(coded, x, y)] = 0
    initial = (level == 3) & _initial_only(coded.parts, x, y)
    level[initial] = 3
    level[(level == 3) & ~initial] = 4
    return level


# person_name: what a pair of first names (codes, 0 blank) and of last names say, as bits
_CLOSE, _NICK, _INITIAL, _SAME, _BOTH = 1, 2, 4, 8, 16


def _name_bits(names: Coded, first: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A memo function: for two names (codes into `names` plus one, 0 blank), whether they are
    equal, both there, equal or at jaro-winkler >= 0.92; of first names also whether one is the
    other's nickname or initial."""
    vocab = names.vocab

    def bits(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.where(x == y, _SAME | _CLOSE, 0).astype(np.int8)
        both = (x > 0) & (y > 0)
        out[both] |= _BOTH
        differ = np.flatnonzero(both & (x != y))
        a, b = x[differ] - 1, y[differ] - 1
        close = pair_scores(JaroWinkler.normalized_similarity, vocab, a, b) >= 0.92
        out[differ[close]] |= _CLOSE
        if first:
            out[differ[_nicknames(names, a, b)]] |= _NICK
            out[differ[_initial_only(names.parts, a, b)]] |= _INITIAL
        return out

    return bits


def _person_table() -> np.ndarray:
    """person_name's level for every combination of first-name bits, last-name bits (shifted
    by 5) and whether first and last are swapped (bit 10)."""
    table = np.zeros(1 << 11, dtype=np.int8)
    for index in range(len(table)):
        f, la, swapped = index & 31, (index >> 5) & 31, bool(index >> 10)
        if f & _SAME and la & _SAME:
            level = "exact"
        elif swapped:
            level = "first and last swapped"
        elif f & _NICK and la & _SAME:
            level = "nickname"
        elif la & _CLOSE and f & _CLOSE:
            level = "typo"
        elif la & _CLOSE and f & _INITIAL:
            level = "initial"
        elif la & _SAME and la & _BOTH and not f & _BOTH:
            level = "first name missing"
        elif la & _SAME and la & _BOTH:
            level = "last name only"
        else:
            level = "different"
        table[index] = LEVELS["person_name"].index(level)
    return table


_PERSON_LEVELS = _person_table()


def _person_names(coded: Coded, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """person_name's levels, from each record's first and last name: what the two first names
    and the two last names say is memoised per distinct pair of names."""
    names = coded.names
    assert names is not None
    both = coded.records["both"]
    x, y = both[left], both[right]
    fx, fy, lx, ly = (x >> 32).astype(np.int32), (y >> 32).astype(np.int32), x.astype(np.int32), y.astype(np.int32)
    present = (fx >= 0) & (fy >= 0)
    if not present.all():  # no name at all (-1): looked up as blank names, and "missing" below
        fx, fy, lx, ly = (np.maximum(v, 0) for v in (fx, fy, lx, ly))
    index = _memo(fx, fy, _name_bits(names, True), names.table("first")).astype(np.int16)
    index |= _memo(lx, ly, _name_bits(names, False), names.table("last")).astype(np.int16) << 5
    index |= (((fx == ly) & (lx == fy) & (fx != lx)).astype(np.int16) << 10)
    level = _PERSON_LEVELS[index]
    level[~present] = 0
    return level


def _initial_only(parts: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairs where one first name is just the other's initial ("J." and "John")."""
    length_x, length_y = parts["bare_length"][x], parts["bare_length"][y]
    same = parts["initial"][x] == parts["initial"][y]
    return same & (((length_x == 1) & (length_y > 1)) | ((length_y == 1) & (length_x > 1)))


@cache
def _name_roots(name: str) -> frozenset[str]:
    """A first name and the formal names it can be short for (Bob -> robert, bobby...)."""
    namer = nick_namer()
    return frozenset({name} | namer.canonicals_of(name) | namer.nicknames_of(name))


def _nicknames(names: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairs of names (codes into `names`) where one is the other's nickname (Bob/Robert,
    Liz/Elizabeth): looked up among the pairs of names the data has that are related, found
    once per distinct name."""
    if "nicknames" not in names.parts:
        position = {name: code for code, name in enumerate(names.vocab)}
        related = [(code, position[root]) for code, name in enumerate(names.vocab)
                   for root in _name_roots(name) if root in position and root != name]
        names.parts["nicknames"] = np.unique(np.array([a * len(names.vocab) + b for a, b in related] +
                                                      [b * len(names.vocab) + a for a, b in related], dtype=np.int64))
    edges = names.parts["nicknames"]
    if not len(edges) or not len(x):
        return np.zeros(len(x), dtype=bool)
    return np.isin(x.astype(np.int64) * len(names.vocab) + y, edges)


def made_later(names: Coded) -> None:
    """The parts of a person's names' own coding that comparing makes when first asked (which
    names are nicknames of which), made now: before the coding is sent, whole, with each
    share of the pairs (`Coded.subset`)."""
    _nicknames(names, np.zeros(0, np.int32), np.zeros(0, np.int32))


def levels(values: dict[str, Column], spec: MatchSpec, left: np.ndarray, right: np.ndarray) -> dict[str, np.ndarray]:
    """Every comparison's level for the pairs (left[i], right[i]); where a comparison agrees on
    a part made from another field (`built_from`), its neutral level instead."""
    out = {}
    for name, c in spec.compare.items():
        level = compare(c.method, values[name].coded(c.method), left, right, c.cuts)
        if c.built_from is not None and c.method in DERIVABLE:
            for at, neutral in DERIVABLE[c.method].items():
                hit = np.flatnonzero(level == at)
                if c.method == "email" and at == 2 and len(hit):  # one edit in the local part, not the domain
                    coded = values[name].coded(c.method)
                    local = coded.parts["local"]
                    hit = hit[local[coded.codes[left[hit]]] != local[coded.codes[right[hit]]]]
                if len(hit):
                    built = built_from(values, name, c.method, c.built_from, np.concatenate([left[hit], right[hit]]))
                    level[hit[built[:len(hit)] | built[len(hit):]]] = neutral
        out[name] = level
    return out


def built_from(values: dict[str, Column], name: str, method: str, source: str, records: np.ndarray) -> np.ndarray:
    """For each of `records`, whether its `name` value (an email, a website) is made from its
    `source` field (the person's or the company's name): the email's local part, or the
    website's domain name, holds one of the name's words of 3 letters or more, or is the name's
    letters. Worked out once per distinct combination of the two values, and only for the
    combinations asked about: the pairs that agree on such a part are few beside the records."""
    column = values[name]
    with column.lock:
        key = f"built:{source}"
        if key not in column.built:
            own, other = column.codes.astype(np.int64), values[source].codes.astype(np.int64)
            combination = np.unique((own + 1) * (len(values[source].values) + 1) + (other + 1), return_inverse=True)
            column.built[key] = combination + (np.full(len(combination[0]), -1, dtype=np.int8),)
        distinct, inverse, known = column.built[key]
        at = inverse[records]
        wanted = np.unique(at[known[at] < 0])
        if len(wanted):
            width = len(values[source].values) + 1
            own_at, their_at = distinct[wanted] // width - 1, distinct[wanted] % width - 1
            mine = _texts(column.values, own_at)
            theirs = _texts(values[source].values, their_at)
            known[wanted] = [a is not None and b is not None and _made_from(a, b, method)
                             for a, b in zip(mine, theirs, strict=True)]
        return known[at] == 1


def _texts(values: pa.Array, at: np.ndarray) -> list[str | None]:
    """The distinct `values` at positions `at` as Python strings, None where `at` is -1 (blank)."""
    return values.take(pa.array(at, mask=at < 0)).to_pylist()


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalpha())


def _made_from(value: str, name: str, method: str) -> bool:
    """Whether an email's local part or a website's domain name is made from a name."""
    if method == "email":
        part = value.rsplit("@", 1)[0]
    else:
        part = (domain(value) or "").split(".")[0]
    part = _letters(part)
    if not part:
        return False
    words = [_letters(w) for w in (company_key(name) if method == "website" else name.replace("\x1f", " ")).split()]
    words = [w for w in words if len(w) >= 3]
    return any(w in part for w in words) or (len(part) >= 3 and part in "".join(words))


@dataclass
class Patterns:
    """Each pair's levels as one code: a number in mixed radix, a digit per comparison (its
    level), in the order of the comparisons. Millions of pairs hold a few thousand patterns."""

    codes: np.ndarray
    radix: dict[str, int]

    @classmethod
    def of(cls, pair_levels: dict[str, np.ndarray], radix: dict[str, int]) -> Patterns:
        dtype = _pattern_type(radix)
        code = np.zeros(len(next(iter(pair_levels.values()))), dtype=dtype)
        for name, base in radix.items():
            code *= base
            code += pair_levels[name]
        return cls(code, radix)

    def levels(self, at: np.ndarray | slice | None = None) -> dict[str, np.ndarray]:
        """The levels of the pairs `at` (all by default), per comparison."""
        code = self.codes if at is None else self.codes[at]
        out = {}
        for name, base in reversed(self.radix.items()):
            out[name] = (code % base).astype(np.int8)
            code = code // base
        return {name: out[name] for name in self.radix}

    def counts(self, at: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The distinct patterns among the pairs `at` (all by default), as levels per
        comparison, and how many pairs have each: what EM and the prior need."""
        found, counts = self.counts_by_code(at)
        return Patterns(found, self.radix).levels(), counts

    def counts_by_code(self, at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`counts` with each pattern as its code, the codes ascending."""
        total = math.prod(self.radix.values())
        if total <= 1 << 24:
            parts: list[np.ndarray] = []

            def work(start: int, stop: int) -> None:
                code = self.codes[start:stop] if at is None else self.codes[start:stop][at[start:stop]]
                parts.append(np.bincount(code, minlength=total))

            chunked(len(self.codes), work)
            counts = np.sum(parts, axis=0) if parts else np.zeros(total, dtype=np.int64)
            found = np.flatnonzero(counts)
            counts = counts[found]
        else:
            found, counts = np.unique(self.codes if at is None else self.codes[at], return_counts=True)
        return found, counts.astype(float)


def _pattern_type(radix: dict[str, int]) -> type:
    total = math.prod(radix.values())
    if total >= 1 << 62:
        raise ValueError(f"{len(radix)} comparisons have too many combinations of levels to score together")
    return np.int16 if total < 1 << 15 else np.int32 if total < 1 << 31 else np.int64


def radix_of(spec: MatchSpec) -> dict[str, int]:
    return {name: len(LEVELS[c.method]) for name, c in spec.compare.items()}


def normalise(values: dict[str, Column], spec: MatchSpec, *, backwards: bool = False) -> None:
    """Every compared field's values normalised for its comparison (`Column.coded`), first
    those a blocking key takes its codes from (`backwards`: in the opposite order, for a second
    thread to share the work)."""
    keyed = {p.field for parts in spec.blocking for p in parts if shared_method(spec, p)}
    order = sorted(spec.compare.items(), key=lambda item: item[0] not in keyed)
    for name, c in reversed(order) if backwards else order:
        values[name].coded(c.method)


def patterns(values: dict[str, Column], spec: MatchSpec, left: np.ndarray, right: np.ndarray,
             done: Callable[[int], None] | None = None) -> Patterns:
    """The level patterns of the pairs (left[i], right[i]), compared a chunk at a time on every
    core; what is memoised (Coded.table) is shared by the chunks. `done(pairs)` is told after
    each chunk."""
    radix = radix_of(spec)
    out = np.empty(len(left), dtype=_pattern_type(radix))
    normalise(values, spec)  # made once, before the threads share it

    def work(start: int, stop: int) -> None:
        out[start:stop] = Patterns.of(levels(values, spec, left[start:stop], right[start:stop]), radix).codes

    chunked(len(left), work, done)
    return Patterns(out, radix)
