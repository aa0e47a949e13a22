"""The bookkeeping of `crmmigrate dedupe review`, as a library: which pairs are still to decide,
and each decision appended at once (the CLI over it: tests/test_dedupe.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crmmigrate.dedupe import read_decisions
from crmmigrate.dedupe.review import open_review, record_decision
from crmmigrate.errors import MalformedInput

PAIRS = pd.DataFrame({
    "entity": ["contact", "contact", "account"],
    "source_a": ["crm", "crm", "crm"], "id_a": ["1", "3", "7"],
    "source_b": ["reps", "reps", "reps"], "id_b": ["2", "4", "8"],
    "probability": ["0.6", "0.5", "0.4"],
    "email_a": ["a@x.com", "c@x.com", ""], "email_b": ["a@x.com", "d@x.com", ""], "email": ["exact", "different", ""],
    "why": ["", "", ""],
})


def _review_file(tmp_path: Path) -> Path:
    path = tmp_path / "review.csv"
    PAIRS.to_csv(path, index=False)
    return path


def test_a_pair_decided_either_way_round_is_not_asked_again(tmp_path: Path) -> None:
    pairs, decisions = _review_file(tmp_path), tmp_path / "decisions.csv"
    first = open_review(pairs, decisions)
    assert [(p["id_a"], p["id_b"]) for p in first.todo] == [("1", "2"), ("3", "4"), ("7", "8")]
    assert first.decided == 0 and first.fields == ["email"]

    # Recorded with a and b the other way round: still the same pair.
    record_decision(decisions, {**first.todo[1], "source_a": "reps", "id_a": "4", "source_b": "crm", "id_b": "3"},
                    "apart")
    record_decision(decisions, first.todo[2], "merge")
    again = open_review(pairs, decisions)
    assert [(p["id_a"], p["id_b"]) for p in again.todo] == [("1", "2")]
    assert again.decided == 2


def test_each_decision_is_appended_with_the_time_it_was_given(tmp_path: Path) -> None:
    decisions = tmp_path / "decisions.csv"
    pair = PAIRS.iloc[0].to_dict()
    record_decision(decisions, pair, "merge")
    record_decision(decisions, pair, "apart")
    written = pd.read_csv(decisions, dtype=str)
    assert list(written.columns) == ["entity", "source_a", "id_a", "source_b", "id_b", "decision", "decided_at"]
    assert written["decision"].tolist() == ["merge", "apart"]
    assert written["decided_at"].str.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$").all()
    assert read_decisions(decisions)["decision"].tolist() == ["apart"]  # the last word holds


def test_a_file_that_is_not_a_review_file_names_what_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "clusters.csv"
    PAIRS.drop(columns=["probability", "id_b"]).to_csv(path, index=False)
    with pytest.raises(MalformedInput, match="no column.s. id_b, probability: not a review file") as caught:
        open_review(path, tmp_path / "decisions.csv")
    assert str(path) in str(caught.value)
    with pytest.raises(MalformedInput, match="no such file"):
        open_review(tmp_path / "missing.csv", tmp_path / "decisions.csv")
