"""Dedupe's candidate pairs made, compared and scored on the cluster engine's workers, in shares
shuffled by blocking key (`ShuffledPairs`, a `dedupe.pairset.PairSet`).

The run's process blocks as ever (`blocking.block`: each key's block per record, a few int32
arrays of a record each) and sends that once to every worker. Share s of S then holds, of each
blocking key, the blocks whose code is s modulo S, as a shuffle by blocking key would: its
worker makes their pairs, leaves out those an earlier key found (`blocking.pairs_of`), and
compares them. The pairs stay there. What the later phases ask is answered share by share and
added up in the run's process: the level patterns each key's pairs show (for EM), each record's
strongest pair (for the prior), and the pairs at or above the review band with their levels and
the match weight histogram (for clustering and the report). The run's process holds the
records' match values and the pairs that matter, not the tens of millions of candidates. The
answers are those of `HeldPairs`, which holds every pair in one place: the same pairs, the same
counts (added in the same order of pattern codes), the same weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crmmigrate.dedupe.blocking import Blocked, pairs_of, via
from crmmigrate.dedupe.columns import Column
from crmmigrate.dedupe.comparisons import Patterns, patterns
from crmmigrate.dedupe.pairset import added_counts, kept_pairs, ordered, strongest
from crmmigrate.dedupe.rules import MatchSpec
from crmmigrate.dedupe.scoring import HISTOGRAM_EDGES

if TYPE_CHECKING:
    from crmmigrate.dedupe.training import Model


@dataclass
class Share:
    """One share of the pairs, as its worker holds it."""

    left: np.ndarray
    right: np.ndarray
    found: Patterns | None = None

    def __len__(self) -> int:
        return len(self.left)


class ShuffledPairs:
    """A `PairSet` left on the workers in `shares` shares (see the module)."""

    def __init__(self, client: Any, blocked: Blocked, shares: int) -> None:
        self.client = client
        self.side, self.skipped = blocked.side, blocked.skipped
        # Everything the shares are made from is kept while they live: a worker lost later has
        # its shares made and compared again from these, on the workers left (each is on every
        # worker). hash=False and pure=False throughout, as the engine's other tasks (see
        # ClusterEngine._sent); an object is scattered inside a list, as a dict's own keys
        # would become its keys on the scheduler ("email"), which another run's could be.
        self._blocked = _everywhere(client, blocked)
        self._made = [client.submit(_made, self._blocked, share, shares, pure=False) for share in range(shares)]
        self._shares = self._made
        self._values: Any = None
        self._sizes: list[int] | None = None

    def _each(self, function: Callable[..., Any], *args: Any) -> list[Any]:
        return [self.client.submit(function, share, *args, pure=False) for share in self._shares]

    def __len__(self) -> int:
        if self._sizes is None:
            self._sizes = self.client.gather(self._each(len))
        return sum(self._sizes)

    def _done(self, futures: list[Any], done: Callable[[int], None] | None = None) -> Iterator[Any]:
        """Each future as its task finishes (a task's error raised then), `done` told its share's pairs."""
        from distributed import as_completed

        sizes = dict(zip((f.key for f in futures), self._sizes or [0] * len(futures), strict=True))
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the task's error
            if done is not None:
                done(sizes[future.key])
            yield future

    def compare(self, values: dict[str, Column], spec: MatchSpec, done: Callable[[int], None] | None = None
                ) -> None:
        len(self)  # the shares' sizes, for `done`
        self._values = _everywhere(self.client, values)
        compared = self._each(_compared, self._values, spec)
        for _ in self._done(compared, done):
            pass
        self._shares = compared

    def counts(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        return added_counts(self.client.gather(self._each(_counts, self._blocked, key)))

    def best(self, model: Model, n: int) -> np.ndarray:
        sent = _everywhere(self.client, model)
        best = np.full(n, -np.inf, dtype=np.float32)
        for future in self._done(self._each(_best, sent, n)):  # one share's answer held at a time
            records, weights = future.result()
            future.release()
            np.maximum.at(best, records, weights)
        return best

    def at_least(self, model: Model, threshold: float, histogram: np.ndarray | None = None,
                 done: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sent = _everywhere(self.client, model)
        futures = self._each(_kept, sent, threshold)
        for _ in self._done(futures, done):
            pass
        found = self.client.gather(futures)
        if histogram is not None:
            for *_, counted in found:
                histogram += counted
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return ordered(*(np.concatenate([part[i] for part in found]) for i in range(3)))


def _everywhere(client: Any, value: Any) -> Any:
    """`value` on every worker, as one future under a key of its own."""
    return client.scatter([value], broadcast=True, hash=False)[0]


def _made(blocked: Blocked, share: int, shares: int) -> Share:
    return Share(*pairs_of(blocked, share, shares))


def _compared(share: Share, values: dict[str, Column], spec: MatchSpec) -> Share:
    return Share(share.left, share.right, patterns(values, spec, share.left, share.right))


def _found(share: Share) -> Patterns:
    assert share.found is not None, "a share asked for its patterns before it was compared"
    return share.found


def _counts(share: Share, blocked: Blocked, key: int) -> tuple[np.ndarray, np.ndarray]:
    return _found(share).counts_by_code(via(blocked.keys[key], share.left, share.right))


def _best(share: Share, model: Model, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The share's records' strongest pair's weight, as (records, weights) of those in a pair."""
    best = strongest(model, _found(share), share.left, share.right, n)
    records = np.flatnonzero(np.isfinite(best)).astype(np.int32)
    return records, best[records]


def _kept(share: Share, model: Model, threshold: float) -> tuple[np.ndarray, ...]:
    counted = np.zeros(len(HISTOGRAM_EDGES) - 1, dtype=np.int64)
    left, right, codes = kept_pairs(model, _found(share), share.left, share.right, threshold, counted)
    return left, right, codes, counted
