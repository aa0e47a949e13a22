"""The cluster engine: a run's reading, mapping and cleaning done a partition at a time on the
workers of a Dask cluster (dask.distributed: a LocalCluster of this machine's cores, or the
scheduler at an address, which Kubernetes, YARN or an HPC queue may have started).

- **read and map**: every source in parts (`crmmigrate.extract.partitions`: a delimited file by
  byte ranges, split only at line starts outside quotes; a SQL table by ranges of its key;
  Parquet by row groups; JSON Lines after line feeds and a JSON array between its records,
  with the columns of one survey of the whole file; an Excel sheet or a query as one part),
  each part read and mapped on a worker. The run takes the parts in order, stages
  them, and adds up their figures (the mapping report through `Mapper.absorb`), so they are
  the figures of the whole.
- **clean**: each entity's mapped records, still on the workers that mapped them, cut into
  slices of `partition_rows`; the values that decide a date column's day-month order are
  collected from every slice and decided once over the whole (`clean.decide_dates`), then every
  slice is cleaned with those decisions and the slices' results joined (`clean.combine`).
- **validate**: the row-by-row checks a slice at a time, against the whole run's ids.
- **dedupe**: each entity's candidate pairs made, compared and scored in shares shuffled by
  blocking key (`crmmigrate.engines.shuffle`), which stay on the workers; the run's process
  blocks, fits the model from the shares' pattern counts, and clusters the pairs at or above
  the review band.

Every task is a pure function of its inputs: a worker that dies is replaced, its tasks run
again on another, and the run's results do not change. Workers read the sources by the path
the run has for them: on a cluster of several machines, the sources (and any lookup file a
mapping reads) must be at the same path on every worker, as on a shared volume.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import CancelledError
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmmigrate import parallel
from crmmigrate.clean import CleanResult, CleaningRules, clean
from crmmigrate.clean.engine import combine, decide_dates, undecided_dates
from crmmigrate.dedupe.blocking import Blocked
from crmmigrate.dedupe.columns import Column
from crmmigrate.dedupe.pairset import HeldPairs, PairSet, held_fits
from crmmigrate.dedupe.rules import MatchSpec
from crmmigrate.engines import EngineOptions, PartRead
from crmmigrate.engines.reading import PartsReading, Queued, joined, queued_parts, read_part
from crmmigrate.engines.shuffle import ShuffledPairs
from crmmigrate.errors import EXIT_LOST, CrmMigrateError
from crmmigrate.migration import PlannedSource
from crmmigrate.progress import Progress, Tally
from crmmigrate.validate import ValidationResult, validate
from crmmigrate.validate.core import Targets, join_reasons, row_reasons
from crmmigrate.validate.rules import Thresholds, ValidationRules

CONNECT_SECONDS = 30  # to reach a scheduler at an address
AHEAD_PER_THREAD = 2  # source parts, or dedupe's shares, in work or waiting, per worker thread


class ClusterUnreachable(CrmMigrateError):
    """The Dask scheduler named in the engine options did not answer, or its workers cannot
    run this migration."""


class ClusterLost(CrmMigrateError):
    """The Dask cluster failed during the run: a worker lost again and again, the scheduler gone."""

    exit_code = EXIT_LOST


class Watchdog:
    """Ends a run the cluster cannot finish. Dask runs a task again when its worker dies while
    running it, and fails it after `allowed-failures` such deaths (KilledWorker); but a task
    that finished and whose result is then lost with its worker (a result too big to send:
    its worker went over its memory limit serializing it, and was restarted) is made again,
    and lost again, without being counted: the run would wait for ever (seen at 5M contacts).
    So those are counted here, per task, as Dask counts the others: the scheduler tells the
    client each result it wants that was lost ("lost-data"); when one was lost more than
    `allowed-failures` times (this process's Dask setting), the client is closed (whatever the
    run waits on is cancelled), and `reason` says why (`ClusterEngine.lost`). A worker lost
    holding none of them counts for nothing.

    The message is taken where the client takes it (its stream handler, wrapped): the
    scheduler's "remove-worker" events say the same, but a client subscribed to them is sent
    events Dask cannot serialize (a broadcast's), which breaks its connection, and a look at
    what each worker holds every second misses a result made and lost between two looks
    (both seen with distributed 2026.8).

    It also ends a run that waits on a cluster left with no worker at all for
    `no_workers_seconds` (`_look_for_workers`)."""

    def __init__(self, client: Any, no_workers_seconds: float | None = None) -> None:
        import dask

        self.client = client
        self.allowed = int(dask.config.get("distributed.scheduler.allowed-failures", 3))
        self.reason: str | None = None  # why it ended the run, and what to do
        self.hint = ""
        self.lost: Counter[str] = Counter()  # per result the run wants, times it was lost
        handlers = getattr(client, "_stream_handlers", {})
        self._told = handlers.get("lost-data")
        self.watching = self._told is not None  # a Dask whose client takes it otherwise: not watched
        if self.watching:
            handlers["lost-data"] = self._lost_data
        self.no_workers_seconds = no_workers_seconds
        self._ending = threading.Lock()
        self._stopped = threading.Event()
        self._looking: threading.Thread | None = None
        if no_workers_seconds is not None:
            self._looking = threading.Thread(target=self._look_for_workers, name="crmmigrate-workers",
                                             daemon=True)
            self._looking.start()

    def _end(self, reason: str, hint: str) -> None:
        with self._ending:  # told from the client's loop and from the workers' watch
            if self.reason is not None:
                return
            self.reason, self.hint = reason, hint
        # Closed from a thread of its own: closing needs the loop the caller may run on.
        threading.Thread(target=self.client.close, name="crmmigrate-watchdog", daemon=True).start()

    def _look_for_workers(self) -> None:
        """A cluster with no worker at all runs nothing (workers started without a nanny, all
        dead; a queue that never starts one): Dask waits for ever (its scheduler's
        no-workers-timeout is off unless the scheduler's own config sets it). So the scheduler
        is asked, every few seconds, how many workers it has, and whether the run waits on
        work: a task not done yet, or a result it holds that was lost with its worker; after
        `no_workers_seconds` of both, the run ends. Time with no worker while the run waits on
        nothing (an adaptive cluster scaled to zero while the run loads) does not count."""
        seconds = float(self.no_workers_seconds or 0)
        every = min(5.0, seconds / 4)
        since: float | None = None
        while not self._stopped.wait(every):
            try:
                workers = len(self.client.nthreads())
                waiting = any(f.status in ("pending", "lost") for f in list(self.client.futures.values()))
            except Exception:  # noqa: BLE001 - asked again at the next look, unless the client is gone
                if self.client.status in ("closing", "closed"):
                    return
                logging.getLogger(__name__).debug("the scheduler did not say how many workers it has",
                                                  exc_info=True)
                continue
            if workers or not waiting:
                since = None
                continue
            since = time.monotonic() if since is None else since
            if time.monotonic() - since >= seconds and not self._stopped.is_set():  # a look stop() did not wait for
                self._end(f"the Dask cluster has had no worker for {seconds:g} s while the run waited on it "
                          "(its workers were lost and none came back).",
                          "Nothing was loaded yet. Start workers for the scheduler (dask worker ADDRESS; with "
                          "a nanny, the default, a worker that dies is started again), or give an adaptive "
                          "cluster longer to start one (engine: no_workers_seconds), and run again.")
                return

    def stop(self) -> None:
        """The watch over: a look under way is waited for a moment, not until a scheduler that
        hangs answers (the thread is a daemon, and a look that ends after this one stops
        at the stop, or at the client being closed)."""
        self._stopped.set()
        if self._looking is not None and self._looking is not threading.current_thread():
            self._looking.join(timeout=1)

    def _lost_data(self, key: Any = None, **rest: Any) -> None:
        """On the client's event loop: counted, then told to the client as before."""
        assert self._told is not None
        self.lost[str(key)] += 1
        if self.lost[str(key)] > self.allowed:
            self._end(f"the Dask cluster lost a task's result with its worker {self.lost[str(key)]} times: the "
                      "result is more than a worker can hold (its nanny restarts it, the task runs again and "
                      "its result is lost again).",
                      "Nothing was loaded yet. Give the workers more memory (memory_limit), or make parts "
                      "smaller (part_bytes, partition_rows), and run again.")
        self._told(key=key, **rest)


class ClusterEngine:
    name = "dask"

    def __init__(self, options: EngineOptions, *, connect_seconds: float = CONNECT_SECONDS) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - distributed is a dependency
            raise CrmMigrateError("the dask engine needs the `distributed` package.",
                                  hint="Install it: pip install 'crmmigrate[dask]'.") from None
        self.options = options
        self.cluster = None
        if options.scheduler is not None:
            try:
                self.client = Client(options.scheduler, timeout=connect_seconds)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterUnreachable(
                    f"no Dask scheduler answered at {options.scheduler} ({type(exc).__name__}: {exc}).",
                    hint="Start one (`dask scheduler`, and `dask worker ADDRESS` per machine), or leave "
                    "`scheduler` out to start a LocalCluster on this machine.") from None
            try:
                self._check_workers(connect_seconds)
            except BaseException:
                self.client.close()
                raise
        else:
            self.cluster = LocalCluster(
                n_workers=options.workers or parallel.cores(), threads_per_worker=1, processes=True,
                memory_limit=options.memory_limit or "auto", dashboard_address=":0",  # a free port: no warning
                silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        # A LocalCluster's workers share this machine's cores with this process, whose threads
        # already compare dedupe's pairs on all of them, and which holds every cleaned record:
        # there, sending the match values or the row checks to the workers only costs (measured
        # by bench/bench_scale.py: validate 8.2 s for 4.7, dedupe 35.5 s for 28.9 at 300k contacts),
        # unless dedupe's pairs would not fit in this process's memory (`pairing`).
        self.shares_cores = self.cluster is not None
        # entity -> its mapped records, a future per source part, in the order the run joins them
        self._mapped: dict[str, list[tuple[Any, int]]] = {}
        # entity -> its cleaned records, a future per slice, in order
        self._cleaned: dict[str, list[tuple[Any, int]]] = {}
        # the source parts not yet sent (last to be sent first), and those sent and not taken
        self._queue: list[Queued[ClusterReading]] = []
        self._sent_parts = 0
        self.watchdog = Watchdog(self.client, options.no_workers_seconds)

    def _check_workers(self, seconds: float) -> None:
        """The scheduler has workers (a task sent to none waits for ever), running this
        crmmigrate and pandas (another version could clean or check otherwise), in this run's
        working directory (the sources' relative paths are read from it)."""
        address = self.options.scheduler
        try:
            self.client.wait_for_workers(1, timeout=seconds)
        except TimeoutError:
            raise ClusterUnreachable(f"the Dask scheduler at {address} has no workers (waited {seconds:g} s).",
                                     hint="Start one per machine: dask worker " + str(address)) from None
        here = self._here()
        for worker, facts in self.client.run(_worker_facts).items():
            for key, what in (("versions", "runs other versions of crmmigrate, pandas or pyarrow"),
                              ("cwd", "works in another directory")):
                if facts[key] != here[key]:
                    raise ClusterUnreachable(
                        f"the Dask worker {worker} {what} ({facts[key]}) than this run ({here[key]}).",
                        hint="Start the workers from the same install, in the directory `crmmigrate run` "
                        "is run from, with the sources at the same paths.")

    @staticmethod
    def _here() -> dict[str, str]:
        return _worker_facts()

    def lost(self, error: BaseException) -> CrmMigrateError | None:
        """The error to tell for one the cluster raised (a worker lost for good, the scheduler
        gone, a task cancelled); None when it is not the cluster's."""
        if self.watchdog.reason is not None and not isinstance(error, CrmMigrateError):  # it closed the client
            return ClusterLost(self.watchdog.reason, hint=self.watchdog.hint)
        module = type(error).__module__ or ""
        if not (module.startswith("distributed") or isinstance(error, CancelledError)):
            return None
        try:
            said = f": {error}" if str(error) else ""
        except Exception:  # noqa: BLE001 - an error that cannot say itself still names its kind
            said = ""
        return ClusterLost(f"the Dask cluster failed the run: {type(error).__name__}{said}.",
                           hint="Nothing was loaded yet (the load runs after the cluster's work); a worker "
                           "killed again and again is often out of memory: give the workers more "
                           "(memory_limit), or make parts smaller (part_bytes, partition_rows), and run again.")

    def _workers(self) -> dict[str, dict[str, Any]]:
        """The scheduler's workers by address, with their threads and memory limits, asked of
        the scheduler: Client.scheduler_info() refreshes the client's cached view and returns
        it, and the client's own refresh every 2 s (without the workers) can land in between
        (polled without a pause, it listed no worker 2 times in 20,610)."""
        return self.client.sync(self.client.scheduler.identity, n_workers=-1).get("workers", {})

    def describe(self) -> dict[str, Any]:
        workers = self._workers()
        return {"name": self.name, "scheduler": self.options.scheduler or "LocalCluster",
                "workers": len(workers), "threads": sum(w.get("nthreads", 0) for w in workers.values()),
                "memory_limit": sum(w.get("memory_limit", 0) or 0 for w in workers.values())}

    def read(self, planned: list[PlannedSource], progress: Progress, scratch: Path | None = None
             ) -> list[ClusterReading]:
        """Each source's parts, read and mapped on the workers and taken in order (source by
        source, part by part, as the run stages them). A few parts ahead of the one taken are
        in work at any time (`_ahead`), so the workers stay busy across sources while the parts
        read and not yet taken (their records as read, mapped and filtered) stay few. The
        parts come back whole, their rows as read too (`scratch` is not used: a worker may be
        on another machine)."""
        self._mapped = {}
        readings, self._queue = queued_parts(planned, self.options.part_bytes,
                                             lambda source, parts: ClusterReading(self, source, parts),
                                             submit=lambda function, *args: self.client.submit(function, *args,
                                                                                               pure=False))
        self._ahead()
        return readings

    def _ahead(self) -> None:
        """Parts sent to the workers until AHEAD_PER_THREAD per worker thread are in work or
        waiting to be taken."""
        while self._queue and self._sent_parts < self._in_flight():
            reading, source, asked, first = self._queue.pop()
            part = asked()  # a JSON Lines file's parts wait for its survey here
            reading.futures.append(self.client.submit(read_part, source, part, first, pure=False))
            self._sent_parts += 1

    def _in_flight(self) -> int:
        """AHEAD_PER_THREAD per worker thread (the threads asked of the scheduler, not from
        scheduler_info's cached view: see describe)."""
        return AHEAD_PER_THREAD * max(sum(self.client.nthreads().values()), 1)

    def _taken(self) -> None:
        self._sent_parts -= 1
        self._ahead()

    def clean(self, datasets: dict[str, pd.DataFrame], *, rules: CleaningRules, region: str | None,
              regions: dict[str, str] | None, progress: Progress) -> CleanResult:
        slices: list[tuple[str, Any, int]] = []  # entity, future of its frame, rows
        for entity, frame in datasets.items():
            slices += [(entity, piece, rows) for piece, rows in self._slices(entity, frame)]
        self._mapped = {}
        submit = self.client.submit
        found = self.client.gather([submit(undecided_dates, {entity: piece}, rules, pure=False)
                                    for entity, piece, _ in slices])
        values: dict[tuple[str, str], list[str]] = {}
        for part in found:
            for key, written in part.items():
                values.setdefault(key, []).extend(written)
        orders = decide_dates(values)
        futures = [submit(clean_part, entity, piece, rules, region, regions, orders, pure=False)
                   for entity, piece, _ in slices]
        # The cleaned slices stay on the workers, for validation to check where they are; what
        # comes back is each slice's change log and, per field, the rows it changed: this
        # process has the records already (joined from the mapped parts), and changes them so.
        self._cleaned = {}
        for (entity, _, rows), future in zip(slices, futures, strict=True):
            if not self.shares_cores:  # there validation checks the rows here
                self._cleaned.setdefault(entity, []).append((submit(_cleaned_rows, future, entity, pure=False), rows))
        changed = [submit(_changes_of, future, piece, entity, pure=False)
                   for (entity, piece, _), future in zip(slices, futures, strict=True)]
        tallies = {entity: Tally(progress, "clean", entity, len(frame)) for entity, frame in datasets.items()}
        done: dict[str, int] = dict.fromkeys(datasets, 0)
        results = []
        cleaned = {entity: frame.reset_index(drop=True).copy() for entity, frame in datasets.items()}
        for (entity, _, rows), future in zip(slices, changed, strict=True):
            result, cells, identity = future.result()
            _same_records(cleaned[entity], done[entity], rows, identity, entity)
            results.append(result)
            for name, (at, values) in cells.items():
                at = at + done[entity]
                cleaned[entity].loc[at, name] = pd.Series(values, index=at, dtype=object)
            done[entity] += rows
            tallies[entity].part(done[entity], max(len(datasets[entity]), 1))
        for tally in tallies.values():
            tally.finish()
        return combine(results, datasets=cleaned)

    def validate(self, datasets: dict[str, pd.DataFrame], *, rules: ValidationRules, thresholds: Thresholds,
                 loaded: dict[str, set[str]] | None, regions: dict[str, str] | None,
                 progress: Progress) -> ValidationResult:
        """Each entity's rows checked a slice per worker (the cleaned slices, where clean left
        them) by the rules that judge a row on its own; the rules that read the whole entity,
        the gate and the failure report here. On a LocalCluster, all here (`shares_cores`)."""
        cleaned, self._cleaned = self._cleaned, {}
        if self.shares_cores:
            return validate(datasets, rules=rules, thresholds=thresholds, loaded=loaded, regions=regions,
                            progress=progress)
        sent: dict[str, Any] = {}

        def found_by(entity: str, _validator: Any, targets: Targets) -> dict[str, pd.Series]:
            if "targets" not in sent:  # the ids every pointer may name, to every worker once
                sent["targets"] = self.client.scatter(targets, broadcast=True, hash=False)
            frame = datasets[entity]
            pieces = cleaned.get(entity, [])
            if sum(rows for _, rows in pieces) != len(frame) or not pieces:
                pieces = list(self._sent(frame))
            tally = Tally(progress, "validate", entity, len(frame))
            futures = [self.client.submit(_checked, entity, piece, rules, sent["targets"], regions, pure=False)
                       for piece, _ in pieces]
            found, done = [], 0
            whole = frame.reset_index(drop=True)
            for (_, rows), future in zip(pieces, futures, strict=True):
                identity, reasons = future.result()
                _same_records(whole, done, rows, identity, entity)
                found.append((rows, reasons))
                done += rows
                tally.part(done, max(len(frame), 1))
            tally.finish()
            return join_reasons(found)

        return validate(datasets, rules=rules, thresholds=thresholds, loaded=loaded, regions=regions,
                        progress=progress, found_by=found_by)

    def pairing(self, values: dict[str, Column], spec: MatchSpec, blocked: Blocked) -> PairSet:
        """Dedupe's candidate pairs made, compared and scored on the workers, in shares of about
        `pairs_per_task` shuffled by blocking key (`ShuffledPairs`): the run's process holds
        the pairs at or above the review band, not every candidate, and the workers hold the
        shares within their memory limit, spilling what is over it to disk. Fewer pairs, or a
        LocalCluster (`shares_cores`) where they fit in this process's memory (`held_fits`, of
        what the machine has left once the workers may grow to their limits: `_left_here`), and
        they are all made here (`HeldPairs`)."""
        expected = blocked.pairs()
        if expected <= self.options.pairs_per_task or (self.shares_cores and held_fits(expected, self._left_here())):
            return HeldPairs.made(values, spec, blocked)
        return ShuffledPairs(self.client, blocked, -(-expected // self.options.pairs_per_task), self._in_flight())

    def _left_here(self) -> int:
        """The memory this process may take, on a LocalCluster of this machine: what the machine
        has available now, less what its workers may still take up to the memory limit the
        run gave them (at 5M contacts two workers of 4 GiB held 2.5 GB; counted as free, the
        leads' pairs were held here, and this process peaked at 16.7 GB). Dask's own default
        limit (the machine's memory shared out) is no plan for the memory, and is not counted:
        it would leave nothing here."""
        if not self.options.memory_limit:
            return parallel.available_memory()
        limits = {address: worker.get("memory_limit") or 0 for address, worker in self._workers().items()}
        held = self.client.run(_resident, on_error="ignore")  # a worker that does not say: it may take it all
        headroom = sum(max(limit - (held.get(address) or 0), 0) for address, limit in limits.items())
        return max(parallel.available_memory() - headroom, 0)

    def _sent(self, frame: pd.DataFrame) -> Iterator[tuple[Any, int]]:
        """`frame` sent to the workers in slices of at most partition_rows. Each under a key of
        its own (hash=False): Dask's content hash gives different slices of a frame of Arrow
        text the same key (seen with pandas 3), and a slice would be taken for another. For the
        same reason every task is submitted pure=False."""
        size = self.options.partition_rows
        if frame.empty:
            yield self.client.scatter(frame, hash=False), 0
            return
        for start in range(0, len(frame), size):
            piece = frame.iloc[start:start + size].reset_index(drop=True)
            yield self.client.scatter(piece, hash=False), len(piece)

    def _slices(self, entity: str, frame: pd.DataFrame) -> Iterator[tuple[Any, int]]:
        """The entity's records as futures of slices of at most partition_rows: cut from the
        mapped parts where they are (the records the run joined from them), else sent."""
        size = self.options.partition_rows
        mapped = self._mapped.get(entity, [])
        if not frame.empty and sum(rows for _, rows in mapped) == len(frame):
            for future, rows in mapped:
                for start in range(0, rows, size):
                    stop = min(start + size, rows)
                    yield self.client.submit(_rows, future, start, stop, pure=False), stop - start
            return
        yield from self._sent(frame)  # an empty frame is cleaned all the same: its fields' reports say so

    def close(self) -> None:
        self._mapped = {}
        self._cleaned = {}
        self._queue = []
        self.watchdog.stop()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class ClusterReading(PartsReading):
    """One source's parts, read and mapped on the workers, taken in order."""

    def __init__(self, engine: ClusterEngine, planned: PlannedSource, count: int) -> None:
        super().__init__(planned, count)
        self.engine = engine
        self.futures: list[Any] = []  # the parts sent to the workers, in order (by the engine)

    def _take(self, number: int) -> PartRead:
        """The part, brought here a piece at a time: its figures, then each chunk as read and
        slices of partition_rows of its records, each gathered alone. A worker sends what is
        asked in one message, serialized beside the part it holds: a whole part at once (an
        Excel sheet of 2.3M rows is 1.5 GB) took a worker over its memory limit, its nanny
        restarted it, and the part was read again, and lost again, for ever."""
        assert number < len(self.futures), "a source's parts are taken in the order they were sent"
        future = self.futures[number]
        submit = self.engine.client.submit
        part, chunks, sizes = submit(_bare, future, pure=False).result()
        self.engine._taken()
        part.extracted = [submit(_chunk, future, at, pure=False).result() for at in range(chunks)]
        step = self.engine.options.partition_rows
        records = {}
        for name, rows in sizes.items():
            records[name] = submit(_frame, future, name, pure=False)
            if rows:
                setattr(part, name, joined([submit(_rows, records[name], start, min(start + step, rows),
                                                   pure=False).result() for start in range(0, rows, step)]))
        if part.extracted and len(part.mapped):
            # The records stay where they were mapped, for clean; the rest of the part is let go.
            self.engine._mapped.setdefault(self.planned.entity, []).append((records["mapped"], len(part.mapped)))
        return part

    def _let_go(self, number: int) -> None:
        self.futures[number].release()
        if number == self.count - 1:
            self.futures = []


# -- what the workers run (module functions: pickled by reference) -------------------------------


def clean_part(entity: str, frame: pd.DataFrame, rules: CleaningRules, region: str | None,
               regions: dict[str, str] | None, orders: dict) -> CleanResult:
    return clean({entity: frame}, rules=rules, region=region, regions=regions, date_orders=orders)


def _checked(entity: str, frame: pd.DataFrame, rules: ValidationRules, targets: Targets,
             regions: dict[str, str] | None) -> tuple[int, dict[str, pd.Series]]:
    """A slice's row checks (`row_reasons`), with which records it held (`_identity`)."""
    return _identity(frame), row_reasons(entity, frame, rules, targets, regions)


def _cleaned_rows(result: CleanResult, entity: str) -> pd.DataFrame:
    return result.datasets[entity]


def _identity(frame: pd.DataFrame) -> int:
    """Which records a frame holds, in which order: their provenance and legacy ids, hashed."""
    return int(pd.util.hash_pandas_object(frame[["_source", "_file", "_row", "id"]].astype(str),
                                          index=False).sum())


def _same_records(whole: pd.DataFrame, start: int, rows: int, identity: int, entity: str) -> None:
    """A slice cleaned on a worker holds the records the run holds at its rows: else the source
    was read again (its worker lost) and had changed, and its cleaned values would land on
    other records."""
    if _identity(whole.iloc[start:start + rows]) != identity:
        raise ClusterLost(
            f"the {entity} records a worker cleaned (rows {start + 1} to {start + rows}) are not the ones "
            "this run read: a worker was lost, its part read again, and the source had changed in between.",
            hint="Run again when the source does not change under the run (a copy, or a quiet database).")


def _changes_of(result: CleanResult, before: pd.DataFrame, entity: str
                ) -> tuple[CleanResult, dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """A cleaned slice's result without its records, per field the positions of the rows
    cleaning changed with their values after (what the run needs to clean its own copy), and
    which records the slice held (`_identity`)."""
    after = result.datasets[entity]
    cells = {}
    for name in result.changes["field"].unique() if len(result.changes) else ():
        old, new = before[name].reset_index(drop=True), after[name].reset_index(drop=True)
        same = (old == new).fillna(False).to_numpy(dtype=bool) | (old.isna() & new.isna()).to_numpy(dtype=bool)
        differ = np.flatnonzero(~same)
        cells[str(name)] = (differ, new.to_numpy(dtype=object)[differ])
    return (CleanResult({entity: after.iloc[:0]}, result.changes, result.notes, result.fields), cells,
            _identity(before))


def _resident() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _worker_facts() -> dict[str, str]:
    from importlib.metadata import version

    return {"versions": ", ".join(f"{name} {version(name)}" for name in ("crmmigrate", "pandas", "pyarrow")),
            "cwd": os.getcwd()}


def _bare(part: PartRead) -> tuple[PartRead, int, dict[str, int]]:
    """The part without its rows (`_take` gathers them a piece at a time: its frames of
    records empty, their columns kept), how many chunks it read, and how many rows each frame
    of records holds."""
    frames = {name: getattr(part, name) for name in ("mapped", "removed")}
    return (replace(part, extracted=[], **{name: frame.iloc[:0] for name, frame in frames.items()}),
            len(part.extracted), {name: len(frame) for name, frame in frames.items()})


def _chunk(part: PartRead, at: int) -> Any:
    return part.extracted[at]


def _frame(part: PartRead, name: str) -> pd.DataFrame:
    return getattr(part, name)


def _rows(frame: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    if start == 0 and stop == len(frame):
        return frame
    return frame.iloc[start:stop].reset_index(drop=True)
