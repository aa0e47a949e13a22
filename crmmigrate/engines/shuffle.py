"""Dedupe's candidate pairs made, compared and scored on the cluster engine's workers, in shares
shuffled by blocking key (`ShuffledPairs`, a `dedupe.pairset.PairSet`).

The run's process blocks as ever (`blocking.block`: each key's block per record, a few int32
arrays of a record each) and sends that once to every worker. Share s of S then holds, of each
blocking key, the blocks whose code is s modulo S, as a shuffle by blocking key would: its
worker makes their pairs, leaves out those an earlier key found (`blocking.pairs_of`), compares
them, and keeps of each pair only its level pattern (2 or 4 bytes), with the counts of the
patterns each key's pairs show (for EM); the pairs' records' positions (8 bytes a pair) are
made again from the blocking when the prior or the scoring asks (the same pairs in the same
order), as `RemadePairs` does in one process. What the later phases ask is answered share by
share and added up in the run's process: the level patterns each key's pairs show, each
record's strongest pair (for the prior), and the pairs at or above the review band with their
levels and the match weight histogram (for clustering and the report). The run's process holds
the records' match values and the pairs that matter, not the hundreds of millions of
candidates, and the workers a fifth of what holding them whole takes (at 5M contacts, 491M
pairs: about 1 GB of patterns, not 5.9 GB). The answers are those of `HeldPairs`, which holds
every pair in one place: the same pairs, the same counts (added in the same order of pattern
codes), the same weights.
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
    """One share of the pairs, compared, as its worker holds it: each pair's level pattern,
    and per blocking key the distinct patterns its pairs show and how many (`counts_by_code`)."""

    found: Patterns
    counts: list[tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.found.codes)


class ShuffledPairs:
    """A `PairSet` left on the workers in `shares` shares (see the module)."""

    def __init__(self, client: Any, blocked: Blocked, shares: int) -> None:
        self.client = client
        self.side, self.skipped = blocked.side, blocked.skipped
        self.count = shares
        # Everything the shares are made from is kept while they live: a worker lost later has
        # its shares made and compared again from these, on the workers left (each is on every
        # worker). hash=False and pure=False throughout, as the engine's other tasks (see
        # ClusterEngine._sent); an object is scattered inside a list, as a dict's own keys
        # would become its keys on the scheduler ("email"), which another run's could be.
        self._blocked = _everywhere(client, blocked)
        self._shares: list[Any] = []  # once compared, a Share per share
        self._values: Any = None
        self._sizes: list[int] | None = None

    def _each(self, function: Callable[..., Any], *args: Any) -> list[Any]:
        return [self.client.submit(function, share, *args, pure=False) for share in self._shares]

    def _remade(self, function: Callable[..., Any], *args: Any) -> list[Any]:
        """function(share, left, right, *args) on every compared share, its pairs made again."""
        return [self.client.submit(_with_pairs, function, share, self._blocked, number, self.count, *args,
                                   pure=False) for number, share in enumerate(self._shares)]

    def __len__(self) -> int:
        if self._sizes is None:  # asked before they are compared: made once to be counted
            self._sizes = self.client.gather([self.client.submit(_size, self._blocked, number, self.count, pure=False)
                                              for number in range(self.count)])
        return sum(self._sizes)

    def _done(self, futures: list[Any], done: Callable[[int], None] | None = None) -> Iterator[Any]:
        """Each future as its task finishes (a task's error raised then), `done` told its share's pairs."""
        from distributed import as_completed

        sizes = dict(zip((f.key for f in futures), self._sizes or [0] * len(futures), strict=True))
        for future in as_completed(futures):
            if future.status != "finished":
                future.result()  # raises the task's error, or that it was cancelled (lost dependencies)
            if done is not None:
                done(sizes[future.key])
            yield future

    def compare(self, values: dict[str, Column], spec: MatchSpec, done: Callable[[int], None] | None = None
                ) -> None:
        len(self)  # the shares' sizes, for `done`
        # A field's values at a time, not all in one message: a worker holds what it is sent
        # beside the objects made of it, and at 5M contacts all of them are 1.3 GB.
        self._values = {name: _everywhere(self.client, column) for name, column in values.items()}
        self._shares = [self.client.submit(_compared, self._blocked, number, self.count, self._values, spec,
                                           pure=False) for number in range(self.count)]
        for _ in self._done(self._shares, done):
            pass

    def counts(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        return added_counts(self.client.gather(self._each(_counts, key)))

    def best(self, model: Model, n: int) -> np.ndarray:
        sent = _everywhere(self.client, model)
        best = np.full(n, -np.inf, dtype=np.float32)
        for future in self._done(self._remade(_best, sent, n)):  # one share's answer held at a time
            records, weights = future.result()
            future.release()
            np.maximum.at(best, records, weights)
        return best

    def at_least(self, model: Model, threshold: float, histogram: np.ndarray | None = None,
                 done: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sent = _everywhere(self.client, model)
        futures = self._remade(_kept, sent, threshold)
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


def _size(blocked: Blocked, number: int, shares: int) -> int:
    return len(pairs_of(blocked, number, shares)[0])


def _compared(blocked: Blocked, number: int, shares: int, values: dict[str, Column], spec: MatchSpec) -> Share:
    """Share `number` made, compared and counted per key; its pairs' positions let go."""
    left, right = pairs_of(blocked, number, shares)
    found = patterns(values, spec, left, right)
    return Share(found, [found.counts_by_code(via(codes, left, right)) for codes in blocked.keys])


def _counts(share: Share, key: int) -> tuple[np.ndarray, np.ndarray]:
    return share.counts[key]


def _with_pairs(function: Callable[..., Any], share: Share, blocked: Blocked, number: int, shares: int,
                *args: Any) -> Any:
    return function(share, *pairs_of(blocked, number, shares), *args)


def _best(share: Share, left: np.ndarray, right: np.ndarray, model: Model, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The share's records' strongest pair's weight, as (records, weights) of those in a pair."""
    best = strongest(model, share.found, left, right, n)
    records = np.flatnonzero(np.isfinite(best)).astype(np.int32)
    return records, best[records]


def _kept(share: Share, left: np.ndarray, right: np.ndarray, model: Model, threshold: float
          ) -> tuple[np.ndarray, ...]:
    counted = np.zeros(len(HISTOGRAM_EDGES) - 1, dtype=np.int64)
    kept_left, kept_right, codes = kept_pairs(model, share.found, left, right, threshold, counted)
    return kept_left, kept_right, codes, counted
