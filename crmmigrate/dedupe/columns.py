"""The compared fields' values, dictionary-encoded once (`Column`), and each comparison's
normalisation of them (`Coded`: per distinct value, its normalised form and the parts a
comparison reads); pairs worked through a chunk at a time, a thread per core."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crmmigrate import parallel
from crmmigrate.clean.normalisers import PERSONAL_EMAIL_DOMAINS, company_key
from crmmigrate.dedupe.rules import CUSTOM_PREFIX, RELATED_FIELDS, VIRTUAL_FIELDS
from crmmigrate.text import trimmed


@dataclass
class Column:
    """A field's trimmed text, coded: `codes` per record (-1 where blank) into `values`, its
    distinct values (Arrow); whatever is done to a value (a blocking key's transform, a
    comparison's normalisation) is done once per distinct value."""

    codes: np.ndarray
    values: pa.Array
    normalised: dict[str, Coded] = field(default_factory=dict)  # per comparison method, made once
    built: dict[str, tuple] = field(default_factory=dict)  # `built_from`'s memo, per source field
    # Per blocking transform, its codes per record and the keys they stand for (made by
    # `blocking.block`, on one thread, once however many keys and refinements use it, and
    # let go when it has made its keys).
    keyed: dict[str, tuple[np.ndarray, pa.Array]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.codes)

    def __getstate__(self) -> dict:
        # Sent to a worker of the cluster engine, which compares pairs with it: the lock stays
        # here, and the blocking keys, which the run's process alone makes and reads.
        return {k: v for k, v in self.__dict__.items() if k not in ("lock", "keyed")} | {"keyed": {}}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lock = threading.Lock()

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

    def subset(self, records: np.ndarray) -> Column:
        """The column of `records` only (positions, ascending), for a share of the pairs compared
        on a worker: their codes, recoded into the distinct values they have (kept in the same
        order), and each comparison's normalised values likewise (`Coded.subset`). A pair's
        levels are the same as with the whole column, its records' positions looked up in
        `records`; the memos are made again where they are asked."""
        codes, kept = narrowed(self.codes[records])
        return Column(codes, self.values.take(pa.array(kept)),
                      {method: coded.subset(records) for method, coded in self.normalised.items()})

    def text(self, records: np.ndarray) -> np.ndarray:
        """The records' values (None where blank)."""
        codes = self.codes[records]
        out = np.full(len(codes), None, dtype=object)
        present = codes >= 0
        out[present] = self.values.take(pa.array(codes[present])).to_numpy(zero_copy_only=False)
        return out


def factorised(text: pd.Series | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Codes (int32, -1 for nulls) into the distinct values of some text, by Arrow's hashing."""
    array = text if isinstance(text, pa.Array | pa.ChunkedArray) else pa.array(text)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = pc.dictionary_encode(array)
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32), encoded.dictionary


def _encoded(text: pa.Array) -> Column:
    """An Arrow string array (nulls where blank) as a Column."""
    return Column(*factorised(text))


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


def domain(value: str) -> str | None:
    text = value.lower().rsplit("@", 1)[-1]
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    return text.removeprefix("www.").split("/", 1)[0] or None


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
    namer = nick_namer()
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


_NOT_ALNUM = re.compile(r"[\W_]")  # what str.isalnum() says no to (\w is it and "_")


def street(value: str) -> str | None:
    """A street address as the address comparison reads it: case and punctuation folded,
    street words abbreviated, "#" and "No." dropped."""
    words = []
    for word in _NOT_ALNUM.sub(" ", value.casefold()).split():
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


def postcode(value: str) -> str | None:
    """A postal code's letters and digits, upper case ("sw1a 1aa" -> "SW1A1AA")."""
    return "".join(ch for ch in value.upper() if ch.isalnum()) or None


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

    def subset(self, records: np.ndarray) -> Coded:
        """The values of `records` only (see `Column.subset`): the distinct values they have,
        in the same order (the commonest first still), with their counts over every record
        and their parts; a first and last name's own coding (`names`) whole, as `records`
        point into it. The parts made from the pairs compared (`MADE_LATER`) and the memo
        tables are made again from these."""
        codes, kept = narrowed(self.codes[records])
        names = self.names
        if names is not None:
            names = Coded(names.codes, names.vocab, names.counts, dict(names.parts), None, dict(names.records))
        return Coded(codes, self.vocab[kept], self.counts[kept],
                     {name: part[kept] for name, part in self.parts.items() if name not in MADE_LATER}, names,
                     {name: found[records] for name, found in self.records.items()})

    def shares(self) -> np.ndarray:
        """Per record, its value's share of the records that have one; 0 where it has none."""
        share = np.append(self.counts / max(int(self.counts.sum()), 1), 0.0)
        return share[self.codes]


# Parts a comparison makes when first asked, from the distinct values and not one per value
# (comparisons._nicknames, comparisons._words_within): made again for a Coded's subset.
MADE_LATER = ("nicknames", "distinctive_words")


def narrowed(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 blank) recoded into only the distinct values they use, in the same order: the
    new codes, and the old code each new one stands for."""
    kept = np.unique(codes[codes >= 0])
    out = np.searchsorted(kept, codes).astype(np.int32)
    out[codes < 0] = -1
    return out, kept


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
    return factorised(text)[0]


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
        text = pd.Series([domain(v) for v in text], dtype="str")
    if method == "postcode":
        text = pd.Series([postcode(v) if isinstance(v, str) else None for v in text], dtype="str")
    if method == "address":
        text = pd.Series([street(v) for v in text], dtype="str")
    if method in ("token_overlap", "list_overlap"):
        split = _words if method == "token_overlap" else _items
        text = pd.Series([" \x1f".join(sorted(set(split(v)))) for v in text], dtype="str")
    if method in _READERS:
        text = pd.Series([_READERS[method](v) for v in text], dtype="str")
    text = text.where(text.notna() & (text != ""), None)
    normal, vocab = factorised(text)
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
        raw_names, raw_vocab = factorised(both.where(both != "", None))
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


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (numpy's hashing unique is slower on millions of them)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


@cache
def nick_namer():
    from nicknames import NickNamer

    return NickNamer()


CHUNK = 1 << 18  # pairs compared at a time: their arrays stay in the processor's cache
THREADS = parallel.cores()  # numpy, Arrow and rapidfuzz let go of the GIL while they work


def chunked(count: int, work: Callable[[int, int], None], done: Callable[[int], None] | None = None) -> None:
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
