"""An entity's candidate pairs and their comparisons, wherever they are held, asked only for
what the later phases need: how many there are, the level patterns each blocking key's pairs
show (EM), each record's strongest pair (the prior), and the pairs at or above a match
probability with their levels (scoring, clustering). What those answers are does not depend on
where the pairs are: `HeldPairs` holds them in this process; the cluster engine's
`ShuffledPairs` leaves them in shares on its workers, each share the blocks of some blocking
key values, and adds up the shares' answers, so the run's process never holds every pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from crmmigrate.dedupe.blocking import Blocked, Pairs, pairs_of
from crmmigrate.dedupe.columns import Column, chunked
from crmmigrate.dedupe.comparisons import Patterns, patterns
from crmmigrate.dedupe.rules import MatchSpec
from crmmigrate.dedupe.scoring import at_least, weights_by_chunk

if TYPE_CHECKING:
    from crmmigrate.dedupe.training import Model


class PairSet(Protocol):
    """The candidate pairs of n records (positions left < right), each once."""

    side: np.ndarray | None  # linking two datasets: per record, whether it is of the first
    skipped: list[tuple[int, str, int]]  # blocks too big to pair: key, value, records

    def __len__(self) -> int: ...

    def compare(self, values: dict[str, Column], spec: MatchSpec, done: Callable[[int], None] | None = None
                ) -> None:
        """Every pair's comparisons made (its level pattern), telling `done` the pairs compared."""

    def counts(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        """The distinct level patterns of the pairs blocking key `key` finds, in ascending
        order, and how many pairs have each (floats, as EM takes them)."""

    def best(self, model: Model, n: int) -> np.ndarray:
        """Each record's strongest pair's match weight (prior left out; -inf: in no pair)."""

    def at_least(self, model: Model, threshold: float, histogram: np.ndarray | None = None,
                 done: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs whose match probability is `threshold` or more as left, right (int64)
        and level pattern codes, in order of left * n + right; every pair's weight counted
        into `histogram`; `done(pairs)` told as pairs are scored."""


class HeldPairs:
    """The pairs held in this process (a `Pairs` and, once compared, their `Patterns`)."""

    def __init__(self, pairs: Pairs, found: Patterns | None = None) -> None:
        self.pairs = pairs
        self.found = found
        self.side = pairs.side
        self.skipped = pairs.skipped

    @classmethod
    def made(cls, values: dict[str, Column], spec: MatchSpec, blocked: Blocked) -> HeldPairs:
        """The pairs `blocked` makes, every one of them here (compared later, `compare`)."""
        return cls(Pairs(*pairs_of(blocked), blocked.keys, blocked.skipped, blocked.side))

    def __len__(self) -> int:
        return len(self.pairs)

    def compare(self, values: dict[str, Column], spec: MatchSpec, done: Callable[[int], None] | None = None
                ) -> None:
        self.found = patterns(values, spec, self.pairs.left, self.pairs.right, done)

    @property
    def _found(self) -> Patterns:
        assert self.found is not None, "the pairs are not compared yet"
        return self.found

    def counts(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        return self._found.counts_by_code(self.pairs.via(key))

    def best(self, model: Model, n: int) -> np.ndarray:
        return strongest(model, self._found, self.pairs.left, self.pairs.right, n)

    def at_least(self, model: Model, threshold: float, histogram: np.ndarray | None = None,
                 done: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return kept_pairs(model, self._found, self.pairs.left, self.pairs.right, threshold, histogram, done)


def added_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Shares' `counts` added up: what `counts` of all their pairs is."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0)
    codes, at = np.unique(np.concatenate([c for c, _ in parts]), return_inverse=True)
    return codes, np.bincount(at, weights=np.concatenate([n for _, n in parts]), minlength=len(codes))


def strongest(model: Model, found: Patterns, left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """Each of n records' strongest pair's match weight among these pairs (float32, -inf: none)."""
    weights = np.empty(len(found.codes), dtype=np.float32)
    chunk_weights = weights_by_chunk(model, found, left)

    def work(start: int, stop: int) -> None:
        weights[start:stop] = chunk_weights(start, stop)

    chunked(len(weights), work)
    best = np.full(n, -np.inf, dtype=np.float32)
    np.maximum.at(best, left, weights)
    np.maximum.at(best, right, weights)
    return best


def kept_pairs(model: Model, found: Patterns, left: np.ndarray, right: np.ndarray, threshold: float,
               histogram: np.ndarray | None = None, done: Callable[[int], None] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`PairSet.at_least` of pairs held here."""
    kept, _ = at_least(model, found, left, threshold, histogram, done)
    return ordered(left[kept].astype(np.int64), right[kept].astype(np.int64), found.codes[kept])


def ordered(left: np.ndarray, right: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (each once) in order of left, then right."""
    order = np.lexsort((right, left))
    return left[order], right[order], codes[order]
