"""Candidate pairs: the blocking transforms of key parts (`TRANSFORMS` in rules), the records
each blocking key pairs (`key_codes`, `blocks`), a key's pairs
that an earlier key found dropped by comparing the earlier key's codes (no sort of every pair)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crmmigrate.clean.normalisers import company_key
from crmmigrate.dedupe import columns
from crmmigrate.dedupe.columns import Column, chunked, domain, factorised, house_street, name_root, postcode
from crmmigrate.dedupe.rules import VIRTUAL_FIELDS, KeyPart, MatchSpec


# A blocking transform that partitions values as a comparison's normalisation does: a key part
# with it takes the comparison's codes rather than transforming the values again.
_SHARED = {"lower": ("email", "first_name", "name"), "digits": ("phone",),
           "exact": ("exact", "jaro_winkler", "levenshtein", "date")}


def shared_method(spec: MatchSpec | None, part: KeyPart) -> str | None:
    """The comparison method whose normalised codes a key part can take, if any."""
    compared = spec.compare.get(part.field) if spec is not None else None
    return compared.method if compared is not None and compared.method in _SHARED.get(part.transform, ()) else None


def _transform(column: Column, transform: str) -> tuple[np.ndarray, pa.Array]:
    """A blocking key part: a code per record (-1 where missing) and the distinct transformed
    values they stand for; the transform applied once per distinct value, and once per column
    however many keys (or refinements of too big blocks) use it."""
    if transform not in column.keyed:
        if transform in _DERIVED:  # a transform of another's keys: applied to those, fewer
            made_from, function = _DERIVED[transform]
            codes, keys = _transform(column, made_from)
            column.keyed[transform] = _recoded(codes, _transformed(keys, function))
        else:
            text = column.series
            if transform in _VECTORISED:
                text = _VECTORISED[transform](text)
            elif transform != "exact":
                text = _transformed(column.values, _TRANSFORMS[transform])
            column.keyed[transform] = _recoded(column.codes, text)
    return column.keyed[transform]


def _transformed(values: pa.Array, function: Callable[[str], str | None]) -> pd.Series:
    return pd.Series([function(v) for v in values.to_pylist()], dtype="str")


def _recoded(codes: np.ndarray, text: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Codes into `text`'s values made codes into its distinct values (blanks: -1)."""
    mapped, keys = factorised(text.where(text != "", None))
    recoded = np.append(mapped, np.int32(-1))[codes]
    recoded.flags.writeable = False  # kept by the column, shared by every key that uses it
    return recoded, keys


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
    "postcode": postcode,
    "company_key": lambda v: company_key(v) or None,
    "domain": domain,
}

# A transform made from another's keys: company_prefix is company_key's first word.
_DERIVED: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "company_prefix": ("company_key", lambda key: key.split(" ")[0] or None),
}


def key_codes(values: dict[str, Column], parts: list[KeyPart], spec: MatchSpec | None = None,
              ) -> tuple[np.ndarray, Callable[[int], str]]:
    """A blocking key per record as a code (-1 when any part is missing), and what a code's
    key is (its parts' values, for messages)."""
    found: list[tuple[np.ndarray, Callable[[int], object]]] = []
    for part in parts:
        method = shared_method(spec, part)
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

    first: dict[int, int] = {}  # per code, its first record (found once a label is asked)

    def label(code: int) -> str:
        if not first:
            distinct, at = np.unique(keys, return_index=True)
            first.update(zip(distinct.tolist(), at.tolist(), strict=True))
        record = first[code]
        return " + ".join(str(value(int(part[record]))) for part, value in found)

    return keys, label


@dataclass
class Pairs:
    """Candidate pairs as record positions (left < right), each once; per blocking key its code
    per record (-1: blank, or in a block too big to pair), which tells which keys found a pair
    (`via`). `side`, when two datasets are linked rather than one deduplicated: per record,
    whether it is of the first dataset (the pairs are then only of a record of each)."""

    left: np.ndarray
    right: np.ndarray
    keys: list[np.ndarray] = field(default_factory=list)
    skipped: list[tuple[int, str, int]] = field(default_factory=list)  # key, value, records: blocks too big
    side: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.left)

    def via(self, number: int) -> np.ndarray:
        """The pairs blocking key `number` finds."""
        return via(self.keys[number], self.left, self.right)


def via(codes: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Which of the pairs (left, right) a blocking key with these codes (its block per record,
    -1 for none) finds: both in one block."""
    out = np.empty(len(left), dtype=bool)

    def work(start: int, stop: int) -> None:
        mine = codes[left[start:stop]]
        out[start:stop] = (mine >= 0) & (mine == codes[right[start:stop]])

    chunked(len(out), work)
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
    original, first_sizes = codes.copy(), sizes
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
    skipped = [(label(int(k)), int(first_sizes[k])) for k in left]
    return codes, skipped


def pairs_within(codes: np.ndarray, side: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of records in one block (`blocks`' codes), as positions left < right (int32).
    With `side` (per record, whether it is of the first of two datasets linked), only the pairs
    of a record of each, as Splink's link_only: a block of l records of one and c of the other
    makes l * c pairs, not (l + c)² / 2, and pairs two records of one dataset never."""
    if side is None:
        order = np.argsort(codes, kind="stable").astype(np.int32)
    else:  # within a block, the first dataset's records first
        order = np.lexsort((~side, codes)).astype(np.int32)
    sorted_codes = codes[order]
    order, sorted_codes = order[sorted_codes >= 0], sorted_codes[sorted_codes >= 0]
    if not len(order):
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]).astype(np.int32)
    sizes = np.diff(np.r_[starts, len(sorted_codes)]).astype(np.int32)
    keep = sizes >= 2
    starts, sizes = starts[keep], sizes[keep]
    if side is None:
        # Within a block, the record at offset o pairs with the (size - o - 1) records after it.
        positions = np.repeat(starts, sizes) + _ranges(sizes)
        after = np.repeat(starts + sizes, sizes) - positions - 1
        first = np.repeat(positions, after)
        second = _ranges(after)
        second += first + 1
    else:
        # Each of a block's `ones` records of the first dataset pairs with its records of the other.
        before = np.r_[0, np.cumsum(side[order], dtype=np.int64)]
        ones = (before[starts + sizes] - before[starts]).astype(np.int32)
        others = sizes - ones
        positions = np.repeat(starts, ones) + _ranges(ones)
        count = np.repeat(others, ones)
        first = np.repeat(positions, count)
        second = _ranges(count)
        second += np.repeat(np.repeat(starts + ones, ones), count)
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


def _pairs_made(codes: np.ndarray, side: np.ndarray | None) -> int:
    """About how many pairs a key's blocks make (`pairs_within`), to order the keys by."""
    blocked = codes >= 0
    if side is None:
        return int((np.bincount(codes[blocked]).astype(np.int64) ** 2).sum())
    length = int(codes.max()) + 1 if blocked.any() else 0
    ones = np.bincount(codes[blocked & side], minlength=length).astype(np.int64)
    others = np.bincount(codes[blocked & ~side], minlength=length).astype(np.int64)
    return int((ones * others).sum())


@dataclass
class Blocked:
    """Every blocking key's block per record (`blocks`: -1 for none), the order their pairs
    are made in (`pairs_of`), the blocks too big to pair (key, value, records) and, when two
    datasets are linked, each record's side. A few int32 arrays of a record each: what a
    worker needs to make a share of the pairs."""

    keys: list[np.ndarray]
    order: list[int]
    skipped: list[tuple[int, str, int]]
    side: np.ndarray | None = None

    def pairs(self) -> int:
        """How many pairs the keys make, a pair two keys find counted twice."""
        total = 0
        for codes in self.keys:
            blocked = codes >= 0
            if self.side is None:
                sizes = np.bincount(codes[blocked]).astype(np.int64)
                total += int((sizes * (sizes - 1) // 2).sum())
            else:
                total += _pairs_made(codes, self.side)  # a record of each side: ones * others, exactly
        return total


def block(values: dict[str, Column], spec: MatchSpec, side: np.ndarray | None = None) -> Blocked:
    """Each blocking key's blocks (cut at max_block records, `blocks`), and the order the keys
    pair in: keys that pair more come first, those taking a comparison's codes last (so that
    `match.candidates` can have another thread make those codes meanwhile)."""
    keys: list[np.ndarray] = [np.zeros(0, np.int32)] * len(spec.blocking)
    skipped: list[tuple[int, str, int]] = []
    order: list[int] = []
    shared = [any(shared_method(spec, p) for p in parts) for parts in spec.blocking]
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
        sizes = {k: _pairs_made(keys[k], side) for k in group}
        order += sorted(group, key=lambda k: (-sizes[k], k))
    skipped.sort(key=lambda s: s[0])
    for column in values.values():  # the transforms were for these keys: not held past them
        column.keyed.clear()
    return Blocked(keys, order, skipped, side)


def pairs_of(blocked: Blocked, share: int = 0, shares: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The union of the pairs every blocking key finds, each pair once, key by key in
    `blocked.order`: a key's pairs that a key before it found are left out by comparing the
    earlier key's codes, as Splink's blocking rules do, rather than sorting every pair. With
    `shares`, only share `share` of them: of each key, the blocks whose code is `share`
    modulo `shares` (a shuffle by blocking key: the shares together are every pair, once).
    All of them at once (one share), each key's pairs are made on their own (they depend on
    the keys, not on one another's pairs), on `columns.THREADS` threads: numpy's sorting and
    indexing let go of the GIL, and one key (a surname's sound and an initial) often makes most
    of them. A share's keys are made one after another: shares are for where memory counts
    more than seconds (`RemadePairs`, beside the load), and two keys at once hold both."""
    def made(at: int) -> tuple[np.ndarray, np.ndarray]:
        codes = blocked.keys[blocked.order[at]]
        if shares > 1:  # only this share's records are sorted into blocks
            members = np.flatnonzero((codes >= 0) & (codes % shares == share)).astype(np.int32)
            left, right = pairs_within(codes[members], None if blocked.side is None else blocked.side[members])
            left, right = members[left], members[right]
        else:
            left, right = pairs_within(codes, blocked.side)
        for earlier in blocked.order[:at]:
            codes = blocked.keys[earlier]
            mine = codes[left]
            new = (mine < 0) | (mine != codes[right])
            left, right = left[new], right[new]
        return left, right

    keys = range(len(blocked.order))
    if shares == 1 and columns.THREADS > 1 and len(keys) > 1:
        with ThreadPoolExecutor(min(columns.THREADS, len(keys)), thread_name_prefix="crmmigrate-pairs") as pool:
            found = list(pool.map(made, keys))  # in the keys' order, the largest first
    else:
        found = [made(at) for at in keys]
    if not found:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate([left for left, _ in found]), np.concatenate([right for _, right in found])


def share_records(blocked: Blocked, shares: int) -> list[np.ndarray]:
    """Per share of `pairs_of(blocked, share, shares)`, the records (positions, ascending) of
    its blocks of two records or more: every record its pairs hold, and about a share of
    the records per blocking key, so that a share is sent the values of those alone."""
    found: list[list[np.ndarray]] = [[] for _ in range(shares)]
    for codes in blocked.keys:
        at = np.flatnonzero(codes >= 0)
        at = at[np.bincount(codes[at])[codes[at]] >= 2]
        share = codes[at] % shares
        order = np.argsort(share, kind="stable")
        bounds = np.searchsorted(share[order], np.arange(shares + 1))
        for number in range(shares):
            found[number].append(at[order[bounds[number]:bounds[number + 1]]])
    return [np.unique(np.concatenate(parts)).astype(np.int32) if parts else np.zeros(0, np.int32)
            for parts in found]


def candidate_pairs(values: dict[str, Column], spec: MatchSpec, side: np.ndarray | None = None) -> Pairs:
    """The union of the pairs every blocking key finds (`block`, then `pairs_of`), each pair
    once. With `side` (per record, whether it is of the first of two datasets linked), only
    pairs across the two (`pairs_within`); blocks are cut at max_block records as when
    deduplicating."""
    blocked = block(values, spec, side)
    return Pairs(*pairs_of(blocked), blocked.keys, blocked.skipped, side)
