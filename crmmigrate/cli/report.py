"""All terminal output of crmmigrate: rich tables for people, plain messages on stderr.

Library modules return data; only this module decides how it looks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from crmmigrate.clean import CleanResult, FieldReport
from crmmigrate.dedupe import DedupeResult
from crmmigrate.extract import ExtractReport
from crmmigrate.extract.base import describe_delimiter
from crmmigrate.load.engine import LoadReport
from crmmigrate.mapping.engine import MapReport, issue_kind
from crmmigrate.passwords import mask_text

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


def _how(forced: bool) -> str:
    return "forced" if forced else "detected"


class _Facts:
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


def map_summary(
    result: MapReport,
    extracted: ExtractReport,
    *,
    output: Path,
    filtered: Path,
    rejects: Path,
) -> None:
    """What mapping did to every row, and what the engineer should look at next."""
    facts = _Facts()
    facts.add_row("mapping", f"{escape(result.mapping)} -> {result.entity}")
    read = f"{escape(extracted.file)} ({extracted.rows:,} rows read"
    read += f", {extracted.rejected:,} unreadable -> {escape(str(rejects))})" if extracted.rejected else ")"
    facts.add_row("source", read)
    facts.add_row("records", f"{result.rows_out:,} -> {escape(str(output))}")
    removed = sum(result.filtered.values())
    facts.add_row("filtered", f"{removed:,}" + (f" -> {escape(str(filtered))}" if removed else ""))
    for name, count in result.filtered.items():
        facts.add_row("", f"{escape(name)}: {count:,}")
    invalid = sum(sum(c.values()) for c in result.invalid.values())
    facts.add_row("invalid", f"{invalid:,} value(s) kept as they were, listed in _issues",
                  style="yellow" if invalid else "")
    for name, reasons in result.invalid.items():
        for reason, count in reasons.items():
            sample = next((s for s in result.invalid_samples.get(name, []) if issue_kind(s["reason"]) == reason), None)
            example = f" (e.g. row {sample['row']}: {sample['value']!r})" if sample else ""
            facts.add_row("", escape(f"{name}: {count:,} {reason}{example}"))
    for name, values in result.unmapped.items():
        listed = ", ".join(f"{v!r} ({n})" for v, n in list(values.items())[:8])
        more = f" and {len(values) - 8} more" if len(values) > 8 else ""
        facts.add_row("unmapped", escape(f"{name}: {listed}{more}"), style="yellow")
    if result.custom:
        facts.add_row("custom", escape(", ".join(result.custom)))
    if result.dropped:
        facts.add_row("dropped", escape(", ".join(result.dropped)))
    facts.print()
    if result.unmentioned:
        warning(
            f"{result.mapping}: the mapping does not mention column(s) "
            f"{', '.join(repr(c) for c in result.unmentioned)}; they are kept as custom fields. "
            "Map them, or list them under custom: or drop:."
        )
    for text in extracted.notes:
        note(f"{extracted.file}: {text}")


def load_summary(result: LoadReport, *, rejects: Path) -> None:
    """Per entity and source what loading did, then what was held back and why."""
    table = Table(title=f"load into {escape(result.target)}" + (" (dry run: nothing committed)" if result.dry_run else ""),
                  title_justify="left", pad_edge=False)
    for name in ("entity", "source", "rows", "inserted", "updated", "unchanged", "rejected", "quarantined"):
        table.add_column(name, justify="left" if name in ("entity", "source") else "right")
    for s in result.sources:
        table.add_row(escape(s.entity), escape(s.source), f"{s.rows:,}", f"{s.inserted:,}", f"{s.updated:,}",
                      f"{s.unchanged:,}", f"{s.rejected:,}", f"{s.quarantined:,}")
    out.print(table)
    if result.rejects:
        out.print(f"rejected rows and their reasons -> {escape(str(rejects))}")
    for entity, why in result.skipped.items():
        warning(f"{entity} not loaded: {why}")


def extract_summary(
    report: ExtractReport, *, output: Path | None = None, rejects: Path | None = None
) -> None:
    """What was read, every choice made while reading it, and where the results went."""
    table = _Facts()
    table.add_row("source", escape(report.source))
    table.add_row("file", escape(report.file))
    table.add_row("format", report.format)
    if report.encoding:
        how = _how(report.encoding_forced)
        if report.encoding_confidence is not None and not report.encoding_forced:
            how += f", confidence {report.encoding_confidence:.2f}"
        table.add_row("encoding", f"{report.encoding} ({how})")
    if report.delimiter:
        table.add_row(
            "delimiter", f"{describe_delimiter(report.delimiter)} ({_how(report.delimiter_forced)})"
        )
    if report.sheet:
        others = [s for s in report.sheets if s != report.sheet]
        text = escape(report.sheet)
        if others:
            text += f" (other sheets: {escape(', '.join(others))}; use --sheet)"
        table.add_row("sheet", text)
    if report.records_path:
        table.add_row("records", escape(report.records_path))
    if report.header_row is not None:
        if report.header_row == 0:
            text = "none (columns named by position)"
        else:
            text = f"row {report.header_row} ({_how(report.header_forced)})"
            if report.skipped_above_header:
                text += f"; {report.skipped_above_header} row(s) above it skipped"
        table.add_row("header", text)
    table.add_row("rows", f"{report.rows:,}")
    table.add_row("columns", f"{len(report.columns)}: {escape(', '.join(report.columns))}")
    if report.skipped_blank:
        table.add_row("blank", f"{report.skipped_blank:,} blank line(s) skipped")
    rejected = f"{report.rejected:,}"
    if report.rejected and rejects is not None:
        rejected += f" -> {escape(str(rejects))}"
    table.add_row("rejected", rejected, style="red" if report.rejected else "")
    if output is not None:
        table.add_row("written", escape(str(output)))
    table.print()
    for text in report.notes:
        note(f"{report.file}: {text}")


# --- crmmigrate profile ------------------------------------------------------------------
# Imported here rather than at the top so this section can be appended on its own.
from crmmigrate.profile import TIME_SUFFIX, ColumnProfile, Profile

_SHOWN_CHARS = 30


def _shown(value: str) -> str:
    """A value as a cell shows it: quoted when whitespace or control characters would hide."""
    if len(value) > _SHOWN_CHARS:
        value = value[: _SHOWN_CHARS - 1] + "…"
    if value != value.strip() or not value.isprintable():
        return repr(value)
    return value


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}%" if total else "-"


def _shape_label(column: ColumnProfile, shape: str) -> str:
    """A date shape with its order decided shows the decided format: nn.nn.yyyy -> dd.mm.yyyy."""
    base = shape.removesuffix(TIME_SUFFIX)
    for dates in column.dates:
        if dates.pattern == base:
            return dates.format + shape[len(base) :]
    return shape


def _fill_cell(column: ColumnProfile) -> str:
    text = f"{100 * column.fill_rate:.1f}"
    if column.blank:
        text += f"\n{column.blank:,} blank"
    if column.fill_rate < 0.5:
        return f"[red]{text}[/]"
    return text


def profile_table(profile: Profile) -> None:
    """One row per column: fill, distinct, top values, shapes and warnings; then each warning
    in full, and how the source was read."""
    table = Table(show_lines=True, pad_edge=False)
    table.add_column("column", style="bold", overflow="fold")
    table.add_column("fill %", justify="right")
    table.add_column("distinct", justify="right")
    table.add_column("top values", overflow="fold")
    table.add_column("shapes", overflow="fold")
    table.add_column("warnings", style="yellow", overflow="fold")
    for column in profile.columns:
        table.add_row(
            escape(column.name),
            _fill_cell(column),
            f"{column.distinct:,}",
            "\n".join(f"{escape(_shown(v.value))} ({v.count:,})" for v in column.top),
            "\n".join(
                f"{escape(_shape_label(column, s.value))} {_percent(s.count, column.filled)}"
                for s in column.shapes
            ),
            "\n".join(w.code for w in column.warnings),
        )
    out.print(table)
    for column in profile.columns:
        for w in column.warnings:
            out.print(f"[yellow]{escape(column.name)}: {escape(w.message)}[/]")
    if profile.extract is not None:
        out.print(escape(profile.extract.describe()))
        for note in profile.extract.notes:
            warning(f"{profile.extract.file}: {note}")


def profile_json(profile: Profile) -> None:
    """The profile as JSON on stdout; written directly so rich never wraps or styles it."""
    import json

    out.file.write(json.dumps(profile.as_dict(), indent=2, ensure_ascii=False) + "\n")


# --- crmmigrate mapping suggest ----------------------------------------------------------
# Imported here rather than at the top so this section can be appended on its own.
from crmmigrate.mapping.suggest import Draft


def _confidence_cell(confidence: float) -> str:
    style = "green" if confidence >= 0.9 else "yellow" if confidence >= 0.7 else "red"
    return f"[{style}]{confidence:.2f}[/]"


def suggest_summary(draft: Draft, *, output: Path | None) -> None:
    """Which column each field is drafted from and how sure the guess is; then the columns
    kept as custom and the fields nothing was found for. On stderr when the draft itself
    went to stdout."""
    console = out if output is not None else err
    table = Table(pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("column", overflow="fold")
    table.add_column("confidence", justify="right")
    for guess in draft.guesses:
        table.add_row(escape(guess.field), escape(_shown(guess.column)), _confidence_cell(guess.confidence))
    console.print(table)
    if draft.custom:
        console.print(f"custom   {len(draft.custom)}: {escape(', '.join(draft.custom))}")
    if draft.missing:
        console.print(f"missing  {len(draft.missing)}: {escape(', '.join(draft.missing))}")
    if output is not None:
        console.print(f"written  {escape(str(output))}")
    for text in draft.notes:
        note(text)


# --- validation result table -------------------------------------------------------------
# Imported here rather than at the top so this section can be appended on its own.
from crmmigrate.validate.outputs import percent_pair, verdict_line
from crmmigrate.validate.result import ValidationResult


def validation_table(result: ValidationResult, *, console: Console | None = None) -> None:
    """Per entity, every check against its threshold, failing checks first; then the gate's
    verdict in one line. `console` lets the caller send it to stderr when stdout holds JSON."""
    console = console or out
    for entity in result.entities:
        table = Table(title=f"{escape(entity.entity)} ({entity.rows:,} rows)", title_justify="left",
                      pad_edge=False)
        table.add_column("field", style="bold")
        table.add_column("class")
        table.add_column("errors", justify="right")
        table.add_column("rows", justify="right")
        table.add_column("rate", justify="right")
        table.add_column("threshold", justify="right")
        table.add_column("verdict")
        # sorted() is stable: within failing and passing, the validator's order is kept.
        for check in sorted(entity.checks, key=lambda c: c.passed):
            rate, threshold = percent_pair(check.rate, check.threshold)
            table.add_row(
                escape(check.field), escape(check.cls), f"{check.errors:,}", f"{check.rows:,}",
                rate, threshold, "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]",
            )
        console.print(table)
    style = "green" if result.passed else "bold red"
    # One line whatever the width, so CI logs and greps see the whole list of failed checks.
    console.print(f"[{style}]{escape(verdict_line(result))}[/]", soft_wrap=True)


# --- clean --------------------------------------------------------------------------------


def clean_summary(result: CleanResult, *, output: Path, changes: Path, notes: Path) -> None:
    """Per field, how many values changed and by which rule; date order decisions; notes."""
    rows = sum(len(f) for f in result.datasets.values())
    facts = _Facts()
    facts.add_row("records", f"{rows:,} -> {escape(str(output))}")
    facts.add_row("changed", f"{len(result.changes):,} value(s) -> {escape(str(changes))}")
    facts.add_row("notes", f"{len(result.notes):,} value(s) reported or left alone -> {escape(str(notes))}",
                  style="yellow" if len(result.notes) else "")
    facts.print()
    clean_table(result.fields)


def clean_table(fields: list[FieldReport], *, console: Console | None = None) -> None:
    console = console or out
    table = Table(title="cleaning", title_justify="left", pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("steps")
    table.add_column("changed", justify="right")
    table.add_column("by rule")
    table.add_column("notes", justify="right")
    table.add_column("kept invalid", justify="right")
    for f in fields:
        rules = ", ".join(f"{rule} {count:,}" for rule, count in f.by_rule.most_common())
        table.add_row(escape(f"{f.entity}.{f.field}"), escape(", ".join(f.steps)), f"{f.changed:,}",
                      escape(rules), f"{f.notes:,}", f"{f.kept_invalid:,}")
    console.print(table)
    for f in fields:
        if f.dates is None:
            continue
        d = f.dates
        evidence = f"{d.day_first:,} only day-first, {d.month_first:,} only month-first, {d.either:,} either way"
        if d.order in ("dmy", "mdy"):
            note(f"{f.entity}.{f.field}: dates read {'day' if d.order == 'dmy' else 'month'} first ({evidence}).")
        elif d.contradictory:
            warning(f"{f.entity}.{f.field}: dates are written both day-first and month-first ({evidence}); "
                    "only unambiguous values were converted. Split the column by source, or set "
                    "{date: {order: dmy}} in the rules.")
        elif d.ambiguous:
            warning(f"{f.entity}.{f.field}: no value says whether day or month comes first ({evidence}); "
                    "ambiguous values are left as they were. Set {date: {order: dmy}} (or mdy) in the rules.")


# --- run and init -------------------------------------------------------------------------
# Imported here rather than at the top so this section can be appended on its own.
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from crmmigrate.progress import Progress

from crmmigrate.load.repair import Repair
from crmmigrate.run import LedgerLine, RunResult
from crmmigrate.scaffold import Scaffold


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


def waiting(target: str, seconds: float) -> None:
    """Another run holds the target's lock, and this one waits for it."""
    note(f"{target}: another crmmigrate run is writing to this target (it holds the target's lock); "
         f"waiting up to {seconds:g} s for it to finish.")


def interrupted(run_id: str, started_at: str) -> None:
    """An earlier run was killed: its run.json said running; now it says interrupted."""
    note(f"run {run_id} (started {started_at}) was interrupted: it was stopped before it finished; "
         'its run.json now says "status": "interrupted".')


def repair_lines(repair: Repair, *, dry_run: bool = False) -> list[str]:
    """What repairing id_map changed, one line per entity, source and kind of change."""
    how = " (dry run: not committed)" if dry_run else ""
    return [f"id_map repaired{how}: {line}" for line in repair.lines()]


LEDGER_TITLE = "ledger: extracted = loaded + merged + rejected + filtered"
_ACCOUNTED = ("extracted", "loaded", "merged", "rejected", "filtered")
_WRITTEN = ("inserted", "updated", "unchanged")


def _id_map_cell(line: LedgerLine) -> str:
    if line.id_map is None:
        return "not checked (dry run)"
    if line.id_map_differ:
        return f"[bold red]{line.id_map_differ:,} differ[/]"
    return "[green]agrees[/]"


def _figures(line: LedgerLine, names: tuple[str, ...]) -> list[str]:
    cells = [f"{getattr(line, n):,}" for n in names]
    if names[0] == "extracted" and not line.balanced:
        cells[0] = f"[bold red]{line.extracted:,} ≠[/]"
    return cells


def _ledger_part(title: str, lines: list[LedgerLine], names: tuple[str, ...], *, id_map: bool,
                 stacked: bool) -> Table:
    """One ledger table: a row per entity and source with the `names` figures, then the totals.
    Stacked, the source sits indented under its entity in one column, and no cell is padded
    at the table's edges, so that figures keep their whole width on a narrow console."""
    table = Table(title=title, title_justify="left", pad_edge=False)
    labels = ["source"] if stacked else ["entity", "source"]
    for label in labels:
        table.add_column(label, overflow="fold")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    if id_map:
        table.add_column("id_map")
    check = (lambda line: [_id_map_cell(line)]) if id_map else (lambda line: [])
    entity = None
    for line in lines:
        if stacked and line.entity != entity:
            table.add_row(f"[bold]{escape(line.entity)}[/]")
        entity = line.entity
        label = [f"  {escape(line.source)}"] if stacked else [escape(line.entity), escape(line.source)]
        table.add_row(*label, *_figures(line, names), *check(line))
    table.add_section()
    totals = [f"{sum(getattr(line, n) for line in lines):,}" for n in names]
    table.add_row("all", *[""] * (len(labels) - 1), *totals, *([""] if id_map else []))
    return table


def ledger_table(lines: list[LedgerLine], *, console: Console | None = None) -> None:
    """Where every extracted row of every source ended. In one table when the console is wide
    enough for it; on a narrow one (80 columns), in two stacked tables, what happened to the
    rows and then how the loaded ones were written, so that no figure is ever cut."""
    console = console or out
    wide = _ledger_part(LEDGER_TITLE, lines, _ACCOUNTED + _WRITTEN, id_map=True, stacked=False)
    # Measured as if there were no edge: the console's own width would clamp the measure.
    if Measurement.get(console, console.options.update_width(10_000), wide).maximum <= console.width:
        console.print(wide)
        return
    console.print(_ledger_part(LEDGER_TITLE, lines, _ACCOUNTED, id_map=True, stacked=True))
    console.print(_ledger_part("loaded = inserted + updated + unchanged", lines, ("loaded", *_WRITTEN),
                               id_map=False, stacked=True))


def run_summary(result: RunResult) -> None:
    """The run's gate verdicts, then the ledger: where every extracted row of every source ended."""
    facts = _Facts()
    facts.add_row("run", f"{result.run_id} -> {escape(str(result.run_dir))}")
    facts.add_row("target", escape(result.target) + (" (dry run: nothing committed)" if result.dry_run else ""))
    if result.only is not None:
        facts.add_row("only", ", ".join(result.only))
    rules = ", ".join(f"{rule} {count:,}" for rule, count in result.cleaning.by_rule().most_common())
    facts.add_row("cleaned", f"{len(result.cleaning.changes):,} value(s)" + (f" ({escape(rules)})" if rules else "")
                  + f" -> {escape(result.files['clean_changes'])}")
    if result.dedupe.entities:
        merged = ", ".join(f"{e.entity} {e.summary()['merged']:,} into {e.summary()['clusters']:,} survivors"
                           + (f", {e.summary()['review_pairs']:,} pair(s) to review" if e.summary()["review_pairs"]
                              else "") for e in result.dedupe.entities)
        facts.add_row("deduped", f"{escape(merged)} -> {escape(result.files['dedupe_clusters'])}")
    facts.print()

    gate = Table(title="gate", title_justify="left", pad_edge=False)
    for name in ("entity", "rows", "gate", "loaded"):
        gate.add_column(name, justify="right" if name == "rows" else "left")
    for entity in result.validation.entities:
        verdict = "[green]PASS[/]" if entity.passed else "[bold red]FAIL[/] " + escape(
            ", ".join(c.field for c in entity.failed))
        if entity.entity in result.held:
            loaded = "[yellow]no[/]: " + escape(result.held[entity.entity])
        else:
            loaded = "yes" + (" (--allow-failing)" if entity.entity in result.forced else "")
        gate.add_row(escape(entity.entity), f"{entity.rows:,}", verdict, loaded)
    out.print(gate)

    ledger_table(result.ledger)

    out.print(f"rows not loaded, with the reason: {escape(result.files['load_rejects'])} (load), "
              f"{escape(str(result.run_dir / 'extracted'))}/*.rejects.csv (extract), "
              f"{escape(result.files['validation_html'])} (validation)")
    if result.repaired:
        note("id_map disagreed with the loaded tables before this run (an earlier run ended without "
             "its ledger, two runs wrote at once, or a hand edit); it was rebuilt from the tables:")
        for line in repair_lines(result.repaired, dry_run=result.dry_run):
            note(line)
    for entity, count in result.kept.items():
        note(f"{entity}: {count:,} row(s) an earlier run loaded stay loaded as they were.")
    for entity, merges in result.merges.items():
        if merges.removed:
            note(f"{entity}: {merges.removed:,} row(s) an earlier run loaded are merged now and removed: their "
                 "values are kept in merged_record, pointers to them point at their survivor.")
        if merges.undone:
            note(f"{entity}: {merges.undone:,} merge(s) undone: the record(s) are loaded on their own again, "
                 "their merged_record entries marked undone.")
    for run in result.sources:
        for text in run.extract.notes:
            note(f"{run.extract.file}: {text}")
    if result.report is not None:
        _run_report_lines(result)
    if result.forced:
        warning(f"loaded although their gate failed (--allow-failing): {', '.join(result.forced)}.")
    if result.held:
        out.print(f"[bold red]FAILED: {len(result.held)} entit{'y' if len(result.held) == 1 else 'ies'} held "
                  f"back: {escape(', '.join(result.held))}; fix the data or the rules and run again "
                  "(loaded rows are not loaded twice).[/]", soft_wrap=True)
    else:
        out.print("[green]done: every selected entity loaded" + (" (dry run: nothing committed)"
                  if result.dry_run else "") + ".[/]")


def _run_report_lines(result: RunResult) -> None:
    """Where the report after the load went, its gate, and what the reconciliation left
    unexplained; or why it could not be written (the run stands either way)."""
    made = result.report
    assert made is not None
    if made.error is not None:
        warning(f"the report after the load was not written: {made.error} The migration is loaded; make the "
                f"report with `crmmigrate report TARGET --legacy {result.run_dir}`.")
        return
    verdict = "gate passed" if made.passed else f"gate FAILED: {'; '.join(made.failed)}"
    out.print(f"report: {escape(made.files['report_html'])} ({escape(verdict)}; reconciliation: "
              f"{reconciled(made.reconciled, made.unexplained)})", soft_wrap=True)
    unexplained_lines(made.unexplained, made.notes)


def reconciled(lines: int, unexplained: list[str]) -> str:
    """How many reconciliation lines the ledger explains."""
    if unexplained:
        return f"{len(unexplained):,} of {lines:,} line(s) unexplained"
    return f"all {lines:,} line(s) explained by the ledger"


def unexplained_lines(unexplained: list[str], notes: list[str]) -> None:
    """A warning per reconciliation line the ledger does not explain, and the notes on the legacy side."""
    for line in unexplained:
        warning(f"reconciliation: {line}.")
    for text in notes:
        note(text)


def init_summary(scaffold: Scaffold) -> None:
    out.print(f"created {escape(str(scaffold.directory))}: migration.yaml, samples/, mappings/, rules/ "
              f"({len(scaffold.files)} files)")
    out.print(f"next: crmmigrate run {escape(str(scaffold.config))}")


def dedupe_summary(result: DedupeResult, files: dict[str, str], *, console: Console | None = None) -> None:
    """Per entity: records, candidate pairs, merged and review pairs, clusters, records merged;
    the pointers re-pointed; what the data could not decide (in yellow); where the files went,
    the HTML report among them."""
    console = console or out
    table = Table(title="dedupe", title_justify="left", pad_edge=False)
    for name, justify in (("entity", "left"), ("records", "right"), ("candidate pairs", "right"),
                          ("merge pairs", "right"), ("review pairs", "right"), ("clusters", "right"),
                          ("merged", "right"), ("kept", "right")):
        table.add_column(name, justify=justify, style="bold" if name == "entity" else None)
    for entity in result.entities:
        s = entity.summary()
        table.add_row(entity.entity, f"{s['records']:,}", f"{s['candidate_pairs']:,}", f"{s['merge_pairs']:,}",
                      f"{s['review_pairs']:,}", f"{s['clusters']:,}", f"{s['merged']:,}", f"{s['kept']:,}")
    console.print(table)
    if result.repointed:
        console.print("re-pointed to survivors: " + ", ".join(f"{k} {v:,}" for k, v in result.repointed.items()))
    counts = result.as_dict()
    if counts["leads_known"] or counts["leads_perhaps_known"]:
        console.print(f"leads a contact already is: {counts['leads_known']:,}, perhaps: "
                      f"{counts['leads_perhaps_known']:,}")
    for entity in result.entities:
        for key, value, size in entity.skipped_blocks[:5]:
            console.print(f"[yellow]{entity.entity}: key {escape(key)} = {escape(value)!r} is shared by {size:,} "
                          "records: too many to pair, none paired by it[/yellow]")
        for text in entity.warnings:
            console.print(f"[yellow]{escape(text)}[/yellow]")
    if files:
        facts = _Facts()
        for name in ("clusters", "pairs", "review", "merged", "lead_matches", "summary", "report"):
            if name in files:
                facts.add_row(name, escape(files[name]))
        facts.print()


# --- crmmigrate init --from ----------------------------------------------------------------
# Imported here rather than at the top so this section can be appended on its own.
from crmmigrate.defaults import RULES_DIR  # noqa: E402
from crmmigrate.init_from import Project  # noqa: E402


def init_from_summary(project: Project) -> None:
    """Per export: its entity and why, its rows, its phone region and why; then what to do next."""
    table = Table(title=f"drafted {escape(str(project.config))}", title_justify="left", box=None,
                  pad_edge=False, show_edge=False)
    for name in ("source", "rows", "entity", "phone_region", "mapping"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for s in project.sources:
        table.add_row(escape(s.name), f"{s.rows:,}",
                      escape(s.entity) if s.entity else "[yellow]?[/yellow]",
                      escape(s.region.region or "-"), escape(str(s.mapping)))
    out.print(table)
    for s in project.sources:
        out.print(f"{escape(s.name)}: {escape(s.entity or 'entity not recognised')}: {escape(s.entity_why)}; "
                  f"phone_region {escape(s.region.region or 'not set')}: {escape(s.region.why)}")
    for path in project.skipped:
        warning(f"{path}: skipped: not a format crmmigrate reads (CSV, TSV, Excel, JSON, JSON Lines, SQLite).")
    for s in project.undecided:
        warning(f"{s.shown}: the entity could not be told ({s.entity_why}); write it in {s.mapping} "
                f"(entity: FILL IN), or run init again with --entity {Path(s.location).name}=ENTITY.")
    out.print(f"rules: crmmigrate's defaults ({escape(str(RULES_DIR))}); copy one into "
              f"{escape(str(project.directory / 'rules'))}/ to change it for this project")
    out.print("next:")
    out.print(f"  1. check and edit each mapping in {escape(str(project.directory / 'mappings'))}/ "
              "(every field marked with its confidence; picklist values to FILL IN)")
    out.print(f"  2. crmmigrate validate --config {escape(str(project.config))}")
    out.print(f"  3. crmmigrate run {escape(str(project.config))}")
