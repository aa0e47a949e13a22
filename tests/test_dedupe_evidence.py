"""Evidence the matcher may trust on data it has never seen: namesakes stay apart as they grow
common, a name alone never merges, a value many share weighs nothing, two of what a person
has one of (first name, work mailbox, address) keep records apart, nicknames meet whatever their
initials, and the comparison kinds for custom fields read their values as documented."""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from crmmigrate.dedupe import find_duplicates, load_dedupe_rules, match
from crmmigrate.dedupe.rules import MatchSpec
from tests.test_dedupe import frame, merged_pairs

RULES = load_dedupe_rules()
CONTACT = RULES.entities["contact"]

# First and last names drawn the way real ones are: a few very common, a long tail.
FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Susan", "Maria",
         "Thomas", "Karen", "Daniel", "Nancy", "Paul", "Lisa", "Mark", "Betty", "Steven", "Helga", "Oskar",
         "Ingrid", "Ilse", "Pieter", "Anouk", "Ruairi", "Saoirse", "Tadhg", "Niamh"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Moore", "Taylor",
        "Lee", "Walker", "Hall", "Young", "Okonkwo", "Vasquez", "Lindqvist", "Ferreira", "Kowalczyk", "Nakamura",
        "Abernathy", "Quintanilla", "Brennan", "Haugland"]


def namesakes(people: int, seed: int) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """`people` contacts at companies of skewed sizes, names at Zipf frequencies (so the same
    name recurs at other companies more as the data grows), first.last@company emails, direct
    phones; and a tenth again as duplicates, each with one identifying value kept. Returns the
    frame and the true duplicate pairs."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 31) ** 1.1
    first = rng.choice(FIRST, people, p=weights / weights.sum())
    weights = 1 / np.arange(1, 26) ** 1.1
    last = rng.choice(LAST, people, p=weights / weights.sum())
    company = np.minimum(rng.zipf(1.6, people), people // 4)
    # Each company's own domain, no two a typo apart (as real ones mostly are not).
    domains = {c: hashlib.sha1(f"{seed}-{c}".encode()).hexdigest()[:10] for c in set(company.tolist())}
    rows, taken = [], {}
    for i in range(people):
        local = f"{first[i]}.{last[i]}".lower()
        taken[local, company[i]] = taken.get((local, company[i]), 0) + 1  # a second John Smith: john.smith2@
        number = taken[local, company[i]]
        rows.append({"id": f"P{i}", "first_name": first[i], "last_name": last[i], "account_id": f"A{company[i]}",
                     "email": f"{local}{number if number > 1 else ''}@{domains[company[i]]}.example",
                     "phone": f"+1312{5550000 + i:07d}", "mailing_city": "Chicago"})
    truth = set()
    for i in rng.choice(people, people // 10, replace=False):
        copy = dict(rows[i], id=f"D{i}")
        keep = ("email", "phone")[i % 2]  # the other identifying value lost
        copy["phone" if keep == "email" else "email"] = None
        rows.append(copy)
        truth.add(tuple(sorted((f"P{i}", f"D{i}"))))
    return frame("contact", rows), truth


@pytest.mark.parametrize("people", [500, 2000, 8000])
def test_namesakes_at_other_companies_are_never_merged_as_they_grow_common(people):
    data, truth = namesakes(people, seed=people)
    result, _ = find_duplicates(data, CONTACT, entity="contact")
    merged = {tuple(sorted(p)) for _, g in result.clusters.groupby("cluster") for p in combinations(g["legacy_id"], 2)}
    shared = data.groupby(["first_name", "last_name"])["account_id"].nunique()
    assert (shared > 1).sum() > people / 200  # the same name at several companies is common here
    assert merged - truth == set()  # precision 1.0 at every size
    assert len(merged & truth) >= 0.8 * len(truth)


def test_two_work_mailboxes_at_one_company_are_two_people():
    rows = [
        {"id": "X1", "first_name": "James", "last_name": "Smith", "account_id": "A1",
         "email": "james.smith@acme.example", "phone": "+13125550100"},
        {"id": "X2", "first_name": "James", "last_name": "Smith", "account_id": "A1",
         "email": "james.smith2@acme.example", "phone": "+13125550100"},
        {"id": "X3", "first_name": "James", "last_name": "Smith", "account_id": "A1"}]
    from tests.test_dedupe import people
    assert merged_pairs(people() + rows) == set()  # nor X3 with either: the account has two of him


def test_a_record_without_a_first_name_does_not_chain_two_people_together():
    shared = {"account_id": "A7", "phone": "+13125550177", "mailing_city": "Chicago"}
    rows = [{"id": "X1", "first_name": "Michael", "last_name": "Johnson", "email": "mj@ex.example", **shared},
            {"id": "X2", "first_name": None, "last_name": "Johnson", **shared},
            {"id": "X3", "first_name": "Sarah", "last_name": "Johnson", "email": "sj@ex.example", **shared}]
    from tests.test_dedupe import people
    merged = merged_pairs(people() + rows)
    assert ("X1", "X3") not in merged


def test_a_number_many_different_names_share_weighs_nothing():
    rows = [{"id": f"S{i}", "first_name": FIRST[i % 30], "last_name": LAST[i % 25], "account_id": "A1",
             "phone": "+13125550100"} for i in range(12)]
    rows += [{"id": "R1", "first_name": "Ada", "last_name": "Quist", "account_id": "A2", "phone": "+13125559999"},
             {"id": "R2", "first_name": "Bea", "last_name": "Quist", "account_id": "A3", "phone": "+13125559999"}]
    from tests.test_dedupe import people
    data = frame("contact", people() + rows)
    _, _, model = match.score(data, CONTACT)
    at = {r: i for i, r in enumerate(data["id"])}
    levels = match.levels(match.prepared(data, CONTACT.fields), CONTACT, np.array([at["S0"], at["R1"]]),
                          np.array([at["S1"], at["R2"]]))
    switchboard = match.score_weights(model, {k: v[:1] for k, v in levels.items()}, np.array([at["S0"]]))[0]
    own = match.score_weights(model, {k: v[1:] for k, v in levels.items()}, np.array([at["R1"]]))[0]
    assert levels["phone"].tolist() == [1, 1]  # both agree exactly on the phone
    assert model.shared["phone"][at["S0"]] and not model.shared["phone"][at["R1"]]
    without = match.score_weights(model, {k: (v[1:] if k != "phone" else np.zeros(1, np.int8))
                                          for k, v in levels.items()}, np.array([at["R1"]]))[0]
    assert own - without > 2  # a number two records hold is evidence
    assert switchboard < own  # one that twelve different people hold is none


def test_nicknames_with_other_initials_meet_in_a_block_and_compare_as_nicknames():
    from tests.test_dedupe import people
    rows = people() + [{"id": "X1", "first_name": "Elizabeth", "last_name": "Haugland", "account_id": "A3"},
                       {"id": "X2", "first_name": "Liz", "last_name": "Haugland", "account_id": "A3"},
                       {"id": "X3", "first_name": "Margaret", "last_name": "Okafor-Lin", "account_id": "A4"},
                       {"id": "X4", "first_name": "Peggy", "last_name": "Okafor-Lin", "account_id": "A4"}]
    data = frame("contact", rows)
    values = match.prepared(data, CONTACT.fields)
    pairs = match.candidate_pairs(values, CONTACT)
    found = set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True))
    n = len(rows)
    assert {(n - 4, n - 3), (n - 2, n - 1)} <= found
    levels = match.levels(values, CONTACT, np.array([n - 4, n - 2]), np.array([n - 3, n - 1]))
    assert [match.LEVELS["person_name"][v] for v in levels["person"]] == ["nickname", "nickname"]
    assert match.name_root("Peggy") == match.name_root("margaret") == "margaret"


@pytest.mark.parametrize(("a", "b", "level"), [
    ("Beasley CPC", "Beasley", "same distinctive words"),
    ("Joe's Restaurant", "Joe's", "same distinctive words"),
    ("Beasley Academy", "Marlowe Academy", "different"),
])
def test_a_name_contained_in_another_is_its_own_level_generic_words_aside(a, b, level):
    words = ["Restaurant", "Academy", "Cafe", "Center"]
    rows = [{"id": f"B{i}", "name": f"{FIRST[i % 30]}{LAST[i % 25]} {words[i % 4]}"} for i in range(300)]
    rows += [{"id": "X1", "name": a}, {"id": "X2", "name": b}]
    values = match.prepared(frame("account", rows), ["name"])
    found = match.compare("company", values["name"].coded("company"), np.array([300]), np.array([301]))
    assert match.LEVELS["company"][found[0]] == level


def test_street_addresses_are_read_as_postal_services_abbreviate_them():
    rows = [{"id": "A", "billing_street": "5100 South Ellis Avenue"}, {"id": "B", "billing_street": "5100 S. Ellis Ave"},
            {"id": "C", "billing_street": "5100 S Ellis Ave, Suite 3"}, {"id": "D", "billing_street": "5010 S Ellis Ave"},
            {"id": "E", "billing_street": "77 Harbour Road"}]
    values = match.prepared(frame("account", rows), ["billing_street"])
    coded = values["billing_street"].coded("address")
    found = match.compare("address", coded, np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4]))
    assert [match.LEVELS["address"][v] for v in found] == ["exact", "same number, street alike", "street alike",
                                                          "different"]
    assert match.house_street("5100 S. Ellis Ave") == match.house_street("5100 South Ellis Avenue") == "5100 ellis"


@pytest.mark.parametrize(("method", "values", "expected"), [
    ("geo", ["41.8781, -87.6298", "41.8785,-87.6300", "41.8830 -87.6298", "41.95,-87.65", "40.7128,-74.0060"],
     ["within threshold 1", "within threshold 2", "within threshold 3", "different"]),
    ("numeric", ["1,000.00", "1000", "1005", "1090", "5000"],
     ["exact", "within threshold 1", "within threshold 2", "different"]),
    ("days", ["2024-03-01", "2024-03-01", "2024-03-20", "2024-12-01", "2027-01-01"],
     ["same day", "within threshold 2", "within threshold 3", "different"]),
    ("list_overlap", ["Ada; Bea; Cy", "Cy|Bea|Ada", "Ada, Bea, Dee", "Ada; Eve; Fay", "Gil"],
     ["same items", "overlap >= threshold 2", "overlap >= threshold 2", "different"]),
    ("token_overlap", ["red brick house", "house, red brick", "red brick barn", "blue barn", "green"],
     ["same words", "overlap >= threshold 2", "different", "different"]),
])
def test_custom_fields_compare_with_the_kinds_splink_users_know(method, values, expected):
    data = frame("account", [{"id": f"R{i}"} for i in range(len(values))])
    data["_custom"] = [f'{{"Plot": {v!r}}}'.replace("'", '"') for v in values]
    spec = MatchSpec.model_validate({"blocking": [["custom.Plot"]], "compare": {"custom.Plot": method}})
    prepared = match.prepared(data, spec.fields)
    found = match.levels(prepared, spec, np.zeros(4, np.int32), np.arange(1, 5, dtype=np.int32))["custom.Plot"]
    assert [match.LEVELS[method][v] for v in found] == expected


def test_when_the_data_cannot_decide_it_says_so():
    # Names only: no pair can reach review, and the run says what to do.
    rows = [{"id": f"B{i}", "name": f"{FIRST[i % 30]} {LAST[i % 25]} Holdings"} for i in range(200)]
    rows += [{"id": "X1", "name": "Quintanilla Brennan"}, {"id": "X2", "name": "Quintanilla Brennan GmbH"}]
    spec = MatchSpec.model_validate({"blocking": [[{"name": "company_key"}]], "compare": {"name": "company"}})
    result, _ = find_duplicates(frame("account", rows), spec, entity="account")
    said = " ".join(result.warnings)
    assert "was never fitted" in said
    assert "names alone cannot raise a pair" in said or "no pair reaches the review band" in said
    assert result.summary()["warnings"] == result.warnings


def test_a_persons_own_copies_do_not_make_their_name_common():
    """How likely a stranger is to have a name comes from how common its first and its last
    name are, not from how many copies of one person hold it: a rare name held by one man's four
    records weighs as much as when he has two, and far more than a name of common parts."""
    # Background: John and Smith common (never together), the rest spread.
    background = [{"id": f"B{i}", "first_name": "John" if i % 2 else FIRST[i % 30],
                   "last_name": "Smith" if i % 3 == 0 and i % 2 == 0 else LAST[i % 25],
                   "account_id": f"A{i % 40}", "email": f"b{i}@x{i % 9}.example"} for i in range(300)]

    def name_weight(copies: int, first: str, last: str) -> float:
        rows = [{"id": f"K{i}", "first_name": first, "last_name": last, "account_id": "A99"} for i in range(copies)]
        data = frame("contact", background + rows)
        _, _, model = match.score(data, CONTACT, ("account_id",))
        at = {r: i for i, r in enumerate(data["id"])}
        levels = match.levels(match.prepared(data, CONTACT.fields), CONTACT, np.array([at["K0"]]),
                              np.array([at["K1"]]))
        assert levels["person"].tolist() == [match.LEVELS["person_name"].index("exact")]
        only = {k: (v if k == "person" else np.zeros(1, np.int8)) for k, v in levels.items()}
        return match.score_weights(model, only, np.array([at["K0"]]))[0]

    rare = [name_weight(copies, "Ebenezer", "Quackenbush") for copies in (2, 4)]
    assert rare[1] == pytest.approx(rare[0], abs=0.25)  # his own copies do not make his name common
    assert rare[1] - name_weight(4, "John", "Smith") > 4  # a name many strangers' parts make is weak evidence


def test_an_organisation_under_two_names_needs_two_kinds_of_identifier():
    """Names of one organisation can differ wholly (a site under its agency's name and its own,
    a mangled entry): two identifiers of different kinds agreeing (its street and its
    switchboard) outweigh that; one alone (a shared street: a building's tenants) does not."""
    from tests.test_dedupe import companies

    rules = RULES.entities["account"].model_copy(update={"merge": 0.5, "review": 0.01})
    site = {"billing_street": "Am Sandtorkai 41", "billing_postal_code": "20457", "billing_city": "Hamburg"}
    rows = companies() + [{"id": "X1", "name": "Kinderhaus Sonnenschein", "phone": "+494030091177", **site},
                          {"id": "X2", "name": "Diakonie Kitas Nord", "phone": "+494030091177", **site},
                          {"id": "Y1", "name": "Quastenflosser Feinmechanik", **site, "billing_street": "Am Kaiserkai 9"},
                          {"id": "Y2", "name": "Zander Yachtdesign", **site, "billing_street": "Am Kaiserkai 9"}]
    result, _ = find_duplicates(frame("account", rows), rules, entity="account")
    pairs = result.pairs.set_index(["id_a", "id_b"])
    assert ("X1", "X2") in pairs.index and pairs.loc[("X1", "X2"), "clue"] != ""
    assert ("Y1", "Y2") not in pairs.index or pairs.loc[("Y1", "Y2"), "clue"] == ""
    assert not {"Y1", "Y2"} & set(result.merged["legacy_id"])


def test_a_domain_spelt_from_the_name_weighs_what_the_names_domains_say():
    """The same domain spelt from the name: the name's comparison has counted the name, so what
    it adds is which organisation of that name it is. Where twenty Martinez LLCs hold twenty
    domains, martinezaustin.example says much; where a name's records hold one domain, nothing."""
    from tests.test_dedupe import companies

    towns = [f"Town{i}" for i in range(20)]
    rows = companies() + [{"id": f"M{i}", "name": "Martinez LLC", "website": f"martinez{t.lower()}.example",
                           "billing_city": t} for i, t in enumerate(towns)]
    rows += [{"id": f"S{i}", "name": "Summit Dental", "website": "summitdental.example", "billing_city": "Denver"}
             for i in range(3)]
    spec = RULES.entities["account"]
    data = frame("account", rows)
    _, _, model = match.score(data, spec)
    at = {r: i for i, r in enumerate(data["id"])}
    level = match.LEVELS["website"].index("same domain, built from the name")
    own = model.tf["domain"][level]
    weight = np.log2(model.m["domain"][level] / own)
    assert model.weights("domain")[level] == 0  # the level as such
    assert weight[at["M0"]] == pytest.approx(np.log2(model.m["domain"][level] * 20), abs=0.01)
    assert weight[at["S0"]] == pytest.approx(0, abs=1e-6)  # one domain between the name's records: nothing to tell apart
