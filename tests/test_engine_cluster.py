"""The cluster engine (`engine: dask`) against the embedded one: the same project run on both,
on a LocalCluster of two worker processes, gives the same staged files, change log, ledger,
clusters and target rows, row for row; a worker killed mid-run is replaced, its tasks run
again, and the run still reconciles exactly."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from crmmigrate.config import BadConfig
from crmmigrate.engines import EngineOptions
from crmmigrate.engines.cluster import ClusterUnreachable
from crmmigrate.migration import load_migration
from crmmigrate.run import RunResult
from crmmigrate.scaffold import init_project

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from legacy_set import make_legacy_set  # noqa: E402
from realistic import make_crm  # noqa: E402
from same_run import assert_same_run, configure, run  # noqa: E402

distributed = pytest.importorskip("distributed")

@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A LocalCluster of two worker processes, one thread each, for the module's runs."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    init_project(tmp_path / "project")
    return tmp_path / "project" / "migration.yaml"


def test_the_samples_run_the_same_on_a_cluster(samples: Path, scheduler: str) -> None:
    local = run(configure(samples, name="local", engine=None), allow_failing=True)
    # Parts of 2,000 bytes, slices of 100 rows, 40 pairs a task: everything in many parts.
    engine = (f"engine: {{name: dask, scheduler: '{scheduler}', part_bytes: 2000, partition_rows: 100, "
              "pairs_per_task: 40}")
    cluster = run(configure(samples, name="cluster", engine=engine), allow_failing=True)
    assert len(cluster.sources) == len(local.sources)
    assert max(found.candidates for found in cluster.dedupe.entities) > 40  # compared in several tasks
    assert_same_run(local, cluster)
    assert json.loads((cluster.run_dir / "run.json").read_text())["engine"]["workers"] == 2


CONTACTS = int(os.environ.get("CRMMIGRATE_CLUSTER_TEST_CONTACTS", "100000"))


def test_the_samples_run_the_same_on_a_cluster_the_run_starts(samples: Path) -> None:
    """`engine: {name: dask, workers: 2}`: the run starts its own LocalCluster (and, its workers
    sharing this machine's cores, checks rows and compares pairs in its own process)."""
    local = run(configure(samples, name="local", engine=None), allow_failing=True)
    cluster = run(configure(samples, name="cluster", engine="engine: {name: dask, workers: 2, part_bytes: 3000, "
                            "partition_rows: 100, memory_limit: 1GiB}"), allow_failing=True)
    assert_same_run(local, cluster)
    described = json.loads((cluster.run_dir / "run.json").read_text())["engine"]
    assert described["workers"] == 2 and described["scheduler"] == "LocalCluster"
    assert described["memory_limit"] == 2 * 2**30


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated legacy set (bench/legacy_set.py): every entity, every format, census names."""
    folder = tmp_path_factory.mktemp("legacy")
    make_legacy_set(folder, contacts=CONTACTS, seed=11)
    return folder / "migration.yaml"


def test_a_generated_set_runs_the_same_on_a_cluster(generated: Path, scheduler: str) -> None:
    local = run(configure(generated, name="local", engine=None))
    engine = (f"engine: {{name: dask, scheduler: '{scheduler}', part_bytes: 4000000, partition_rows: 60000, "
              "pairs_per_task: 300000}")
    cluster = run(configure(generated, name="cluster", engine=engine))
    assert sum(line.extracted for line in cluster.ledger) > 3 * CONTACTS
    assert_same_run(local, cluster)


def test_a_worker_killed_mid_run_is_replaced_and_the_run_reconciles(samples: Path) -> None:
    """The run's own LocalCluster: one worker killed (SIGKILL) while it holds tasks; its nanny
    starts another, the scheduler runs the lost tasks again, and nothing differs."""
    local = run(configure(samples, name="local", engine=None), allow_failing=True)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    try:
        engine = (f"engine: {{name: dask, scheduler: '{cluster.scheduler_address}', part_bytes: 2000, "
                  "partition_rows: 50}")
        config = configure(samples, name="cluster", engine=engine)
        outcome: dict[str, object] = {}
        thread = threading.Thread(target=lambda: outcome.update(result=_catching(config)))
        thread.start()
        pids = client.run(os.getpid)
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and thread.is_alive() and time.monotonic() < deadline:
            busy = [address for address, tasks in client.processing().items() if tasks]
            if busy:
                killed = pids[busy[0]]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.01)
        thread.join(timeout=600)
        assert killed is not None, "the run ended before a worker could be killed"
        result = outcome["result"]
        assert isinstance(result, RunResult), result
        # The nanny started a worker in the killed one's place (polled: it takes a moment).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(client.scheduler_info()["workers"]) < 2
                                               or killed in client.run(os.getpid).values()):
            time.sleep(0.2)
        assert len(client.scheduler_info()["workers"]) == 2
        assert killed not in client.run(os.getpid).values()
        assert_same_run(local, result)
    finally:
        client.close()
        cluster.close()


def _catching(config: Path) -> object:
    try:
        return run(config, allow_failing=True)
    except Exception as exc:  # noqa: BLE001 - the test shows what the run raised
        return exc


def test_engine_options_are_checked_with_the_line(samples: Path) -> None:
    for engine, message in (("engine: {name: dask, workers: 0}", "engine.workers"),
                            ("engine: {name: local, workers: 2}", "they are the dask engine's"),
                            ("engine: {name: dask, memory_limit: 2 gigs}", "not an amount of memory: '2 gigs'"),
                            ("engine: spark", "engine")):
        with pytest.raises(BadConfig, match=message):
            load_migration(configure(samples, name="bad", engine=engine))
    assert load_migration(configure(samples, name="ok", engine="engine: dask")).engine == EngineOptions(name="dask")


def test_a_scheduler_that_does_not_answer_is_a_clear_error(samples: Path) -> None:
    from crmmigrate.engines.cluster import ClusterEngine

    with pytest.raises(ClusterUnreachable, match="no Dask scheduler answered at tcp://127.0.0.1:9"):
        ClusterEngine(EngineOptions(name="dask", scheduler="tcp://127.0.0.1:9"), connect_seconds=2)


def test_the_command_line_chooses_the_engine(samples: Path) -> None:
    """`run --engine/--scheduler/--workers` over the config's `engine:`; a scheduler or a
    worker count alone means the dask engine; a LocalCluster's keys go with a scheduler."""
    from typer.testing import CliRunner

    from crmmigrate.cli import app
    from crmmigrate.errors import BadUsage
    from crmmigrate.migration import with_engine

    config = configure(samples, name="cli", engine="engine: {name: dask, workers: 3, memory_limit: 1GiB, "
                       "partition_rows: 77}")
    migration = load_migration(config)
    assert with_engine(migration).engine == migration.engine
    assert with_engine(migration, engine="local").engine == EngineOptions(name="local", partition_rows=77)
    assert with_engine(migration, scheduler="tcp://h:8786").engine == EngineOptions(
        name="dask", scheduler="tcp://h:8786", partition_rows=77)
    plain = load_migration(configure(samples, name="plain", engine=None))
    assert with_engine(plain, workers=2).engine == EngineOptions(name="dask", workers=2)
    with pytest.raises(BadUsage, match="--engine: name: Input should be 'local' or 'dask'"):
        with_engine(plain, engine="spark")
    result = CliRunner().invoke(app, ["run", str(config), "--engine", "spark"])
    assert result.exit_code == 2
    assert "--engine: name: Input should be 'local' or 'dask'" in result.output


def test_cleaning_on_the_workers_is_cleaning_here(sample_datasets, scheduler: str) -> None:
    """The engine's clean (slices cleaned on the workers, their changed cells applied to this
    process's records) gives clean's records, dtypes included, change log and report."""
    from crmmigrate.clean import clean, load_cleaning
    from crmmigrate.engines.cluster import ClusterEngine

    rules = load_cleaning(None)
    whole = clean(sample_datasets, rules=rules, region="US")
    engine = ClusterEngine(EngineOptions(name="dask", scheduler=scheduler, partition_rows=45))
    try:
        sliced = engine.clean(sample_datasets, rules=rules, region="US", regions=None, progress=lambda *_: None)
    finally:
        engine.close()
    assert whole.changes.shape[0] > 100
    for entity, frame in whole.datasets.items():
        pd.testing.assert_frame_equal(sliced.datasets[entity], frame.reset_index(drop=True), obj=entity)
    pd.testing.assert_frame_equal(sliced.changes, whole.changes)
    pd.testing.assert_frame_equal(sliced.notes, whole.notes)
    assert sliced.as_dict() == whole.as_dict()


def test_a_scheduler_without_workers_or_with_other_workers_is_refused(scheduler: str, monkeypatch) -> None:
    """A task sent to a scheduler with no workers would wait for ever; workers in another
    directory would read other files by the sources' relative paths, with another install
    clean otherwise: each is refused before anything is read, saying which."""
    from crmmigrate.engines.cluster import ClusterEngine

    empty = distributed.LocalCluster(n_workers=0, dashboard_address=":0", silence_logs=logging.CRITICAL)
    try:
        with pytest.raises(ClusterUnreachable, match=r"has no workers \(waited 1 s\)"):
            ClusterEngine(EngineOptions(name="dask", scheduler=empty.scheduler_address), connect_seconds=1)
    finally:
        empty.close()
    elsewhere = {**ClusterEngine._here(), "cwd": "/somewhere/else"}
    monkeypatch.setattr(ClusterEngine, "_here", staticmethod(lambda: elsewhere))
    with pytest.raises(ClusterUnreachable, match=r"works in another directory \(.*\) than this run \(/somewhere/else\)"):
        ClusterEngine(EngineOptions(name="dask", scheduler=scheduler), connect_seconds=5)


def test_what_the_cluster_raises_is_told_as_the_cluster_failing(scheduler: str) -> None:
    """A worker lost for good (KilledWorker) or a cancelled task is the cluster's failure, told
    as such (exit 4, the machine's, with what to do), not as a bug of crmmigrate nor as bad
    input; any other error is not its."""
    from distributed.scheduler import KilledWorker

    from crmmigrate.engines.cluster import ClusterEngine, ClusterLost, _same_records
    from crmmigrate.errors import EXIT_LOST

    engine = ClusterEngine(EngineOptions(name="dask", scheduler=scheduler))
    try:
        told = engine.lost(KilledWorker("read_part-1", "tcp://127.0.0.1:1", 3))
        assert isinstance(told, ClusterLost) and told.exit_code == EXIT_LOST == 4
        assert "memory_limit" in str(told)
        assert engine.lost(ValueError("no")) is None
    finally:
        engine.close()
    frame = pd.DataFrame({"_source": ["s"] * 3, "_file": ["f"] * 3, "_row": ["1", "2", "3"], "id": ["a", "b", "c"]})
    from crmmigrate.engines.cluster import _identity

    _same_records(frame, 1, 2, _identity(frame.iloc[1:3]), "contact")
    with pytest.raises(ClusterLost, match="rows 2 to 3\\) are not the ones this run read"):
        _same_records(frame, 1, 2, _identity(frame.iloc[0:2]), "contact")


def test_dedupe_with_its_pairs_shuffled_on_the_workers_is_dedupe_here(scheduler: str) -> None:
    """A realistic set (names at their census frequencies, namesakes, a tenth duplicates) of
    accounts and contacts deduplicated with every entity's pairs made, compared and scored in
    shares on the workers (`ShuffledPairs`, many shares of few pairs) gives what holding every
    pair here gives: the same pairs and evidence, model, histogram, clusters, merged records
    and surviving records; and each answer the shares give is the answer of all the pairs."""
    import numpy as np

    from crmmigrate.dedupe import dedupe, load_dedupe_rules, match
    from crmmigrate.defaults import RULES_DIR
    from crmmigrate.engines.cluster import ClusterEngine
    from crmmigrate.engines.shuffle import ShuffledPairs

    crm = make_crm(4000, seed=5)
    rules = load_dedupe_rules(RULES_DIR / "dedupe.yaml")
    engine = ClusterEngine(EngineOptions(name="dask", scheduler=scheduler, pairs_per_task=300))
    made: list[object] = []

    def pairing(values, spec, blocked):
        made.append(engine.pairing(values, spec, blocked))
        return made[-1]

    try:
        here = dedupe(crm.datasets(), rules)
        there = dedupe(crm.datasets(), rules, pairing=pairing)

        # The answers one by one, on the contacts' pairs: shuffled against held.
        spec = rules.entities["contact"]
        values = match.prepared(crm.contacts.reset_index(drop=True), spec.fields)
        held = match.candidates(values, spec)
        shuffled = match.candidates(values, spec, pairing=engine.pairing)
        assert isinstance(shuffled, ShuffledPairs) and shuffled.count > 3
        held.compare(values, spec)
        told: list[int] = []
        shuffled.compare(values, spec, done=told.append)
        assert len(shuffled) == len(held) == sum(told) > 5000
        for key in range(len(spec.blocking)):
            for a, b in zip(shuffled.counts(key), held.counts(key), strict=True):
                np.testing.assert_array_equal(a, b)
        model = match.fit(values, spec, held)
        np.testing.assert_array_equal(shuffled.best(model, len(crm.contacts)), held.best(model, len(crm.contacts)))
        histograms = [np.zeros(len(match.HISTOGRAM_EDGES) - 1, np.int64) for _ in range(2)]
        for a, b in zip(shuffled.at_least(model, 0.3, histograms[0]), held.at_least(model, 0.3, histograms[1]),
                        strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(*histograms)
    finally:
        engine.close()

    assert [type(p).__name__ for p in made] == ["ShuffledPairs", "ShuffledPairs"]
    assert there.as_dict() == here.as_dict()
    assert here.as_dict()["entities"]["contact"]["merged"] > 100
    for ours, theirs in zip(there.entities, here.entities, strict=True):
        for name in ("pairs", "clusters", "merged", "model"):
            pd.testing.assert_frame_equal(getattr(ours, name), getattr(theirs, name), obj=f"{ours.entity} {name}")
        assert (ours.prior, ours.histogram, ours.candidates) == (theirs.prior, theirs.histogram, theirs.candidates)
    for entity, frame in here.datasets.items():
        pd.testing.assert_frame_equal(there.datasets[entity], frame, obj=entity)


def test_on_a_local_cluster_the_pairs_go_to_the_workers_only_where_they_would_not_fit_here(
        scheduler: str, monkeypatch) -> None:
    """Where the workers share this machine's cores (a LocalCluster), dedupe's pairs are made
    in the run's process, which compares them faster there, as long as their positions fit its
    memory (`held_fits`); beyond that they go to the workers (`ShuffledPairs`), whose memory
    limit spills them to disk. A scheduler elsewhere takes them whenever they are more than a
    share's."""
    from crmmigrate.dedupe import match, pairset
    from crmmigrate.dedupe.rules import load_dedupe_rules
    from crmmigrate.defaults import RULES_DIR
    from crmmigrate.engines.cluster import ClusterEngine

    crm = make_crm(2000, seed=3)
    spec = load_dedupe_rules(RULES_DIR / "dedupe.yaml").entities["contact"]
    values = match.prepared(crm.contacts.reset_index(drop=True), spec.fields)
    engine = ClusterEngine(EngineOptions(name="dask", scheduler=scheduler, pairs_per_task=300))
    try:
        blocked = match.block(values, spec)
        assert blocked.pairs() > 300
        enough = 1 + blocked.pairs() * pairset.POSITION_BYTES / pairset.HELD_SHARE

        def made(local: bool, available: float) -> str:
            engine.shares_cores = local
            monkeypatch.setattr(engine, "_left_here", lambda: int(available))
            return type(engine.pairing(values, spec, blocked)).__name__

        assert made(local=True, available=enough) == "HeldPairs"
        assert made(local=True, available=enough - 100) == "ShuffledPairs"
        assert made(local=False, available=enough) == "ShuffledPairs"
    finally:
        engine.close()


def test_what_is_left_here_is_less_what_the_local_workers_may_still_take(monkeypatch) -> None:
    """On a LocalCluster the run's process counts as its own only what the machine has left once
    the workers grow to their memory limits: what they hold now is theirs already (and out of
    what the machine has available), the rest up to their limits is not the run's."""
    from crmmigrate import parallel
    from crmmigrate.engines.cluster import ClusterEngine, _resident

    engine = ClusterEngine(EngineOptions(name="dask", workers=2, memory_limit="1GiB"))
    try:
        monkeypatch.setattr(parallel, "available_memory", lambda: 10 * 2**30)
        left = engine._left_here()
        held = sum(engine.client.run(_resident).values())
        assert 8 * 2**30 < left < 10 * 2**30
        assert abs(left - (8 * 2**30 + held)) < 256 * 2**20  # what they hold, read a moment apart
        monkeypatch.setattr(parallel, "available_memory", lambda: 2**30)
        assert engine._left_here() == 0  # never below nothing
    finally:
        engine.close()


def test_a_worker_lost_after_dedupe_pairs_are_compared_on_the_workers_changes_no_answer() -> None:
    """Dedupe's pairs in shares on the workers (`ShuffledPairs`): the worker holding the most
    compared shares is killed (SIGKILL); its nanny starts another, the lost shares are sent their
    records' values and compared again, and every answer fitting and scoring ask is still the
    answer of the pairs held here."""
    from collections import Counter

    import numpy as np

    from crmmigrate.dedupe import load_dedupe_rules, match
    from crmmigrate.defaults import RULES_DIR
    from crmmigrate.engines.cluster import ClusterEngine
    from crmmigrate.engines.shuffle import ShuffledPairs

    crm = make_crm(3000, seed=5)
    spec = load_dedupe_rules(RULES_DIR / "dedupe.yaml").entities["contact"]
    values = match.prepared(crm.contacts.reset_index(drop=True), spec.fields)
    held = match.candidates(values, spec)
    held.compare(values, spec)
    model = match.fit(values, spec, held)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    engine = ClusterEngine(EngineOptions(name="dask", scheduler=cluster.scheduler_address, pairs_per_task=500))
    try:
        shuffled = match.candidates(values, spec, pairing=engine.pairing)
        assert isinstance(shuffled, ShuffledPairs)
        shuffled.compare(values, spec)
        holders = Counter(a for held_by in client.who_has(shuffled._shares).values() for a in held_by)
        victim, shares = holders.most_common(1)[0]
        assert shares > 0
        killed = client.run(os.getpid)[victim]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60  # polled: the nanny takes a moment, the scheduler too

        def pids() -> list[int]:
            return list(client.run(os.getpid, on_error="ignore").values())  # the dead one may still be listed

        while time.monotonic() < deadline and (len(pids()) < 2 or killed in pids()):
            time.sleep(0.2)
        assert killed not in pids() and len(pids()) == 2

        for key in range(len(spec.blocking)):
            for a, b in zip(shuffled.counts(key), held.counts(key), strict=True):
                np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(shuffled.best(model, len(crm.contacts)), held.best(model, len(crm.contacts)))
        for a, b in zip(shuffled.at_least(model, 0.3), held.at_least(model, 0.3), strict=True):
            np.testing.assert_array_equal(a, b)
        # Each share was sent its records' values for comparing alone: the lost ones were made
        # here again, not by Dask from values still on every worker.
        assert 0 < shuffled.remade <= shares
    finally:
        engine.close()
        client.close()
        cluster.close()


class _TooBigToSend:
    """A task's result whose worker dies sending it, as one does that goes over its memory
    limit serializing a result too big (a 1.5 GB Excel sheet on a 4 GiB worker)."""

    def __reduce__(self):
        os._exit(1)


def _too_big_to_send() -> _TooBigToSend:
    return _TooBigToSend()


def test_a_result_lost_with_its_worker_again_and_again_ends_the_run() -> None:
    """Dask makes again a finished task's result lost with its worker without counting it (it
    counts deaths while a task runs): the result is sent, the worker dies, the task runs again,
    for ever. The engine's watchdog counts each task's results lost and, past Dask's
    allowed-failures, ends the wait: the run is told the cluster failed, and why."""
    import dask

    from crmmigrate.engines.cluster import ClusterEngine, ClusterLost

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        engine = ClusterEngine(EngineOptions(name="dask", workers=2))
    try:
        assert engine.watchdog.watching  # else the result below is waited for, for ever
        fine = engine.client.submit(sum, [1, 2], pure=False)
        assert fine.result() == 3 and engine.watchdog.reason is None
        started = time.monotonic()
        with pytest.raises(Exception) as raised:  # noqa: PT011 - what a closed client raises is Dask's
            engine.client.submit(_too_big_to_send, pure=False).result()
        told = engine.lost(raised.value)
        assert isinstance(told, ClusterLost) and told.exit_code == 4
        assert "lost a task's result with its worker 2 times" in str(told), str(told)
        assert "memory_limit" in told.hint
        assert time.monotonic() - started < 120
    finally:
        engine.close()


def test_the_watchdog_counts_no_worker_lost_with_nothing_of_the_run() -> None:
    """A worker lost holding nothing of the run (killed while idle, replaced by its nanny)
    counts for nothing, even where Dask allows no failure at all: the watchdog counts results
    lost, not workers, and the run goes on."""
    import dask

    from crmmigrate.engines.cluster import ClusterEngine

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        engine = ClusterEngine(EngineOptions(name="dask", workers=2))
    client = engine.client
    try:
        before = client.run(os.getpid)
        os.kill(next(iter(before.values())), signal.SIGKILL)
        deadline = time.monotonic() + 60  # polled: the nanny takes a moment, the scheduler too

        def replaced() -> bool:
            now = client.run(os.getpid, on_error="ignore")
            return len(now) == 2 and len(set(now.values()) & set(before.values())) == 1

        while time.monotonic() < deadline and not replaced():
            time.sleep(0.2)
        assert replaced()
        assert client.submit(sum, [1, 2], pure=False).result() == 3
        assert engine.watchdog.reason is None and not engine.watchdog.lost
    finally:
        engine.close()


@contextlib.contextmanager
def _engine_of_one_worker_without_a_nanny(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """An engine on a scheduler whose one worker has no nanny (killed, it is not started again),
    waiting 2 s on a cluster with no worker; and that worker's process."""
    import subprocess

    from crmmigrate.engines.cluster import ClusterEngine

    cluster = distributed.LocalCluster(n_workers=0, dashboard_address=":0", silence_logs=logging.ERROR)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                               "--no-nanny", "--nthreads", "1", "--local-directory", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.getcwd())
    engine = None
    try:
        engine = ClusterEngine(EngineOptions(name="dask", scheduler=cluster.scheduler_address,
                                             no_workers_seconds=2), connect_seconds=60)
        yield engine, worker
    finally:
        if engine is not None:
            engine.close()
        worker.kill()
        worker.wait(timeout=60)
        cluster.close()


def _killed(engine: Any, worker: Any) -> None:
    worker.kill()
    worker.wait(timeout=60)
    deadline = time.monotonic() + 60  # polled: the scheduler notices the worker gone in a moment
    while time.monotonic() < deadline and engine.client.nthreads():
        time.sleep(0.2)
    assert not engine.client.nthreads()


def _ended_for_no_worker(engine: Any, waited: Any) -> None:
    """Waiting on `waited` ends within a minute, told as the cluster failing with no worker."""
    from crmmigrate.engines.cluster import ClusterLost

    started = time.monotonic()
    with pytest.raises(Exception) as raised:  # noqa: PT011 - what a closed client raises is Dask's
        waited.result(timeout=120)
    assert time.monotonic() - started < 60
    told = engine.lost(raised.value)
    assert isinstance(told, ClusterLost) and told.exit_code == 4
    assert "no worker for 2 s while the run waited on it" in str(told), str(told)
    assert "dask worker" in told.hint and "no_workers_seconds" in told.hint


def test_a_cluster_left_with_no_worker_ends_the_run_that_waits_on_it(tmp_path: Path) -> None:
    """A scheduler whose one worker (started without a nanny) is killed runs nothing again, and
    Dask waits for ever on what the run sends. With no worker and nothing waited on (an
    adaptive cluster scaled to zero), the run goes on; once it waits on work with no worker for
    `no_workers_seconds`, it ends: the cluster failed, and why."""
    with _engine_of_one_worker_without_a_nanny(tmp_path) as (engine, worker):
        assert engine.client.submit(sum, [1, 2], pure=False).result() == 3
        _killed(engine, worker)
        time.sleep(6)  # three times no_workers_seconds with no worker, and nothing waited on
        assert engine.watchdog.reason is None
        _ended_for_no_worker(engine, engine.client.submit(sum, [3, 4], pure=False))


def test_a_result_held_and_lost_with_the_last_worker_ends_the_run_that_waits_on_it(tmp_path: Path) -> None:
    """A result the run holds (a part read, a slice cleaned) lost with the cluster's last worker
    is never made again with no worker to make it: waiting on it ends the run as waiting on a
    new task does (the future is "lost", not "pending")."""
    with _engine_of_one_worker_without_a_nanny(tmp_path) as (engine, worker):
        kept = engine.client.submit(sum, [1, 2], pure=False)
        assert kept.result() == 3
        _killed(engine, worker)
        _ended_for_no_worker(engine, kept)


def test_stopping_the_watch_does_not_wait_for_a_scheduler_that_hangs() -> None:
    """A look at the workers stuck on a scheduler that never answers (stopped, its machine
    gone) does not hold up the run's end: stop() returns while the look still waits."""
    from crmmigrate.engines.cluster import Watchdog

    asked, answer = threading.Event(), threading.Event()

    class Hanging:
        status, futures, _stream_handlers = "running", {}, {}

        def nthreads(self) -> dict:
            asked.set()
            answer.wait(120)
            return {}

    watchdog = Watchdog(Hanging(), no_workers_seconds=0.2)
    try:
        assert asked.wait(60), "the watch never looked"
        stopping = threading.Thread(target=watchdog.stop, daemon=True)
        stopping.start()
        stopping.join(20)
        assert not stopping.is_alive(), "stop() waited on the hanging scheduler"
        assert watchdog._looking is not None and watchdog._looking.is_alive()  # the look still waits
    finally:
        answer.set()


def test_the_wait_for_workers_is_an_engine_option_kept_across_the_command_line(samples: Path) -> None:
    """`no_workers_seconds` is read from migration.yaml, may be null (wait for ever), and stays
    as set when the command line picks the engine."""
    from crmmigrate.migration import with_engine

    text = samples.read_text(encoding="utf-8")
    samples.write_text(text + "\nengine:\n  name: local\n  no_workers_seconds: null\n", encoding="utf-8")
    migration = with_engine(load_migration(samples), engine="dask", workers=2)
    assert migration.engine.name == "dask" and migration.engine.no_workers_seconds is None
    samples.write_text(text + "\nengine:\n  name: dask\n  no_workers_seconds: 0\n", encoding="utf-8")
    with pytest.raises(BadConfig, match="no_workers_seconds"):
        load_migration(samples)
    assert EngineOptions().no_workers_seconds == 300
