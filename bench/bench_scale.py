"""The cluster engine beside the embedded one, by size: one whole `crmmigrate run` each.

    python bench/bench_scale.py --contacts 100000 300000 [1000000 5000000] [--workers 2]
        [--memory-limit 2GiB] [--engines local dask] [--seed 7] [--keep]

What it measures: for each size, the legacy set of bench/legacy_set.py (generated once, cached
in bench/.cache/legacy_<N>_<seed>/) migrated by the real command, `crmmigrate run`, once per
engine, each in a fresh subprocess into a fresh target (bench_run's set, config and target: a
new SQLite file; `measure(..., target=URL)` takes a server as bench_run does). The local run is
the embedded engine; the dask run has `engine: {name: dask, workers: W, memory_limit: M}`
written into its copy of migration.yaml, so the run starts a LocalCluster of W worker
processes of M each, which do the work the engine sends them (at 8c53e41: reading and mapping
every source in parts, cleaning every entity in slices, validation's row-by-row rules and
dedupe's pair comparisons); the rest, the load included, stays in the run's own process (the
driver). Each run's folder is bench/.cache/scale_<N>_<seed>_<engine>/ (its log run.log;
`--keep` keeps the run directory and target).

While a run runs, its process tree (the driver, the LocalCluster's worker processes, which
the run starts, and the processes crmmigrate.parallel forks) is sampled every 0.5 s with psutil
(reading each process's PSS costs this process about a tenth of a core at 1M contacts).

How to read a size's table, one line per engine:
- wall: seconds from starting the command to its exit (Python's start and imports, and for
  dask the LocalCluster's start and stop, included);
- cpu s: user + system seconds of the run and every process under it: each process's last
  sample summed, or the run's rusage from os.wait4 (the run and every descendant reaped) when
  that is larger (a process that ends between samples loses its last half second in the
  first); cores: cpu s over wall (2.0 is both cores of this machine busy all the time);
- machine load: the 1-minute load average over the run; on a 2-core machine, above about 1.5
  other work shared the cores, and cpu s (which waiting does not count) is the figure to compare;
- driver peak: the high-water mark of the run's own process (Linux's VmHWM: exact, not
  sampled); tree PSS: the largest sum, at one sample, of the proportional set size of every
  process of the tree (a page shared by n processes counted 1/n in each: the memory the tree
  really held); tree RSS: the same with resident sizes, which count a shared page in every
  process that maps it (the local engine's forked processes share most of the driver's pages,
  so its tree RSS overstates it); worker peak: the highest high-water mark of one LocalCluster
  worker process, to hold beside --memory-limit (Dask spills at 70% of it, pauses at 80% and
  restarts the worker at 95%; by RSS, as Dask measures it);
- spilled: the most bytes seen at once in the workers' spill stores (the run gets
  DASK_TEMPORARY_DIRECTORY in its folder, so each worker's store is
  dask/dask-scratch-space/worker-*/storage/ there, sampled with the tree, as Dask empties it when
  a worker closes), plus the run.log lines that speak of spilling, memory or a worker that
  died, and "restarted" when more worker processes came than were started (a worker killed,
  as its nanny does at 95% of the limit, and replaced: its tasks run again);
- engine ... report: stage seconds from the run's run.json `timings`. engine: starting the
  engine (the LocalCluster; nothing for local); extract, map: the parts' own seconds summed
  (for dask summed over the workers, and for local over its forked readers when the sources are
  large, so they may add up to more than the time the run waited for them); read+rest: wall
  less every timed stage but extract and map (and run.json's `read`, and `dedupe_leads`, the
  leads' matching and dedupe's files, done beside the load), that is the reading
  as the driver waited for it, plus start, imports and the untimed steps: it is the figure to
  compare between the engines for the reading;
- ok: exit 0 and the ledger balanced (run.json `ledger_ok`), else what happened.

Below each size's table: "memory highest during", the step the run's log had last named when
the driver's, the tree's and a worker's sampled memory was at its highest; the ratios
dask/local of wall, of the driver's peak, of tree PSS and of cpu s; "same ledger": the two
run.json "ledger" lines and "dedupe" summaries are equal. At the end: the size from which the
cluster engine is faster on this machine, from these figures (or that it is not, at the sizes
run). Each run's memory over time, sample by sample (the driver's PSS, its other processes',
the CPU seconds every process had used so far, the step its log named), is in memory.tsv in
its folder. One run each: run it when the machine is quiet.

Each run imports crmmigrate as the checkout has it when the run starts, so a change committed
while the benchmark runs splits its sizes between two versions. To hold every run to one,
export the commit and put it first on the path (the dask workers take the run's path):

    git archive HEAD crmmigrate | tar -x -C /tmp/frozen
    PYTHONPATH=/tmp/frozen .venv/bin/python bench/bench_scale.py --contacts 100000 300000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import CACHE, CRMMIGRATE, STAGES, fresh_target, legacy_set, run_config  # noqa: E402

ENGINES = ("local", "dask")
COLUMNS = ("engine", *STAGES)  # run.json timings shown; "engine" is the cluster's start
# run.json timings of work done beside others': the parts' seconds summed over the processes
# that read them (and `read`, the wall time they took), the leads' matching beside the load.
BESIDE = ("extract", "map", "read", "dedupe_leads")
SAMPLE_SECONDS = 0.5
# run.log lines of a worker's memory trouble (Dask's warnings, when they reach the log) or death
# (the cluster logs errors only: a worker its nanny killed at 95% shows as "Worker stream died")
TROUBLE_WORDS = ("spill", "memory use is high", "memory limit", "paused", "restart", "died")


class TreeSampler(threading.Thread):
    """A process and everything under it, sampled every 0.5 s: CPU seconds, RSS, spill store."""

    def __init__(self, pid: int, scratch: Path) -> None:
        super().__init__(daemon=True)
        self.driver = psutil.Process(pid)
        self.scratch = scratch
        self.stop = threading.Event()
        self.cpu: dict[tuple[int, float], float] = {}  # (pid, started) -> user + system seconds
        self.peaks: dict[tuple[int, float], int] = {}
        self.workers: dict[tuple[int, float], float] = {}  # Dask worker processes (spawned) -> seen at s
        self.tree_peak = 0  # summed PSS
        self.tree_rss_peak = 0
        self.tree_split = (0, 0)  # at the tree's peak: the driver's PSS, the other processes'
        # s, clock, driver PSS, others', processes, CPU seconds of every process seen so far
        self.timeline: list[tuple[float, float, int, int, int, float]] = []
        self.at: dict[str, float] = {}  # driver, tree, worker -> when its sampled memory was highest
        self.highest: dict[str, int] = {}
        self.spilled = 0
        self.loads: list[float] = []
        self.began = time.perf_counter()
        self.start()

    def run(self) -> None:
        while True:
            self.sample()
            if self.stop.wait(SAMPLE_SECONDS):
                return

    def sample(self) -> None:
        try:
            procs = [self.driver, *self.driver.children(recursive=True)]
        except psutil.Error:  # the run has ended
            return
        total = total_rss = driver = 0
        for proc in procs:
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    memory, times = proc.memory_full_info(), proc.cpu_times()
                    if key not in self.peaks and proc is not self.driver:
                        if any("spawn_main" in part for part in proc.cmdline()):
                            self.workers[key] = time.perf_counter() - self.began
            except psutil.Error:  # ended (or a zombie) since the listing
                continue
            total += memory.pss
            total_rss += memory.rss
            driver += memory.pss if proc is self.driver else 0
            self.cpu[key] = times.user + times.system
            self.peaks[key] = max(self.peaks.get(key, 0), memory.rss, high_water_mark(proc.pid))
            self.note("driver" if proc is self.driver else "worker" if key in self.workers else "", memory.rss)
        if not driver:  # the run is ending: its memory let go before it is reaped (seen under load)
            return
        self.note("tree", total)
        if total > self.tree_peak:
            self.tree_peak, self.tree_split = total, (driver, total - driver)
        self.timeline.append((time.perf_counter() - self.began, time.time(), driver, total - driver, len(procs),
                              sum(self.cpu.values())))
        self.tree_rss_peak = max(self.tree_rss_peak, total_rss)
        self.spilled = max(self.spilled, spill_bytes(self.scratch))
        self.loads.append(os.getloadavg()[0])

    def note(self, what: str, size: int) -> None:
        if what and size > self.highest.get(what, -1):
            self.highest[what], self.at[what] = size, time.time()

    def driver_peak(self) -> int:
        return max((v for (pid, _), v in self.peaks.items() if pid == self.driver.pid), default=0)

    def worker_peak(self) -> int:
        return max((v for key, v in self.peaks.items() if key in self.workers), default=0)


def high_water_mark(pid: int) -> int:
    """The process's peak resident memory so far (Linux's VmHWM), 0 where it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def spill_bytes(scratch: Path) -> int:
    """Bytes in the Dask workers' spill stores under `scratch` now."""
    total = 0
    for store in scratch.glob("dask-scratch-space/worker-*/storage"):
        for file in store.rglob("*"):
            try:
                total += file.stat().st_size if file.is_file() else 0
            except OSError:  # taken back into memory since the listing
                continue
    return total


def with_engine(config: Path, engine: str, workers: int, memory_limit: str) -> None:
    """`config` (a copy of the set's migration.yaml) set to run on `engine`."""
    if engine == "local":
        return
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["engine"] = {"name": engine, "workers": workers, "memory_limit": memory_limit}
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


def measure(folder: Path, work: Path, engine: str, *, workers: int = 2, memory_limit: str = "2GiB",
            target: str = "sqlite", contacts: int = 0, keep: bool = False) -> dict:
    """One `crmmigrate run` of the set in `folder` on `engine`, in a fresh `work` folder and a
    fresh target (bench_run's); its figures, run.json's timings, ledger and dedupe summary."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = run_config(folder, work, fresh_target(target, contacts, work))
    with_engine(config, engine, workers, memory_limit)
    scratch = work / "dask"
    log = work / "run.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen([str(CRMMIGRATE), "run", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=os.environ | {"DASK_TEMPORARY_DIRECTORY": str(scratch)})
        tree = TreeSampler(child.pid, scratch)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        tree.stop.set()
        tree.join()
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    with (work / "memory.tsv").open("w", encoding="utf-8") as out:
        out.write("seconds\tdriver PSS MB\tothers' PSS MB\tprocesses\tcpu s\tstep\n")
        for seconds, clock, driver, others, count, cpu in tree.timeline:
            out.write(f"{seconds:.1f}\t{driver / 2**20:.0f}\t{others / 2**20:.0f}\t{count}\t{cpu:.1f}\t"
                      f"{doing(lines, clock)}\n")
    said = [line for line in lines if any(word in line.lower() for word in TROUBLE_WORDS)]
    result = {"engine": engine, "exit": os.waitstatus_to_exitcode(status), "wall": wall, "log": str(log),
              "cpu": max(sum(tree.cpu.values()), usage.ru_utime + usage.ru_stime),
              "driver_peak": tree.driver_peak(), "tree_peak": tree.tree_peak, "tree_rss_peak": tree.tree_rss_peak,
              "tree_split": tree.tree_split,
              "worker_peak": tree.worker_peak(),
              "spilled": tree.spilled, "memory_lines": said,
              "worker_starts": sorted(tree.workers.values()),
              "peak_steps": {what: doing(lines, when) for what, when in tree.at.items()},
              "workers": workers if engine != "local" else 0, "memory_limit": memory_limit if engine != "local" else None,
              "load": sum(tree.loads) / len(tree.loads) if tree.loads else os.getloadavg()[0]}
    runs = sorted((work / "runs").glob("*/run.json"))
    if runs:
        record = json.loads(runs[-1].read_text(encoding="utf-8"))
        result.update(rows=sum(s["extracted"] for s in record.get("sources", [])),
                      timings=record.get("timings") or {}, ledger=record.get("ledger"), dedupe=record.get("dedupe"),
                      ledger_ok=record.get("ledger_ok"), status=record.get("status"), run_engine=record.get("engine"))
    if result["exit"] == 0 and not keep:
        shutil.rmtree(work / "runs", ignore_errors=True)
        (work / "target.db").unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def doing(lines: list[str], when: float) -> str:
    """The step the run's log (`crmmigrate: HH:MM:SS step: what`) last named at `when` (a run
    that passes midnight has its stamps counted on from the day it started)."""
    clock, step, first, day = _seconds_of_day(time.strftime("%H:%M:%S", time.localtime(when))), "start", None, 0
    for line in lines:
        head, _, rest = line.partition(" ")
        stamp, _, text = rest.partition(" ")
        if head != "crmmigrate:" or len(stamp) != 8 or not text:
            continue
        seconds = _seconds_of_day(stamp)
        if seconds is None:
            continue
        if first is None:
            first = previous = seconds
            if clock is not None and clock < first - 3600:  # `when` is after midnight, the run began before
                clock += 86400
        if seconds + day < previous:
            day += 86400
        previous = seconds + day
        if clock is not None and previous > clock:
            break
        step = text.rsplit(": ", 1)[0]
    return step


def _seconds_of_day(stamp: str) -> int | None:
    try:
        hours, minutes, seconds = (int(part) for part in stamp.split(":"))
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


def peaks_text(runs: dict[str, dict]) -> str:
    """Where each engine's sampled memory was highest, by its log's step then."""
    said = {"driver": "driver", "tree": "tree PSS", "worker": "a worker"}
    return "; ".join(f"{name}: " + ", ".join(f"{said[k]} in '{r['peak_steps'][k]}'" for k in said
                                          if k in r["peak_steps"])
                     + " (the tree's peak: the driver {} + its other processes {})".format(*map(gigabytes, r["tree_split"]))
                     for name, r in runs.items())


def same_ledger(runs: dict[str, dict]) -> bool | None:
    """The engines' ledger lines and dedupe summaries are equal (None: not both have them)."""
    local, dask = runs.get("local"), runs.get("dask")
    if not (local and dask and local.get("ledger") and dask.get("ledger")):
        return None
    return local["ledger"] == dask["ledger"] and local["dedupe"] == dask["dedupe"]


def ok(run: dict) -> bool:
    return run["exit"] == 0 and bool(run.get("ledger_ok"))


def table(runs: dict[str, dict]) -> str:
    heads = ["engine", "wall s", "cpu s", "cores", "machine load", "driver peak", "tree PSS", "tree RSS", "worker peak",
             "spilled", *COLUMNS, "read+rest", "ok"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for name, r in runs.items():
        timings = r.get("timings") or {}
        rest = r["wall"] - sum(v for k, v in timings.items() if k not in BESIDE)
        cells = [name if name == "local" else f"{name} ({r['workers']} x {r['memory_limit']})",
                 f"{r['wall']:.1f}", f"{r['cpu']:.1f}", f"{r['cpu'] / r['wall']:.2f}", f"{r['load']:.1f}",
                 *(gigabytes(r[k]) for k in ("driver_peak", "tree_peak", "tree_rss_peak", "worker_peak")), spill_text(r),
                 *("-" if timings.get(k) is None else f"{timings[k]:.1f}" for k in COLUMNS),
                 f"{rest:.1f}" if timings else "-", verdict(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gigabytes(n: int) -> str:
    return f"{n / 2**30:.2f} GB" if n else "-"


def spill_text(r: dict) -> str:
    if r["engine"] == "local":
        return "-"
    parts = [f"{r['spilled'] / 2**20:.0f} MB" if r["spilled"] else "no"]
    if r["memory_lines"]:
        parts.append(f"{len(r['memory_lines'])} log line(s)")
    if len(r["worker_starts"]) > r["workers"]:
        later = ", ".join(f"{s:.0f}" for s in r["worker_starts"][r["workers"]:])
        parts.append(f"restarted (worker(s) started at {later} s)")
    return ", ".join(parts)


def verdict(r: dict) -> str:
    if ok(r):
        return "yes"
    ledger = "no run.json" if r.get("ledger_ok") is None else "ledger NOT balanced" if not r["ledger_ok"] else "balanced"
    return f"exit {r['exit']}, {ledger}; see {r['log']}"


def ratios(runs: dict[str, dict]) -> str:
    local, dask = runs.get("local"), runs.get("dask")
    if not (local and dask and ok(local) and ok(dask)):
        return ""
    return (f"dask/local: wall {dask['wall'] / local['wall']:.2f}x, driver peak "
            f"{dask['driver_peak'] / local['driver_peak']:.2f}x, tree PSS {dask['tree_peak'] / local['tree_peak']:.2f}x, "
            f"cpu s {dask['cpu'] / local['cpu']:.2f}x")


def crossover(sizes: dict[int, dict[str, dict]]) -> str:
    """From which size the cluster engine's wall is below the embedded one's, at it and at every
    larger size run (both engines ok)."""
    both = [(n, runs["local"]["wall"], runs["dask"]["wall"]) for n, runs in sorted(sizes.items())
            if {"local", "dask"} <= runs.keys() and ok(runs["local"]) and ok(runs["dask"])]
    if not both:
        return "No size where both engines ran to a balanced ledger: nothing to compare."
    said = ", ".join(f"{n:,} {d / w:.2f}x" for n, w, d in both)
    start = None
    for n, local, dask in reversed(both):
        if dask >= local:
            break
        start = n
    if start is None:
        return (f"The cluster engine is not faster on this machine at the sizes run "
                f"(wall dask/local: {said}).")
    return f"The cluster engine is faster on this machine from {start:,} contacts (wall dask/local: {said})."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--workers", type=int, default=2, help="the dask run's LocalCluster worker processes")
    parser.add_argument("--memory-limit", default="2GiB", help="memory per LocalCluster worker")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep each run's directory and SQLite target")
    args = parser.parse_args()
    if not CRMMIGRATE.exists():
        sys.exit(f"bench_scale: {CRMMIGRATE} not found: run it with the project's .venv/bin/python")
    sizes: dict[int, dict[str, dict]] = {}
    for contacts in sorted(args.contacts):
        folder = legacy_set(contacts, args.seed)
        runs = sizes[contacts] = {}
        for engine in args.engines:
            runs[engine] = measure(folder, CACHE / f"scale_{contacts}_{args.seed}_{engine}", engine,
                                   workers=args.workers, memory_limit=args.memory_limit, contacts=contacts,
                                   keep=args.keep)
            print(f"{contacts:,} contacts, {engine}: exit {runs[engine]['exit']}, "
                  f"{runs[engine]['wall']:.1f} s; log {runs[engine]['log']}", flush=True)
        rows = next((r["rows"] for r in runs.values() if r.get("rows")), None)
        print(f"\n{contacts:,} contacts ({f'{rows:,} rows' if rows else 'rows unknown'}), seed {args.seed}, "
              f"load average now {os.getloadavg()[0]:.1f}; seconds per stage from run.json")
        print(table(runs))
        print(f"memory highest during: {peaks_text(runs)}")
        if line := ratios(runs):
            print(line)
        if (same := same_ledger(runs)) is not None:
            print(f"same ledger: {'yes' if same else 'no'} (run.json's ledger lines and dedupe summaries)")
        print(flush=True)
    print(crossover(sizes))


if __name__ == "__main__":
    main()
