"""What a pair's levels say beyond its match weight: whether it clearly differs on what a record
has one of (`conflicts`), and the evidence independent of the name that lets it merge (`clues`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import OSA

from crmmigrate.dedupe.columns import Coded, Column, sorted_distinct, factorised, name_root
from crmmigrate.dedupe.comparisons import LEVELS, pair_scores
from crmmigrate.dedupe.rules import MatchSpec


# Levels that identify a record apart from its name, per method (besides level 1, "exact"):
# what MatchSpec.clues look for.
# A website is a clue whether or not its domain is spelt from the name (summitdental.com is one
# organisation's, whoever named it): what was made from the name weighs nothing, as the name's own
# comparison counts it, but the domain still says which of the Summit Dentals it is.
CLUE_LEVELS: dict[str, tuple[int, ...]] = {"email": (1, 2), "phone": (1,), "website": (1, 2), "address": (1, 2),
                                           "postcode": (1, 2)}


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
        apart = pair_scores(OSA.distance, coded.parts["letters"], x[other], y[other], score_cutoff=2) > 1
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
        person.names.parts["root"] = np.append(-1, factorised(roots)[0])  # codes are names + 1, 0 blank
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
        distinct = sorted_distinct(group[known].astype(np.int64) * (len(mail.vocab) + 1) + work[known])
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
    distinct = sorted_distinct(value * width + (name + shift))
    return np.bincount(distinct // width, minlength=len(coded.vocab)).astype(np.int64)
