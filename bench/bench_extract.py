"""Extract a 1M-row cp1251 CSV; print time and peak memory beside pandas' C reader.

    python bench/bench_extract.py [--rows 1000000]

The reference is `pandas.read_csv(dtype=str, engine="c")` + `to_parquet` on the same file,
with the encoding and delimiter given to it (crmmigrate detects them, checks every line's
width, keeps line numbers and rejects ragged lines, which pandas does not). Each side runs in
its own process so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

FIRST = ["Иван", "Анна", "Ольга", "Дмитрий", "John", "Mary", "Jürgen", "José", "Elena", "Peter"]
LAST = ["Петров", "Смирнова", "Кузнецова", "Smith", "Johnson", "Müller", "García", "Brown"]
CITY = ["Москва", "Санкт-Петербург", "Berlin", "Paris", "New York", "Казань", "Praha"]


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="cp1251", errors="replace", newline="") as f:
        f.write("ContactID;AccountID;First Name;Last Name;E-mail;Phone;Title;City;ZIP;Created\n")
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            f.write(
                f"C{i:07d};A{rng.randrange(rows // 5):06d};{first};{last};"
                f"user{i}@example.com;+7 495 {rng.randrange(10**7):07d};Manager;"
                f"{rng.choice(CITY)};{rng.randrange(10**5):05d};"
                f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.20{rng.randrange(10, 25)}\n"
            )


def run_crmmigrate(src: str, out: str) -> dict:
    from crmmigrate.extract import Source, extract

    start = time.perf_counter()
    report = extract(Source(location=src), Path(out))
    return {"seconds": time.perf_counter() - start, "rows": report.rows,
            "encoding": report.encoding, "delimiter": report.delimiter}


def run_pandas(src: str, out: str) -> dict:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(src, sep=";", encoding="cp1251", dtype=str, engine="c",
                        keep_default_na=False)
    frame.to_parquet(out, index=False)
    return {"seconds": time.perf_counter() - start, "rows": len(frame)}


def child(side: str, src: str, out: str) -> None:
    import resource

    result = (run_crmmigrate if side == "crmmigrate" else run_pandas)(src, out)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    DATA.mkdir(exist_ok=True)
    src = DATA / f"contacts_{args.rows}.csv"
    if not src.exists():
        make_csv(src, args.rows)
    size_mb = src.stat().st_size / 1e6
    print(f"input: {src.name}, {args.rows:,} rows, {size_mb:.0f} MB, cp1251, ';'")
    results = {}
    for side in ("crmmigrate", "pandas"):
        done = subprocess.run(
            [sys.executable, __file__, "--child", side, str(src), str(DATA / f"{side}.parquet")],
            capture_output=True, text=True, check=True,
        )
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{'':28}{'crmmigrate':>14}{'pandas C reader':>18}")
    c, p = results["crmmigrate"], results["pandas"]
    print(f"{'seconds':28}{c['seconds']:>14.1f}{p['seconds']:>18.1f}")
    print(f"{'rows/s':28}{c['rows'] / c['seconds']:>14,.0f}{p['rows'] / p['seconds']:>18,.0f}")
    print(f"{'peak memory (MB, max RSS)':28}{c['max_rss_mb']:>14,.0f}{p['max_rss_mb']:>18,.0f}")
    print(f"{'rows':28}{c['rows']:>14,}{p['rows']:>18,}")
    print(f"crmmigrate detected encoding {c['encoding']}, delimiter {c['delimiter']!r}")


if __name__ == "__main__":
    main()
