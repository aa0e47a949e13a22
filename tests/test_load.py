"""The loader against SQLite, PostgreSQL and MariaDB: schema, upsert, rerun, refusals, ledger."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.load import TargetUnreachable, check_target, connect, load
from crmmigrate.load import dialects as dialects_module
from crmmigrate.load import rows as rows_module
from crmmigrate.load.gate import loadable
from crmmigrate.model import MODEL
from crmmigrate.validate import load_rules, load_thresholds, validate


def dataset(entity: str, rows: list[dict[str, str | None]], source: str = "legacy") -> pd.DataFrame:
    columns = list(MODEL.entity(entity).field_names)
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns, dtype="str")
    frame["_custom"] = [r.get("_custom") for r in rows]
    frame["_issues"] = None
    frame["_source"] = source
    frame["_file"] = f"{entity}.csv"
    frame["_row"] = [str(i) for i in range(2, len(rows) + 2)]
    return frame


def sample_data() -> dict[str, pd.DataFrame]:
    accounts = dataset("account", [
        {"id": "A1", "name": "Acme", "industry": "Technology", "created_at": "2020-01-02T03:04:05",
         "_custom": '{"Region": "Москва"}'},
        {"id": "A2", "name": "Acme Child", "parent_id": "A1"},
        {"id": "A3", "name": "Globex", "parent_id": "A2", "email": "not an email"},
    ])
    contacts = dataset("contact", [
        {"id": "C1", "account_id": "A1", "last_name": "Müller", "email": "m@acme.com"},
        {"id": "C2", "account_id": "A9", "last_name": "王"},          # orphan: quarantined
        {"id": "C3", "account_id": "A3", "last_name": None},          # key missing: rejected
    ])
    opps = dataset("opportunity", [
        {"id": "O1", "account_id": "A1", "name": "Big", "stage": "Prospecting",
         "close_date": "2024-05-01", "amount": "1234.50", "probability": "10"},
    ])
    return {"account": accounts, "contact": contacts, "opportunity": opps}


def run_load(engine: sa.Engine, data: dict[str, pd.DataFrame], run_id: str = "r1", **options):
    result = validate(data, rules=load_rules(), thresholds=load_thresholds())
    return load(engine, data, validation=result, run_id=run_id, entities=list(data), **options)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def target(request, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'crm.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_database(request.getfixturevalue(f"{request.param}_url")) as engine:
        yield engine


@contextmanager
def fresh_database(base: str) -> Iterator[sa.Engine]:
    """A new empty database on the server of `base`, dropped afterwards."""
    name = f"crm_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = connect(str(sa.make_url(base).set(database=name)))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


def table(engine: sa.Engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {engine.dialect.identifier_preparer.quote(name)} ORDER BY id"), conn)


def ledger(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT entity, source, legacy_id, status FROM id_map ORDER BY entity, legacy_id"))]


@pytest.fixture(params=[0, 1], ids=["batches", "bulk"])
def bulk_rows(request, monkeypatch) -> int:
    """Load batch by batch, or in bulk from the first new row, in pieces of two records sent
    as CSV one row at a time (so every piece boundary is crossed)."""
    monkeypatch.setattr(rows_module, "BULK_PIECE_ROWS", 2)
    monkeypatch.setattr(dialects_module, "COPY_ROWS", 1)
    return request.param


def test_load_resolves_pointers_keeps_invalid_values_and_records_the_ledger(target, bulk_rows):
    report = run_load(target, sample_data(), bulk_rows=bulk_rows)

    assert check_target(target) == []
    accounts = table(target, "account")
    ids = dict(zip(accounts["legacy_id"], accounts["id"], strict=True))
    assert accounts["parent_id"].tolist()[:1] == [None] or pd.isna(accounts["parent_id"].iloc[0])
    assert int(accounts.loc[accounts.legacy_id == "A2", "parent_id"].iloc[0]) == ids["A1"]
    assert int(accounts.loc[accounts.legacy_id == "A3", "parent_id"].iloc[0]) == ids["A2"]
    globex = accounts[accounts.legacy_id == "A3"].iloc[0]
    assert globex["email"] is None or pd.isna(globex["email"])
    assert "not an email" in str(globex["quarantine"])
    assert "Москва" in str(accounts.loc[accounts.legacy_id == "A1", "custom"].iloc[0])
    contacts = table(target, "contact")
    assert contacts["legacy_id"].tolist() == ["C1", "C2"]
    assert int(contacts["account_id"].iloc[0]) == ids["A1"]
    assert pd.isna(contacts["account_id"].iloc[1])
    assert "A9" in str(contacts["quarantine"].iloc[1])
    opp = table(target, "opportunity").iloc[0]
    assert str(opp["close_date"])[:10] == "2024-05-01"
    assert float(opp["amount"]) == 1234.5
    assert ledger(target) == [
        ("account", "legacy", "A1", "loaded"), ("account", "legacy", "A2", "loaded"),
        ("account", "legacy", "A3", "loaded"), ("contact", "legacy", "C1", "loaded"),
        ("contact", "legacy", "C2", "loaded"), ("contact", "legacy", "C3", "rejected"),
        ("opportunity", "legacy", "O1", "loaded"),
    ]
    assert [(s.entity, s.inserted, s.rejected) for s in report.sources] == [
        ("account", 3, 0), ("contact", 2, 1), ("opportunity", 1, 0)]
    assert report.rejects[0]["reason"] == "last_name: missing required value"


def test_a_required_value_present_but_invalid_is_rejected_as_invalid_not_empty(target, bulk_rows):
    opps = dataset("opportunity", [
        {"id": "O1", "name": "Bad date", "stage": "Prospecting", "close_date": "31.02.2021"},
        {"id": "O2", "name": "No date", "stage": "Prospecting", "close_date": None},
        {"id": "O3", "name": "Both", "stage": "won-ish", "close_date": "  "},
        {"id": "O4", "name": "Fine", "stage": "Prospecting", "close_date": "2021-03-01"},
    ])

    report = run_load(target, {"opportunity": opps}, bulk_rows=bulk_rows)

    assert [(r["legacy_id"], r["reason"]) for r in report.rejects] == [
        ("O1", "required field close_date invalid, '31.02.2021': "
               "not a date (YYYY-MM-DD); map it with a date transform"),
        ("O2", "required field(s) close_date empty"),
        ("O3", "required field stage invalid, 'won-ish': not in the picklist; required field(s) close_date empty"),
    ]
    assert table(target, "opportunity")["legacy_id"].tolist() == ["O4"]


def test_load_rejects_name_the_date_that_does_not_exist_and_the_format_read(tmp_path, monkeypatch):
    """The user's path: a legacy file and its mapping straight to `load`; the reject file says
    why a present close date could not be loaded."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deals.csv").write_bytes(
        "DealNo;Title;Close\nD1;A;31.02.2021\nD2;B;\nD3;C;01.04.2021\n".encode("cp1252"))
    (tmp_path / "deals.yaml").write_text(
        'entity: opportunity\nsource: {delimiter: ";"}\nfields:\n  id: DealNo\n  name: Title\n'
        '  stage: {value: Prospecting}\n'
        '  close_date: {from: Close, transforms: [{date: {formats: ["%d.%m.%Y"]}}]}\n', encoding="utf-8")

    result = CliRunner().invoke(app, ["load", "deals.yaml=deals.csv", "-t", "sqlite:///crm.db", "--allow-failing"])

    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(tmp_path / "load.rejects.csv", dtype=str)
    assert rejects[["legacy_id", "reason"]].values.tolist() == [
        ["D1", "required field close_date invalid, '31.02.2021': "
               "not a date: day 31 does not exist in February 2021 (read as DD.MM.YYYY)"],
        ["D2", "required field(s) close_date empty"],
    ]


def test_a_rerun_changes_nothing_and_a_changed_row_updates_one_target_row(target, bulk_rows):
    data = sample_data()
    run_load(target, data, bulk_rows=bulk_rows)
    before = table(target, "contact")

    again = run_load(target, data, run_id="r2", bulk_rows=bulk_rows)

    assert [(s.inserted, s.updated) for s in again.sources] == [(0, 0), (0, 0), (0, 0)]
    assert table(target, "contact").equals(before)
    data["contact"].loc[0, "email"] = "new@acme.com"
    changed = run_load(target, data, run_id="r3")
    assert [(s.entity, s.updated) for s in changed.sources if s.updated] == [("contact", 1)]
    after = table(target, "contact")
    assert after["email"].tolist()[0] == "new@acme.com"
    assert after["id"].tolist() == before["id"].tolist()


def test_legacy_ids_that_differ_only_in_case_are_two_records(target, bulk_rows):
    """Legacy ids compare byte for byte on every database (MariaDB's default collation folds case)."""
    data = {"account": dataset("account", [{"id": "acc-1", "name": "Acme"}, {"id": "ACC-1", "name": "Globex"}])}
    report = run_load(target, data, bulk_rows=bulk_rows)

    assert [(s.inserted, s.rejected) for s in report.sources] == [(2, 0)]
    assert sorted(table(target, "account")["legacy_id"]) == ["ACC-1", "acc-1"]
    assert ledger(target) == [("account", "legacy", "ACC-1", "loaded"), ("account", "legacy", "acc-1", "loaded")]


def test_dry_run_commits_nothing(target, bulk_rows):
    report = run_load(target, sample_data(), dry_run=True, bulk_rows=bulk_rows)

    assert report.sources[0].inserted == 3
    assert table(target, "account").empty
    assert ledger(target) == []


@pytest.mark.parametrize("server", [pytest.param("postgres", marks=pytest.mark.postgres),
                                    pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_rows_the_database_refuses_are_rejected_with_its_reason_and_the_batch_saved(request, server, bulk_rows):
    with fresh_database(request.getfixturevalue(f"{server}_url")) as engine:
        deal = {"stage": "Prospecting", "close_date": "2024-01-01"}
        data = {"opportunity": dataset("opportunity", [
            {"id": "O1", "name": "Deal", "amount": "10", **deal},
            {"id": "O2", "name": "Big", "amount": "1" + "0" * 20, **deal},
            {"id": "O3", "name": "Deal 3", "amount": "5", **deal}])}
        # In bulk, the refused COPY undoes the whole source, which then goes batch by batch.
        report = run_load(engine, data, bulk_rows=bulk_rows)

        # Validation has no bound for amounts; the database's NUMERIC(20, 4) has one, and says so.
        assert table(engine, "opportunity")["legacy_id"].tolist() == ["O1", "O3"]
        assert report.sources[0].rejected == 1
        reason = report.rejects[0]["reason"]
        assert reason.startswith("database refused: ")
        assert "overflow" in reason.lower() or "out of range" in reason.lower()
        assert [r[3] for r in ledger(engine)] == ["loaded", "rejected", "loaded"]


def test_a_hierarchy_cycle_is_loaded_without_parents_and_kept_in_quarantine(target):
    data = {"account": dataset("account", [
        {"id": "A", "name": "a", "parent_id": "B"}, {"id": "B", "name": "b", "parent_id": "A"}])}

    run_load(target, data)

    accounts = table(target, "account")
    assert accounts["parent_id"].isna().all()
    assert all("in a parent cycle" in str(q) for q in accounts["quarantine"])


def test_the_gate_holds_back_failing_entities_and_their_children():
    data = sample_data()
    data["contact"].loc[2, "last_name"] = "Lee"
    data["account"] = dataset("account", [{"id": f"A{i}", "name": "n", "email": "bad"} for i in range(10)])
    result = validate(data, rules=load_rules(), thresholds=load_thresholds())

    order, held = loadable(result)

    assert order == []
    assert held == {"account": "gate failed: account.email",
                    "contact": "points into account, which is held back",
                    "opportunity": "points into account, which is held back"}
    assert loadable(result, allow_failing=True)[0] == ["account", "contact", "opportunity"]


@pytest.mark.mariadb
def test_a_password_never_appears_in_a_connection_error(mariadb_url):
    url = str(sa.make_url(mariadb_url).set(password="s3cret-pw", username="nobody"))

    with pytest.raises(TargetUnreachable) as caught:
        connect(url)

    assert "s3cret-pw" not in str(caught.value)
    assert "***" in str(caught.value)


def test_target_commands(tmp_path):
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'crm.db'}"

    created = runner.invoke(app, ["target", "init", url])
    assert created.exit_code == 0
    assert "created 9 table(s)" in created.stdout  # 7 entities, id_map, merged_record
    assert runner.invoke(app, ["target", "check", url]).stdout.strip().endswith("matches the target schema")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE "case"'))
    engine.dispose()
    checked = runner.invoke(app, ["target", "check", url])
    assert checked.exit_code == 1
    assert "table 'case' is missing" in checked.stdout


# -- bulk loads ----------------------------------------------------------------------------------

BULK_TARGETS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                pytest.param("mariadb", marks=pytest.mark.mariadb)]


@pytest.fixture(params=BULK_TARGETS)
def bulk_target(request, tmp_path, monkeypatch) -> Iterator[sa.Engine]:
    monkeypatch.setattr(rows_module, "BULK_PIECE_ROWS", 2)
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'crm.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_database(request.getfixturevalue(f"{request.param}_url")) as engine:
        yield engine


def contacts(*ids: str, email: str = "x@acme.com", source: str = "legacy") -> pd.DataFrame:
    return dataset("contact", [{"id": i, "last_name": f"Name {i}", "email": email} for i in ids], source)


def test_a_bulk_load_keeps_the_schema_and_later_batches_continue_its_ids(bulk_target):
    run_load(bulk_target, {"contact": contacts("C1", "C2", "C3")}, bulk_rows=1)

    assert check_target(bulk_target) == []
    inspector = sa.inspect(bulk_target)
    assert {i["name"] for i in inspector.get_indexes("contact")} >= {"uq_contact_legacy", "ix_contact_account_id"}
    if bulk_target.dialect.name == "postgresql":
        assert {f["name"] for f in inspector.get_foreign_keys("contact")} == {"fk_contact_account_id"}
    # Three more by batches (fewer than the table holds): their ids follow the bulk's.
    more = contacts("C1", "C2", "C3", "C4", "C5")
    report = run_load(bulk_target, {"contact": more}, run_id="r2", bulk_rows=1)
    assert [(s.inserted, s.unchanged) for s in report.sources] == [(2, 3)]
    loaded = table(bulk_target, "contact")
    assert loaded["legacy_id"].tolist() == ["C1", "C2", "C3", "C4", "C5"]
    assert loaded["id"].tolist() == list(range(loaded["id"].iloc[0], loaded["id"].iloc[0] + 5))
    with pytest.raises(sa.exc.IntegrityError):  # the unique key is back
        with bulk_target.begin() as conn:
            conn.execute(sa.text("INSERT INTO contact (id, legacy_source, legacy_id, last_name, row_hash, run_id) "
                                 "VALUES (999, 'legacy', 'C1', 'x', 'h', 'r')"))


HOSTILE_TEXT = ['say "hi"', "two\nlines\r\nand a CR", "back\\slash\\", "NULL", "", "comma, and ;", "tab\there",
                "😀 emoji and 王 and Müller", "\\N", "'single'", "trailing \\"]


def _hostile_data() -> dict[str, pd.DataFrame]:
    """Every kind of column the target has (text, dates, times, numbers, booleans, JSON,
    pointers), with values that trip CSV and LOAD DATA: quotes, line breaks, backslashes, the
    words NULL and \\N, empty text beside a missing value, emoji."""
    accounts = dataset("account", [
        {"id": f"A{i}", "name": f"Acme {text}", "industry": text or None, "created_at": "2020-01-02T03:04:05",
         "_custom": '{"note": "' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                    .replace("\r", "\\r").replace("\t", "\\t") + '"}'}
        for i, text in enumerate(HOSTILE_TEXT)])
    contacts = dataset("contact", [
        {"id": f"C{i}", "account_id": f"A{i}", "last_name": f"Name {text}", "first_name": text,
         "title": None if i % 2 else text, "email": f"c{i}@acme.com"} for i, text in enumerate(HOSTILE_TEXT)])
    opps = dataset("opportunity", [
        {"id": f"O{i}", "account_id": f"A{i}", "name": f"Deal {text}", "stage": "Prospecting",
         "close_date": "2024-05-01", "amount": ["1234.50", None, "0", "99999.9999"][i % 4],
         "probability": ["10", None][i % 2]} for i, text in enumerate(HOSTILE_TEXT)])
    roles = dataset("opportunity_contact_role", [
        {"id": f"R{i}", "opportunity_id": f"O{i}", "contact_id": f"C{i}", "role": "Decision Maker",
         "is_primary": ["true", "false", None][i % 3]} for i in range(len(HOSTILE_TEXT))])
    return {"account": accounts, "contact": contacts, "opportunity": opps, "opportunity_contact_role": roles}


@pytest.mark.mariadb
def test_a_mariadb_bulk_load_by_load_data_writes_what_batches_write(mariadb_url, monkeypatch):
    """LOAD DATA LOCAL INFILE of Arrow's CSV gives the rows the batches' upserts give, value for
    value, ids and the ledger included, whatever the text holds; and it is the path taken."""
    from crmmigrate.load.bulk import BulkLoader

    monkeypatch.setattr(rows_module, "BULK_PIECE_ROWS", 4)
    bulked: list[tuple[str, bool]] = []  # each source the bulk path took, and whether it kept it
    real = BulkLoader._load_bulk

    def kept(self, *args, **kwargs):
        bulked.append((self.entity.name, real(self, *args, **kwargs)))
        return bulked[-1][1]

    monkeypatch.setattr(BulkLoader, "_load_bulk", kept)
    found = {}
    for bulk in (0, 1):
        with fresh_database(mariadb_url) as engine:
            report = run_load(engine, _hostile_data(), bulk_rows=bulk)
            assert [s.rejected for s in report.sources] == [0, 0, 0, 0]
            found[bulk] = {name: table(engine, name).drop(columns=["run_id"])
                           for name in ("account", "contact", "opportunity", "opportunity_contact_role")}
            found[bulk]["id_map"] = ledger(engine)
        # Batches only, then every source by LOAD DATA, none of them refused and loaded again.
        assert bulked == ([] if not bulk else [(name, True) for name in found[bulk] if name != "id_map"])
    for name, batches in found[0].items():
        if name == "id_map":
            assert found[1][name] == batches
        else:
            pd.testing.assert_frame_equal(found[1][name], batches, check_exact=True)
    contact = found[1]["contact"].set_index("legacy_id")
    # The word NULL and \\N stay words; empty text is no value, on either path.
    assert contact["first_name"].fillna("").tolist() == HOSTILE_TEXT
    assert contact["title"].isna().tolist() == [bool(i % 2) or not text for i, text in enumerate(HOSTILE_TEXT)]


@pytest.mark.mariadb
def test_a_mariadb_server_without_load_data_local_loads_batch_by_batch(mariadb_url, monkeypatch):
    """A server that takes no LOAD DATA LOCAL (local_infile off, as some hosted ones) sends the
    source batch by batch, with the same rows: the bulk path is a speed, not a requirement."""
    with fresh_database(mariadb_url) as engine:
        real = engine.dialect.do_execute
        asked = []

        def no_local(cursor, statement, parameters, context=None):
            if statement.strip() == "SELECT @@local_infile":
                asked.append(statement)
                statement = "SELECT 0"
            return real(cursor, statement, parameters, context)

        monkeypatch.setattr(engine.dialect, "do_execute", no_local)
        report = run_load(engine, {"contact": contacts("C1", "C2", "C3")}, bulk_rows=1)
        assert asked, "the bulk path asked the server"
        assert [(s.inserted, s.rejected) for s in report.sources] == [(3, 0)]
        assert ledger(engine) == [("contact", "legacy", f"C{i}", "loaded") for i in range(1, 4)]


@pytest.mark.mariadb
def test_a_mariadb_server_asking_for_a_file_gets_nothing(mariadb_url, tmp_path):
    """The target's connections may take LOAD DATA LOCAL, but the driver sends only the piece
    the bulk path's statement names, from memory: a statement naming a file on this machine
    (what a hostile server's request amounts to) is refused, outside a bulk load or inside."""
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n", encoding="utf-8")
    statement = f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE scratch"
    with fresh_database(mariadb_url) as engine:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE scratch (v TEXT)")
        with engine.connect() as connection:
            # Outside a bulk load PyMySQL takes no file request at all (and drops the connection).
            with pytest.raises((RuntimeError, sa.exc.DBAPIError)):
                connection.exec_driver_sql(statement)
            connection.invalidate()
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            raw._local_infile, raw._crmmigrate_piece = True, ("crmmigrate-piece-0.csv", b"x\n")
            try:  # inside one, only the piece its statement names
                with pytest.raises(sa.exc.DBAPIError, match="not the piece its statement names"):
                    connection.exec_driver_sql(statement)
            finally:
                raw._local_infile, raw._crmmigrate_piece = False, None
            connection.rollback()
            assert connection.exec_driver_sql("SELECT count(*) FROM scratch").scalar_one() == 0


def test_a_bulk_load_updates_changed_rows_and_upserts_the_ledger_of_earlier_runs(bulk_target):
    data = {"contact": dataset("contact", [{"id": "C1", "last_name": "Name C1", "email": "x@acme.com"},
                                           {"id": "C2", "last_name": None}])}
    first = run_load(bulk_target, data, bulk_rows=1)
    assert [(s.inserted, s.rejected) for s in first.sources] == [(1, 1)]

    # C2 is fixed, C1 changed, and three new ones outnumber the one row in the table.
    again = {"contact": contacts("C1", "C2", "C3", "C4", "C5", email="new@acme.com")}
    second = run_load(bulk_target, again, run_id="r2", bulk_rows=1)

    assert [(s.inserted, s.updated, s.rejected) for s in second.sources] == [(4, 1, 0)]
    loaded = table(bulk_target, "contact")
    assert loaded["email"].tolist() == ["new@acme.com"] * 5
    assert ledger(bulk_target) == [("contact", "legacy", f"C{i}", "loaded") for i in range(1, 6)]
    with bulk_target.connect() as conn:
        pairs = conn.execute(sa.text("SELECT m.legacy_id, c.legacy_id FROM id_map m JOIN contact c "
                                     "ON c.id = m.target_id")).all()
    assert sorted(pairs) == [(f"C{i}", f"C{i}") for i in range(1, 6)]


def test_a_bulk_load_rejects_a_repeated_legacy_id_as_batches_do(bulk_target):
    data = {"contact": contacts("C1", "C2", "C3", " C2")}  # the same id once trimmed

    report = run_load(bulk_target, data, bulk_rows=1)

    assert [(s.inserted, s.rejected) for s in report.sources] == [(2, 2)]
    assert [(r["_row"], r["reason"]) for r in report.rejects] == [
        ("3", "id: duplicate id in its source"), ("5", "id: duplicate id in its source")]
    assert ledger(bulk_target) == [("contact", "legacy", "C1", "loaded"), ("contact", "legacy", "C2", "rejected"),
                                   ("contact", "legacy", "C3", "loaded")]


def test_a_bulk_load_resolves_pointers_into_the_records_of_its_own_run(bulk_target):
    data = sample_data()
    more = dataset("contact", [{"id": f"C{i}", "account_id": "A2", "last_name": "n"} for i in range(4, 9)])
    more["_file"] = "more.csv"
    data["contact"] = pd.concat([data["contact"], more], ignore_index=True)

    report = run_load(bulk_target, data, bulk_rows=1)

    assert [(s.entity, s.inserted, s.rejected) for s in report.sources] == [
        ("account", 3, 0), ("contact", 7, 1), ("opportunity", 1, 0)]
    accounts = table(bulk_target, "account").set_index("legacy_id")["id"]
    loaded = table(bulk_target, "contact").set_index("legacy_id")["account_id"]
    assert [int(loaded[f"C{i}"]) for i in range(4, 9)] == [int(accounts["A2"])] * 5


def test_a_staging_file_that_fails_sends_the_source_batch_by_batch(tmp_path, monkeypatch):
    @contextmanager
    def failing_stage(_path):
        def send(_rows):
            raise dialects_module.StagingFailed("disk full")
        yield send

    monkeypatch.setattr(dialects_module, "_sqlite_stage", failing_stage)
    engine = connect(f"sqlite:///{tmp_path / 'crm.db'}")

    report = run_load(engine, {"contact": contacts("C1", "C2", "C3")}, bulk_rows=1)

    assert [(s.inserted, s.rejected) for s in report.sources] == [(3, 0)]
    assert ledger(engine) == [("contact", "legacy", f"C{i}", "loaded") for i in range(1, 4)]
    engine.dispose()


@pytest.mark.parametrize(("bulk_rows", "statement"), [(1, "INSERT INTO main."), (1, "INSERT INTO id_map"),
                                                      (0, "INSERT INTO contact"), (0, "INSERT INTO id_map")])
def test_ctrl_c_in_a_load_stops_it_and_is_not_taken_for_a_refusal(tmp_path, monkeypatch, bulk_rows, statement):
    """Ctrl-C arriving in one of the bulk write's statements (the rows copied in, their id_map
    entries written), or in a batch's: SQLAlchemy closes the connection, and the clean-up after
    it failed on the closed database. That error stood in for the interrupt and was taken for a
    refusal: the source was loaded batch by batch (or row by row) and the run went on to the end,
    Ctrl-C ignored (found by interrupting a 300k run at its load)."""
    from sqlalchemy.engine.default import DefaultDialect

    engine = connect(f"sqlite:///{tmp_path / 'crm.db'}")
    interrupted = []

    def interrupting(real):
        def execute(self, cursor, sql, parameters, context=None):
            if sql.lstrip().startswith(statement) and not interrupted:
                interrupted.append(sql)
                raise KeyboardInterrupt
            return real(self, cursor, sql, parameters, context)
        return execute

    try:
        with monkeypatch.context() as patch:
            for name in ("do_execute", "do_executemany"):  # a batch's rows go in one executemany
                patch.setattr(DefaultDialect, name, interrupting(getattr(DefaultDialect, name)))
            with pytest.raises(KeyboardInterrupt):
                run_load(engine, {"contact": contacts("C1", "C2", "C3")}, bulk_rows=bulk_rows)
        assert interrupted
        assert table(engine, "contact").empty and ledger(engine) == []  # the source's one transaction: nothing kept
        report = run_load(engine, {"contact": contacts("C1", "C2", "C3")}, bulk_rows=bulk_rows)  # and run again
        assert [(s.inserted, s.rejected) for s in report.sources] == [(3, 0)]
    finally:
        engine.dispose()


def test_a_refusal_raised_while_ctrl_c_was_under_way_is_the_ctrl_c():
    from crmmigrate.load.batch import not_interrupted

    def refused_during(interrupt: BaseException | None) -> sa.exc.DBAPIError:
        try:
            try:
                if interrupt is not None:
                    raise interrupt
                raise ValueError("a value")
            finally:  # a clean-up that fails on the connection the interrupt closed
                raise sa.exc.DBAPIError("ROLLBACK", None, Exception("Cannot operate on a closed database."))
        except sa.exc.DBAPIError as error:
            return error

    assert not_interrupted(refused_during(None)) is None  # a refusal (after another error) stays one
    with pytest.raises(KeyboardInterrupt):
        not_interrupted(refused_during(KeyboardInterrupt()))
    with pytest.raises(SystemExit):
        not_interrupted(refused_during(SystemExit(2)))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crmmigrate.load.schema import LEGACY_ID_LENGTH, id_map_key, id_map_keys  # noqa: E402

_PADDING = st.sampled_from([" ", "\t", "\n", "\x1c", "\x1f", "\x85", "\xa0", "\u2003", "\u3000", "\u200b", "\ufeff"])
_IDS = st.one_of(st.none(), st.text(max_size=8),
                 st.builds(lambda pad, core, end: pad + core + end, st.text(_PADDING, max_size=3), st.text(max_size=6),
                           st.text(_PADDING, max_size=3)),
                 st.integers(LEGACY_ID_LENGTH - 1, LEGACY_ID_LENGTH + 2).map(lambda n: "x" * n))


@settings(max_examples=200, deadline=None)
@given(st.lists(_IDS, max_size=30))
def test_id_map_keys_are_id_map_key_of_each_record(ids):
    """The ledger check's keys (Arrow) are the keys id_map_key gives one by one, and the
    loader's trim of the ids it keeps is the same: padding that Python's strip takes off (the
    separators U+001C to U+001F among it) taken off, a blank, missing or too long id keyed by
    its row."""
    frame = pd.DataFrame({"id": pd.Series(ids, dtype=object), "_row": [str(i + 2) for i in range(len(ids))]})
    wanted = [id_map_key(i, r) for i, r in zip(frame["id"].tolist(), frame["_row"].tolist(), strict=True)]
    for dtype in ("str", object):
        assert id_map_keys(frame["id"].astype(dtype), frame["_row"]).to_pylist() == wanted
    # The loader keys the rows it loads by its own trim: the same wherever it keeps the id.
    loaded = rows_module.arrow_text(frame["id"].astype("str")).to_pylist()
    assert [key for key, kept in zip(wanted, loaded, strict=True) if kept is not None and len(kept) <= LEGACY_ID_LENGTH] \
        == [kept for kept in loaded if kept is not None and len(kept) <= LEGACY_ID_LENGTH]


def test_overlapping_collector_pauses_turn_it_back_on_once_the_last_ends():
    import gc
    import threading

    from crmmigrate.load.dialects import collector_paused

    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with collector_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with collector_paused():
        thread.start()
        assert inside.wait(10)
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's pause goes on
    leave.set()
    thread.join(10)
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def _texts_table(engine: sa.Engine) -> sa.Table:
    table = sa.Table("crm_texts", sa.MetaData(), sa.Column("key", sa.Text), sa.Column("n", sa.Double),
                     sa.Column("said", sa.Text))
    table.create(engine)
    return table


def test_rows_inserted_and_read_back_as_committed_arrow_columns_on_every_database(target):
    import pyarrow as pa

    from crmmigrate.load.dialects import Dialect, dialect_for

    table = _texts_table(target)
    # 45,000 rows: more than one piece of the executemany path; none, quotes, commas, newlines
    # and text beyond Latin-1 on the way there and back.
    keys = [f"k{i}" for i in range(45_000)]
    rows = pa.table({"key": pa.array(keys), "n": pa.array([None if i % 7 == 0 else i / 4 for i in range(45_000)]),
                     "said": pa.array([None, 'a "quoted", comma', "two\nlines", "Müller 王"] * 11_250)})
    dialect = dialect_for(target)
    with target.connect() as connection:
        dialect.insert_rows(connection, table, rows)
        connection.commit()
    schema = pa.schema([("key", pa.string()), ("n", pa.float64()), ("said", pa.string())])
    query = sa.select(table.c.key, table.c.n, table.c.said).order_by(table.c.key)
    found = dialect.fetch_committed(target, query, schema)
    by_driver = Dialect.fetch_committed(dialect, target, query, schema)  # the portable path
    assert found.schema == schema and found.equals(by_driver)
    assert found.sort_by("key").to_pylist() == rows.sort_by("key").to_pylist()
    selected = dialect.fetch_committed(target, sa.select(table.c.said).where(table.c.key == "k2"),
                                       pa.schema([("said", pa.string())]))
    assert selected.column(0).to_pylist() == ["two\nlines"]  # a bound value
    # A number where text is asked for (an id_map rebuilt by hand, without column types) is read as text.
    numbers = dialect.fetch_committed(target, sa.select(table.c.n).where(table.c.key.in_(["k1", "k7"]))
                                      .order_by(table.c.key), pa.schema([("n", pa.string())]))
    assert numbers.column(0).to_pylist() == ["0.25", None]


def test_reading_id_maps_statuses_keeps_the_locks_this_process_holds_on_a_sqlite_target(tmp_path):
    """A second SQLite library in the process (ADBC's links its own) closing its handle on the
    target would drop every POSIX lock the process holds on the file: another process could then
    write under the run's own readers and writers (a review found it; SQLite's "how to corrupt"
    names it). The statuses are read through the run's own driver."""
    import sqlite3
    import subprocess
    import sys

    import pyarrow as pa

    from crmmigrate.load.id_map import Ledger
    from crmmigrate.load.schema import init_target

    path = tmp_path / "crm.db"
    engine = connect(f"sqlite:///{path}")
    try:
        init_target(engine)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # this process's write lock, as a load holds it
        try:
            statuses = Ledger(engine, "r1").statuses("contact", "legacy", pa.array(["C1"], pa.string()))
            assert statuses.to_pylist() == [None]
            other = subprocess.run(
                [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0); "
                 "c.execute('BEGIN IMMEDIATE'); print('took the write lock')", str(path)],
                capture_output=True, text=True, timeout=60)
            assert "database is locked" in other.stderr and "took the write lock" not in other.stdout
        finally:
            holder.rollback()
            holder.close()
    finally:
        engine.dispose()


class _Refused(Exception):
    pass


def _pieces_behind(fail_piece: int | None, slow: threading.Event | None = None):
    done: list[int] = []

    def work(number: int) -> None:
        if slow is not None:
            assert slow.wait(30)
        if number == fail_piece:
            raise _Refused(f"piece {number}")
        done.append(number)
    return done, work


def test_pieces_are_written_in_order_each_refusal_raised_when_the_next_is_handed_over():
    done, work = _pieces_behind(fail_piece=None)
    with dialects_module._one_piece_behind("test", work) as hand_over:
        for number in range(5):
            hand_over(number)
    assert done == [0, 1, 2, 3, 4]  # all of them written, in order, before leaving

    done, work = _pieces_behind(fail_piece=1)
    with pytest.raises(_Refused, match="piece 1"), dialects_module._one_piece_behind("test", work) as hand_over:
        for number in range(5):
            hand_over(number)
    assert done == [0]  # nothing handed over after the refusal


def test_a_pieces_refusal_is_raised_before_an_error_making_the_next_piece():
    """The database refused piece 0 while piece 1 was being made, and making it failed too: the
    refusal is what the loader hears (it sends the source batch by batch), the other error its
    context."""
    slow = threading.Event()
    done, work = _pieces_behind(fail_piece=0, slow=slow)
    with pytest.raises(_Refused, match="piece 0") as raised, \
            dialects_module._one_piece_behind("test", work) as hand_over:
        hand_over(0)
        slow.set()  # piece 0 goes on, and fails, while piece 1 is made
        raise ValueError("making piece 1")
    assert isinstance(raised.value.__context__, ValueError)


def test_ctrl_c_while_a_piece_is_written_is_what_is_raised_once_the_piece_is_done():
    slow = threading.Event()
    done, work = _pieces_behind(fail_piece=0, slow=slow)
    with pytest.raises(KeyboardInterrupt), dialects_module._one_piece_behind("test", work) as hand_over:
        hand_over(0)
        slow.set()
        raise KeyboardInterrupt
    # and a caller's error with no refusal under way is its own
    done, work = _pieces_behind(fail_piece=None)
    with pytest.raises(ValueError, match="mine"), dialects_module._one_piece_behind("test", work) as hand_over:
        hand_over(0)
        raise ValueError("mine")
    assert done == [0]  # the piece under way was finished first
