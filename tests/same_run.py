"""Two runs of one project held to each other: the same staged files, change log, ledger,
clusters and target rows, row for row (the engines' tests, and the embedded engine's reading in
forked processes against its reading here)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from crmmigrate.migration import load_migration
from crmmigrate.run import RunResult, run_migration

# What differs between two runs of one project by nature: when and by which run.
RUN_KEYS = ("sources", "clean", "dedupe", "gate", "load", "kept_from_earlier_runs", "merges", "ledger",
            "ledger_ok", "id_map_repaired")
PER_RUN_COLUMNS = {"run_id", "loaded_at", "updated_at", "decided_at"}


def configure(config: Path, *, name: str, engine: str | None) -> Path:
    """A copy of `config` beside it whose runs and target are its own, on `engine` (YAML)."""
    text = config.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith(("target:", "run_dir:"))]
    lines = [f"target: sqlite:///{name}.db", f"run_dir: runs-{name}", *lines]
    if engine:
        lines.append(engine)
    copy = config.with_name(f"{name}.yaml")
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return copy


def run(config: Path, **options) -> RunResult:
    return run_migration(load_migration(config), **options)


def _run_json(result: RunResult) -> dict:
    data = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    picked = {key: data[key] for key in RUN_KEYS}
    for source in picked["sources"]:
        source.pop("seconds")
        source.pop("files")
    return json.loads(json.dumps(picked).replace(str(result.run_dir), "RUN"))


def _files(run_dir: Path) -> dict[str, Path]:
    skip = {"run.json", "report.json", "report.html"}
    return {str(p.relative_to(run_dir)): p for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name not in skip}


def _tables(url: str) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    try:
        found = {}
        with engine.connect() as connection:
            for table in sa.inspect(connection).get_table_names():
                frame = pd.read_sql_table(table, connection)
                frame = frame.drop(columns=[c for c in frame.columns if c in PER_RUN_COLUMNS])
                order = frame.astype(str).sort_values(list(frame.columns)).index  # JSON columns are lists
                found[table] = frame.loc[order].reset_index(drop=True)
        return found
    finally:
        engine.dispose()


def assert_same_run(local: RunResult, cluster: RunResult) -> None:
    """Every staged file, log and report line, the run's figures and the target's rows equal."""
    assert _run_json(cluster) == _run_json(local)
    ours, theirs = _files(local.run_dir), _files(cluster.run_dir)
    assert sorted(theirs) == sorted(ours)
    for name, path in ours.items():
        if path.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(theirs[name]), pd.read_parquet(path), obj=name)
        elif path.suffix != ".html":
            assert theirs[name].read_bytes().replace(str(cluster.run_dir).encode(), b"RUN") == \
                path.read_bytes().replace(str(local.run_dir).encode(), b"RUN"), name
    local_rows, cluster_rows = _tables(local.target), _tables(cluster.target)
    assert sorted(cluster_rows) == sorted(local_rows)
    for table, frame in local_rows.items():
        pd.testing.assert_frame_equal(cluster_rows[table], frame, obj=table)
    assert not cluster.mismatches
