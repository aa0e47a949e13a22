"""What a run passes from stage to stage, and the context each stage runs in.

`crmmigrate run` (crmmigrate/run.py) is a sequence of stages over one `RunState`: extract and
map fill its datasets, clean, validate and dedupe replace them with theirs, the gate says which
entities load, and the ledger lines account for every extracted row. Each stage runs in the
run's `StageContext`, which times it, tells its progress (crmmigrate/progress.py) and writes
its files into the run directory (`runs/<run_id>/`); `RunLog` is the run.json written there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from crmmigrate import parallel
from crmmigrate.clean import CleanResult
from crmmigrate.dedupe import DedupeResult, write_outputs
from crmmigrate.errors import OutputError
from crmmigrate.extract import Reject
from crmmigrate.load import LoadReport
from crmmigrate.load.merges import MergedInTarget
from crmmigrate.load.repair import Repair
from crmmigrate.migration import PlannedSource
from crmmigrate.passwords import mask_text
from crmmigrate.progress import Progress
from crmmigrate.staging import write_bytes, write_frames
from crmmigrate.validate import ValidationResult, outputs
from crmmigrate.validate.rules import ValidationRules

if TYPE_CHECKING:
    from crmmigrate.run import LedgerLine, RunReport, SourceRun


@dataclass
class RunState:
    """What passes between a run's stages, each stage filling in its part."""

    planned: list[PlannedSource]
    repaired: Repair  # what id_map said that the tables did not, put right before the run
    sources: list[SourceRun] = field(default_factory=list)  # what extract and map did, per source
    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)  # entity -> its records, as the last stage left them
    filtered: dict[str, pd.DataFrame] = field(default_factory=dict)  # source -> the records its filters removed
    rejects: dict[str, list[Reject]] = field(default_factory=dict)  # source -> the rows that could not be read
    rules: ValidationRules = field(init=False)  # read once: clean takes its phone region from them
    cleaned: CleanResult = field(init=False)
    validation: ValidationResult = field(init=False)
    order: list[str] = field(default_factory=list)  # the entities the gate lets load, in load order
    held: dict[str, str] = field(default_factory=dict)  # entity -> why it was not loaded
    forced: list[str] = field(default_factory=list)  # loaded although their gate failed (--allow-failing)
    deduped: DedupeResult = field(init=False)
    kept: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)  # held entity -> what an earlier run loaded
    loaded: LoadReport = field(init=False)
    merged_values: dict[str, pd.DataFrame] = field(default_factory=dict)  # entity -> its merged records, as cleaned
    merges: dict[str, MergedInTarget] = field(default_factory=dict)
    ledger: list[LedgerLine] = field(default_factory=list)
    report: RunReport | None = None  # the report after the load; None: not written

    @property
    def rows(self) -> int:
        """The records of every entity in the datasets."""
        return sum(len(frame) for frame in self.datasets.values())

    def let_go_of_records(self) -> None:
        """The records let go once loaded and accounted for (the ledger reconciled): what the
        run keeps from then on is its figures, reports and logs, and the report after the load
        reads the target, not them."""
        self.datasets, self.filtered, self.merged_values = {}, {}, {}
        self.deduped.datasets, self.deduped.merged_records = {}, {}
        parallel.give_back()


@dataclass
class StageContext:
    """The run directory each stage writes into, the progress it tells and the time it takes."""

    run_dir: Path
    progress: Progress
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds, in the order they ran
    files: dict[str, str] = field(default_factory=dict)  # what the stages wrote -> its path

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """The block's seconds kept as the stage's timing (none when it raises: the run failed)."""
        clock = time.perf_counter()
        yield
        self.timings[stage] = time.perf_counter() - clock

    @contextmanager
    def told(self, stage: str, item: str, total: int) -> Iterator[None]:
        """The block told as one item of progress: none of `total` done, then all of it."""
        self.progress(stage, item, 0, total)
        yield
        self.progress(stage, item, total, total)

    def write_cleaning(self, result: CleanResult) -> dict[str, str]:
        """The change log and the notes of the clean stage; returns them as run.json lists them
        (a forked process writing them sends them back)."""
        folder = self.run_dir / "clean"
        folder.mkdir(parents=True, exist_ok=True)
        write_frames(folder / "changes.csv", [result.changes])
        write_frames(folder / "notes.csv", [result.notes])
        files = {"clean_changes": str(folder / "changes.csv"), "clean_notes": str(folder / "notes.csv")}
        self.files.update(files)
        return files

    def write_validation(self, result: ValidationResult) -> None:
        folder = self.run_dir / "validation"
        files = {
            "validation_json": folder / "validation.json",
            "validation_junit": folder / "validation.xml",
            "validation_failures": folder / "failures.csv",
            "validation_html": folder / "validation.html",
        }
        folder.mkdir(parents=True, exist_ok=True)
        outputs.write_json(result, files["validation_json"])
        outputs.write_junit(result, files["validation_junit"])
        outputs.write_failures(result, files["validation_failures"])
        outputs.write_html(result, files["validation_html"])
        self.files.update({k: str(v) for k, v in files.items()})

    def write_dedupe(self, result: DedupeResult) -> dict[str, str]:
        """dedupe's files; returns them as run.json lists them (a forked process writing them
        sends them back)."""
        written = {f"dedupe_{k}": v for k, v in write_outputs(result, self.run_dir / "dedupe", datasets=False).items()}
        self.files.update(written)
        return written

    def write_load_rejects(self, loaded: LoadReport) -> None:
        self.files["load_rejects"] = str(self.run_dir / "load.rejects.csv")
        write_frames(self.run_dir / "load.rejects.csv", [loaded.rejects_frame()])


class RunLog:
    """run.json, rewritten whole under a temporary name so it is never half written."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot make the run directory: {exc.strerror}.", file=str(path.parent)) from None

    def update(self, more: dict[str, Any]) -> None:
        self.data.update(more)

    def write(self) -> None:
        text = mask_text(json.dumps(self.data, ensure_ascii=False, indent=2, default=str))
        write_bytes(self.path, text.encode("utf-8", errors="surrogateescape"))
