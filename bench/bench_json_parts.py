"""JSON Lines and a JSON array read in parts (crmmigrate.extract.partitions) beside reading them
whole, and beside pandas' own JSON reader, on the same file in the same run.

    python bench/bench_json_parts.py [--contacts 1000000] [--target-mb 16] [--workers 2]

The file is the cases of bench/legacy_set.py's set of --contacts contacts (0.23 cases a contact,
JSON Lines as the generator writes them: an export's fields, UTC stamps, descriptions over two
lines), and the same records written as one JSON array. Each measure runs in a process of its
own, which reports its seconds and its peak memory (max RSS, with any processes it started):

- `whole`: every chunk of open_source, in one process: the read before the parts;
- `parts`: partitions() (the byte scan), the survey for the columns (the parts' keys read on
  the pool side by side, then combined), then the parts read on a pool of --workers processes,
  taken in order: as the run's forked readers read them;
- `pandas`: pandas.read_json(lines=True for JSON Lines, dtype=False): no line numbers, no
  rejects, nested objects left as dicts; the reference a user would reach for.

The rows, rejects and reports of the parts must add up to the whole's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA = Path(__file__).resolve().parent / "data"


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _read_part(part):
    from crmmigrate.extract.partitions import open_part

    extraction = open_part(part)
    rows = sum(len(chunk) for chunk in extraction.chunks())
    return rows, len(extraction.rejects), extraction.report


def measure(what: str, path: Path, target_bytes: int, workers: int) -> dict:
    """One measure, in this process."""
    from crmmigrate.extract import ExtractReport, Source, open_source
    from crmmigrate.extract.partitions import part_keys, partitions, with_survey

    source = Source(location=str(path))
    start = time.perf_counter()
    out: dict = {}
    if what == "whole":
        extraction = open_source(source)
        out["rows"] = sum(len(chunk) for chunk in extraction.chunks())
        out["rejects"] = len(extraction.rejects)
        out["report"] = extraction.report.as_dict()
    elif what == "parts":
        with ProcessPoolExecutor(workers) as pool:
            parts = partitions(source, target_bytes, surveyed=False)
            parts = with_survey(parts, list(pool.map(part_keys, parts)))  # side by side, as a run surveys
            out["parts"] = len(parts)
            out["survey_s"] = time.perf_counter() - start
            done = list(pool.map(_read_part, parts))
        report = ExtractReport.combine([r for _, _, r in done])
        out["rows"] = sum(n for n, _, _ in done)
        out["rejects"] = report.rejected
        out["report"] = report.as_dict()
    else:
        import pandas as pd

        frame = pd.read_json(path, lines=path.suffix == ".jsonl", dtype=False)
        out["rows"] = len(frame)
    out["seconds"] = time.perf_counter() - start
    out["peak_mb"] = _peak_mb()
    return out


def measured(what: str, path: Path, target_bytes: int, workers: int) -> dict:
    """`measure` in a fresh process (its peak memory its own)."""
    found = subprocess.run([sys.executable, __file__, "--one", what, str(path), str(target_bytes), str(workers)],
                           check=True, capture_output=True, text=True)
    return json.loads(found.stdout.strip().splitlines()[-1])


def as_array(lines: Path, array: Path) -> None:
    """The JSON Lines file's records as one JSON array, a record a line."""
    with lines.open(encoding="utf-8") as f, array.open("w", encoding="utf-8") as out:
        out.write("[\n")
        first = True
        for line in f:
            if line.strip():
                out.write(("" if first else ",\n") + line.rstrip("\n"))
                first = False
        out.write("\n]\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--target-mb", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        what, path, target, workers = args.one
        print(json.dumps(measure(what, Path(path), int(target), int(workers)), default=str))
        return
    from legacy_set import cached_legacy_set

    folder = cached_legacy_set(args.contacts)
    lines = folder / "cases.jsonl"
    DATA.mkdir(exist_ok=True)
    array = DATA / f"cases_{args.contacts}.json"
    if not array.exists():
        as_array(lines, array)
    target = args.target_mb << 20
    print(f"parts of about {args.target_mb} MB, {args.workers} worker processes")
    print("| file | MB | read | seconds | peak MB | rows | parts | of which the survey s |")
    print("|---|---|---|---|---|---|---|---|")
    for path in (lines, array):
        results = {what: measured(what, path, target, args.workers) for what in ("whole", "parts", "pandas")}
        whole, parts = results["whole"], results["parts"]
        assert (parts["rows"], parts["rejects"], parts["report"]) == (whole["rows"], whole["rejects"], whole["report"]), \
            f"{path.name}: the parts do not add up to the whole read"
        assert results["pandas"]["rows"] == whole["rows"]
        for what, found in results.items():
            survey = f"{found['survey_s']:.2f}" if "survey_s" in found else ""
            print(f"| {path.name} | {path.stat().st_size / 1e6:,.0f} | {what} | {found['seconds']:.2f} | "
                  f"{found['peak_mb']:,.0f} | {found['rows']:,} | {found.get('parts', '')} | {survey} |")
    print("the parts' rows, rejects and reports equal the whole read's")


if __name__ == "__main__":
    main()
