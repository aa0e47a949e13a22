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


def test_available_memory_is_the_machines_or_a_containers_less(tmp_path, monkeypatch):
    """What a process may still take: the machine's available memory, or what a container's
    limit leaves (its limit less its use) when that is less; "max" (cgroup v2's no limit), a
    file not there or not a number limit nothing."""
    import psutil

    machine = psutil.virtual_memory().available
    monkeypatch.setattr(parallel, "MEMORY_GROUPS", ())
    assert 0.5 * machine < parallel.available_memory() < 2 * machine
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    monkeypatch.setattr(parallel, "MEMORY_GROUPS", ((str(limit), str(usage)), (str(tmp_path / "none"), str(usage))))
    limit.write_text("max\n")
    usage.write_text("1000\n")
    assert 0.5 * machine < parallel.available_memory() < 2 * machine
    limit.write_text(f"{3 << 20}\n")
    usage.write_text(f"{1 << 20}\n")
    assert parallel.available_memory() == 2 << 20
    usage.write_text(f"{4 << 20}\n")  # over its limit (page cache counts as use): nothing left
    assert parallel.available_memory() == 0


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


@needs_fork
def test_beside_runs_in_a_copy_of_this_process_as_it_was_on_entering():
    import os

    psutil = __import__("psutil")
    seen = {"value": 1}
    with parallel.beside(lambda: (os.getpid(), seen["value"]), "reading a dict") as found:
        seen["value"] = 2  # after the fork: the copy has 1
        pid, value = found.result(timeout=60)
        assert not psutil.pid_exists(pid)  # ended once it answered, and its memory with it
    assert pid != os.getpid() and value == 1


@needs_fork
def test_beside_left_by_an_error_waits_for_the_process_to_finish_its_work(tmp_path):
    import time

    import pytest

    def slow_write():
        time.sleep(1)
        (tmp_path / "written").write_text("done")

    with pytest.raises(ValueError), parallel.beside(slow_write, "writing a file"):
        raise ValueError("the block failed")
    assert (tmp_path / "written").read_text() == "done"  # what it writes is written


@needs_fork
def test_a_process_killed_beside_is_a_clear_error():
    import os
    import signal

    import pytest

    from crmmigrate.errors import EXIT_LOST, CrmMigrateError

    with parallel.beside(lambda: os.kill(os.getpid(), signal.SIGKILL), "killing itself") as found:
        pass
    with pytest.raises(parallel.ProcessLost) as caught:
        found.result(timeout=60)
    assert "the process killing itself ended without an answer (killed, or out of memory)" in str(caught.value)
    assert isinstance(caught.value, CrmMigrateError) and caught.value.exit_code == EXIT_LOST


def test_beside_on_one_core_runs_here_on_entering(monkeypatch):
    import os

    import pytest

    monkeypatch.setattr(parallel, "cores", lambda limit=8: 1)
    seen = {"value": 1}
    with parallel.beside(lambda: (os.getpid(), seen["value"]), "reading a dict") as found:
        seen["value"] = 2
    assert found.result() == (os.getpid(), 1)
    with parallel.beside(lambda: 1 / 0, "dividing") as failed:
        pass
    with pytest.raises(ZeroDivisionError):
        failed.result()


@needs_fork
def test_a_core_is_counted_taken_while_a_process_works_beside():
    import time

    before = parallel.cores(limit=1024)
    with parallel.beside(lambda: time.sleep(1), "sleeping") as found:
        assert parallel.cores(limit=1024) == before - 1  # a bulk load's preparers fork no more
        found.result(timeout=60)
        assert parallel.cores(limit=1024) == before  # given back once it is done, not when the block ends
    assert parallel.cores(limit=1024) == before


def _killed_at(at: int):
    import os
    import signal

    def call(value: int) -> int:
        if value == at:
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
        return value

    return call


@needs_fork
def test_a_process_killed_while_sharing_work_is_the_machines_error(monkeypatch):
    """A forked process of `apart` (a large entity's fields cleaned side by side, its rows
    checked in slices) or of `each` (per-value calls) killed: exit 4 and why, not a bug's
    traceback (BrokenProcessPool)."""
    import pytest

    from crmmigrate.errors import EXIT_LOST

    monkeypatch.setattr(parallel, "cores", lambda limit=8: 2)
    with pytest.raises(parallel.ProcessLost, match="ended without an answer \\(killed, or out of memory\\)") as caught:
        parallel.apart(_killed_at(1), [0, 1, 2, 3])
    assert caught.value.exit_code == EXIT_LOST
    monkeypatch.setattr(parallel, "AT_LEAST", 10)
    monkeypatch.setattr(parallel, "SAMPLE", 3)
    monkeypatch.setattr(parallel, "SECONDS", 0.0)
    with pytest.raises(parallel.ProcessLost) as caught:
        parallel.each(_killed_at(500), list(range(1000)))
    assert caught.value.exit_code == EXIT_LOST
