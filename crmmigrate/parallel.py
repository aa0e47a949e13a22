"""Work shared among the machine's cores.

The per-value libraries crmmigrate calls (phonenumbers, email-validator...) are pure Python and
hold the GIL, so many calls are shared among forked processes; numpy, Arrow and rapidfuzz let
go of it, so their work is shared among threads (`cores` says how many).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from crmmigrate.errors import EXIT_LOST, CrmMigrateError

AT_LEAST = 20_000  # calls from which sharing them is considered
# Records of an entity from which its work (its fields cleaned, its rows checked) is shared
# among forked processes (`apart`): below it, forking costs more than the second core gives.
APART_ROWS = 50_000
SAMPLE = 2_000  # calls timed first, on this core, to decide
SECONDS = 3.0  # what the rest must be expected to take on one core to be shared


def cores(limit: int = 8) -> int:
    """The cores this process may run on (its affinity, in a container its share), less one
    for each process working beside it (`beside`), at most `limit`."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    return max(1, min(count - _BESIDES, limit))


_BESIDES = 0  # processes `beside` has at work

# Where a container's memory limit and use are read from: cgroup v2, then v1.
MEMORY_GROUPS = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def available_memory() -> int:
    """Bytes this process may still take, now: what the machine has available (free, and the
    page cache it can take back), or less where a container's memory limit leaves less (its
    limit less what its processes use; "max", or no such file, is no limit)."""
    import psutil

    available = int(psutil.virtual_memory().available)
    for limit_file, usage_file in MEMORY_GROUPS:
        try:
            with open(limit_file, encoding="ascii") as limit, open(usage_file, encoding="ascii") as usage:
                left = int(limit.read().strip()) - int(usage.read().strip())
        except (OSError, ValueError):
            continue
        available = min(available, max(left, 0))
    return available


def can_fork() -> bool:
    """This process may share work among forked children: it runs where fork exists and is not
    itself a daemon (a worker of the cluster engine is one, and has the cluster's cores to
    share instead), nor one of `apart`'s processes (which share the cores already)."""
    return ("fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
            and not _IN_APART)


_WORK: Callable[[Any], Any] | None = None  # what the forked processes of `each` call


def each(function: Callable[[Any], Any], items: list) -> list:
    """function(item) for every item, in order. With AT_LEAST items or more, the first SAMPLE
    are timed; when the rest would take over SECONDS, they are shared among forked processes,
    one per core, which inherit `function` and whatever it reads (nothing is pickled but the
    items and the results)."""
    workers = cores()
    if len(items) < AT_LEAST or workers < 2 or not can_fork():
        return [function(item) for item in items]
    started = time.perf_counter()
    found = [function(item) for item in items[:SAMPLE]]
    rest = items[SAMPLE:]
    if (time.perf_counter() - started) / SAMPLE * len(rest) < SECONDS:
        return found + [function(item) for item in rest]
    global _WORK
    _WORK = function
    try:
        size = -(-len(rest) // (workers * 4))
        with forked_pool(workers) as pool:
            parts = pool.map(_forked, [rest[i:i + size] for i in range(0, len(rest), size)])
            return found + [value for part in parts for value in part]
    except BrokenProcessPool:
        raise _lost() from None
    finally:
        _WORK = None


def _forked(items: list) -> list:
    assert _WORK is not None
    return [_WORK(item) for item in items]


_APART: Callable[[Any], Any] | None = None  # what `apart`'s forked processes call
_IN_APART = False  # this process is one of them


def apart(function: Callable[[Any], Any], items: list) -> list:
    """function(item) for every item, in order, shared among forked processes, one per core
    (or here, where there is one core or no fork). They inherit `function` and whatever it
    reads as it is when called, so only the items and the results are pickled; within them,
    `each` does its work itself. For work the caller knows is worth it: a few large items."""
    workers = min(cores(), len(items))
    if workers < 2 or not can_fork():
        return [function(item) for item in items]
    global _APART
    _APART = function
    try:
        with forked_pool(workers, apart=True) as pool:
            return list(pool.map(_called, items))
    except BrokenProcessPool:
        raise _lost() from None
    finally:
        _APART = None
        give_back()  # the results came as pickles, into this process's C heap


def _lost(who: str = "a process sharing the run's work") -> ProcessLost:
    """What a forked process that ended without its answer is told as."""
    return ProcessLost(f"{who} ended without an answer (killed, or out of memory).",
                       hint="A process killed is often out of memory: give the run more (README, Benchmarks).")


class ProcessLost(CrmMigrateError):
    """A forked process doing a part of the run ended without an answer (killed, out of memory)."""

    exit_code = EXIT_LOST


_COUNTED = threading.Lock()  # guards _BESIDES


@contextmanager
def beside(function: Callable[[], Any], what: str) -> Iterator[Future]:
    """function() in a forked process while the caller's block runs (`what` it does, for an
    error); yields its Future. The process is a copy of this one as it is on entering: nothing
    but the result is pickled, and nothing it changes is seen here; it ends once it has sent
    it, and with it what it held. Left by an error, the block waits for the process (what it
    writes gets written) before the error goes on; left by Ctrl-C, the process is stopped at
    once. While it works, `cores` counts one core less. Where there is one core or no fork,
    function() runs here, on entering. Either way its result is there once the block is left;
    a process that ends without one is `ProcessLost`."""
    future: Future = Future()
    if cores() < 2 or not can_fork():
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)
        yield future
        return
    global _BESIDES
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_beside, args=(function, sending, os.getpid()), name="crmmigrate-beside")
    # Pages this process holds free are not the copy's to share: once this process takes them
    # for something else, each would be copied, counted twice.
    give_back()
    # Forked with Ctrl-C held back, so that none arrives before the process ignores it.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    except BaseException:
        receiving.close()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        sending.close()
    with _COUNTED:
        _BESIDES += 1

    def received() -> None:
        global _BESIDES
        try:
            ok, value = receiving.recv()
        except (EOFError, OSError):
            ok, value = False, _lost(f"the process {what}")
        except Exception as exc:  # noqa: BLE001 - an answer that does not unpickle: the waiter must hear
            ok, value = False, RuntimeError(f"the answer of the process {what} could not be read: {exc}")
        finally:
            receiving.close()
            process.join()
            with _COUNTED:
                _BESIDES -= 1
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    waiting = threading.Thread(target=received, name="crmmigrate-beside", daemon=True)
    waiting.start()
    try:
        yield future
    except Exception:
        waiting.join()
        raise
    except BaseException:
        process.terminate()
        waiting.join()
        raise
    waiting.join()
    give_back()  # the result came as a pickle, into this process's C heap


def _beside(function: Callable[[], Any], sending: Any, parent: int) -> None:
    _entered(parent, True)
    try:
        answer = (True, function())
    except Exception as exc:
        answer = (False, exc)
    try:
        sending.send(answer)
    except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
        sending.send((False, RuntimeError(f"{type(answer[1]).__name__} that could not be sent back: {exc}")))
    finally:
        sending.close()


@contextmanager
def forked_pool(workers: int, *, apart: bool = False) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` forked processes, shut down on the way out. Its processes leave
    Ctrl-C to the run (each would else print its own traceback) and end with it, killed or not
    (`die_with_parent`); `apart`: they are `apart`'s, and share no work of theirs further. Left
    normally, the tasks not yet started are cancelled and those running finish; left by an
    error or Ctrl-C, the processes are stopped at once, whatever they were doing."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_entered, initargs=(os.getpid(), apart))
    # Forked with Ctrl-C held back, so that none arrives before a process ignores it: the
    # processes start with the first task (this one), and one signalled then would print a
    # traceback and break the pool.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool.submit(int).result()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    try:
        yield pool
    except BaseException:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _entered(parent: int, apart: bool) -> None:
    global _IN_APART
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # Not the run's terminal display (rich redirects the streams through a lock that another
    # thread of the run may have held when this process was forked).
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    die_with_parent(parent)
    _IN_APART = apart


def die_with_parent(parent: int) -> None:
    """A forked process ends with the run that forked it: a pool's workers outlive a parent
    killed with SIGKILL, and would keep its memory and its database connections (a bulk load's
    open transaction, the target's lock) alive for ever."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # killed before that
        os._exit(1)


def _called(item: Any) -> Any:
    assert _APART is not None
    return _APART(item)


def give_back() -> None:
    """The free pages of the C heap (glibc's malloc_trim; elsewhere nothing) and of Arrow's
    memory pool given back to the system. What comes back from forked processes comes as
    pickles: its buffers are this process's heap, not Arrow's pool, and once let go they leave
    holes glibc keeps unless asked; Arrow's pool (mimalloc) keeps what it frees for a while."""
    pa.default_memory_pool().release_unused()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)
