"""Candidate pairs, comparisons and match scores, with no training labels.

The model is Fellegi-Sunter's, as Splink fits it: each comparison sorts a pair into a level
(exact, close, far...); a level has `m`, the chance of it among true matches, and `u`, among
random pairs. A pair's match weight is the sum of log2(m/u) over its comparisons plus the prior
odds of two records matching; its match probability follows. `u` is measured on random pairs;
`m` is fitted by expectation-maximisation on the pairs each blocking key finds, leaving out the
comparisons of that key's own fields (those pairs agree on them by construction). An exact
agreement on a field with term frequencies counts for what its value's rarity says: two "Smith"s
are weaker evidence than two "Quintanilla"s.

Built for millions of records, where candidate pairs run to tens of millions:
- each field is dictionary-encoded once (Arrow); blocking transforms and a comparison's
  normalisation run once per distinct value, and records carry integer codes;
- blocking keys pair records with numpy; a key's pairs that an earlier key found are dropped by
  comparing the earlier key's codes (no sort of every pair);
- a comparison is computed once per distinct pair of values (real data pairs the same common
  names and cities over and over), kept in a table for the commonest values; emails, mostly
  distinct, get an edit distance only where one edit is possible;
- pairs are compared a chunk at a time on a thread per core (numpy, Arrow and rapidfuzz let go
  of the GIL), and each pair's levels are stored as one small pattern code: EM and the prior
  work on the few thousand distinct patterns with their counts.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, DamerauLevenshtein, Indel, JaroWinkler

from crmmigrate import parallel
from crmmigrate.clean.normalisers import PERSONAL_EMAIL_DOMAINS, company_key
from crmmigrate.dedupe.rules import (CUSTOM_PREFIX, DISTANCE_CUTS, IDENTIFYING, RELATED_FIELDS, VIRTUAL_FIELDS, KeyPart,
                                     MatchSpec)
from crmmigrate.text import trimmed

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


# -- values --------------------------------------------------------------------------------------


@dataclass
class Column:
    """A field's trimmed text, coded: `codes` per record (-1 where blank) into `values`, its
    distinct values (Arrow); whatever is done to a value (a blocking key's transform, a
    comparison's normalisation) is done once per distinct value."""

    codes: np.ndarray
    values: pa.Array
    normalised: dict[str, Coded] = field(default_factory=dict)  # per comparison method, made once
    built: dict[str, np.ndarray] = field(default_factory=dict)  # `built_from`'s, per source field
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def series(self) -> pd.Series:
        """The distinct values as a text Series (sharing Arrow's memory)."""
        return pd.Series(self.values, dtype="str")

    def coded(self, method: str) -> Coded:
        """The values as `method` compares them (`normalised`), made once (a thread that asks
        while another makes them waits for them)."""
        with self.lock:
            if method not in self.normalised:
                self.normalised[method] = normalised(self, method)
            return self.normalised[method]

    def text(self, records: np.ndarray) -> np.ndarray:
        """The records' values (None where blank)."""
        codes = self.codes[records]
        out = np.full(len(codes), None, dtype=object)
        present = codes >= 0
        out[present] = self.values.take(pa.array(codes[present])).to_numpy(zero_copy_only=False)
        return out


def _factorised(text: pd.Series | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Codes (int32, -1 for nulls) into the distinct values of some text, by Arrow's hashing."""
    array = text if isinstance(text, pa.Array | pa.ChunkedArray) else pa.array(text)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = pc.dictionary_encode(array)
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32), encoded.dictionary


def _encoded(text: pa.Array) -> Column:
    """An Arrow string array (nulls where blank) as a Column."""
    return Column(*_factorised(text))


def prepared(frame: pd.DataFrame, names: list[str]) -> dict[str, Column]:
    """Each field as a Column of trimmed text (a virtual field, such as full_name, made from
    its fields)."""
    found: dict[str, pa.Array] = {}

    def text(name: str) -> pa.Array:
        if name not in found:
            found[name] = trimmed(frame[name])
        return found[name]

    def column(name: str) -> Column:
        if name in VIRTUAL_FIELDS and name not in frame:
            parts = [text(f) for f in VIRTUAL_FIELDS[name]]
            separator = "\x1f" if name == "person" else " "
            joined = pc.binary_join_element_wise(*parts, pa.scalar(separator, parts[0].type),
                                                 null_handling="replace", null_replacement="")
            if name != "person":  # the person's separator stays, even beside a blank first name
                joined = pc.utf8_trim_whitespace(joined)
            blank = pc.equal(joined, "\x1f" if name == "person" else "")
            return _encoded(pc.if_else(blank, pa.scalar(None, joined.type), joined))
        if name.startswith(CUSTOM_PREFIX) and name not in frame:
            return _encoded(_custom_field(frame, name[len(CUSTOM_PREFIX):]))
        if name in _RELATED and name not in frame:  # without the records pointing here: its own field
            return _encoded(text(_RELATED[name]) if _RELATED[name] in frame else pa.nulls(len(frame), pa.string()))
        return _encoded(text(name))

    with ThreadPoolExecutor(THREADS) as pool:  # Arrow lets go of the GIL
        return dict(zip(names, pool.map(column, names), strict=True))


# A related field (crmmigrate.dedupe.related: an account's domain, made with its contacts' mail)
# and the record's own field it starts from.
_RELATED = {name: sources[0] for fields in RELATED_FIELDS.values() for name, sources in fields.items()}


def _custom_field(frame: pd.DataFrame, key: str) -> pa.Array:
    """A custom field the mapping kept (its `_custom` JSON), trimmed, null where absent."""
    import json

    kept = frame["_custom"] if "_custom" in frame else pd.Series(None, index=frame.index, dtype=object)
    distinct, codes = np.unique(kept.fillna("").astype(str).to_numpy(dtype=object), return_inverse=True)
    found = np.array([json.loads(text).get(key) if text else None for text in distinct], dtype=object)
    return trimmed(pd.Series(found[codes], dtype="str"))


def _transform(column: Column, transform: str) -> tuple[np.ndarray, pa.Array]:
    """A blocking key part: a code per record (-1 where missing) and the distinct transformed
    values they stand for; the transform applied once per distinct value."""
    text = column.series
    if transform in _VECTORISED:
        text = _VECTORISED[transform](text)
    elif transform != "exact":
        function = _TRANSFORMS[transform]
        text = pd.Series([function(v) for v in text], dtype="str")
    mapped, keys = _factorised(text.where(text != "", None))
    return np.append(mapped, np.int32(-1))[column.codes], keys


def _domain(value: str) -> str | None:
    text = value.lower().rsplit("@", 1)[-1]
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    return text.removeprefix("www.").split("/", 1)[0] or None


def _sorted_tokens(text: pd.Series) -> pd.Series:
    """Each value's words casefolded, in sorted order, joined by a space: one- and two-word
    values (most names) in Arrow, longer ones one by one."""
    words = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pa.array(text.str.casefold())))
    count = pc.list_value_length(words).fill_null(0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(words)
    offsets = words.offsets.to_numpy()[:-1]
    out = np.full(len(text), None, dtype=object)
    one = np.flatnonzero(count == 1)
    out[one] = flat.take(pa.array(offsets[one])).to_numpy(zero_copy_only=False)
    two = np.flatnonzero(count == 2)
    if len(two):
        a, b = flat.take(pa.array(offsets[two])), flat.take(pa.array(offsets[two] + 1))
        first = pc.less_equal(a, b)  # UTF-8 order is code point order, as Python's sorted
        joined = pc.binary_join_element_wise(pc.if_else(first, a, b), pc.if_else(first, b, a), pa.scalar(" ", a.type))
        out[two] = joined.to_numpy(zero_copy_only=False)
    more = np.flatnonzero(count > 2)
    out[more] = [" ".join(sorted(v.casefold().split())) for v in text.to_numpy(dtype=object)[more]]
    return pd.Series(out, dtype="str")


_VECTORISED: dict[str, Callable[[pd.Series], pd.Series]] = {
    "lower": lambda s: s.str.casefold(),
    "sorted_tokens": _sorted_tokens,
    "digits": lambda s: s.str.replace(r"\D", "", regex=True),
    "initial": lambda s: s.str[:1].str.casefold(),
    "prefix3": lambda s: s.str[:3].str.casefold(),
}
_TRANSFORMS: dict[str, Callable[[str], str | None]] = {
    "metaphone": lambda v: jellyfish.metaphone(v) or v.casefold(),  # non-Latin script: itself
    "nickname": lambda v: name_root(v),
    "house_street": lambda v: house_street(v),
    "postcode": lambda v: "".join(ch for ch in v.upper() if ch.isalnum()) or None,
    "company_key": lambda v: company_key(v) or None,
    "company_prefix": lambda v: (company_key(v).split(" ") or [""])[0] or None,
    "domain": _domain,
}


def name_root(name: str) -> str | None:
    """The formal name a first name stands for, so that a nickname and its formal name block
    together whatever their initials (Liz and Elizabeth, Peggy and Margaret, Jim and James):
    of the name and the names it is related to (the nicknames list relates them both ways),
    the one with the most nicknames: the formal name they gather round (Peggy and Margaret
    give "margaret"). A nickname of two formal names goes to one of them (Bill to Robert, not
    William): those pairs meet through the other keys only."""
    folded = name.strip().rstrip(".").casefold()
    if not folded:
        return None
    namer = _nick_namer()
    related = {folded} | namer.canonicals_of(folded) | namer.nicknames_of(folded)
    return sorted(related, key=lambda n: (-len(namer.nicknames_of(n)), n))[0]


# Street words as postal services abbreviate them, so "5100 South Ellis Avenue" and
# "5100 S. Ellis Ave" read alike.
_STREET_WORDS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr",
    "lane": "ln", "place": "pl", "court": "ct", "parkway": "pkwy", "highway": "hwy", "square": "sq",
    "terrace": "ter", "circle": "cir", "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne",
    "northwest": "nw", "southeast": "se", "southwest": "sw", "suite": "ste", "apartment": "apt", "floor": "fl",
    "building": "bldg", "strasse": "str", "straße": "str", "number": "", "no": "",
}


def street(value: str) -> str | None:
    """A street address as the address comparison reads it: case and punctuation folded,
    street words abbreviated, "#" and "No." dropped."""
    words = []
    for word in "".join(ch if ch.isalnum() else " " for ch in value.casefold()).split():
        word = _STREET_WORDS.get(word, word)
        if word:
            words.append(word)
    return " ".join(words) or None


def house_street(value: str) -> str | None:
    """A blocking key of a street address: its house number and its first street word that is
    not a direction ("5100 S Ellis Ave" -> "5100 ellis"); the address itself when it has no
    number."""
    text = street(value)
    if text is None:
        return None
    words = text.split()
    number = next((w for w in words if w[0].isdigit()), None)
    rest = [w for w in words if w != number and w not in ("n", "s", "e", "w", "ne", "nw", "se", "sw")
            and not w[0].isdigit()]
    if number is None:
        return text
    return f"{number} {rest[0]}" if rest else number


# A blocking transform that partitions values as a comparison's normalisation does: a key part
# with it takes the comparison's codes rather than transforming the values again.
_SHARED = {"lower": ("email", "first_name", "name"), "digits": ("phone",),
           "exact": ("exact", "jaro_winkler", "levenshtein", "date")}


def _shared(spec: MatchSpec | None, part: KeyPart) -> str | None:
    """The comparison method whose normalised codes a key part can take, if any."""
    compared = spec.compare.get(part.field) if spec is not None else None
    return compared.method if compared is not None and compared.method in _SHARED.get(part.transform, ()) else None


def key_codes(values: dict[str, Column], parts: list[KeyPart], spec: MatchSpec | None = None,
              ) -> tuple[np.ndarray, Callable[[int], str]]:
    """A blocking key per record as a code (-1 when any part is missing), and what a code's
    key is (its parts' values, for messages)."""
    found: list[tuple[np.ndarray, Callable[[int], object]]] = []
    for part in parts:
        method = _shared(spec, part)
        if method is not None:
            coded = values[part.field].coded(method)
            found.append((coded.codes, coded.vocab.__getitem__))
        else:
            codes, vocab = _transform(values[part.field], part.transform)
            found.append((codes, lambda code, vocab=vocab: vocab[code].as_py()))
    keys = found[0][0]
    for part, _ in found[1:]:
        joined = np.where((keys >= 0) & (part >= 0), keys.astype(np.int64) * (int(part.max()) + 1) + part, -1)
        compact, distinct = pd.factorize(joined, use_na_sentinel=False)
        keys = np.where(distinct[compact] >= 0, compact, -1).astype(np.int32)

    def label(code: int) -> str:
        record = int(np.flatnonzero(keys == code)[0])
        return " + ".join(str(value(int(part[record]))) for part, value in found)

    return keys, label


# -- candidate pairs -----------------------------------------------------------------------------


@dataclass
class Pairs:
    """Candidate pairs as record positions (left < right), each once; per blocking key its code
    per record (-1: blank, or in a block too big to pair), which tells which keys found a pair
    (`via`)."""

    left: np.ndarray
    right: np.ndarray
    keys: list[np.ndarray] = field(default_factory=list)
    skipped: list[tuple[int, str, int]] = field(default_factory=list)  # key, value, records: blocks too big

    def __len__(self) -> int:
        return len(self.left)

    def via(self, number: int) -> np.ndarray:
        """The pairs blocking key `number` finds."""
        codes = self.keys[number]
        out = np.empty(len(self.left), dtype=bool)

        def work(start: int, stop: int) -> None:
            mine = codes[self.left[start:stop]]
            out[start:stop] = (mine >= 0) & (mine == codes[self.right[start:stop]])

        _chunked(len(out), work)
        return out


def blocks(codes: np.ndarray, label: Callable[[int], str], max_block: int,
           refiners: list[Callable[[], np.ndarray]] = ()) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Each record's block (its key's code) and the blocks skipped (key, records). A block of
    over `max_block` records is refined with the codes each of `refiners` makes in turn (other
    keys' fields), as Splink's blocking rules combine fields, until its parts are small enough;
    what is still too big then pairs none (-1), as does a record whose key, or the field that
    refines it, is blank. So blocks stay bounded however skewed the values."""
    codes = codes.copy()
    sizes = np.bincount(codes[codes >= 0])
    too_big = np.flatnonzero(sizes > max_block)
    if not len(too_big):
        return codes, []
    original = codes.copy()
    big = np.isin(codes, too_big)
    base = int(codes.max()) + 1
    for refine in refiners:
        at = np.flatnonzero(big)
        if not len(at):
            break
        other = refine()
        joined = np.where(other[at] >= 0, codes[at].astype(np.int64) * (int(other.max()) + 1) + other[at], -1)
        compact, _ = pd.factorize(joined)
        codes[at] = np.where(joined >= 0, base + compact, -1)
        base += int(compact.max()) + 1 if len(compact) else 0
        sizes = np.bincount(codes[codes >= 0], minlength=1)  # every record may have dropped out
        big = (codes >= 0) & (sizes[np.maximum(codes, 0)] > max_block)
    codes[big] = -1
    # The oversized blocks some of whose records pair none by this key: still too big, or
    # without the field that would have refined them.
    left = np.unique(original[np.isin(original, too_big) & (codes < 0)])
    skipped = [(label(int(k)), int((original == k).sum())) for k in left]
    return codes, skipped


def pairs_within(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of records in one block (`blocks`' codes), as positions left < right (int32)."""
    order = np.argsort(codes, kind="stable").astype(np.int32)
    sorted_codes = codes[order]
    order, sorted_codes = order[sorted_codes >= 0], sorted_codes[sorted_codes >= 0]
    if not len(order):
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]).astype(np.int32)
    sizes = np.diff(np.r_[starts, len(sorted_codes)]).astype(np.int32)
    keep = sizes >= 2
    starts, sizes = starts[keep], sizes[keep]
    # Within a block, the record at offset o pairs with the (size - o - 1) records after it.
    positions = np.repeat(starts, sizes) + _ranges(sizes)
    after = np.repeat(starts + sizes, sizes) - positions - 1
    first = np.repeat(positions, after)
    second = _ranges(after)
    second += first + 1
    a, b = order[first], order[second]
    del first, second
    return np.minimum(a, b), np.maximum(a, b)


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for every size, concatenated (int32)."""
    total = int(sizes.sum(dtype=np.int64))
    if not total:
        return np.zeros(0, np.int32)
    starts = np.repeat((np.cumsum(sizes, dtype=np.int64) - sizes).astype(np.int32), sizes)
    return np.arange(total, dtype=np.int32) - starts


def candidate_pairs(values: dict[str, Column], spec: MatchSpec) -> Pairs:
    """The union of the pairs every blocking key finds, each pair once: keys that pair more
    come first, and a key's pairs that a key before it found are left out (comparing their
    codes, as Splink's blocking rules do, rather than sorting every pair)."""
    keys: list[np.ndarray] = [np.zeros(0, np.int32)] * len(spec.blocking)
    skipped: list[tuple[int, str, int]] = []
    pairs = Pairs(np.zeros(0, np.int32), np.zeros(0, np.int32), keys, skipped)
    lefts, rights, done = [], [], []
    # Keys that take a comparison's codes go last: `candidates` has another thread making those
    # while these pair.
    shared = [any(_shared(spec, p) for p in parts) for parts in spec.blocking]
    parts: dict[tuple[str, str], np.ndarray] = {}

    def part_codes(part: KeyPart) -> np.ndarray:
        if (part.field, part.transform) not in parts:
            parts[part.field, part.transform] = key_codes(values, [part], spec)[0]
        return parts[part.field, part.transform]

    def refiners(number: int) -> list[Callable[[], np.ndarray]]:
        """Fields to refine key `number`'s blocks that are too big, each once: first the compared
        fields no key blocks on exactly (the account, the city: what a record shares with its
        duplicate but not with the crowd of strangers in a "Smith, J" block), then the other
        keys' fields."""
        own = set(spec.blocking[number])
        keyed = {p.field for key in spec.blocking for p in key}
        context = [KeyPart(field=name) for name, c in spec.compare.items()
                   if name not in keyed and name not in VIRTUAL_FIELDS and c.method in _SHARED["exact"]]
        others = dict.fromkeys([*context, *(p for k, key in enumerate(spec.blocking) if k != number for p in key
                                             if p not in own)])
        return [lambda part=part: part_codes(part) for part in others]

    for group in ([k for k in range(len(keys)) if not shared[k]], [k for k in range(len(keys)) if shared[k]]):
        for number in group:
            keys[number], big = blocks(*key_codes(values, spec.blocking[number], spec), spec.max_block,
                                       refiners(number))
            skipped += [(number, value, size) for value, size in big]
        sizes = {k: int((np.bincount(keys[k][keys[k] >= 0]).astype(np.int64) ** 2).sum()) for k in group}
        for number in sorted(group, key=lambda k: (-sizes[k], k)):
            left, right = pairs_within(keys[number])
            for earlier in done:
                codes = keys[earlier]
                mine = codes[left]
                new = (mine < 0) | (mine != codes[right])
                left, right = left[new], right[new]
            lefts.append(left)
            rights.append(right)
            done.append(number)
    skipped.sort(key=lambda s: s[0])
    if lefts:
        pairs.left, pairs.right = np.concatenate(lefts), np.concatenate(rights)
    return pairs


# -- comparisons ---------------------------------------------------------------------------------

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
# Levels that identify a record apart from its name, per method (besides level 1, "exact"):
# what MatchSpec.clues look for.
# A website is a clue whether or not its domain is spelt from the name (summitdental.com is one
# organisation's, whoever named it): what was made from the name weighs nothing, as the name's own
# comparison counts it, but the domain still says which of the Summit Dentals it is.
CLUE_LEVELS: dict[str, tuple[int, ...]] = {"email": (1, 2), "phone": (1,), "website": (1, 2), "address": (1, 2),
                                           "postcode": (1, 2)}


@dataclass
class Coded:
    """A field's values as a comparison sees them (normalised), coded: `codes` per record
    (-1 where blank) into `vocab`, its distinct values, commonest first; `counts` records per
    value; `parts` per distinct value, what a method looks at besides the whole value (an
    email's local part, a phone's last digits...), as codes too; `names`, for person_name, the
    first and last names' own coding, and `records` its first and last name per record (codes
    into `names` plus one, 0 for a blank name; -1 where the record has no name at all)."""

    codes: np.ndarray
    vocab: np.ndarray
    counts: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    names: Coded | None = None
    records: dict[str, np.ndarray] = field(default_factory=dict)  # per record, as `parts` per value
    tables: dict[str, np.ndarray] = field(default_factory=dict)  # `_memo`'s, per comparison made here

    def table(self, name: str) -> np.ndarray:
        """A memo table of levels (int8, -1: not yet known) for pairs of the commonest values."""
        found = self.tables.get(name)
        if found is None:  # two threads may both make it: the first one kept serves both
            side = min(len(self.vocab), DENSE)
            found = self.tables.setdefault(name, np.full(side * side, -1, dtype=np.int8))
        return found

    def shares(self) -> np.ndarray:
        """Per record, its value's share of the records that have one; 0 where it has none."""
        share = np.append(self.counts / max(int(self.counts.sum()), 1), 0.0)
        return share[self.codes]


def _coded(codes: np.ndarray, vocab: np.ndarray, weights: np.ndarray | None = None,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes (-1 blank) into `vocab` recoded commonest first (ties in vocab order), with the
    distinct values so ordered and their counts (or summed weights): the commonest values get
    the smallest codes."""
    present = codes >= 0
    counts = np.bincount(codes[present], weights=None if weights is None else weights[present],
                         minlength=len(vocab))
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    coded = np.append(rank, np.int32(-1))[codes]
    return coded, vocab[order], counts[order]


def _part_codes(text: pd.Series) -> np.ndarray:
    """Codes of a part of each distinct value (-1 where it has none), comparable with each other."""
    return _factorised(text)[0]


_FOLDED = ("email", "company", "first_name", "name", "name_tokens", "person_name", "token_overlap", "list_overlap",
           "jaro_winkler", "levenshtein")  # TULSA is Tulsa
# A word in at least this share of the distinct names (and 3 of them) is generic ("restaurant",
# "center", "group"): two names sharing only it share nothing distinctive.
GENERIC_SHARE = 0.01


def normalised(column: Column, method: str) -> Coded:
    """What a comparison method compares, per record, coded: normalised once per distinct value
    (not once per pair or per record)."""
    text = column.series
    if method in _FOLDED:
        text = text.str.casefold()
    if method == "phone":
        text = text.str.replace(r"\D", "", regex=True)
    if method == "company":
        text = pd.Series([company_key(v) or v for v in text], dtype="str")
    if method == "name_tokens":
        text = pd.Series([" ".join(sorted(v.split())) for v in text], dtype="str")
    if method == "website":
        text = pd.Series([_domain(v) for v in text], dtype="str")
    if method == "postcode":
        text = pd.Series([_TRANSFORMS["postcode"](v) if isinstance(v, str) else None for v in text], dtype="str")
    if method == "address":
        text = pd.Series([street(v) for v in text], dtype="str")
    if method in ("token_overlap", "list_overlap"):
        split = _words if method == "token_overlap" else _items
        text = pd.Series([" \x1f".join(sorted(set(split(v)))) for v in text], dtype="str")
    if method in _READERS:
        text = pd.Series([_READERS[method](v) for v in text], dtype="str")
    text = text.where(text.notna() & (text != ""), None)
    normal, vocab = _factorised(text)
    codes, vocab, counts = _coded(np.append(normal, np.int32(-1))[column.codes],
                                  vocab.to_numpy(zero_copy_only=False))
    coded = Coded(codes, vocab, counts)
    distinct = pd.Series(vocab, dtype="str")
    if method == "phone":
        coded.parts["tail"] = _part_codes(distinct.str[-8:].where(distinct.str.len() >= 8, None))
    if method == "email":
        split = pc.extract_regex(pa.array(distinct), r"(?s)^(?P<local>[^@]*)(?:@(?P<domain>.*))?$")
        local = pc.struct_field(split, "local")
        coded.parts["local"] = _part_codes(local)
        coded.parts["domain"] = _part_codes(pc.struct_field(split, "domain"))
        letters = pc.replace_substring_regex(local, r"[^\p{L}]", "")
        coded.parts["letters"] = letters.to_numpy(zero_copy_only=False)
        coded.parts["letters_code"] = _part_codes(letters)
        coded.parts["digits"] = _part_codes(pc.replace_substring_regex(local, r"[^0-9]", ""))
        coded.parts["personal"] = pc.is_in(pc.struct_field(split, "domain"), value_set=pa.array(
            sorted(PERSONAL_EMAIL_DOMAINS))).fill_null(False).to_numpy(zero_copy_only=False)
        coded.parts["length"] = pc.utf8_length(local).to_numpy(zero_copy_only=False).astype(np.int32)
        coded.parts["head"] = _part_codes(pc.utf8_slice_codeunits(local, 0, 4))
        coded.parts["tail"] = _part_codes(pc.utf8_slice_codeunits(local, -4))
        coded.parts["bare"] = _part_codes(pc.replace_substring(pa.array(distinct), "@", ""))
        coded.parts["ats"] = pc.count_substring(pa.array(distinct), "@").to_numpy(zero_copy_only=False)
        coded.parts["size"] = pc.utf8_length(pa.array(distinct)).to_numpy(zero_copy_only=False).astype(np.int32)
    if method == "first_name":
        coded.parts.update(_initials(distinct))
    if method == "company":
        coded.parts["distinctive"] = _distinctive(distinct, counts)
    if method == "address":
        number = distinct.str.extract(r"(?:^| )(\d\w*)", expand=False)
        coded.parts["number"] = _part_codes(number)
        coded.parts["rest"] = distinct.str.replace(r"(?:^| )\d\w*", "", n=1, regex=True).str.strip().to_numpy(
            dtype=object)
    if method in ("numeric", "days", "geo"):
        coded.parts["at"] = np.array([[float(x) for x in v.split(",")] for v in vocab], dtype=float).reshape(
            len(vocab), -1) if len(vocab) else np.zeros((0, 2))
    if method == "person_name":
        first = distinct.str.replace(r"\x1f.*$", "", regex=True)
        last = distinct.str.replace(r"^[^\x1f]*\x1f?", "", regex=True)
        both = pd.concat([first, last], ignore_index=True)
        weight = np.tile(counts, 2).astype(float)
        raw_names, raw_vocab = _factorised(both.where(both != "", None))
        name_codes, name_vocab, name_counts = _coded(raw_names, raw_vocab.to_numpy(zero_copy_only=False), weight)
        for part, found in (("first", name_codes[:len(vocab)]), ("last", name_codes[len(vocab):])):
            coded.records[part] = np.append(found + 1, -1).astype(np.int32)[codes]
        # Both in one number, so a pair's four names take two lookups (random reads are the cost).
        coded.records["both"] = (coded.records["first"].astype(np.int64) << 32) | (
            coded.records["last"].astype(np.int64) & 0xFFFFFFFF)
        coded.names = Coded(np.zeros(0, np.int32), name_vocab, name_counts)
        coded.names.parts.update(_initials(pd.Series(name_vocab, dtype="str")))
    return coded


def _words(value: str) -> list[str]:
    return "".join(ch if ch.isalnum() else " " for ch in value).split()


def _items(value: str) -> list[str]:
    """A list's items: split on ; | , or newlines, trimmed."""
    import re

    return [item.strip() for item in re.split(r"[;|,\n]", value) if item.strip()]


def _number(value: str) -> str | None:
    """A number as text ("1,234.50" and "1234.5" alike: "1234.5"); None when it is none."""
    text = value.replace(" ", "").replace("\u00a0", "")
    if text.count(",") and text.count(".") == 0 and text.count(",") == 1 and len(text.split(",")[1]) != 3:
        text = text.replace(",", ".")  # a decimal comma
    text = text.replace(",", "")
    try:
        number = float(text)
    except ValueError:
        return None
    return repr(number) if math.isfinite(number) else None


def _day(value: str) -> str | None:
    """A date (ISO, or as the clean stage writes it) as its day number; None when it is none."""
    from datetime import date

    try:
        return str(date.fromisoformat(value.strip()[:10]).toordinal())
    except ValueError:
        return None


def _place(value: str) -> str | None:
    """"lat, lon" (or "lat lon", "lat;lon") as "lat,lon" in degrees; None when it is not one."""
    import re

    parts = [p for p in re.split(r"[,;\s]+", value.strip()) if p]
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        return None
    return f"{lat!r},{lon!r}" if -90 <= lat <= 90 and -180 <= lon <= 180 else None


_READERS: dict[str, Callable[[str], str | None]] = {"numeric": _number, "days": _day, "geo": _place}


def _distinctive(names: pd.Series, counts: np.ndarray) -> np.ndarray:
    """Each company match key's distinctive words (those not generic: in at least GENERIC_SHARE
    of the distinct keys, and 3), sorted and joined; the whole key where every word is generic."""
    words = [set(v.split()) for v in names]
    found: dict[str, int] = {}
    for group in words:
        for word in group:
            found[word] = found.get(word, 0) + 1
    cut = max(3.0, GENERIC_SHARE * len(words))
    generic = {word for word, count in found.items() if count >= cut}
    out = []
    for value, group in zip(names, words, strict=True):
        kept = sorted(group - generic)
        out.append(" ".join(kept) if kept else value)
    return np.array(out, dtype=object)


def _initials(names: pd.Series) -> dict[str, np.ndarray]:
    """A first name's length without a trailing dot, and its first letter (as a code)."""
    bare = names.str.rstrip(".")
    return {"bare_length": bare.str.len().fillna(0).to_numpy(dtype=np.int32),
            "initial": _part_codes(names.str[:1].where(names.str.len() > 0, None))}


DENSE = 4096  # pairs of the values with a code below it are memoised in a table (DENSE² bytes)


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
        new = _distinct(key[unknown])
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
    distinct = _distinct(key)
    values = function((distinct >> 32).astype(np.int32), (distinct & 0xFFFFFFFF).astype(np.int32))
    out[~small] = values[np.searchsorted(distinct, key)]
    return out


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (numpy's hashing unique is slower on millions of them)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _scores(scorer, vocab: np.ndarray, x: np.ndarray, y: np.ndarray, **kwargs) -> np.ndarray:
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
    return lambda x, y: _cut(_scores(scorer, vocab, x, y, **kwargs), cuts, higher_is_closer=higher_is_closer)


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
    if method == "postcode":  # 74121 and 74121-2695, SW1A and SW1A 1AA: one the other's start
        a, b = coded.vocab[x].astype(str), coded.vocab[y].astype(str)
        return np.where(np.char.startswith(a, b) | np.char.startswith(b, a), 0, 1).astype(np.int8)
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
    similar = _cut(_scores(Indel.normalized_similarity, coded.vocab, x, y), [0.92, 0.8])
    level = np.array([0, 2, 3], dtype=np.int8)[similar]
    below = np.flatnonzero(level > 0)
    if len(below):
        distinctive = coded.parts["distinctive"]
        contained = _scores(fuzz.token_set_ratio, distinctive, x[below], y[below]) >= 100
        level[below[contained]] = 1
    return level


def _addresses(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """address's levels for distinct streets: the same house number with the rest alike
    (token set similarity >= 0.85) (0); the whole alike (>= 0.9: a number mistyped) (1);
    different (2)."""
    number, rest = coded.parts["number"], coded.parts["rest"]
    level = np.full(len(x), 2, dtype=np.int8)
    same_number = (number[x] >= 0) & (number[x] == number[y])
    at = np.flatnonzero(same_number)
    if len(at):
        alike = _scores(fuzz.token_set_ratio, rest, x[at], y[at]) >= 85
        level[at[alike]] = 0
    at = np.flatnonzero(level == 2)
    if len(at):
        level[at[_scores(Indel.normalized_similarity, coded.vocab, x[at], y[at]) >= 0.9]] = 1
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
    close = _scores(OSA.distance, coded.vocab, x[at], y[at], score_cutoff=1) <= 1
    # The same letters with another number are two mailboxes (john.smith@ and john.smith2@, a
    # second John Smith), not a typo: different.
    numbered = (coded.parts["letters_code"][x[at]] == coded.parts["letters_code"][y[at]]) & (
        coded.parts["digits"][x[at]] != coded.parts["digits"][y[at]])
    level[at[close & ~numbered]] = 0
    return level


def _first_names(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """first_name's levels for distinct first names: nickname (0), jaro-winkler >= 0.92 (1),
    >= 0.88 (2), initial (3), different (4)."""
    level = _cut(_scores(JaroWinkler.normalized_similarity, coded.vocab, x, y), [0.92, 0.88]) + 1
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
        close = _scores(JaroWinkler.normalized_similarity, vocab, a, b) >= 0.92
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
def _nick_namer():
    from nicknames import NickNamer

    return NickNamer()


@cache
def _name_roots(name: str) -> frozenset[str]:
    """A first name and the formal names it can be short for (Bob -> robert, bobby...)."""
    namer = _nick_namer()
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
                    built = built_from(values, name, c.method, c.built_from)
                    level[hit[built[left[hit]] | built[right[hit]]]] = neutral
        out[name] = level
    return out


def built_from(values: dict[str, Column], name: str, method: str, source: str) -> np.ndarray:
    """Per record, whether its `name` value (an email, a website) is made from its `source`
    field (the person's or the company's name): the email's local part, or the website's
    domain name, holds one of the name's words of 3 letters or more, or is the name's letters.
    Worked out once per distinct combination of the two values."""
    column = values[name]
    with column.lock:
        key = f"built:{source}"
        if key in column.built:
            return column.built[key]
        own, other = column.codes.astype(np.int64), values[source].codes.astype(np.int64)
        combined = (own + 1) * (len(values[source].values) + 1) + (other + 1)
        distinct, inverse = np.unique(combined, return_inverse=True)
        mine = column.values.to_numpy(zero_copy_only=False)
        theirs = values[source].values.to_numpy(zero_copy_only=False)
        found = np.zeros(len(distinct), dtype=bool)
        for index, code in enumerate(distinct):
            a, b = int(code // (len(theirs) + 1)) - 1, int(code % (len(theirs) + 1)) - 1
            if a >= 0 and b >= 0:
                found[index] = _made_from(mine[a], theirs[b], method)
        column.built[key] = found[inverse]
        return column.built[key]


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalpha())


def _made_from(value: str, name: str, method: str) -> bool:
    """Whether an email's local part or a website's domain name is made from a name."""
    if method == "email":
        part = value.rsplit("@", 1)[0]
    else:
        part = (_domain(value) or "").split(".")[0]
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
        total = math.prod(self.radix.values())
        if total <= 1 << 24:
            parts: list[np.ndarray] = []

            def work(start: int, stop: int) -> None:
                code = self.codes[start:stop] if at is None else self.codes[start:stop][at[start:stop]]
                parts.append(np.bincount(code, minlength=total))

            _chunked(len(self.codes), work)
            counts = np.sum(parts, axis=0) if parts else np.zeros(total, dtype=np.int64)
            found = np.flatnonzero(counts)
            counts = counts[found]
        else:
            found, counts = np.unique(self.codes if at is None else self.codes[at], return_counts=True)
        return Patterns(found, self.radix).levels(), counts.astype(float)


def _pattern_type(radix: dict[str, int]) -> type:
    total = math.prod(radix.values())
    if total >= 1 << 62:
        raise ValueError(f"{len(radix)} comparisons have too many combinations of levels to score together")
    return np.int16 if total < 1 << 15 else np.int32 if total < 1 << 31 else np.int64


def _radix(spec: MatchSpec) -> dict[str, int]:
    return {name: len(LEVELS[c.method]) for name, c in spec.compare.items()}


CHUNK = 1 << 18  # pairs compared at a time: their arrays stay in the processor's cache
THREADS = parallel.cores()  # numpy, Arrow and rapidfuzz let go of the GIL while they work


def _chunked(count: int, work: Callable[[int, int], None], done: Callable[[int], None] | None = None) -> None:
    """work(start, stop) over 0..count in chunks of CHUNK, on THREADS threads; `done(size)`
    is told after each chunk (progress.Tally.add)."""
    def chunk(start: int) -> None:
        stop = min(start + CHUNK, count)
        work(start, stop)
        if done is not None:
            done(stop - start)

    starts = range(0, count, CHUNK)
    if len(starts) <= 1 or THREADS == 1:
        for start in starts:
            chunk(start)
        return
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(chunk, starts):
            pass


def normalise(values: dict[str, Column], spec: MatchSpec, *, backwards: bool = False) -> None:
    """Every compared field's values normalised for its comparison (`Column.coded`), first
    those a blocking key takes its codes from (`backwards`: in the opposite order, for a second
    thread to share the work)."""
    keyed = {p.field for parts in spec.blocking for p in parts if _shared(spec, p)}
    order = sorted(spec.compare.items(), key=lambda item: item[0] not in keyed)
    for name, c in reversed(order) if backwards else order:
        values[name].coded(c.method)


def patterns(values: dict[str, Column], spec: MatchSpec, left: np.ndarray, right: np.ndarray,
             done: Callable[[int], None] | None = None) -> Patterns:
    """The level patterns of the pairs (left[i], right[i]), compared a chunk at a time on every
    core; what is memoised (Coded.table) is shared by the chunks. `done(pairs)` is told after
    each chunk."""
    radix = _radix(spec)
    out = np.empty(len(left), dtype=_pattern_type(radix))
    normalise(values, spec)  # made once, before the threads share it

    def work(start: int, stop: int) -> None:
        out[start:stop] = Patterns.of(levels(values, spec, left[start:stop], right[start:stop]), radix).codes

    _chunked(len(left), work, done)
    return Patterns(out, radix)


def probabilities_of(model: Model, found: Patterns, left: np.ndarray) -> np.ndarray:
    """The match probability of every pair, by its level pattern and (for term frequencies)
    its left record, a chunk at a time on every core."""
    out = np.empty(len(found.codes))
    chunk_probabilities = _probabilities_by_chunk(model, found, left)

    def work(start: int, stop: int) -> None:
        out[start:stop] = chunk_probabilities(start, stop)

    _chunked(len(out), work)
    return out


# The edges of the match weight histogram (log2 odds, prior included), in bits.
HISTOGRAM_EDGES = np.arange(-40, 42, 2.0)


def at_least(model: Model, found: Patterns, left: np.ndarray, threshold: float,
             histogram: np.ndarray | None = None, done: Callable[[int], None] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (positions) whose match probability is `threshold` or more, with their
    probabilities, in pair order: `probabilities_of` without holding every pair's. Every
    pair's match weight is counted into `histogram` (HISTOGRAM_EDGES' bins, the ends open)
    when one is given. `done(pairs)` is told after each chunk."""
    chunk_probabilities = _probabilities_by_chunk(model, found, left)
    parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    counted: list[np.ndarray] = []

    def work(start: int, stop: int) -> None:
        probability = chunk_probabilities(start, stop)
        hit = np.flatnonzero(probability >= threshold)
        parts[start] = (hit + start, probability[hit])
        if histogram is not None:
            counted.append(weight_histogram(probability))

    _chunked(len(found.codes), work, done)
    if histogram is not None and counted:
        histogram += np.sum(counted, axis=0)
    ordered = [parts[start] for start in sorted(parts)]
    if not ordered:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate([p for p, _ in ordered]), np.concatenate([q for _, q in ordered])


def weight_histogram(probability: np.ndarray) -> np.ndarray:
    """How many of these match probabilities fall in each bin of HISTOGRAM_EDGES (as match
    weights; the first and last bins take everything beyond them)."""
    with np.errstate(divide="ignore"):
        weight = np.log2(probability) - np.log2(1 - probability)
    weight = np.clip(np.nan_to_num(weight, posinf=99, neginf=-99), HISTOGRAM_EDGES[0], HISTOGRAM_EDGES[-1])
    return np.histogram(weight, bins=HISTOGRAM_EDGES)[0]


def conflicts(values: dict[str, Column], spec: MatchSpec, pair_levels: dict[str, np.ndarray], left: np.ndarray,
              right: np.ndarray, pointers: tuple[str, ...] = (), *, names: bool = True) -> np.ndarray:
    """Per pair, whether it clearly differs on what one record has one of: where it is (its
    address, its account: an agency's sites share its phone), its name (two colleagues who
    share the office's number), or its work mailbox. Such a pair has no clue for a merge, and
    clustering never joins through it. With `names` False, organisations' names (company,
    name, name_tokens) are left out: one site is listed under its agency's name and its own,
    and those can differ wholly while a cluster holds both (a person's two first names
    cannot)."""
    conflict = np.zeros(len(left), dtype=bool)
    for name, c in spec.compare.items():
        if c.method == "person_name":  # both first names there, and unrelated: two people,
            # unless they share one mailbox (Дима and Дмитрий: no nickname list knows them all)
            mailbox = np.zeros(len(left), dtype=bool)
            for other, o in spec.compare.items():
                if o.method == "email":
                    mailbox |= pair_levels[other] == 1
            conflict |= (pair_levels[name] == LEVELS[c.method].index("different")) | (
                (pair_levels[name] == LEVELS[c.method].index("last name only")) & ~mailbox)
        elif c.method in ("address", *NAME_METHODS) or (name in pointers and c.method == "exact"):
            if c.method in NAME_METHODS and not names:
                continue
            conflict |= pair_levels[name] == len(LEVELS[c.method]) - 1
    # A work mailbox is one per person: two different ones at one company's domain are two
    # people (james.smith@ and james.smith2@), not at a personal provider (gmail.com).
    for name, c in spec.compare.items():
        if c.method == "email" and len(values[name].coded(c.method).vocab):
            coded = values[name].coded(c.method)
            x, y = coded.codes[left], coded.codes[right]
            both = (x >= 0) & (y >= 0) & (x != y)
            domain, personal = coded.parts["domain"], coded.parts["personal"]
            xs, ys = np.maximum(x, 0), np.maximum(y, 0)
            two = np.flatnonzero(both & (domain[xs] >= 0) & (domain[xs] == domain[ys]) & ~personal[xs])
            conflict[two[_two_mailboxes(coded, xs[two], ys[two])]] = True
    return conflict


def _two_mailboxes(coded: Coded, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For two different addresses at one domain (codes), whether they are two mailboxes rather
    than one mistyped: the same letters with other digits (john.smith@ and john.smith2@: a
    second John Smith), or letters more than one edit apart (jsmith@ and ksmith@); not one
    letter dropped, doubled or swapped (jessica.rodiguez@), nor punctuation (john.smith@ and
    johnsmith@)."""
    letters, digits = coded.parts["letters_code"], coded.parts["digits"]
    same_letters = letters[x] == letters[y]
    out = same_letters & (digits[x] != digits[y])
    other = np.flatnonzero(~same_letters)
    if len(other):
        apart = _scores(OSA.distance, coded.parts["letters"], x[other], y[other], score_cutoff=2) > 1
        out[other[apart]] = True
    return out


def clues(values: dict[str, Column], spec: MatchSpec, pair_levels: dict[str, np.ndarray], left: np.ndarray,
          right: np.ndarray, pointers: tuple[str, ...] = ()) -> np.ndarray:
    """Per pair, the first of the spec's clues (`MatchSpec.clue_sets`) it has, as an index into
    them; -1 where it has none. A clue's fields all agree at one of their method's identifying
    levels (CLUE_LEVELS, or exact), one of them on a value held by records of at most
    `clue_max_records` different names (`holders`: an agency's switchboard that 16 sites share
    identifies none of them, while a site's own number, on its duplicate records under a few
    spellings, does; a pointer, the same account, whatever its size); and the pair does not
    differ on where the record is (an address, a pointer, a work mailbox), nor on its name."""
    found = np.full(len(left), -1, dtype=np.int16)
    named = name_coded(values, spec)
    conflict = conflicts(values, spec, pair_levels, left, right, pointers, names=False)
    # An organisation's names that differ wholly ("TATh L.L.C." and "Tate LLC", a site under its
    # agency's name and its own) are outweighed by two identifiers of different kinds agreeing
    # (its street and its switchboard); a person's first names that differ never are.
    renamed = np.zeros(len(left), dtype=bool)
    if any(c.method in NAME_METHODS and c.method != "person_name" for c in spec.compare.values()):
        renamed = conflicts(values, spec, pair_levels, left, right, pointers) & ~conflict
    kinds: dict[str, np.ndarray] = {}
    namesakes = _namesakes(values, spec, pointers)
    for number, clue in reversed(list(enumerate(spec.clue_sets(pointers)))):
        has = ~conflict
        fewest = np.zeros(len(left), dtype=bool) if any(n not in pointers for n in clue) else np.ones(len(left), bool)
        for name in clue:
            method = spec.compare[name].method
            has &= np.isin(pair_levels[name], CLUE_LEVELS.get(method, (1,)))
            if name in namesakes:
                has &= ~(namesakes[name][left] | namesakes[name][right])
            if name not in pointers:
                coded = values[name].coded(method)
                held = np.append(holders(coded, named), 0)
                fewest |= (held[coded.codes[left]] <= spec.clue_max_records) \
                    & (held[coded.codes[right]] <= spec.clue_max_records)
        found[has & fewest] = number
        if clue[0] not in pointers:  # an address's two clues are one kind
            kinds[clue[0]] = kinds.get(clue[0], np.zeros(len(left), dtype=bool)) | (has & fewest)
    found[renamed & (sum(k.astype(np.int8) for k in kinds.values()) < 2)] = -1
    return found


def _namesakes(values: dict[str, Column], spec: MatchSpec, pointers: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per compared pointer (the account), per record: whether its account holds people of its
    name (last name, and first name up to nicknames) under two or more work mailboxes, that is
    two such people at least (john.smith@ and john.smith2@). There the same account is no clue
    that two records of that name are one person."""
    people = [n for n, c in spec.compare.items() if c.method == "person_name"]
    mails = [n for n, c in spec.compare.items() if c.method == "email"]
    found: dict[str, np.ndarray] = {}
    if not people or not mails or not len(values[mails[0]].coded("email").vocab):
        return found
    person = values[people[0]].coded("person_name")
    if person.names is None:
        return found
    if "root" not in person.names.parts:
        roots = pd.Series([name_root(v) or "" for v in person.names.vocab], dtype="str")
        person.names.parts["root"] = np.append(-1, _factorised(roots)[0])  # codes are names + 1, 0 blank
    first = person.names.parts["root"][np.maximum(person.records["first"], 0)]
    last = person.records["last"]
    mail = values[mails[0]].coded("email")
    work = np.where(mail.codes >= 0, mail.codes, -1)
    work[(work >= 0) & mail.parts["personal"][np.maximum(work, 0)]] = -1
    for name, c in spec.compare.items():
        if name not in pointers or c.method != "exact":
            continue
        account = values[name].coded("exact").codes
        known = (account >= 0) & (last > 0) & (first >= 0) & (work >= 0)
        if not known.any():
            continue
        group, _ = pd.factorize(pd.MultiIndex.from_arrays([account, last, first]))
        distinct = _distinct(group[known].astype(np.int64) * (len(mail.vocab) + 1) + work[known])
        mailboxes = np.bincount(distinct // (len(mail.vocab) + 1), minlength=int(group.max()) + 1)
        found[name] = mailboxes[group] >= 2
    return found


# Methods that compare a record's name (a person's, a company's).
NAME_METHODS = ("person_name", "company", "name", "name_tokens")


def name_coded(values: dict[str, Column], spec: MatchSpec) -> Coded | None:
    """The record's name as its comparison codes it (the first compared with a NAME_METHOD),
    which `holders` counts different names by; None where the rules compare no name."""
    names = [n for n, c in spec.compare.items() if c.method in NAME_METHODS]
    return values[names[0]].coded(spec.compare[names[0]].method) if names else None


def holders(coded: Coded, names: Coded | None) -> np.ndarray:
    """Per distinct value, how many different names its records have (how many records, when
    the rules compare no name; a record without a name counts as a name of its own)."""
    present = coded.codes >= 0
    if names is None:
        return coded.counts.astype(np.int64)
    name = names.codes[present].astype(np.int64)
    name = np.where(name >= 0, name, -1 - np.flatnonzero(present))  # nameless: each its own
    value = coded.codes[present].astype(np.int64)
    shift = len(coded.codes) + 1  # nameless records' own names are -1 ... -n
    width = len(names.vocab) + shift
    distinct = _distinct(value * width + (name + shift))
    return np.bincount(distinct // width, minlength=len(coded.vocab)).astype(np.int64)


def _probabilities_by_chunk(model: Model, found: Patterns, left: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """The probabilities of the pairs start..stop (`_weights_by_chunk`, the prior added)."""
    weights = _weights_by_chunk(model, found, left)
    return lambda start, stop: probabilities(model, weights(start, stop))


def _weights_by_chunk(model: Model, found: Patterns, left: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """The match weights (term frequencies included, the prior not) of the pairs start..stop.
    With few patterns (the shipped rules have thousands), each pattern's weight is looked up
    rather than summed pair by pair."""
    total = math.prod(found.radix.values())
    if total > 1 << 20:
        return lambda start, stop: score_weights(model, found.levels(slice(start, stop)), left[start:stop])
    every = Patterns(np.arange(total), found.radix).levels()
    table = score_weights(model, every)
    at_level = {(name, level): every[name] == level for name, per in model.tf.items() for level in per}

    def chunk(start: int, stop: int) -> np.ndarray:
        codes = found.codes[start:stop]
        weights = table[codes]
        _rarity(model, weights, {key: hit[codes] for key, hit in at_level.items()}, left[start:stop])
        return weights

    return chunk


# -- the model -----------------------------------------------------------------------------------


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


def random_pairs(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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


def fit(values: dict[str, Column], spec: MatchSpec, pairs: Pairs, found: Patterns,
        pointers: tuple[str, ...] = (), done: Callable[[int], None] | None = None) -> Model:
    """u from random pairs, m by EM per blocking key, the prior from the expected matches.
    `pointers`: the compared fields that point at a parent (the account), which tell one
    person's copies from namesakes when counting who holds a name. `done(1)` is told after
    each of its `fit_steps`."""
    step = done or (lambda _: None)
    n = len(next(iter(values.values())))
    rng = np.random.default_rng(SEED)
    left, right = random_pairs(n, RANDOM_PAIRS, rng)
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
            key_levels, counts = found.counts(pairs.via(spec.blocking.index(parts)))
        else:
            codes, _ = blocks(*key_codes(values, parts, spec), spec.max_block)
            key_levels, counts = patterns(values, spec, *pairs_within(codes)).counts()
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
    model.prior = _prior(model, found, pairs.left, pairs.right, n)
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
    distinct = _distinct(owner[both] * width + site[both])
    domains = np.bincount(distinct // width, minlength=int(owner.max()) + 2).astype(float)
    chance = 1.0 / np.maximum(np.append(domains, 1.0)[owner], 1.0)
    return np.minimum(chance, m).astype(np.float32)


# Fields made from others (a virtual or related field: the sources it is made from): a key on
# either leaves both out of its training, as they agree there by construction.
_MADE_FROM = {**VIRTUAL_FIELDS, **{name: sources for fields in RELATED_FIELDS.values() for name, sources in fields.items()}}


def _prior(model: Model, found: Patterns, left: np.ndarray, right: np.ndarray, n: int) -> float:
    """The chance that two records drawn at random match: the matches expected among the
    candidates over all pairs. The matches expected are taken as the records' best chances of
    having a duplicate (each pair weighed with its term frequencies): right for clusters of
    three, twice a cluster of two, fewer than the pairs of a bigger one; found by iterating
    with the prior they imply. Summing every pair's
    chance instead lets the namesakes and colleagues that blocking pairs by the thousand pass
    for matches, more so as the data grows, and the model grows credulous with it."""
    pairs = n * (n - 1) / 2
    if not len(found.codes):  # no candidate pairs (two records: not one in two, which divides by zero later)
        return min(1.0 / max(pairs, 1.0), 0.5)
    weights = np.empty(len(found.codes), dtype=np.float32)
    chunk_weights = _weights_by_chunk(model, found, left)

    def work(start: int, stop: int) -> None:
        weights[start:stop] = chunk_weights(start, stop)

    _chunked(len(weights), work)
    best = np.full(n, -np.inf, dtype=np.float32)  # each record's strongest pair
    np.maximum.at(best, left, weights)
    np.maximum.at(best, right, weights)
    del weights
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


def score_weights(model: Model, pair_levels: dict[str, np.ndarray], left: np.ndarray | None = None) -> np.ndarray:
    """Each pair's match weight without the prior; with the pairs' `left` records, exact
    agreements on fields with term frequencies weigh what their value's rarity says."""
    total = np.zeros(len(next(iter(pair_levels.values()))))
    for name, level in pair_levels.items():
        total += model.weights(name)[level]
    if left is not None:
        _rarity(model, total, {(name, level): pair_levels[name] == level
                               for name, per in model.tf.items() for level in per}, left)
    return total


def _rarity(model: Model, weights: np.ndarray, at_level: dict[tuple[str, int], np.ndarray],
            left: np.ndarray) -> None:
    """Term frequencies: where a field with them is at a level they cover (`at_level`, per
    field and level), its weight becomes log2(m / the record's own u) (floored as u is),
    in place."""
    for (name, level), hit in at_level.items():
        at = np.flatnonzero(hit)
        if len(at):
            own = np.log2(model.m[name][level] / np.maximum(model.tf[name][level][left[at]], 1e-7))
            if level == 1 and name in model.shared:
                own[model.shared[name][left[at]]] = 0.0
            weights[at] += own - model.weights(name)[level]


def probabilities(model: Model, weights: np.ndarray) -> np.ndarray:
    log_odds = weights + math.log2(model.prior / (1 - model.prior))
    return 1.0 / (1.0 + 2.0 ** -np.clip(log_odds, -60, 60))


def score(frame: pd.DataFrame, spec: MatchSpec, pointers: tuple[str, ...] = ()
          ) -> tuple[Pairs, np.ndarray, Model]:
    """The candidate pairs of a frame's records (positions), their match probabilities and the
    fitted model: matching without clusters or survivors (for benchmarks and the review)."""
    values = prepared(frame.reset_index(drop=True), spec.fields)
    pairs = candidates(values, spec)
    found = patterns(values, spec, pairs.left, pairs.right)
    model = fit(values, spec, pairs, found, pointers)
    return pairs, probabilities_of(model, found, pairs.left), model


def candidates(values: dict[str, Column], spec: MatchSpec) -> Pairs:
    """`candidate_pairs`, while another thread normalises the compared fields (and then this
    one helps it, from the other end)."""
    with ThreadPoolExecutor(1) as background:
        normalising = background.submit(normalise, values, spec)
        pairs = candidate_pairs(values, spec)
        normalise(values, spec, backwards=True)
        normalising.result()
    return pairs
