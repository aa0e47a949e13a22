"""Per-value calls shared among forked processes come back complete and in order, and stay on
this core when they are few or quick."""

from __future__ import annotations

from crmmigrate import parallel


def square_with_offset(offset: int):
    return lambda value: value * value + offset  # a closure: inherited by fork, never pickled


def test_many_slow_calls_are_shared_and_come_back_in_order(monkeypatch):
    monkeypatch.setattr(parallel, "AT_LEAST", 10)
    monkeypatch.setattr(parallel, "SAMPLE", 3)
    monkeypatch.setattr(parallel, "SECONDS", 0.0)  # anything counts as slow
    monkeypatch.setattr(parallel, "cores", lambda limit=8: 2)
    pools = []
    pool = parallel.ProcessPoolExecutor
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", lambda *a, **k: pools.append(a) or pool(*a, **k))

    found = parallel.each(square_with_offset(7), list(range(1000)))

    assert found == [v * v + 7 for v in range(1000)]
    assert pools == [(2,)]


def test_few_or_quick_calls_stay_on_this_core(monkeypatch):
    pools = []
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", lambda *a, **k: pools.append(a))
    monkeypatch.setattr(parallel, "cores", lambda limit=8: 2)

    assert parallel.each(square_with_offset(1), list(range(100))) == [v * v + 1 for v in range(100)]
    monkeypatch.setattr(parallel, "AT_LEAST", 10)
    monkeypatch.setattr(parallel, "SAMPLE", 5)
    assert parallel.each(square_with_offset(1), list(range(5000))) == [v * v + 1 for v in range(5000)]
    assert pools == []  # 5,000 squares take far less than 3 s


def test_cores_are_at_least_one_and_at_most_the_limit():
    assert 1 <= parallel.cores(limit=2) <= 2
    assert parallel.cores(limit=1) == 1


SCRIPT = """
import os, signal, sys, time
from crmmigrate import parallel

# As a program started from a terminal has it (a test runner started in the background of a
# shell ignores SIGINT, and its children inherit that).
signal.signal(signal.SIGINT, signal.default_int_handler)

def slow(item):
    open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()  # at work
    time.sleep(60)

try:
    parallel.apart(slow, [1, 2])
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def _forked_run(tmp_path):
    """A process sharing two minute-long tasks with `apart`, and the pids of its two workers,
    once both are at work."""
    import subprocess
    import sys
    import time

    at_work = tmp_path / "at_work"
    at_work.mkdir()
    out = (tmp_path / "out.txt").open("wb")
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, str(at_work)], stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and child.poll() is None and time.monotonic() < deadline:
        workers = [int(path.name) for path in at_work.iterdir()]
        time.sleep(0.05)
    assert len(workers) == 2, (tmp_path / "out.txt").read_text()
    return child, out, workers


def _gone(pids: list[int], seconds: float) -> bool:
    import time

    psutil = __import__("psutil")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
            return True
        time.sleep(0.05)
    return False


needs_fork = __import__("pytest").mark.skipif(parallel.cores() < 2 or not parallel.can_fork(),
                                              reason="forked processes need fork and two cores")


@needs_fork
def test_ctrl_c_stops_forked_processes_at_once_not_when_their_tasks_end(tmp_path):
    import os
    import signal

    child, out, workers = _forked_run(tmp_path)
    try:
        os.killpg(child.pid, signal.SIGINT)  # as a terminal sends Ctrl-C: to every process
        assert child.wait(timeout=30) == 130  # not the tasks' 60 s
    finally:
        if child.poll() is None:
            child.kill()
        out.close()
    said = (tmp_path / "out.txt").read_text()
    assert "interrupted" in said and "Traceback" not in said
    assert _gone(workers, 30)


@needs_fork
def test_forked_processes_end_with_a_run_killed_outright(tmp_path):
    import signal

    child, out, workers = _forked_run(tmp_path)
    try:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        out.close()
    assert _gone(workers, 30)  # not left running, holding its memory and connections
