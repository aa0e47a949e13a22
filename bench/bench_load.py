r"""Load canonical contacts into PostgreSQL, SQLite and MariaDB; print rows/s beside the bulk
tools a user would reach for.

    python bench/bench_load.py [--rows 1000000] [--postgres URL] [--mariadb URL]

crmmigrate's load (pointer resolution through id_map, quarantine of invalid values, row
hashes, one id_map entry per row, transactions; COPY on PostgreSQL) is timed against, in the
same run and on the same rows: the rows crmmigrate wrote into the target's contact table are
read back once and written once to a CSV file (neither timed: the file is what the reference
starts from, where crmmigrate starts from DataFrames), then each reference is timed from the
moment its command starts to when it returns:

- PostgreSQL: `psql -c "\copy contact_bare (...) FROM 'file' CSV"` into a bare table of the
  same columns (no index, no key); and into a table like the target (same columns and
  defaults), followed in the same psql run by building the target table's indexes (primary
  key, unique legacy key, pointer index) and its foreign key.
- SQLite: `sqlite3 target.db ".import --csv file contact_bare"` into a bare table of the same
  columns; and into a table made by the target table's own CREATE TABLE, followed by its
  CREATE INDEX statements. (.import reads an empty field as '' where crmmigrate writes NULL.)
- MariaDB (if the client and server allow `LOAD DATA LOCAL INFILE`; else skipped with the
  reason): `mariadb -e "LOAD DATA LOCAL INFILE ..."` likewise into a bare table and into one
  made by the target's CREATE TABLE without its indexes, followed by them.

None of the references writes id_map entries, hashes, or quarantine, nor checks a pointer,
which crmmigrate does. 200k accounts are loaded first (not timed) so the contacts' pointers
resolve. A second load of the same rows shows a rerun.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
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
    """The rows crmmigrate wrote into contact, ids included."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = [c["name"] for c in sa.inspect(conn).get_columns("contact")]
        rows = conn.execute(sa.text(f"SELECT {', '.join(names)} FROM contact")).all()
    engine.dispose()
    return names, rows


def write_csv(path: Path, rows: list[tuple], null: str = "") -> None:
    """Text quoted, a missing value as `null` unquoted: how each tool tells NULL from ''."""
    def field(value) -> str:
        if value is None:
            return null
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        return '"' + str(value).replace('"', '""') + '"'

    with path.open("w", encoding="utf-8", newline="") as f:
        for row in rows:
            f.write(",".join(map(field, row)) + "\n")


def timed(command: list[str], script: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, input=script, text=True, check=True, capture_output=True)
    return time.perf_counter() - start


def psql_copy(url: str, names: list[str], csv_path: Path, *, like_target: bool = False) -> float:
    r"""`psql \copy` into a bare table or, `like_target`, into one like the target followed by
    the target table's indexes and foreign key (built after the copy, as a bulk load does)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    table = "contact_like" if like_target else "contact_bare"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE contact INCLUDING DEFAULTS)")
        indexes = [
            definition.replace(" ON public.contact ", f" ON public.{table} ").replace(
                f"INDEX {name} ", f"INDEX {table}_{name} ")
            for name, definition in conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'contact'")
        ]
        foreign = [
            f"ALTER TABLE {table} ADD FOREIGN KEY {definition[len('FOREIGN KEY '):]}"
            for (definition,) in conn.exec_driver_sql(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'contact'::regclass AND contype = 'f'")
        ]
    engine.dispose()
    link = sa.make_url(url)
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", link.host or "127.0.0.1",
               "-p", str(link.port or 5432), "-U", link.username or "postgres", "-d", link.database,
               "-c", f"\\copy {table} ({', '.join(names)}) FROM '{csv_path}' CSV"]
    for statement in (indexes + foreign) if like_target else []:
        command += ["-c", statement]
    return timed(command)


def sqlite_import(db: Path, names: list[str], csv_path: Path, *, like_target: bool = False) -> float:
    """`sqlite3 .import --csv` into a bare table or, `like_target`, into one made by the
    target's CREATE TABLE, followed by the target's CREATE INDEX statements."""
    con = sqlite3.connect(db)
    table = "contact_like" if like_target else "contact_bare"
    if like_target:
        (ddl,) = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'contact'").fetchone()
        con.execute(re.sub(r"^CREATE TABLE \"?contact\"?", f"CREATE TABLE {table}", ddl.strip()))
        indexes = [re.sub(r" ON \"?contact\"? ?\(", f" ON {table} (", sql.replace("INDEX ", f"INDEX {table}_", 1))
                   for (sql,) in con.execute(
                       "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contact' AND sql IS NOT NULL")]
    else:
        con.execute(f"CREATE TABLE {table} AS SELECT {', '.join(names)} FROM contact WHERE 0")
        indexes = []
    con.commit()
    con.close()
    script = [f".import --csv {csv_path} {table}", *(sql + ";" for sql in indexes)]
    return timed(["sqlite3", "-bail", str(db)], "\n".join(script) + "\n")


def mariadb_command(url: str) -> list[str]:
    link = sa.make_url(url)
    command = ["mariadb", "--local-infile=1", "-h", link.host or "127.0.0.1",
               "-P", str(link.port or 3306), "-u", link.username or "root"]
    if link.password:
        command.append(f"-p{link.password}")
    return [*command, link.database]


def mariadb_load(url: str, names: list[str], csv_path: Path, *, like_target: bool = False) -> float:
    """`LOAD DATA LOCAL INFILE` into a bare table or, `like_target`, into one made by the
    target's CREATE TABLE without its indexes, followed by them."""
    table = "contact_like" if like_target else "contact_bare"
    engine = sa.create_engine(url, poolclass=NullPool)
    after = []
    with engine.begin() as conn:
        if like_target:
            (_, ddl), = conn.exec_driver_sql("SHOW CREATE TABLE contact").all()
            keep, indexes = [], []
            lines = ddl.splitlines()
            for line in lines[1:-1]:
                line = line.strip().rstrip(",")
                if line.startswith(("KEY ", "UNIQUE KEY ", "CONSTRAINT ")):
                    indexes.append(line)
                else:
                    keep.append(line)
            conn.exec_driver_sql(f"CREATE TABLE {table} ({', '.join(keep)}) {lines[-1].strip()[1:]}")
            after = [f"ALTER TABLE {table} " + ", ".join(
                "ADD " + re.sub(r"CONSTRAINT `\w+` ", "", i) for i in indexes)] if indexes else []
        else:
            conn.exec_driver_sql(f"CREATE TABLE {table} AS SELECT {', '.join(names)} FROM contact WHERE 0")
    engine.dispose()
    load = (f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
            f"LINES TERMINATED BY '\\n' ({', '.join(names)})")
    return timed([*mariadb_command(url), "-e", "; ".join([load, *after])])


def mariadb_refusal(url: str) -> str | None:
    """Why LOAD DATA LOCAL INFILE cannot run here, or None."""
    if shutil.which("mariadb") is None:
        return "no mariadb client on PATH"
    done = subprocess.run([*mariadb_command(url), "-N", "-e", "SELECT @@local_infile"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"the server refused the client: {done.stderr.strip()}"
    if done.stdout.strip() != "1":
        return "the server has local_infile off"
    return None


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        count = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    engine.dispose()
    return count


def reference(label: str, url: str, table: str, seconds: float, rows: int, crmmigrate: float) -> None:
    """A reference's line, once its table is seen to hold every row (sqlite3 .import, for
    one, goes on past a line it cannot read)."""
    held = count_rows(url, table)
    line(label, seconds, rows, crmmigrate)
    if held != rows:
        print(f"  !! {table} holds {held:,} rows, not {rows:,}")


def line(label: str, seconds: float, rows: int, crmmigrate: float | None = None) -> None:
    ratio = f"{crmmigrate / seconds:>10.1f}x" if crmmigrate else ""
    print(f"  {label:40}{seconds:>9.1f}{rows / seconds:>12,.0f}{ratio}")


def fresh_database(admin_url: str, drop: str) -> tuple[str, Callable[[], None]]:
    """A new database on the server for one run, and what drops it."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def dropped() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(drop.format(name=name))
        admin.dispose()

    return str(sa.make_url(admin_url).set(database=name)), dropped


def crmmigrate_lines(url: str, data, validation) -> tuple[float, list[str], list[tuple]]:
    first, rerun, loaded = timed_load(url, data, validation)
    line("crmmigrate load", first, loaded, first)
    print(f"  {'crmmigrate rerun (writes nothing)':40}{rerun:>9.1f}")
    names, rows = plain_rows(url)
    return first, names, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mariadb", default="mysql+pymysql://root@127.0.0.1:3306/test")
    args = parser.parse_args()
    data = datasets(args.rows)
    rules = ValidationRules(phone_region="DE", entities=load_rules().entities)
    validation = validate(data, rules=rules, thresholds=load_thresholds())
    print(f"{args.rows:,} canonical contacts (2% invalid values, pointers into {len(data['account']):,} accounts)")
    print(f"  {'':40}{'seconds':>9}{'rows/s':>12}{'crmmigrate time / this':>24}")

    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "contacts.csv"

        print("PostgreSQL")
        url, drop = fresh_database(args.postgres, "DROP DATABASE {name} WITH (FORCE)")
        try:
            first, names, rows = crmmigrate_lines(url, data, validation)
            write_csv(csv_path, rows)
            count = len(rows)
            del rows  # a million tuples kept alive would slow what follows (Python's garbage collector)
            reference("psql \\copy, bare table", url, "contact_bare",
                      psql_copy(url, names, csv_path), count, first)
            reference("psql \\copy + target indexes and FK", url, "contact_like",
                      psql_copy(url, names, csv_path, like_target=True), count, first)
        finally:
            drop()

        print("SQLite")
        db = Path(folder) / "bench.db"
        first, names, rows = crmmigrate_lines(f"sqlite:///{db}", data, validation)
        write_csv(csv_path, rows)
        count = len(rows)
        del rows
        url = f"sqlite:///{db}"
        reference("sqlite3 .import, bare table", url, "contact_bare",
                  sqlite_import(db, names, csv_path), count, first)
        reference("sqlite3 .import + target indexes", url, "contact_like",
                  sqlite_import(db, names, csv_path, like_target=True), count, first)

        print("MariaDB")
        refusal = mariadb_refusal(args.mariadb)
        if refusal:
            print(f"  skipped: {refusal}")
            return
        url, drop = fresh_database(args.mariadb, "DROP DATABASE {name}")
        try:
            first, names, rows = crmmigrate_lines(url, data, validation)
            write_csv(csv_path, rows, null="NULL")
            count = len(rows)
            del rows
            reference("LOAD DATA LOCAL INFILE, bare table", url, "contact_bare",
                      mariadb_load(url, names, csv_path), count, first)
            reference("LOAD DATA + target indexes and FK", url, "contact_like",
                      mariadb_load(url, names, csv_path, like_target=True), count, first)
        finally:
            drop()


if __name__ == "__main__":
    main()
