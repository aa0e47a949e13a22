"""The consoles every command prints to, its messages on stderr, label-value lines and the
progress of a long command: what the output modules of the commands share."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from crmmigrate.passwords import mask_text
from crmmigrate.progress import Progress


out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fit_to_output() -> None:
    """Wrap to the terminal when there is one; never fold paths in pipes, logs and CI. A pipe
    whose reader may go (`crmmigrate report ... | head`) gets a standard output that outlives
    it, so the command still writes its files and exits with its own code."""
    if sys.stdout is sys.__stdout__ and sys.stdout is not None and not sys.stdout.isatty():
        sys.stdout = _OutlivesItsReader(sys.stdout)
    for console in (out, err):
        console.width = shutil.get_terminal_size().columns if console.is_terminal else 1000


class _OutlivesItsReader:
    """Standard output that drops what is written once its reader has gone, instead of raising
    BrokenPipeError at the next line printed (which ended a command before it wrote its
    report files, exit 1 with nothing said). The descriptor is pointed at /dev/null then, so
    Python's own flush at exit does not fail either."""

    def __init__(self, stream: TextIO) -> None:
        self._stream: TextIO | None = stream
        self._wrapped = stream

    def write(self, text: str) -> int:
        if self._stream is not None:
            try:
                return self._stream.write(text)
            except (BrokenPipeError, ValueError):
                self._gone()
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:
            try:
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                self._gone()

    def _gone(self) -> None:
        self._stream = None
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._wrapped.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer... of the real stream
        return getattr(self._wrapped, name)


# Messages and tracebacks may quote a URL from anywhere (a driver, SQLAlchemy): masked here.
def error(message: str) -> None:
    err.print(f"crmmigrate: error: {escape(mask_text(message))}", markup=True)


def warning(message: str) -> None:
    err.print(f"crmmigrate: warning: {escape(mask_text(message))}")


def note(message: str) -> None:
    err.print(f"crmmigrate: note: {escape(mask_text(message))}")


def traceback_text(text: str) -> None:
    err.print(escape(mask_text(text)), markup=False)


class Facts:
    """Label-value lines, aligned, with no trailing padding (tables pad every line)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add_row(self, label: str, value: str, style: str | None = "") -> None:
        self.rows.append((label, value, style or ""))

    def print(self) -> None:
        width = max((len(label) for label, _, _ in self.rows), default=0)
        for label, value, style in self.rows:
            text = f"[bold]{label:<{width}}[/bold]  {value}"
            out.print(f"[{style}]{text}[/{style}]" if style else text)


_SHOWN_CHARS = 30


def shown(value: str) -> str:
    """A value as a cell shows it: quoted when whitespace or control characters would hide."""
    if len(value) > _SHOWN_CHARS:
        value = value[: _SHOWN_CHARS - 1] + "…"
    if value != value.strip() or not value.isprintable():
        return repr(value)
    return value


# Seconds between two lines about a long stage when stderr is not a terminal (a log, CI, nohup);
# CRMMIGRATE_PROGRESS_EVERY sets another (tests use a fraction of a second).
PROGRESS_EVERY = 10.0


def progress_every() -> float:
    """PROGRESS_EVERY, or CRMMIGRATE_PROGRESS_EVERY when it is set to a number of seconds."""
    given = os.environ.get("CRMMIGRATE_PROGRESS_EVERY", "").strip()
    try:
        seconds = float(given) if given else PROGRESS_EVERY
    except ValueError:
        return PROGRESS_EVERY
    return seconds if math.isfinite(seconds) and seconds > 0 else PROGRESS_EVERY


@contextlib.contextmanager
def progress(*, every: float | None = None) -> Iterator[Progress]:
    """A `crmmigrate.progress.Progress` on stderr for as long as a command works: on a
    terminal, a bar per stage and item, each one's clock stopped when it finishes; otherwise
    plain lines (`ProgressLines`), so a log shows the run as it goes."""
    if err.is_terminal:
        bars = ProgressBars()
        with bars.bars:
            try:
                yield bars
            finally:
                bars.close()
    else:
        with ProgressLines(err.file, every=every or progress_every()) as lines:
            yield lines


class ProgressBars:
    """A rich bar per stage and item, transient: they go when the command prints its summary.
    The bars that are going always show; finished ones make room for them, oldest first, when
    the terminal has too few lines for all."""

    def __init__(self, *, console: Console | None = None, get_time: Callable[[], float] | None = None) -> None:
        self.bars = RichProgress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console or err, transient=True, get_time=get_time)
        self.tasks: dict[tuple[str, str], TaskID] = {}
        self._lock = threading.Lock()

    def __call__(self, stage: str, item: str, done: int, total: int | None) -> None:
        with self._lock:  # dedupe's chunks are told from several threads
            task = self.tasks.get((stage, item))
            if task is None:
                task = self.tasks[(stage, item)] = self.bars.add_task(f"{stage} {item}", total=total)
            self.bars.update(task, completed=done, total=total)
            if total is not None and done >= total:
                self.bars.stop_task(task)  # its clock stops: a finished stage's time stays as it was
            shown = [t for t in self.bars.tasks if t.visible]
            room = max(self.bars.console.height - 2, 3)
            for old in [t for t in shown if t.finished][:max(len(shown) - room, 0)]:
                self.bars.update(old.id, visible=False)

    def close(self) -> None:
        """Every clock stopped (a stage an error ended does not count on)."""
        with self._lock:
            for task in self.tasks.values():
                self.bars.stop_task(task)


@dataclass
class _Item:
    started: float
    done: int = 0
    total: int | None = None
    finished: bool = False


class ProgressLines:
    """Progress as plain lines for a log: a line when a stage's item starts, one when it
    finishes (how many, in how long), and every `every` seconds one about the item that
    started last and is still going (how many so far, how fast). No colour, no carriage
    return; each line written whole and flushed, so `nohup` and `> log 2>&1` show it at once."""

    def __init__(self, stream: TextIO, *, every: float = PROGRESS_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.every, self.clock = stream, every, clock
        self.items: dict[tuple[str, str], _Item] = {}
        self._gone = False  # the stream cannot be written to any more
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._beating, name="crmmigrate-progress", daemon=True)

    def __enter__(self) -> ProgressLines:
        self._beat.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._beat.join()

    def __call__(self, stage: str, item: str, done: int, total: int | None) -> None:
        with self._lock:
            key = (stage, item)
            found = self.items.get(key)
            ends = total is not None and done >= total
            if found is not None and found.finished and ends:
                return  # told again that it has finished
            if found is None or found.finished:  # a finished item going again (a stage run twice) starts again
                found = self.items[key] = _Item(self.clock())
                self._write(f"{stage} {item}: started" + (f", {total:,} to do" if total else ""))
            found.done = done
            if total is not None:
                found.total = total
            if ends or (found.total is not None and done >= found.total):
                found.finished = True
                self._write(f"{stage} {item}: done, {done:,} in {_seconds(self.clock() - found.started)}")

    def beat(self) -> None:
        """The line about the item that started last and is still going, if any."""
        with self._lock:
            going = [(key, i) for key, i in self.items.items() if not i.finished]
            if not going:
                return
            (stage, item), found = max(going, key=lambda pair: pair[1].started)
            elapsed = self.clock() - found.started
            if not found.done:  # nothing counted yet (a stage whose items say more, or one long step)
                so_far = f"{found.total:,} to do" if found.total else "nothing counted yet"
            elif found.total:
                so_far = f"{found.done:,} of {found.total:,} ({found.done * 100 // found.total}%)"
            else:
                so_far = f"{found.done:,} so far"
            rate = f", {found.done / elapsed:,.0f} a second" if elapsed > 0 and found.done else ""
            self._write(f"{stage} {item}: {so_far}{rate}, running for {_seconds(elapsed)}")

    def _beating(self) -> None:
        while not self._stop.wait(self.every):
            self.beat()

    def _write(self, line: str) -> None:
        if self._gone:
            return
        stamp = time.strftime("%H:%M:%S")
        try:
            self.stream.write(f"crmmigrate: {stamp} {mask_text(line)}\n")
            self.stream.flush()
        except (OSError, ValueError):  # the reader went (`| head`), or closed it: the work goes on unseen
            self._gone = True


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 600 else f"{seconds / 60:.1f} min"
