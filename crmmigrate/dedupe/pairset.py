"""An entity's candidate pairs and their comparisons, wherever they are held, asked only for
what the later phases need: how many there are, the level patterns each blocking key's pairs
show (EM), each record's strongest pair (the prior), and the pairs at or above a match
probability with their levels (scoring, clustering). What those answers are does not depend on
where the pairs are: `HeldPairs` holds them in this process; `RemadePairs` holds only their
level patterns here, a share at a time, and makes a share's records' positions again when they
are asked for; the cluster engine's `ShuffledPairs` leaves them in shares on its workers. A share
is the blocks of some blocking key values (each key's blocks whose code is the share's number
modulo the shares, `blocking.pairs_of`), and the shares' answers are added up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from crmmigrate import parallel
from crmmigrate.dedupe.blocking import Blocked, Pairs, pairs_of, via
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


# The pairs of one share of `RemadePairs`, about: their positions, 8 bytes a pair, are what is
# held at once (32 MB), beside every pair's level pattern (2 or 4 bytes).
SHARE_PAIRS = 4_000_000


class RemadePairs:
    """The pairs made and compared a share at a time, holding of each pair only its level
    pattern: of every pair's 10 to 12 bytes, the 8 of its records' positions are held for one
    share at a time. What EM needs (each key's pattern counts) is counted as a share is
    compared; the prior and the scoring make a share's positions again from the blocking
    (`pairs_of`: the same pairs in the same order), twice more in all. The answers are those of
    `HeldPairs`. For pairs made beside another stage that holds the records (the leads'
    matching beside the load), where memory, not the seconds of making them, is what counts."""

    def __init__(self, blocked: Blocked, shares: int) -> None:
        if shares < 1:
            raise ValueError(f"pairs in {shares} shares: at least one is needed")
        self.blocked, self.shares = blocked, shares
        self.side, self.skipped = blocked.side, blocked.skipped
        self._found: list[Patterns] | None = None
        self._counts: list[list[tuple[np.ndarray, np.ndarray]]] = []  # per share, per key
        self._sizes: list[int] | None = None

    @classmethod
    def made(cls, values: dict[str, Column], spec: MatchSpec, blocked: Blocked) -> RemadePairs:
        """The pairs `blocked` makes, in shares of about SHARE_PAIRS (none made yet)."""
        return cls(blocked, max(1, -(-blocked.pairs() // SHARE_PAIRS)))

    def _share(self, share: int) -> tuple[np.ndarray, np.ndarray]:
        return pairs_of(self.blocked, share, self.shares)

    def __len__(self) -> int:
        if self._sizes is None:  # asked before they are compared: made once to be counted
            self._sizes = [len(self._share(share)[0]) for share in range(self.shares)]
        return sum(self._sizes)

    def compare(self, values: dict[str, Column], spec: MatchSpec, done: Callable[[int], None] | None = None
                ) -> None:
        found, counts = [], []
        for share in range(self.shares):
            left, right = self._share(share)
            found.append(patterns(values, spec, left, right, done))
            counts.append([found[-1].counts_by_code(via(codes, left, right)) for codes in self.blocked.keys])
        self._found, self._counts, self._sizes = found, counts, [len(f.codes) for f in found]

    @property
    def found(self) -> list[Patterns]:
        """Each share's level patterns (`compare` first)."""
        if self._found is None:
            raise RuntimeError("the pairs are not compared yet")
        return self._found

    def counts(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        self.found  # noqa: B018 - raises if they are not compared yet
        return added_counts([share[key] for share in self._counts])

    def best(self, model: Model, n: int) -> np.ndarray:
        best = np.full(n, -np.inf, dtype=np.float32)
        for share, found in enumerate(self.found):
            np.maximum(best, strongest(model, found, *self._share(share), n), out=best)
        return best

    def at_least(self, model: Model, threshold: float, histogram: np.ndarray | None = None,
                 done: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kept = [kept_pairs(model, found, *self._share(share), threshold, histogram, done)
                for share, found in enumerate(self.found)]
        return ordered(*(np.concatenate([part[i] for part in kept]) for i in range(3)))


# A held pair's records' positions (two int32), beside its level pattern (2 or 4 bytes), which
# is held wherever the pairs are.
POSITION_BYTES = 8
# The share of the memory this process may still take (`parallel.available_memory`) that the
# pairs' positions may take here. Their level patterns come beside them (up to half as much
# again), so a half leaves a quarter of what there was for the scoring's weights, a chunk at a
# time, and the kept pairs. Remaking them costs seconds (at 5M contacts, 491M pairs made three
# more times: about 130 s, measured with a quarter here, where holding them peaks at 16.6 GB on
# a 24 GB machine): they are remade where holding them could run the process out of memory,
# not to save memory the machine has. The rule is the machine's, not a data set's.
HELD_SHARE = 0.5


def held_fits(pairs: int, available: int | None = None) -> bool:
    """Whether `pairs` pairs' positions may be held in this process (`HeldPairs`): they take
    at most HELD_SHARE of `available` (default: `parallel.available_memory()`, now)."""
    if available is None:
        available = parallel.available_memory()
    return pairs * POSITION_BYTES <= HELD_SHARE * available


def held_or_remade(values: dict[str, Column], spec: MatchSpec, blocked: Blocked) -> PairSet:
    """The `Pairing` of a process that makes its pairs itself: every pair held (`HeldPairs`,
    made once) when their positions fit (`held_fits`, on the count the blocking gives, a pair
    two keys find counted twice), else made a share at a time (`RemadePairs`, made three
    times, holding only their level patterns). Both give the same answers: only the memory and
    the seconds differ (at 5M contacts, 491M pairs: 3.9 GB of positions not held)."""
    if held_fits(blocked.pairs()):
        return HeldPairs.made(values, spec, blocked)
    return RemadePairs.made(values, spec, blocked)


def added_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Shares' `counts` added up: what `counts` of all their pairs is."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0)
    codes, at = np.unique(np.concatenate([c for c, _ in parts]), return_inverse=True)
    return codes, np.bincount(at, weights=np.concatenate([n for _, n in parts]), minlength=len(codes))


def strongest(model: Model, found: Patterns, left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """Each of n records' strongest pair's match weight among these pairs (float32, -inf: none),
    a chunk of pairs' weights at a time (not a weight for every pair held at once)."""
    chunk_weights = weights_by_chunk(model, found, left)
    best = np.full(n, -np.inf, dtype=np.float32)
    taking = threading.Lock()

    def work(start: int, stop: int) -> None:
        weights = chunk_weights(start, stop).astype(np.float32, copy=False)
        with taking:  # ufunc.at is not atomic
            np.maximum.at(best, left[start:stop], weights)
            np.maximum.at(best, right[start:stop], weights)

    chunked(len(found.codes), work)
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
