"""A large CSV read in parts (crmmigrate.extract.partitions, issue 20) beside reading it whole.

    python bench/bench_partitions.py [--mb 200] [--target-mb 32] [--workers 2] [--file PATH]

Writes once, under bench/data/, a cp1252 contacts CSV of about --mb megabytes with CRLF line
ends, a tenth of its records with a quoted note over two lines holding a comma and doubled
quotes, and a ragged line now and then (a reject). Then times, each in this process:
`partitions()` (the driver's open and header read, then the byte scan), the scan alone, the
whole read (every chunk of open_source), the parts read one after another, and the parts read
by a pool of --workers processes. The rows and rejects of the parts must add up to the whole's.
"""

from __future__ import annotations

import argparse
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from crmmigrate.extract import ExtractReport, Source, open_source
from crmmigrate.extract.partitions import Part, _split_points, open_part, partitions

DATA = Path(__file__).resolve().parent / "data"
FIRST = ["Jürgen", "José", "François", "Renée", "Noël", "Ann", "Bob", "Mary", "Peter", "Åse"]
LAST = ["Müller", "García", "Dupont", "Côté", "Smith", "O'Brien", "Ødegaard", "Brown"]


def make_csv(path: Path, megabytes: int) -> None:
    rng = random.Random(7)
    limit = megabytes << 20
    with path.open("w", encoding="cp1252", newline="") as f:
        f.write("Contact ID,First Name,Last Name,Email,Phone,City,Note,Created\r\n")
        i = 0
        while f.tell() < limit:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            note = ""
            if i % 10 == 0:
                note = f'"Called {first}, left a message\r\nsaid ""call back"" on {i % 28 + 1}.3."'
            elif i % 1000 == 7:
                f.write(f"C{i:08d},{first},{last},ragged line\r\n")
            f.write(
                f"C{i:08d},{first},{last},{first.lower()}.{i}@example.com,"
                f"+49 89 {rng.randrange(10**7):07d},München,{note},2019-{i % 12 + 1:02d}-01\r\n"
            )
            i += 1


def read_part(part: Part) -> tuple[int, int, ExtractReport]:
    extraction = open_part(part)
    rows = sum(len(chunk) for chunk in extraction.chunks())
    return rows, len(extraction.rejects), extraction.report


def timed(what: str, call):
    start = time.perf_counter()
    result = call()
    print(f"{what:<34} {time.perf_counter() - start:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--target-mb", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--file", type=Path, default=None, help="read this file instead")
    args = parser.parse_args()
    path = args.file
    if path is None:
        DATA.mkdir(exist_ok=True)
        path = DATA / f"partitions_{args.mb}mb.csv"
        if not path.exists():
            timed(f"write {path.name}", lambda: make_csv(path, args.mb))
    source = Source(location=str(path))
    target = args.target_mb << 20
    print(f"{path}: {path.stat().st_size / 1e6:,.0f} MB, parts of about {args.target_mb} MB")
    parts = timed("partitions()", lambda: partitions(source, target))
    timed("  of which the byte scan", lambda: _split_points(path, parts[0].decided, target))
    print(f"{len(parts)} parts")
    whole = open_source(source)
    rows = timed("whole read", lambda: sum(len(chunk) for chunk in whole.chunks()))
    done = timed("parts one after another", lambda: [read_part(p) for p in parts])
    with ProcessPoolExecutor(args.workers) as pool:
        timed(f"parts on {args.workers} processes", lambda: list(pool.map(read_part, parts)))
    report = ExtractReport.combine([r for _, _, r in done])
    assert report.as_dict() == whole.report.as_dict(), "the parts' report is not the whole's"
    assert sum(n for n, _, _ in done) == rows and report.rejected == len(whole.rejects)
    print(f"{rows:,} rows, {report.rejected:,} rejects, alike")


if __name__ == "__main__":
    main()
