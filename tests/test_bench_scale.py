"""bench/bench_scale.py at a tiny size: the embedded and the cluster engine each run the legacy
set in a subprocess, the figures it prints are measured for both, and the two runs' ledgers and
dedupe summaries agree. No timing is asserted, only that each figure is there."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_scale  # noqa: E402
import legacy_set  # noqa: E402

CONTACTS, SEED = 1500, 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("legacy")
    legacy_set.make_legacy_set(folder, CONTACTS, SEED)
    work = tmp_path_factory.mktemp("runs")
    return {engine: bench_scale.measure(folder, work / engine, engine, workers=2, memory_limit="1GiB",
                                        contacts=CONTACTS)
            for engine in bench_scale.ENGINES}


def test_both_engines_run_to_a_balanced_ledger_and_agree(runs):
    for run in runs.values():
        assert run["exit"] == 0, Path(run["log"]).read_text()
        assert run["ledger_ok"] is True and run["status"] == "done"
        assert bench_scale.ok(run)
    assert runs["local"]["ledger"] and runs["local"]["dedupe"]["entities"]
    assert bench_scale.same_ledger(runs) is True


def test_the_dask_run_ran_on_a_local_cluster_of_the_workers_asked_for(runs):
    assert runs["local"]["run_engine"] == {"name": "local"}
    engine = runs["dask"]["run_engine"]
    assert (engine["name"], engine["scheduler"], engine["workers"]) == ("dask", "LocalCluster", 2)
    assert engine["memory_limit"] == 2 * 2**30
    assert len(runs["dask"]["worker_starts"]) >= 2  # the worker processes were seen under the run
    assert runs["dask"]["worker_peak"] > 0
    assert runs["local"]["worker_starts"] == []


def test_every_figure_of_the_table_is_measured(runs):
    for run in runs.values():
        assert run["wall"] > 0 and run["cpu"] > 0 and run["load"] >= 0
        assert run["driver_peak"] > 0 and run["tree_peak"] > 0 and run["tree_rss_peak"] >= run["tree_peak"]
        assert run["rows"] > CONTACTS
        assert set(bench_scale.COLUMNS) <= run["timings"].keys()
        assert run["spilled"] >= 0
    assert runs["dask"]["tree_peak"] > runs["dask"]["worker_peak"]  # the workers' memory is in the tree's
    printed = bench_scale.table(runs)
    assert printed.count("\n") == 3 and "| local |" in printed and "| dask (2 x 1GiB) |" in printed
    assert bench_scale.ratios(runs).startswith("dask/local: wall ")
    assert {"driver", "tree", "worker"} <= runs["dask"]["peak_steps"].keys()
    assert runs["local"]["peak_steps"]["driver"] != "start"  # a step of the log
    for run in runs.values():
        driver, others = run["tree_split"]  # the tree's peak: the driver's share and the rest's
        assert driver > 0 and others >= 0 and driver + others == run["tree_peak"]
        assert "the tree's peak: the driver " in bench_scale.peaks_text({"local": run})
        samples = (Path(run["log"]).parent / "memory.tsv").read_text(encoding="utf-8").splitlines()
        assert samples[0].startswith("seconds\tdriver PSS MB") and len(samples) > 2
        seconds, driver_mb, others_mb, processes, cpu, step = samples[-1].split("\t")
        assert float(seconds) > 0 and int(driver_mb) > 0 and int(others_mb) >= 0 and int(processes) >= 1 and step
        spent = [float(sample.split("\t")[4]) for sample in samples[1:]]  # every process's CPU seconds so far
        assert spent == sorted(spent) and 0 < float(cpu) <= run["cpu"] + 1
    assert bench_scale.crossover({CONTACTS: runs}).startswith("The cluster engine is ")


def test_a_spilled_worker_store_is_counted(tmp_path):
    assert bench_scale.spill_bytes(tmp_path) == 0
    store = tmp_path / "dask-scratch-space" / "worker-abc123" / "storage"
    store.mkdir(parents=True)
    (store / "('clean_part-1', 0)").write_bytes(b"x" * 1000)
    (tmp_path / "dask-scratch-space" / "global.lock").write_bytes(b"y" * 50)  # not a store
    assert bench_scale.spill_bytes(tmp_path) == 1000
    spilled = {"engine": "dask", "spilled": 3 * 2**20, "memory_lines": [], "worker_starts": [1.0, 1.0], "workers": 2}
    assert bench_scale.spill_text(spilled) == "3 MB"
    assert bench_scale.spill_text(spilled | {"spilled": 0, "worker_starts": [1.0, 1.0, 30.0]}) == \
        "no, restarted (worker(s) started at 30 s)"
    died = ["distributed.worker - ERROR - Worker stream died during communication: tcp://127.0.0.1:36803"]
    assert [line for line in died if any(w in line.lower() for w in bench_scale.TROUBLE_WORDS)] == died
    assert bench_scale.spill_text(spilled | {"memory_lines": died}) == "3 MB, 1 log line(s)"


def test_the_step_a_peak_came_in_is_the_one_the_log_named_last():
    lines = ["crmmigrate: 10:00:01 clean contact: started, 5 to do", "| a table line |",
             "crmmigrate: 10:00:04 dedupe contact: blocking: done, 5 in 0.1 s",
             "crmmigrate: 10:00:09 load contact: started"]
    today = time.strftime("%Y-%m-%d ")

    def at(clock: str) -> float:
        return time.mktime(time.strptime(today + clock, "%Y-%m-%d %H:%M:%S"))

    assert bench_scale.doing(lines, at("10:00:05")) == "dedupe contact: blocking"
    assert bench_scale.doing(lines, at("10:00:01")) == "clean contact"
    assert bench_scale.doing(lines, at("09:59:59")) == "start"
