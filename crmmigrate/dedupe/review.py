"""The bookkeeping of reviewing uncertain pairs (`crmmigrate dedupe review`): which pairs of a
review file are still undecided, and each answer appended to the decisions file the moment it
is given, so that quitting half-way loses nothing and every later dedupe applies it. Asking
and showing is the CLI's; this module never prints or prompts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crmmigrate.dedupe import DECISION_COLUMNS, read_decisions, read_review_csv
from crmmigrate.errors import MalformedInput
from crmmigrate.spreadsheet import append_row

DEFAULT_DECISIONS = "dedupe-decisions.csv"
# What a review file (review.csv, or pairs.csv) must have for its pairs to be decided.
REVIEW_COLUMNS = ("entity", "source_a", "id_a", "source_b", "id_b", "probability")


@dataclass
class Review:
    """The pairs of a review file still to decide, in the file's order, each a row of it."""

    todo: list[dict[str, str]]
    decided: int  # pairs of the file the decisions file decides already
    fields: list[str]  # fields shown side by side: the file has `<field>_a`, `<field>_b` and `<field>` (the evidence)


def open_review(pairs: Path, decisions: Path) -> Review:
    """The pairs of `pairs` that `decisions` does not decide yet (a pair is the same whichever
    record is a and which b)."""
    if not pairs.exists():
        raise MalformedInput("no such file.", file=str(pairs))
    frame = read_review_csv(pairs)
    missing = [c for c in REVIEW_COLUMNS if c not in frame.columns]
    if missing:
        raise MalformedInput(f"no column(s) {', '.join(missing)}: not a review file of crmmigrate dedupe.",
                             file=str(pairs))
    done = read_decisions(decisions)
    decided = {(r.entity, *sorted([(r.source_a, r.id_a), (r.source_b, r.id_b)])) for r in done.itertuples()}
    todo = [r for r in frame.to_dict("records")
            if (r["entity"], *sorted([(r["source_a"], r["id_a"]), (r["source_b"], r["id_b"])])) not in decided]
    fields = [c for c in frame.columns if f"{c}_a" in frame.columns and f"{c}_b" in frame.columns]
    return Review(todo=todo, decided=len(frame) - len(todo), fields=fields)


def record_decision(decisions: Path, pair: dict[str, str], decision: str) -> None:
    """`decision` (merge or apart) about `pair`, a row of a review file, appended to the
    decisions file with the time it was given."""
    row = {**{k: pair[k] for k in DECISION_COLUMNS if k != "decision"}, "decision": decision}
    append_row(decisions, {**row, "decided_at": datetime.now(UTC).isoformat(timespec="seconds")},
               [*DECISION_COLUMNS, "decided_at"])
