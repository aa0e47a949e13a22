"""Matching at scale computes comparisons once per distinct pair of values, in chunks on
threads, with filters that skip impossible edit distances. These tests hold each shortcut to
the plain definition, pair by pair: what the level of two values is, which pairs the blocking
keys find, and that chunks, threads and memo tables change nothing."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from crmmigrate.clean.normalisers import company_key
from crmmigrate.dedupe import blocking, columns, comparisons, match, training
from crmmigrate.dedupe.rules import VIRTUAL_FIELDS, KeyPart, MatchSpec

LEVELS = {method: list(labels) for method, labels in match.LEVELS.items()}


def all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    left, right = np.triu_indices(n, 1)
    return left.astype(np.int32), right.astype(np.int32)


def levels_of(frame: pd.DataFrame, field: str, method: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    values = match.prepared(frame, [field])
    left, right = all_pairs(len(frame))
    found = match.compare(method, values[field].coded(method), left, right)
    return left, right, [LEVELS[method][level] for level in found]


# -- email: an edit distance only where one edit is possible ------------------------------------


def email_level(a: str | None, b: str | None) -> str:
    """The email method's level by its definition, computed directly."""
    if not a or not b:
        return "missing"
    a, b = a.casefold(), b.casefold()
    if a == b:
        return "exact"
    local_a, local_b = a.split("@", 1)[0], b.split("@", 1)[0]

    def letters(text: str) -> str:
        return "".join(ch for ch in text if ch.isalpha())

    def digits(text: str) -> str:
        return "".join(ch for ch in text if ch in "0123456789")

    numbered = letters(local_a) == letters(local_b) and digits(local_a) != digits(local_b)
    if DamerauLevenshtein.distance(a, b) <= 1 and not numbered:  # john.smith2@ is another John Smith
        return "one edit"
    if a.split("@", 1)[0] == b.split("@", 1)[0]:
        return "same name, another domain"
    return "different"


def edited(text: str, data: st.DataObject) -> str:
    """`text` with one edit anywhere: a letter dropped, added, replaced or swapped with the next."""
    kind = data.draw(st.sampled_from(["drop", "insert", "replace", "swap"]))
    at = data.draw(st.integers(0, len(text) - 1))
    letter = data.draw(st.sampled_from("ab.@1"))
    if kind == "drop":
        return text[:at] + text[at + 1:]
    if kind == "insert":
        return text[:at] + letter + text[at:]
    if kind == "replace":
        return text[:at] + letter + text[at + 1:]
    if kind == "swap" and at + 1 < len(text):
        return text[:at] + text[at + 1] + text[at] + text[at + 2:]
    return text


local_parts = st.text("abcdeo.1", min_size=1, max_size=14)
domains = st.sampled_from(["mail.com", "example.org", "x.io", "mail.co"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), locals_=st.lists(local_parts, min_size=1, max_size=5), domain=domains)
def test_email_levels_are_their_definition_whatever_the_edit(data, locals_, domain):
    emails = [f"{local}@{domain}" for local in locals_]
    emails += [edited(e, data) for e in emails for _ in range(3)]
    emails += [edited(edited(e, data), data) for e in emails[:3]]
    emails.append(None)
    frame = pd.DataFrame({"email": emails}, dtype=object)

    left, right, found = levels_of(frame, "email", "email")

    wrong = [(emails[a], emails[b], got, email_level(emails[a], emails[b]))
             for a, b, got in zip(left, right, found, strict=True) if got != email_level(emails[a], emails[b])]
    assert wrong == []


def test_one_edit_beside_the_at_sign_is_found():
    pairs = [("anna.berg@mail.com", "anna.bergmail.com"),  # "@" dropped
             ("anna.berg@mail.com", "anna.ber@gmail.com"),  # "@" swapped with a neighbour
             ("anna.berg@mail.com", "anna.berg@@mail.com"),  # "@" doubled
             ("anna.berg@mail.com", "anna.berg2mail.com"),  # "@" mistyped
             ("anna.berg@mail.com", "anna@berg@mail.com"),  # a letter typed as "@"
             ("anna.berg@mail.com", "anna.berg@mail.co"),  # in the domain
             ("anna.berg@mail.com", "nna.berg@mail.com")]  # at the very start of a long local part
    frame = pd.DataFrame({"email": [e for pair in pairs for e in pair]}, dtype=object)
    values = match.prepared(frame, ["email"])
    left = np.arange(0, len(frame), 2, dtype=np.int32)
    found = match.compare("email", values["email"].coded("email"), left, left + 1)
    assert [LEVELS["email"][level] for level in found] == ["one edit"] * len(pairs)


# -- person names: first and last facts memoised, combined by a table ---------------------------


def person_level(a: tuple[str, str] | None, b: tuple[str, str] | None) -> str:
    """person_name's level by its definition, computed directly from two (first, last) names."""
    if a is None or b is None:
        return "missing"
    (fx, lx), (fy, ly) = [(f.casefold(), la.casefold()) for f, la in (a, b)]

    def close(x: str, y: str) -> bool:
        return x == y or (x != "" and y != "" and JaroWinkler.normalized_similarity(x, y) >= 0.92)

    both = fx != "" and fy != ""
    bare_x, bare_y = fx.rstrip("."), fy.rstrip(".")
    initial = both and fx[:1] == fy[:1] and ((len(bare_x) == 1) != (len(bare_y) == 1)) and min(
        len(bare_x), len(bare_y)) == 1
    nickname = both and lx == ly and fx != fy and (fy in comparisons._name_roots(fx)
                                                   or fx in comparisons._name_roots(fy))
    if fx == fy and lx == ly:
        return "exact"
    if fx == ly and lx == fy and fx != lx:
        return "first and last swapped"
    if nickname:
        return "nickname"
    if close(lx, ly) and close(fx, fy):
        return "typo"
    if close(lx, ly) and initial:
        return "initial"
    if lx == ly and lx != "" and (fx == "" or fy == ""):
        return "first name missing"
    if lx == ly and lx != "":
        return "last name only"
    return "different"


FIRST_NAMES = ["Robert", "Bob", "bob", "Rob", "Roberta", "Elizabeth", "Liz", "J.", "J", "John", "Jon", "Jonas", "",
               "Smith", "Anna", "Anne"]
LAST_NAMES = ["Smith", "Smyth", "smith", "Robert", "John", "Jansen", "Janssen", "", "Anna"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.tuples(st.sampled_from(FIRST_NAMES), st.sampled_from(LAST_NAMES))),
                min_size=2, max_size=12))
def test_person_name_levels_are_their_definition(names):
    frame = pd.DataFrame({"first_name": [n[0] if n else None for n in names],
                          "last_name": [n[1] if n else None for n in names]}, dtype=object)
    people = [None if n is None or (n[0] == "" and n[1] == "") else n for n in names]

    left, right, found = levels_of(frame, "person", "person_name")

    wrong = [(people[a], people[b], got, person_level(people[a], people[b]))
             for a, b, got in zip(left, right, found, strict=True) if got != person_level(people[a], people[b])]
    assert wrong == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["74121", "74121-2695", "7412", "SW1A", "SW1A 1AA", "sw1a1aa",
                                                    "10115", "1011", "", " 74121 "])), min_size=2, max_size=14),
       st.integers(1, 4))
def test_postcode_levels_are_their_definition_whatever_is_memoised(codes, dense):
    frame = pd.DataFrame({"postcode": codes}, dtype=object)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(columns, "DENSE", dense)  # some pairs through the memo table, the rest not
        left, right, found = levels_of(frame, "postcode", "postcode")

    def level(a, b):
        coded = match.prepared(pd.DataFrame({"postcode": [a, b]}, dtype=object), ["postcode"])["postcode"]
        x, y = coded.coded("postcode").codes
        if x < 0 or y < 0:
            return "missing"
        p, q = coded.coded("postcode").vocab[[x, y]]
        return "exact" if x == y else "one the other's start" if p.startswith(q) or q.startswith(p) else "different"

    assert found == [level(codes[a], codes[b]) for a, b in zip(left, right, strict=True)]


# -- memo tables, chunks and threads change nothing ---------------------------------------------

SPEC = MatchSpec.model_validate({
    "blocking": [[{"last_name": "metaphone"}], [{"email": "lower"}], [{"full_name": "sorted_tokens"}]],
    "compare": {"person": "person_name", "email": "email", "phone": "phone", "mailing_city": "jaro_winkler",
                "first_name": "first_name", "last_name": "name"},
})


def contacts(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = rng.choice(FIRST_NAMES, count)
    last = rng.choice(LAST_NAMES + ["Berg", "Bergh", "Quist"], count)
    return pd.DataFrame({
        "first_name": first, "last_name": last,
        "email": [f"{f}.{la}{i % 5}@mail{i % 3}.com".lower() if i % 7 else None
                  for i, (f, la) in enumerate(zip(first, last, strict=True))],
        "phone": [f"+49 30 {rng.integers(1000, 1020)}" if i % 4 else None for i in range(count)],
        "mailing_city": rng.choice(["Berlin", "Berlín", "Bern", "Hamburg", None], count),
    }, dtype=object)


def test_chunks_threads_and_rare_values_give_the_same_levels(monkeypatch):
    frame = contacts(300, seed=3)
    left, right = all_pairs(len(frame))
    plain = match.levels(match.prepared(frame, SPEC.fields), SPEC, left, right)

    # Chunks of 7 pairs on 2 threads; only the 3 commonest values of a field memoised in a
    # table, the rest compared once per distinct pair in each chunk.
    monkeypatch.setattr(columns, "CHUNK", 7)
    monkeypatch.setattr(columns, "THREADS", 2)
    monkeypatch.setattr(columns, "DENSE", 3)
    values = match.prepared(frame, SPEC.fields)
    chunked = match.patterns(values, SPEC, left, right).levels()
    again = match.patterns(values, SPEC, left[::-1].copy(), right[::-1].copy()).levels()  # tables filled

    for name in SPEC.compare:
        assert np.array_equal(chunked[name], plain[name]), name
        assert np.array_equal(again[name][::-1], plain[name]), name


def test_level_patterns_count_the_pairs_of_each_combination():
    frame = contacts(120, seed=5)
    left, right = all_pairs(len(frame))
    values = match.prepared(frame, SPEC.fields)
    found = match.patterns(values, SPEC, left, right)

    distinct, counts = found.counts()

    rows = pd.DataFrame(match.levels(values, SPEC, left, right)).value_counts()
    got = pd.Series(counts, index=pd.MultiIndex.from_frame(pd.DataFrame(distinct))).astype(int)
    assert got.sort_index().to_dict() == rows.sort_index().to_dict()
    assert counts.sum() == len(left)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 60), st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=3), st.integers(1, 7),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_shares_of_the_pairs_by_blocking_key_are_every_pair_once(records, seeds, shares, linked, seed):
    """`pairs_of` in shares (a shuffle by blocking key: share s takes each key's blocks whose
    code is s modulo the shares) gives, all shares together, the very pairs of `pairs_of`
    whole: none twice, none lost, with keys of skewed blocks, blanks and two linked sets."""
    rng = np.random.default_rng(seed)
    keys = []
    for key_seed in seeds:
        distinct = 1 + key_seed % max(records // 2, 1)
        codes = rng.zipf(1.6, records).astype(np.int64) % distinct  # a few big blocks, many small
        codes[rng.random(records) < 0.2] = -1  # blank, or in a block too big to pair
        keys.append(codes.astype(np.int32))
    side = rng.random(records) < 0.4 if linked else None
    blocked = blocking.Blocked(keys, list(rng.permutation(len(keys))), [], side)

    whole = set(zip(*(a.tolist() for a in blocking.pairs_of(blocked)), strict=True))
    found: list[tuple[int, int]] = []
    for share in range(shares):
        found += zip(*(a.tolist() for a in blocking.pairs_of(blocked, share, shares)), strict=True)

    assert len(found) == len(set(found)) and set(found) == whole
    assert all(a < b for a, b in found)
    if side is not None:
        assert all(side[a] != side[b] for a, b in found)
    # The records each share is sent the values of (`share_records`): every record its pairs
    # hold, and each record in at most one share per key.
    records = blocking.share_records(blocked, shares)
    assert sum(len(r) for r in records) <= len(keys) * records_count(keys)
    for share, held in enumerate(records):
        assert held.tolist() == sorted(set(held.tolist()))
        mine = blocking.pairs_of(blocked, share, shares)
        assert set(np.concatenate(mine).tolist()) <= set(held.tolist())


def records_count(keys: list[np.ndarray]) -> int:
    return len(keys[0]) if keys else 0


def every_method(count: int, seed: int) -> tuple[pd.DataFrame, MatchSpec]:
    """People with a field for every comparison method, in few values each (nicknames,
    initials, near spellings, one street written two ways), and a spec comparing them all."""
    rng = np.random.default_rng(seed)
    first = rng.choice(["Liz", "Elizabeth", "Bob", "Robert", "J.", "John", "Jon", "Peggy", "Margaret", None], count)
    last = rng.choice(["Smith", "Smyth", "Berg", "Bergh", "Quist", None], count)
    picked = {
        "phone": ["+49 30 1234567", "+49 30 1234568", "030 1234567"],
        "company": ["Acme GmbH", "ACME", "Acme Restaurant Group", "Beta Center"],
        "mailing_city": ["Berlin", "Berlín", "Bern"], "title": ["Head of Sales", "Sales Head", "CTO"],
        "description": ["red green", "green blue", "red"], "tags": ["a;b", "b;c", "a"],
        "birthdate": ["2020-01-01", "2020-01-02", "2021-05-05"], "amount": ["100", "105", "300"],
        "website": ["https://www.acme.com", "acme.com/x", "beta.org"],
        "mailing_street": ["5100 South Ellis Avenue", "5100 S. Ellis Ave", "12 Main St"],
        "mailing_postal_code": ["SW1A 1AA", "sw1a1aa", "10115"], "created": ["2020-01-01", "2020-03-02"],
        "location": ["52.52,13.40", "52.53,13.41", "48.1,11.5"], "department": ["Sales", "Sale", "Ops"],
        "mailing_country": ["DE", "FR"],
    }
    frame = pd.DataFrame({"first_name": first, "last_name": last,
                          "email": [f"{f}.{la}{i % 4}@x{i % 3}.com".lower() if f and la else None
                                    for i, (f, la) in enumerate(zip(first, last, strict=True))],
                          **{name: rng.choice([*choices, None], count) for name, choices in picked.items()}},
                         dtype=object)
    methods = {"person": "person_name", "email": "email", "phone": "phone", "first_name": "first_name",
               "last_name": "name", "company": "company", "mailing_city": "jaro_winkler", "title": "name_tokens",
               "description": "token_overlap", "tags": "list_overlap", "birthdate": "date", "amount": "numeric",
               "website": "website", "mailing_street": "address", "mailing_postal_code": "postcode",
               "created": "days", "location": "geo", "department": "levenshtein", "mailing_country": "exact"}
    assert set(methods.values()) == set(match.LEVELS)
    spec = MatchSpec.model_validate({"blocking": [[{"last_name": "metaphone"}], [{"company": "exact"}]],
                                     "compare": methods})
    return frame, spec


@pytest.mark.parametrize("entity", ["contact", "account", "lead", "every method"])
def test_a_share_compares_its_pairs_with_its_records_values_alone_as_with_every_value(entity):
    """A share of the pairs sent to a worker (`Column.subset`: the values of its records only,
    recoded) compares every pair at the levels the whole column gives: for the default rules'
    contacts, accounts and leads (linked to contacts) on a realistic set, and for every
    comparison method."""
    import sys
    from pathlib import Path

    from crmmigrate.dedupe import load_dedupe_rules
    from crmmigrate.defaults import RULES_DIR

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from realistic import make_crm

    crm = make_crm(3000, seed=9)
    rules = load_dedupe_rules(RULES_DIR / "dedupe.yaml")
    frame, side = (crm.contacts if entity != "account" else crm.accounts).reset_index(drop=True), None
    spec = rules.leads if entity == "lead" else rules.entities["account" if entity == "account" else "contact"]
    if entity == "lead":  # the people linked as leads are: a part of them taken for leads, with their company
        names = dict(zip(crm.accounts["id"], crm.accounts["name"], strict=True))
        frame = frame.assign(company=frame["account_id"].map(names))
        side = np.random.default_rng(3).random(len(frame)) < 0.4
    if entity == "every method":
        frame, spec = every_method(600, seed=1)
    values = match.prepared(frame, spec.fields)
    comparisons.normalise(values, spec)
    blocked = blocking.block(values, spec, side)
    left, right = blocking.pairs_of(blocked)
    whole = comparisons.levels(values, spec, left, right)
    assert len(left) > 500
    shares = 5
    for share, records in enumerate(blocking.share_records(blocked, shares)):
        mine_left, mine_right = blocking.pairs_of(blocked, share, shares)
        sent = {name: column.subset(records) for name, column in values.items()}
        at = {pair: i for i, pair in enumerate(zip(left.tolist(), right.tolist(), strict=True))}
        rows = np.array([at[pair] for pair in zip(mine_left.tolist(), mine_right.tolist(), strict=True)], dtype=int)
        found = comparisons.levels(sent, spec, np.searchsorted(records, mine_left), np.searchsorted(records, mine_right))
        for name, level in found.items():
            np.testing.assert_array_equal(level, whole[name][rows], err_msg=f"{entity} {name}, share {share}")
        assert all(len(sent[name].values) <= len(values[name].values) for name in values)


# -- blocking: every pair once, as the keys define them -----------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
def test_candidate_pairs_are_the_union_of_the_keys_pairs_each_once(monkeypatch, threads):
    monkeypatch.setattr(columns, "THREADS", threads)  # each key's pairs made on a thread of its own, or not
    frame = contacts(400, seed=11)
    spec = SPEC.model_copy(update={"max_block": 40})
    values = match.prepared(frame, spec.fields)

    pairs = match.candidate_pairs(values, spec)
    with monkeypatch.context() as patch:  # the same pairs in the same order as made one key after another
        patch.setattr(columns, "THREADS", 1)
        one_by_one = blocking.pairs_of(blocking.block(values, spec))
    assert (pairs.left.tolist(), pairs.right.tolist()) == (one_by_one[0].tolist(), one_by_one[1].tolist())

    found = list(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True))
    assert len(found) == len(set(found)) and all(a < b for a, b in found)
    expected, refined, left_out = set(), set(), []
    for number, parts in enumerate(spec.blocking):
        codes, label = match.key_codes(values, parts)
        own = set(parts)
        keyed = {p.field for key in spec.blocking for p in key}
        context = [KeyPart(field=name) for name, c in spec.compare.items()  # the account, the city first
                   if name not in keyed and name not in VIRTUAL_FIELDS
                   and c.method in ("exact", "jaro_winkler", "levenshtein", "date")]
        others = list(dict.fromkeys([*context, *(p for k, key in enumerate(spec.blocking) if k != number
                                                 for p in key if p not in own)]))
        refiners = [match.key_codes(values, [p])[0] for p in others]

        def groups(members: list[int], rest: list[np.ndarray]) -> list[list[int]]:
            """A block as it pairs: whole when small enough, else split by the next refiner's
            values (a record without one drops out), and so on; too big at the end, nothing."""
            if len(members) <= spec.max_block:
                return [members]
            if not rest:
                left_out.append(len(members))
                return []
            split: dict[int, list[int]] = {}
            for record in members:
                if rest[0][record] >= 0:
                    split.setdefault(int(rest[0][record]), []).append(record)
            return [g for part in split.values() for g in groups(part, rest[1:])]

        for _, members in pd.Series(np.arange(len(codes))[codes >= 0]).groupby(codes[codes >= 0]):
            for group in groups(members.tolist(), refiners):
                expected |= set(combinations(group, 2))
                if len(members) > spec.max_block:
                    refined |= set(combinations(group, 2))
    assert set(found) == expected
    # The common surnames' blocks are over 40 records: refined by the other keys' fields, whose
    # pairs are found; any still too big is skipped, and said so.
    assert refined
    assert all(size > 40 for _, _, size in pairs.skipped)


@given(st.lists(st.text(" abAB\u00e9\u00c9\u00df\t", max_size=12), min_size=1, max_size=20))
def test_sorted_tokens_in_arrow_are_python_s(texts):
    found = blocking._sorted_tokens(pd.Series(texts, dtype="str"))
    expected = [" ".join(sorted(t.casefold().split())) for t in texts]
    assert [v if isinstance(v, str) else "" for v in found] == expected


@pytest.mark.parametrize("transform", ["lower", "digits", "initial", "prefix3", "metaphone", "company_key"])
def test_a_key_part_is_its_transform_of_each_value(transform):
    raw = [" Acme GmbH ", "acme gmbh", "ACME", None, "", "+49 (30) 123", "Émile", "Quist"]
    values = match.prepared(pd.DataFrame({"name": raw}, dtype=object), ["name"])

    codes, vocab = blocking._transform(values["name"], transform)

    function = blocking._VECTORISED.get(transform)
    for value, code in zip(raw, codes, strict=True):
        text = (value or "").strip()
        if not text:
            assert code == -1
            continue
        if function is not None:
            expected = function(pd.Series([text], dtype="str")).iloc[0]
        else:
            expected = blocking._TRANSFORMS[transform](text)
        assert (vocab[int(code)].as_py() if code >= 0 else None) == (expected or None)


@given(st.lists(st.sampled_from(["Acme GmbH", "acme", "The Acme Co.", "Müller & Söhne KG", "GmbH", "Inc.",
                                  "  ", "A B C", "Société Générale SA", "ООО Ромашка", "3M", "&"]), min_size=1,
                max_size=15))
def test_company_prefix_from_company_keys_is_the_first_word_of_each_value_s_key(raw):
    values = match.prepared(pd.DataFrame({"name": raw}, dtype=object), ["name"])

    codes, vocab = blocking._transform(values["name"], "company_prefix")

    for value, code in zip(raw, codes, strict=True):
        text = value.strip()
        expected = (company_key(text).split(" ") or [""])[0] or None if text else None
        assert (vocab[int(code)].as_py() if code >= 0 else None) == expected


def test_a_transform_is_made_once_per_column_however_many_keys_use_it(monkeypatch):
    made = []
    metaphone = blocking._TRANSFORMS["metaphone"]
    monkeypatch.setitem(blocking._TRANSFORMS, "metaphone", lambda v: made.append(v) or metaphone(v))
    spec = SPEC.model_copy(update={"blocking": [[KeyPart(field="last_name", transform="metaphone"),
                                                 KeyPart(field="first_name", transform="initial")],
                                                [KeyPart(field="last_name", transform="metaphone"),
                                                 KeyPart(field="first_name", transform="nickname")]],
                                   "max_block": 5})
    frame = contacts(300, seed=3)
    values = match.prepared(frame, spec.fields)

    pairs = match.candidate_pairs(values, spec)

    # Each distinct surname once, for both keys and for refining the blocks over 5 records.
    assert sorted(made) == sorted(values["last_name"].values.to_pylist())
    assert not values["last_name"].keyed  # let go once the keys are made
    codes, _ = blocking._transform(values["last_name"], "metaphone")
    with pytest.raises(ValueError):  # shared by the keys: no key may change it under another
        codes[0] = 0
    # The same pairs as with every transform made afresh each time a key or a refinement asks.
    made_afresh = blocking._transform

    def afresh(column, transform):
        column.keyed.clear()
        return made_afresh(column, transform)

    monkeypatch.setattr(blocking, "_transform", afresh)
    expected = match.candidate_pairs(match.prepared(frame, spec.fields), spec)
    assert len(made) > len(values["last_name"].values)  # made again for the second key
    assert (pairs.left.tolist(), pairs.right.tolist()) == (expected.left.tolist(), expected.right.tolist())


def test_probabilities_by_pattern_are_the_summed_weights_with_term_frequencies(monkeypatch):
    spec = SPEC.model_copy(update={"compare": {**SPEC.compare, **MatchSpec.model_validate({
        "blocking": [["email"]], "compare": {"person": {"method": "person_name", "term_frequency": True},
                                             "email": {"method": "email", "term_frequency": True}}}).compare}})
    monkeypatch.setattr(columns, "CHUNK", 50)
    frame = contacts(300, seed=7)
    values = match.prepared(frame, spec.fields)
    pairs = match.candidate_pairs(values, spec)
    found = match.patterns(values, spec, pairs.left, pairs.right)
    model = match.fit(values, spec, match.HeldPairs(pairs, found))
    assert model.tf.keys() == {"person", "email"}

    by_pattern = match.probabilities_of(model, found, pairs.left)

    summed = match.probabilities(model, match.score_weights(model, match.levels(values, spec, pairs.left, pairs.right),
                                                            pairs.left))
    assert np.allclose(by_pattern, summed, rtol=0, atol=1e-12)
    kept, probability = match.at_least(model, found, pairs.left, 0.5)
    assert kept.tolist() == np.flatnonzero(summed >= 0.5).tolist() and np.allclose(probability, summed[kept])
    exact = match.levels(values, spec, pairs.left, pairs.right)["person"] == 1
    assert exact.any() and len(np.unique(by_pattern[exact])) > 1  # rarer names weigh more


def test_a_block_too_big_whose_refining_fields_are_blank_pairs_none_and_says_so():
    # Every record shares its surname's sound and initial, and has no account, city or email to
    # refine that block by: it pairs none, and is reported, rather than failing.
    frame = pd.DataFrame({"first_name": [f"First{i}" for i in range(60)],
                          "last_name": [f"Name{i}" for i in range(60)], "account_id": None})
    spec = MatchSpec.model_validate({"blocking": [[{"last_name": "metaphone"}, {"first_name": "initial"}]],
                                     "compare": {"person": "person_name", "account_id": "exact"},
                                     "max_block": 10})
    pairs = match.candidate_pairs(match.prepared(frame, spec.fields), spec)
    assert len(pairs) == 0
    assert [size for _, _, size in pairs.skipped] == [60]


@given(st.lists(st.tuples(st.integers(-1, 4), st.booleans()), max_size=30))
def test_linking_two_datasets_pairs_a_record_of_each_and_no_other(records):
    codes = np.array([c for c, _ in records], dtype=np.int32)
    side = np.array([s for _, s in records], dtype=bool)

    left, right = blocking.pairs_within(codes, side)

    found = list(zip(left.tolist(), right.tolist(), strict=True))
    expected = {(a, b) for a, b in combinations(range(len(codes)), 2)
                if codes[a] >= 0 and codes[a] == codes[b] and side[a] != side[b]}
    assert len(found) == len(set(found)) and set(found) == expected


def test_linked_candidates_are_the_deduplicating_ones_across_the_two_datasets():
    frame = contacts(400, seed=11)
    spec = SPEC.model_copy(update={"max_block": 40})
    values = match.prepared(frame, spec.fields)
    side = np.random.default_rng(3).random(len(frame)) < 0.4

    linked = match.candidate_pairs(values, spec, side)
    every = match.candidate_pairs(values, spec)

    found = list(zip(linked.left.tolist(), linked.right.tolist(), strict=True))
    across = side[every.left] != side[every.right]
    assert len(found) == len(set(found))
    assert set(found) == set(zip(every.left[across].tolist(), every.right[across].tolist(), strict=True))
    for number in range(len(spec.blocking)):  # which keys found a pair: as when deduplicating
        assert (linked.via(number).sum(), number) == (every.via(number)[across].sum(), number)


def test_linking_measures_u_on_pairs_of_a_record_of_each():
    side = np.array([True, False, False, True, False, True, False])

    left, right = training.random_pairs(len(side), 100, np.random.default_rng(1), side)
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == sorted(
        (min(a, b), max(a, b)) for a in np.flatnonzero(side) for b in np.flatnonzero(~side))
    left, right = training.random_pairs(len(side), 5, np.random.default_rng(1), side)
    assert len(left) == 5 and (side[left] != side[right]).all() and (left < right).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(["acme", "beasley", "joe's", "cafe", "group", "north", "dental",
                                          "a\u00a0b", "b", "x\x85y", "cpc"]), min_size=1, max_size=4)
                .map(" ".join), min_size=2, max_size=12))
def test_distinctive_words_held_by_the_other_are_token_set_ratio_s_hundred(names):
    values = match.prepared(pd.DataFrame({"company": names}, dtype=object), ["company"])
    coded = values["company"].coded("company")
    x, y = (side.astype(np.int32) for side in np.triu_indices(len(coded.vocab), 1))

    found = comparisons._words_within(coded, x, y)

    from rapidfuzz import fuzz
    expected = [fuzz.token_set_ratio(coded.parts["distinctive"][a], coded.parts["distinctive"][b]) >= 100
                for a, b in zip(x, y, strict=True)]
    assert found.tolist() == expected


# -- pairs made again share by share: the answers of pairs held -----------------------------------


def _realistic_crm(monkeypatch, contacts: int, seed: int):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "bench"))
    from realistic import make_crm

    return make_crm(contacts, seed=seed)


def _same_arrays(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("linked", [False, True])
def test_pairs_remade_share_by_share_answer_as_the_pairs_held(monkeypatch, linked):
    """`RemadePairs` keeps each pair's level pattern and makes a share's records' positions
    again when asked: on realistic contacts (names at census frequencies, namesakes, a tenth
    duplicates), deduplicated or linked as leads to contacts are, in many shares, it gives what
    holding every pair gives: how many, each key's pattern counts, the model fitted on them,
    each record's strongest pair, and the pairs at or above a band with their histogram."""
    from crmmigrate.dedupe import pairset
    from crmmigrate.dedupe.rules import load_dedupe_rules
    from crmmigrate.defaults import RULES_DIR

    rules = load_dedupe_rules(RULES_DIR / "dedupe.yaml")
    spec = rules.leads if linked else rules.entities["contact"]
    frame = _realistic_crm(monkeypatch, 3000, seed=9).contacts.reset_index(drop=True)
    if linked:
        frame = frame.assign(company=frame["account_id"])
    side = np.random.default_rng(3).random(len(frame)) < 0.3 if linked else None
    monkeypatch.setattr(pairset, "SHARE_PAIRS", 300)
    values = match.prepared(frame, spec.fields)
    held = match.candidates(values, spec, side)
    remade = match.candidates(values, spec, side, pairing=match.RemadePairs.made)
    assert isinstance(remade, match.RemadePairs) and remade.shares > 5

    assert len(remade) == len(held) > 2000  # asked before they are compared, as dedupe's progress does
    told: list[int] = []
    held.compare(values, spec)
    remade.compare(values, spec, done=told.append)
    assert sum(told) == len(held)
    assert remade.skipped == held.skipped and (remade.side is held.side or (remade.side == held.side).all())
    for key in range(len(spec.blocking)):
        _same_arrays(remade.counts(key), held.counts(key))
    model = match.fit(values, spec, held)
    _same_model(match.fit(values, spec, remade), model)
    _same_arrays((remade.best(model, len(frame)),), (held.best(model, len(frame)),))
    histograms = [np.zeros(len(match.HISTOGRAM_EDGES) - 1, np.int64) for _ in range(2)]
    scored: list[int] = []
    kept = remade.at_least(model, 0.3, histograms[0], done=scored.append)
    _same_arrays(kept, held.at_least(model, 0.3, histograms[1]))
    np.testing.assert_array_equal(*histograms)
    assert len(kept[0]) > 100 and histograms[0].sum() == len(held) == sum(scored)


def test_dedupe_makes_its_pairs_a_share_at_a_time_where_holding_them_would_not_fit(monkeypatch):
    """Dedupe holds every candidate pair's positions where they take at most half of the
    memory the process may still take, and makes them a share at a time otherwise
    (`RemadePairs`): on realistic contacts, with memory made scarce, the same clusters, merged
    records, pairs and survivors as with every pair held."""
    from crmmigrate import parallel
    from crmmigrate.dedupe import dedupe, pairset
    from crmmigrate.dedupe.rules import DedupeRules, load_dedupe_rules
    from crmmigrate.defaults import RULES_DIR

    assert pairset.held_fits(1000, available=16_000) and not pairset.held_fits(1001, available=16_000)
    rules = load_dedupe_rules(RULES_DIR / "dedupe.yaml")
    rules = DedupeRules(entities={"contact": rules.entities["contact"]}, leads=None)
    crm = _realistic_crm(monkeypatch, 3000, seed=11)
    made: list[str] = []
    original = pairset.held_or_remade

    def placed(values, spec, blocked):
        made.append(type(pairs := original(values, spec, blocked)).__name__)
        return pairs

    monkeypatch.setattr(match, "held_or_remade", placed)
    here = dedupe({"contact": crm.contacts}, rules)
    monkeypatch.setattr(pairset, "SHARE_PAIRS", 500)
    monkeypatch.setattr(parallel, "available_memory", lambda: pairset.POSITION_BYTES * 1000)
    scarce = dedupe({"contact": crm.contacts}, rules)

    assert made == ["HeldPairs", "RemadePairs"]
    a, b = here.entities[0], scarce.entities[0]
    assert a.candidates == b.candidates > 2000 and len(a.merged) > 50
    for name in ("pairs", "clusters", "merged", "model"):
        pd.testing.assert_frame_equal(getattr(b, name), getattr(a, name))
    assert a.histogram == b.histogram
    pd.testing.assert_frame_equal(scarce.datasets["contact"], here.datasets["contact"])


def test_no_pairs_remade_are_no_pairs_held():
    """Records no key blocks together: no pairs, in one share, answered as no pairs held are."""
    frame = pd.DataFrame({"first_name": ["Ann", "Bob", "Cy"], "last_name": ["Ames", "Bell", "Cole"],
                          "email": ["a@x.com", "b@y.com", "c@z.com"], "phone": ["1", "2", "3"],
                          "mailing_city": ["Bern", "Bonn", "Berlin"]})
    spec = SPEC
    values = match.prepared(frame, spec.fields)
    held = match.candidates(values, spec)
    remade = match.candidates(values, spec, pairing=match.RemadePairs.made)
    assert len(remade) == len(held) == 0 and remade.shares == 1
    with pytest.raises(RuntimeError, match="not compared"):
        remade.counts(0)
    held.compare(values, spec)
    remade.compare(values, spec)
    model = match.fit(values, spec, held)
    _same_arrays((remade.best(model, 3),), (held.best(model, 3),))
    _same_arrays(remade.at_least(model, 0.0), held.at_least(model, 0.0))
    with pytest.raises(ValueError, match="at least one"):
        match.RemadePairs(remade.blocked, 0)


def _same_model(a, b) -> None:
    assert a.prior == b.prior and a.neutral == b.neutral and a.untrained == b.untrained
    for name in ("m", "u", "shared"):
        assert getattr(a, name).keys() == getattr(b, name).keys()
        for key, value in getattr(a, name).items():
            np.testing.assert_array_equal(value, getattr(b, name)[key])
    assert {k: v.keys() for k, v in a.tf.items()} == {k: v.keys() for k, v in b.tf.items()}
    for name, per in a.tf.items():
        for level, value in per.items():
            np.testing.assert_array_equal(value, b.tf[name][level])


def test_leads_matched_with_pairs_remade_are_those_matched_with_pairs_held(monkeypatch):
    """`lead_matches` with its pairs in many shares, made again when scored, flags the very
    leads, contacts and probabilities it flags holding every pair."""
    from crmmigrate.dedupe import pairset
    from crmmigrate.dedupe.engine import lead_matches
    from crmmigrate.dedupe.rules import load_dedupe_rules
    from crmmigrate.defaults import RULES_DIR

    crm = _realistic_crm(monkeypatch, 3000, seed=4)
    datasets = crm.datasets()
    contacts = datasets["contact"]
    accounts = datasets["account"].set_index("id")["name"]
    # A third of the contacts again as leads (their company by name), a few values changed.
    leads = contacts.sample(frac=0.33, random_state=2).reset_index(drop=True)
    origin = dict(zip("L" + leads.index.astype(str), leads["id"], strict=True))
    leads = leads.assign(id="L" + leads.index.astype(str), company=leads["account_id"].map(accounts),
                         _source="leads")[["id", "_source", "first_name", "last_name", "email", "phone", "company"]]
    leads.loc[leads.index % 4 == 0, "email"] = None
    datasets["lead"] = leads
    spec = load_dedupe_rules(RULES_DIR / "dedupe.yaml").leads
    held = lead_matches(datasets, spec, match.HeldPairs.made)
    monkeypatch.setattr(pairset, "SHARE_PAIRS", 500)
    made: list[match.RemadePairs] = []
    make = match.RemadePairs.made

    def remade_pairs(values, spec, blocked):
        made.append(make(values, spec, blocked))
        return made[-1]

    monkeypatch.setattr(match.RemadePairs, "made", remade_pairs)
    remade = lead_matches(datasets, spec)  # the default: remade

    assert len(made) == 1 and made[0].shares > 3
    pd.testing.assert_frame_equal(remade, held)
    assert list(held.columns) == ["lead_source", "lead_id", "contact_source", "contact_id", "probability", "known"]
    known = held[held["known"] == "yes"]
    found = set(zip(known["lead_id"], known["contact_id"], strict=True))
    assert len(found & set(origin.items())) >= 0.8 * len(origin)  # most leads known as the contact they came from
    assert (held["known"] == "yes").sum() > 300


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["anna.berg", "aberg", "info", "sales", "berganna", "a", "", None]),
                          st.sampled_from(["Anna\x1fBerg", "Anne\x1fBergmann", "Al\x1fBo", None])), min_size=1,
                max_size=30),
       st.lists(st.lists(st.integers(0, 29), max_size=12), min_size=1, max_size=4))
def test_built_from_asked_piece_by_piece_is_made_from_record_by_record(records, asked):
    # Worked out only for the combinations asked about, and remembered: each answer, whenever
    # asked and in whatever company, is the definition applied to that record's two values.
    emails = [None if local is None else f"{local}@berg.example" for local, _ in records]
    names = [name for _, name in records]

    def column(texts: list[str | None]) -> columns.Column:
        codes, distinct = pd.factorize(pd.Series(texts, dtype=object))
        return columns.Column(codes.astype(np.int32), pa.array(distinct.tolist(), type=pa.string()))

    values = {"email": column(emails), "name": column(names)}
    for wanted in asked:
        records_asked = np.array([i % len(records) for i in wanted], dtype=np.int64)
        found = comparisons.built_from(values, "email", "email", "name", records_asked)
        expected = [emails[i] is not None and names[i] is not None
                    and comparisons._made_from(emails[i], names[i], "email") for i in records_asked]
        assert found.tolist() == expected
