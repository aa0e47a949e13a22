"""The whole `crmmigrate report` on a loaded target, beside the same aggregates written by hand
as plain SQL, same run, same kind of connection; in SQLite and PostgreSQL, at several sizes.

    python bench/bench_report.py [--contacts 100000 300000 1000000] [--dialects sqlite postgresql]
                                 [--postgres URL] [--seed 11] [--repeat 2]

Per size the target is built first (bench/report_target.py: realistic accounts, contacts,
opportunities with contact roles, cases, activities and leads, with the dirt the report looks
for; cached under bench/.cache for SQLite and in the database `bench_report` for PostgreSQL, so
reruns start at once); its build time is printed, not measured.

Then, each in a fresh Python process whose peak resident memory (VmHWM) is its own:
- `build_report(engine, rules=load_report_rules(), as_of=...)`, with its seconds per section
  (from its `progress` callback);
- the hand-written SQL of bench/report_sql.py: one query per table or finding, every row
  fetched, as a DBA would write them for that database.
The two alternate `--repeat` times (the first pair also warms the database's cache) and the
best time of each is printed, with the ratio (target: within 2x); the hand SQL's time is that
of the sections the report has. The report's metrics, table rows, findings (count and
population) and findings' example records must equal the hand SQL's: every difference is
printed, and the exit code is 1. `--sections` adds seconds per section on both sides, the hand
SQL's slowest queries and the report's slowest statements.

The PostgreSQL targets stay in the database `bench_report` (1.5 GB for 100k, 300k and 1M): drop
it to free the space.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import pickle
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from references import in_child, peak_rss  # noqa: E402

AS_OF = dt.date(2025, 6, 30)


def _engine(kind: str, where: str):
    """A read-only engine on the target, as `crmmigrate report` opens one: a SQLite path, or
    'URL#schema' for PostgreSQL (its tables found through search_path)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from crmmigrate.reporting.dialect import read_only

    if kind == "sqlite":
        return read_only(sa.create_engine(f"sqlite:///{where}", poolclass=NullPool))
    url, schema = where.split("#")
    return read_only(sa.create_engine(url, poolclass=NullPool, connect_args={"options": f"-csearch_path={schema}"}))


def _report_child(kind: str, where: str, as_of: str, result_path: str) -> None:
    """The child process that times build_report; pickles seconds, per-section seconds,
    metrics, tables and findings, and its peak RSS."""
    import sqlalchemy as sa

    from crmmigrate.reporting import build_report, load_report_rules

    rules = load_report_rules()
    engine = _engine(kind, where)
    marks: list[tuple[str, float]] = []
    statements: list[tuple[float, str]] = []  # each query's seconds (until its rows are read) and text

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _began(_conn, _cursor, statement, _parameters, context, _many) -> None:
        context._bench_started = (time.perf_counter(), statement)

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _ended(_conn, cursor, _statement, _parameters, context, _many) -> None:
        begun, statement = context._bench_started
        statements.append((time.perf_counter() - begun, statement))

    def progress(_stage: str, name: str, _done: int, _total: int) -> None:
        marks.append((name, time.perf_counter()))

    started = time.perf_counter()
    report = build_report(engine, rules=rules, as_of=dt.date.fromisoformat(as_of), progress=progress)
    seconds = time.perf_counter() - started
    engine.dispose()
    sections = section_seconds(marks, started + seconds)
    tables = {f"{s.key}.{t.key}": (t.columns, t.rows, t.truncated) for s in report.sections for t in s.tables}
    findings = {f.key: (f.count, f.of, [list(e.values()) for e in f.examples])
                for s in report.sections for f in s.findings}
    Path(result_path).write_bytes(pickle.dumps({
        "seconds": seconds, "sections": sections, "metrics": report.metrics, "tables": tables,
        "findings": findings, "statements": sorted(statements, reverse=True)[:8], "peak": peak_rss()}))


def section_seconds(marks: list[tuple[str, float]], finished: float) -> dict[str, float]:
    """Seconds per section from build_report's progress calls (a call as a section begins and
    another as it ends; or, with one call a section, until the next one begins)."""
    out: dict[str, float] = {}
    for i, (name, at) in enumerate(marks):
        if name in out:
            continue
        own = [t for n, t in marks if n == name]
        later = next((t for n, t in marks[i:] if n != name), finished)
        out[name] = (own[-1] if len(own) > 1 else later) - at
    return out


def _hand_child(kind: str, where: str, as_of: str, result_path: str) -> None:
    """The child process that times the hand-written SQL on one connection."""
    from crmmigrate.reporting import load_report_rules
    from report_sql import hand_findings, hand_metrics, hand_queries, run_hand, with_derived

    rules = load_report_rules()
    engine = _engine(kind, where)
    queries = hand_queries("sqlite" if kind == "sqlite" else "postgresql", dt.date.fromisoformat(as_of), rules)
    with engine.connect() as connection:
        rows, seconds = run_hand(connection, queries)
    engine.dispose()
    Path(result_path).write_bytes(pickle.dumps({
        "queries": seconds, "metrics": hand_metrics(rows), "findings": hand_findings(rows), "rows": with_derived(rows),
        "peak": peak_rss()}))


def section_of(query: str) -> str:
    """The report section a hand-written query stands for ('examples.pipeline.past_due': pipeline)."""
    parts = query.split(".")
    return parts[1] if parts[0] == "examples" else "picklists" if parts[0] == "values" else parts[0]


def hand_seconds(hand: dict, sections) -> dict[str, float]:
    """The hand SQL's seconds per report section, for the sections in `sections`."""
    out: dict[str, float] = {}
    for query, seconds in hand["queries"].items():
        if section_of(query) in sections:
            out[section_of(query)] = out.get(section_of(query), 0.0) + seconds
    return out


def _plain(value):
    """A value as both sides can be compared by: numbers as floats, dates as ISO text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _close(a, b) -> bool:
    """Equal, numbers within what rounding for display and summing in another order change
    (the report shows averages to 4 decimals, amounts to the cent)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=0.01)
    return a == b


def _unmatched(mine: list[tuple], theirs: list[tuple]) -> list[tuple]:
    """The rows of `mine` with no row of `theirs` to match (each matched once), rows matched by
    their text columns first, then number by number within `_close`."""
    by_text: dict[tuple, list[tuple]] = defaultdict(list)
    for row in theirs:
        by_text[tuple(v for v in row if not isinstance(v, float))].append(row)
    left = []
    for row in mine:
        candidates = by_text.get(tuple(v for v in row if not isinstance(v, float)), [])
        match = next((i for i, other in enumerate(candidates)
                      if len(other) == len(row) and all(_close(a, b) for a, b in zip(row, other))), None)
        if match is None:
            left.append(row)
        else:
            candidates.pop(match)
    return left


def differences(report: dict, hand: dict) -> list[str]:
    """Every metric, table and finding's examples the report and the hand SQL disagree on
    (a metric only one side gives is said apart: `missing`)."""
    out = []
    for name in sorted(set(report["metrics"]) & set(hand["metrics"])):
        mine, theirs = report["metrics"][name], hand["metrics"][name]
        if (mine is None) != (theirs is None) or (
                mine is not None and abs(mine - theirs) > 1e-9 * max(1.0, abs(theirs))):
            out.append(f"metric {name}: report {mine!r}, hand SQL {theirs!r}")
    for key, (columns, rows, truncated) in report["tables"].items():
        if key not in hand["rows"]:
            continue
        theirs = [tuple(_plain(v) for v in r) for r in hand["rows"][key]]
        width = len(theirs[0]) if theirs else len(columns)
        mine = [tuple(_plain(v) for v in r[:width]) for r in rows]
        if len(rows) + truncated != len(theirs):
            out.append(f"table {key}: report {len(rows)} rows + {truncated} left out, hand SQL {len(theirs)} rows")
        left = _unmatched(mine, theirs)
        if left:
            out.append(f"table {key}: {len(left)} of the report's rows not in the hand SQL's, e.g. {left[0]} "
                       f"(columns {columns[:width]})")
    for key, (count, of, examples) in report["findings"].items():
        counted = hand["findings"].get(key)
        if counted is not None and tuple(counted) != (count, of):
            out.append(f"finding {key}: report {count} of {of}, hand SQL {counted[0]} of {counted[1]}")
        theirs = hand["rows"].get(f"examples.{key}")
        if theirs is not None and [tuple(e[:2]) for e in examples] != [tuple(e[:2]) for e in theirs]:
            out.append(f"finding {key}: examples {[e[:2] for e in examples]}, hand SQL {[e[:2] for e in theirs]}")
    return out


def missing(report: dict, hand: dict) -> list[str]:
    """The metrics the hand SQL computes and the report does not (yet) give."""
    return sorted(set(hand["metrics"]) - {k for k, v in report["metrics"].items() if v is not None})


def measure(kind: str, where: str, repeat: int) -> tuple[dict, dict]:
    """build_report and the hand SQL, alternating `repeat` times; each one's best run."""
    best: dict[str, dict] = {}
    for _ in range(repeat):
        for name, function in (("hand", "_hand_child"), ("report", "_report_child")):
            result = in_child("bench_report", function, kind, where, AS_OF.isoformat())
            if name == "hand":  # timed over the sections the report has (all, once it is whole)
                result["sections"] = hand_seconds(result, best["report"]["sections"]) if "report" in best else {}
            if name not in best or _seconds(result) < _seconds(best[name]):
                best[name] = result
    hand = best["hand"]
    hand["sections"] = hand_seconds(hand, best["report"]["sections"])
    hand["seconds"] = sum(hand["sections"].values())
    return best["report"], hand


def _seconds(result: dict) -> float:
    return result["seconds"] if "seconds" in result else sum(result["queries"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--dialects", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server (its database bench_report holds the targets)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side; the best is shown")
    parser.add_argument("--sections", action="store_true", help="also print seconds per section and per query")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each line as it is measured, also into a file
    import report_target

    print(f"crmmigrate report vs the same aggregates in hand-written SQL, as of {AS_OF}; best of {args.repeat}; "
          f"each side in its own process")
    print(f"{'target':<24}{'report s':>9}{'hand SQL s':>11}{'ratio':>7}{'report MiB':>11}{'hand MiB':>9}"
          f"  numbers")
    failed = False
    for contacts in args.contacts:
        for kind in args.dialects:
            started = time.perf_counter()
            if kind == "sqlite":
                where = str(report_target.sqlite_target(contacts, args.seed))
            else:
                where = "#".join(report_target.postgres_target(args.postgres, contacts, args.seed))
            built = time.perf_counter() - started
            if built > 1:
                print(f"  (target built in {built:.0f} s, not measured)")
            report, hand = measure(kind, where, args.repeat)
            wrong = differences(report, hand)
            failed |= bool(wrong)
            label = f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'} {contacts:,}"
            print(f"{label:<24}{report['seconds']:>9.2f}{hand['seconds']:>11.2f}"
                  f"{report['seconds'] / hand['seconds']:>6.1f}x{report['peak'] / 2**20:>11,.0f}"
                  f"{hand['peak'] / 2**20:>9,.0f}  {'agree' if not wrong else f'{len(wrong)} DIFFER'}")
            if args.sections:
                print("    per section, report / hand SQL s: " + ", ".join(
                    f"{k} {v:.2f}/{hand['sections'].get(k, 0):.2f}" for k, v in report["sections"].items()))
                slow = sorted(hand["queries"].items(), key=lambda kv: -kv[1])[:5]
                print("    hand SQL, slowest queries: " + ", ".join(f"{k} {v:.2f}" for k, v in slow))
                for seconds, statement in report["statements"][:3]:
                    print(f"    report, slow query {seconds:.2f} s: {' '.join(statement.split())[:160]}")
            for line in wrong:
                print(f"    differs: {line}")
            absent = missing(report, hand)
            if absent:
                print(f"    not in the report (hand SQL only): {', '.join(absent)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
