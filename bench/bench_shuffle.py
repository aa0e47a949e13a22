"""Dedupe's candidate pairs held in the run's process beside the same pairs shuffled by blocking
key onto the workers of a Dask cluster: the run's (the driver's) memory, the workers', seconds.

    python bench/bench_shuffle.py [--sizes 100000 300000 1000000] [--workers 2] [--seed 7]
        [--pairs-per-task 2000000] [--timeout 3600]

What it runs, per size: `realistic.make_crm` (contacts at census name frequencies with their
accounts, namesakes, skewed companies, a tenth duplicates), cleaned by the clean stage as a run
does before dedupe and held as Arrow text as a run holds it (not timed), then the whole dedupe stage (`dedupe(datasets, rules)` with the
shipped rules: accounts, then contacts; blocking, comparing, fitting, scoring, clustering,
survivors), twice, each in a fresh child process handed the datasets as a pickle:
- held: every candidate pair made and compared in the child (`HeldPairs`), as the embedded engine
  and a LocalCluster do;
- shuffled: the child starts a LocalCluster of --workers worker processes (one thread each) and
  connects the cluster engine to its scheduler by address, as to a remote cluster (so the pairs
  do go to the workers: with a LocalCluster the engine starts itself, they stay in the run's
  process, which shares the cores), and dedupes with `pairing=engine.pairing`: each entity's
  pairs made, compared and scored in shares of about --pairs-per-task on the workers
  (`ShuffledPairs`), the child fitting and clustering from the shares' answers.

Printed per size and side: seconds of the dedupe stage (the LocalCluster's start excluded), the
child's peak resident memory (VmHWM: the run's process), the workers' highest peak (VmHWM of
each worker process, asked of the workers at the end), the candidate pairs, and whether the two
sides' results are the same (per entity: candidate pairs, pairs kept, clusters, merged records;
and every merged record's survivor). One run each, on a machine whose load is printed: run it
when the machine is quiet. On one machine the shuffled side can only cost time (its workers share
the run's cores and every answer crosses processes); what it shows is how the run's own memory
stops growing with the candidate pairs.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from realistic import make_crm  # noqa: E402
from references import in_child, peak_rss  # noqa: E402


def _dedupe_side(datasets_path: str, side: str, workers: str, pairs_per_task: str, result_path: str) -> None:
    """The child: the dedupe stage on the pickled datasets, its pairs `held` or `shuffled`."""
    import logging

    from crmmigrate.dedupe import dedupe, load_dedupe_rules

    datasets = pickle.loads(Path(datasets_path).read_bytes())
    rules = load_dedupe_rules()
    worker_peak = 0
    if side == "held":
        start = time.perf_counter()
        result = dedupe(datasets, rules)
        seconds = time.perf_counter() - start
    else:
        from distributed import LocalCluster

        from crmmigrate.engines import EngineOptions
        from crmmigrate.engines.cluster import ClusterEngine

        with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.ERROR) as cluster:
            engine = ClusterEngine(EngineOptions(name="dask", scheduler=cluster.scheduler_address,
                                                 pairs_per_task=int(pairs_per_task)))
            try:
                start = time.perf_counter()
                result = dedupe(datasets, rules, pairing=engine.pairing)
                seconds = time.perf_counter() - start
                worker_peak = max(engine.client.run(peak_rss).values())
            finally:
                engine.close()
    same = {e.entity: (e.candidates, len(e.pairs), len(e.clusters), len(e.merged),
                       sorted(zip(e.merged["legacy_id"], e.merged["survivor_id"], strict=True)))
            for e in result.entities}
    Path(result_path).write_bytes(pickle.dumps((seconds, peak_rss(), worker_peak, same)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000], help="contacts")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--pairs-per-task", type=int, default=2_000_000, help="pairs of a share, about")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a side may take")
    args = parser.parse_args()
    from crmmigrate.clean import clean, load_cleaning

    print("| contacts | side | dedupe s | run's peak | workers' peak | candidate pairs | same |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        crm = make_crm(size, args.seed)
        datasets = clean(crm.datasets(), rules=load_cleaning(None), region="US").datasets
        # Arrow text, as a run's records are (the generator makes Python strings, 2.8x the memory)
        datasets = {name: frame.astype({column: "str" for column in frame.columns}) for name, frame in datasets.items()}
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder, "datasets.pickle"))
            Path(path).write_bytes(pickle.dumps(datasets, protocol=pickle.HIGHEST_PROTOCOL))
            del datasets
            found = {}
            for side in ("held", "shuffled"):
                load = os.getloadavg()[0]
                found[side] = in_child("bench_shuffle", "_dedupe_side", path, side, str(args.workers),
                                       str(args.pairs_per_task), timeout=args.timeout)
                if found[side] is None:
                    print(f"| {size:,} | {side} | over {args.timeout:g} s | | | | |", flush=True)
                    continue
                seconds, peak, workers, same = found[side]
                pairs = sum(c for c, *_ in same.values())
                agree = "" if side == "held" or found["held"] is None else (
                    "yes" if same == found["held"][3] else "NO")
                shown = f"{workers / 1e9:.2f} GB" if workers else "-"
                print(f"| {size:,} | {side} | {seconds:.1f} | {peak / 1e9:.2f} GB | {shown} | {pairs:,} | {agree} |"
                      f" <!-- load {load:.1f} -->", flush=True)


if __name__ == "__main__":
    main()
