"""The dedupe stage: fuzzy matching of accounts and contacts, clusters, survivors, re-pointing."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from crmmigrate.dedupe.engine import (
    CLUSTER_COLUMNS,
    DECISION_COLUMNS,
    DECISIONS,
    MERGED_COLUMNS,
    DedupeResult,
    EntityDedupe,
    dedupe,
    find_duplicates,
    lead_matches,
)
from crmmigrate.dedupe.report import dedupe_html, write_report
from crmmigrate.dedupe.rules import DedupeRules, MatchSpec, load_dedupe_rules
from crmmigrate.spreadsheet import read_csv

__all__ = ["CLUSTER_COLUMNS", "DECISIONS", "DECISION_COLUMNS", "MERGED_COLUMNS", "DedupeResult", "DedupeRules", "EntityDedupe",
           "MatchSpec", "dedupe", "dedupe_html", "find_duplicates", "lead_matches", "load_dedupe_rules", "read_decisions", "read_review_csv",
           "write_outputs"]


def read_decisions(path: Path | None) -> pd.DataFrame:
    """People's review decisions (DECISION_COLUMNS; a review file with its `decision` column
    filled in is one too); none when `path` is None or does not exist yet."""
    from crmmigrate.errors import MalformedInput

    if path is None or not Path(path).exists():
        return pd.DataFrame(columns=list(DECISION_COLUMNS))
    frame = read_review_csv(Path(path))
    missing = [c for c in DECISION_COLUMNS if c not in frame.columns]
    if missing:
        raise MalformedInput(f"no column(s) {', '.join(missing)}: not a decisions or review file.", file=str(path),
                             hint="Write it with `crmmigrate dedupe review`, or export pairs with `crmmigrate dedupe`.")
    frame = frame[list(DECISION_COLUMNS)].copy()
    frame["decision"] = frame["decision"].str.strip().str.casefold()
    wrong = frame[~frame["decision"].isin(["", *DECISIONS])]
    if len(wrong):
        row = int(wrong.index[0]) + 2
        raise MalformedInput(f"decision {wrong['decision'].iloc[0]!r} is not one of {', '.join(DECISIONS)}.",
                             file=str(path), line=row, column="decision")
    # The last decision about a pair is the one that holds.
    frame = frame[frame["decision"].isin(["merge", "apart"])]
    a = list(zip(frame["source_a"], frame["id_a"], strict=True))
    b = list(zip(frame["source_b"], frame["id_b"], strict=True))
    frame["_pair"] = [tuple(sorted(p)) for p in zip(a, b, strict=True)]
    return frame.drop_duplicates(["entity", "_pair"], keep="last").drop(columns="_pair").reset_index(drop=True)


def read_review_csv(path: Path) -> pd.DataFrame:
    """A decisions, review or pairs CSV as strings; `MalformedInput` when it is not a file or
    not UTF-8 CSV (a directory, binary bytes), instead of a crash."""
    from crmmigrate.errors import MalformedInput

    hint = "Give the CSV written by `crmmigrate dedupe` or `crmmigrate dedupe review`."
    if not path.is_file():
        raise MalformedInput("not a file (a directory, device or pipe).", file=str(path), hint=hint)
    try:
        return read_csv(path, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"not UTF-8 text (byte offset {exc.start}): a binary file?", file=str(path),
                             hint=hint) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise MalformedInput(f"cannot be read as CSV: {str(exc).strip()}.", file=str(path), hint=hint) from None


def write_outputs(result: DedupeResult, folder: Path, *, datasets: bool = True) -> dict[str, str]:
    """The deduplicated datasets (<entity>.csv; not with `datasets` False: a run loads them
    straight away), clusters.csv, pairs.csv (every pair at or above the review band, with its
    evidence), review.csv (the review band, a decision column to fill in), merged.csv,
    lead_matches.csv (leads a contact already is), summary.json (the counts, the warnings and
    each entity's fitted model, prior and match weight histogram) and report.html (all that for
    people), in `folder`; returns the files by name."""
    import json

    from crmmigrate.staging import write_bytes, write_frames

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for entity, frame in result.datasets.items() if datasets else ():
        files[entity] = str(folder / f"{entity}.csv")
        write_frames(folder / f"{entity}.csv", [frame])
    tables = {
        "clusters": [e.clusters for e in result.entities] or [pd.DataFrame(columns=list(CLUSTER_COLUMNS))],
        "pairs": [e.pairs for e in result.entities],
        "review": [e.review.assign(decision="") for e in result.entities],
        "merged": [e.merged for e in result.entities] or [pd.DataFrame(columns=list(MERGED_COLUMNS))],
        "lead_matches": [result.lead_matches],
    }
    for name, frames in tables.items():
        path = folder / f"{name}.csv"
        frames = [f for f in frames if len(f.columns)] or [pd.DataFrame(columns=list(DECISION_COLUMNS))]
        write_frames(path, [pd.concat(frames, ignore_index=True)])
        files[name] = str(path)
    write_bytes(folder / "summary.json", json.dumps(summary(result), indent=2, ensure_ascii=False).encode("utf-8"))
    files["summary"] = str(folder / "summary.json")
    write_report(result, folder / "report.html")
    files["report"] = str(folder / "report.html")
    return files


def summary(result: DedupeResult) -> dict:
    """What summary.json holds: the counts and warnings (`DedupeResult.as_dict`) and, per
    entity, the fitted model's rows (MODEL_COLUMNS), its prior and the histogram of the match
    weights of all candidate pairs. JSON has no infinity: a weight that is one is null."""
    out = result.as_dict()
    for found in result.entities:
        out["entities"][found.entity].update(
            model=[{k: _finite(v) for k, v in row.items()} for row in found.model.to_dict("records")],
            prior=_finite(found.prior),
            histogram={k: [_finite(x) for x in v] if isinstance(v, list) else _finite(v)
                       for k, v in found.histogram.items()})
    return out


def _finite(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
