"""Load 1M canonical contacts into PostgreSQL and SQLite; print rows/s beside a plain bulk write.

    python bench/bench_load.py [--rows 1000000] [--postgres URL]

crmmigrate's load (pointer resolution through id_map, quarantine of invalid values, row
hashes, id_map entries, transactions; COPY on PostgreSQL) is timed against, in the same run and
on the same rows: PostgreSQL `COPY ... FROM STDIN` of the prepared rows into a bare table of the
same columns; into one with the target table's indexes and foreign key; and the database's own
share of a bulk load in plain SQL (COPY into a bare table, then the target's indexes, foreign key
and one id_map entry per row with its key). SQLite: `executemany` of a plain INSERT. 200k
accounts are loaded first (not timed) so the contacts' pointers resolve. A second load of the
same rows shows a rerun.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validate import make_contacts  # noqa: E402

from crmmigrate.load import connect, load  # noqa: E402
from crmmigrate.model import MODEL  # noqa: E402
from crmmigrate.validate import load_rules, load_thresholds, validate  # noqa: E402
from crmmigrate.validate.rules import ValidationRules  # noqa: E402


def datasets(rows: int):
    contacts, accounts = make_contacts(rows)
    import pandas as pd

    account_frame = pd.DataFrame({"id": accounts["id"], "name": "Acme"}).astype("str")
    for name in MODEL.entity("account").field_names:
        if name not in account_frame:
            account_frame[name] = None
    account_frame["_custom"] = None
    account_frame["_issues"] = None
    account_frame["_source"], account_frame["_file"] = "bench", "accounts.csv"
    account_frame["_row"] = [str(i + 2) for i in range(len(account_frame))]
    contacts["_custom"] = None
    contacts["_issues"] = None
    return {"account": account_frame, "contact": contacts}


def timed_load(url: str, data, validation) -> tuple[float, float, int]:
    engine = connect(url)
    load(engine, {"account": data["account"]}, validation=validation, run_id="accounts")
    start = time.perf_counter()
    report = load(engine, data, validation=validation, run_id="first", entities=["contact"])
    first = time.perf_counter() - start
    start = time.perf_counter()
    load(engine, data, validation=validation, run_id="rerun", entities=["contact"])
    rerun = time.perf_counter() - start
    engine.dispose()
    loaded = sum(s.inserted for s in report.sources)
    return first, rerun, loaded


def plain_rows(url: str) -> tuple[list[str], list[tuple]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        columns = [c for c in sa.inspect(conn).get_columns("contact") if c["name"] != "id"]
        names = [c["name"] for c in columns]
        rows = conn.execute(sa.text(f"SELECT {', '.join(names)} FROM contact")).all()
    engine.dispose()
    as_text = lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v  # noqa: E731
    return names, [tuple(as_text(v) for v in r) for r in rows]


def plain_copy(url: str, names: list[str], rows: list[tuple], *, like_target: bool = False) -> float:
    """COPY of the rows into a bare table of the same columns or, `like_target`, into one with
    the target table's indexes and foreign key (what the database itself must do per row)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    table = "contact_indexed" if like_target else "contact_copy"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE contact {'INCLUDING ALL' if like_target else 'INCLUDING DEFAULTS'})")
        if like_target:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD FOREIGN KEY (account_id) REFERENCES account (id)")
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        start = time.perf_counter()
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def floor_copy(url: str, names: list[str], rows: list[tuple]) -> float:
    """The database's own share of a bulk load, done with plain SQL and no crmmigrate: COPY the
    rows into a bare table, build the target table's indexes and foreign key, COPY one id_map
    entry per row into a bare copy of id_map and build its key."""
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contact_floor (LIKE contact INCLUDING DEFAULTS)")
        conn.exec_driver_sql("CREATE TABLE id_map_floor (LIKE id_map INCLUDING DEFAULTS)")
    legacy = names.index("legacy_id")
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        start = time.perf_counter()
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY contact_floor (id, {', '.join(names)}) FROM STDIN") as copy:
                for i, row in enumerate(rows, 1):
                    copy.write_row((i, *row))
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("ALTER TABLE contact_floor ADD PRIMARY KEY (id)")
            cursor.execute("CREATE UNIQUE INDEX ON contact_floor (legacy_source, legacy_id)")
            cursor.execute("CREATE INDEX ON contact_floor (account_id)")
            cursor.execute("ALTER TABLE contact_floor ADD FOREIGN KEY (account_id) REFERENCES account (id)")
            with cursor.copy("COPY id_map_floor FROM STDIN") as copy:
                for i, row in enumerate(rows, 1):
                    copy.write_row(("contact", "bench", row[legacy], i, "loaded", None, "floor"))
            cursor.execute("ALTER TABLE id_map_floor ADD PRIMARY KEY (entity, source, legacy_id)")
        raw.commit()
        seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def plain_executemany(url: str, names: list[str], rows: list[tuple]) -> float:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contact_copy AS SELECT * FROM contact WHERE 0")
    raw = engine.raw_connection()
    start = time.perf_counter()
    cursor = raw.cursor()
    cursor.executemany(f"INSERT INTO contact_copy ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", rows)
    raw.commit()
    seconds = time.perf_counter() - start
    raw.close()
    engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    data = datasets(args.rows)
    rules = ValidationRules(phone_region="DE", entities=load_rules().entities)
    validation = validate(data, rules=rules, thresholds=load_thresholds())
    print(f"{args.rows:,} canonical contacts (2% invalid values, pointers into {len(data['account']):,} accounts)")
    print(f"{'':26}{'crmmigrate load':>17}{'rerun':>9}{'plain bulk write':>19}{'ratio':>8}")

    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = str(sa.make_url(args.postgres).set(database=name))
    try:
        first, rerun, loaded = timed_load(url, data, validation)
        names, rows = plain_rows(url)
        copy = plain_copy(url, names, rows)
        indexed = plain_copy(url, names, rows, like_target=True)
        print(f"{'PostgreSQL (COPY)':26}{loaded / first:>12,.0f} r/s{rerun:>8.1f}s{len(rows) / copy:>14,.0f} r/s"
              f"{first / copy:>7.1f}x")
        print(f"{'  COPY, target indexes+FK':26}{'':>17}{'':>9}{len(rows) / indexed:>14,.0f} r/s{first / indexed:>7.1f}x")
        floor = floor_copy(url, names, rows)
        print(f"{'  COPY+indexes+id_map, SQL':26}{'':>17}{'':>9}{len(rows) / floor:>14,.0f} r/s{first / floor:>7.1f}x")
        del rows  # a million tuples kept alive would slow what follows (Python's garbage collector)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        first, rerun, loaded = timed_load(url, data, validation)
        names, rows = plain_rows(url)
        plain = plain_executemany(url, names, rows)
        print(f"{'SQLite (executemany)':26}{loaded / first:>12,.0f} r/s{rerun:>8.1f}s{len(rows) / plain:>14,.0f} r/s"
              f"{first / plain:>7.1f}x")
    print("(rows/s of the first load; 'rerun' is a second load of the same rows, which writes nothing)")


if __name__ == "__main__":
    main()
