"""Where a command may write: never over one of its inputs, and over an existing data file
only when crmmigrate wrote it (or with --force); and the --json/--junit files that validate and
report write alike.

A migration engineer reruns a stage again and again, so a file crmmigrate wrote before (a staged
dataset, a rejects, filtered, changes or notes file: they all carry the provenance columns) is
replaced without a word. A file crmmigrate did not write may be the only copy of an export;
it is replaced only with --force. An input of the command (the source, the mapping, the rules,
the datasets, the decisions) is never written to, --force or not.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import typer

from crmmigrate.errors import BadUsage
from crmmigrate.model import PROVENANCE

_SNIFF_BYTES = 1024 * 1024


def guard_outputs(
    outputs: Mapping[str, Path | None],
    *,
    inputs: Iterable[str | Path | None],
    force: bool = False,
    replaceable: Iterable[str] | None = None,
) -> None:
    """Refuse before anything is read or written: an output (by option name) that is one of
    `inputs` (compared as files, so a symlink or hard link to an input counts), two outputs
    that are one file, and an output in `replaceable` (default: all) that exists and was not
    written by crmmigrate, unless `force`."""
    sources = [Path(p) for p in _input_paths(inputs)]
    given = {option: Path(path) for option, path in outputs.items() if path is not None}
    checked = set(given) if replaceable is None else set(replaceable)
    seen: dict[Path, str] = {}
    for option, path in given.items():
        for source in sources:
            if _same_file(path, source):
                which = "an input" if str(path) == str(source) else f"the same file as the input {source}"
                raise BadUsage(
                    f"{option} {path} is {which} of this command: writing it would destroy it.",
                    hint="Write somewhere else; an input is never written to, even with --force.",
                )
        key = path.resolve()
        other = seen.get(key) or next((o for p, o in seen.items() if _same_file(path, p)), None)
        if other is not None:
            raise BadUsage(f"{other} and {option} are one file, {path}: one would overwrite the other.",
                           hint=f"Give {option} another path.")
        seen[key] = option
        if option in checked and not force and path.is_file() and not written_by_crmmigrate(path):
            raise BadUsage(
                f"{path} exists and was not written by crmmigrate: {option} would overwrite it.",
                hint=f"Choose another {option}, or pass --force to replace it.",
            )


def written_by_crmmigrate(path: Path) -> bool:
    """Whether `path` is a file crmmigrate writes (its header has the provenance columns
    _source, _file, _row), or empty: replacing it loses nothing that a rerun cannot redo."""
    try:
        if path.stat().st_size == 0:
            return True
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        else:
            with path.open("rb") as handle:
                head = handle.read(_SNIFF_BYTES).split(b"\n", 1)[0]
            names = next(csv.reader([head.decode("utf-8-sig")]), [])
    except (OSError, ValueError):  # pyarrow's ArrowInvalid and UnicodeDecodeError are ValueErrors
        return False
    return set(PROVENANCE) <= set(names)


def _input_paths(inputs: Iterable[str | Path | None]) -> list[str]:
    """The files among `inputs`: paths, MAPPING=SOURCE pairs, sqlite:/// URLs."""
    found: list[str] = []
    for item in inputs:
        if item is None:
            continue
        text = str(item)
        if text.startswith("sqlite:///"):
            found.append(text.removeprefix("sqlite:///").split("?", 1)[0])
            continue
        if "://" in text:
            continue
        found.append(text)
        if "=" in text:
            found += text.split("=", 1)
    return [p for p in found if p and os.path.exists(p)]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return a.resolve() == b.resolve()


class MachineWriters(Protocol):
    """A stage's writers of its result for machines (validate's or the report's `outputs`)."""

    def write_json(self, result: Any, path: Path) -> None: ...

    def write_junit(self, result: Any, path: Path) -> None: ...


def write_machine_outputs(result: Any, writers: MachineWriters, *, json_path: Path | None,
                          junit: Path | None) -> None:
    """--json (to stdout where it is '-') and --junit of a result that has `as_dict()`, the same
    way for every command that writes them."""
    if json_path is not None and str(json_path) == "-":
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    elif json_path is not None:
        writers.write_json(result, json_path)
    if junit is not None:
        writers.write_junit(result, junit)
