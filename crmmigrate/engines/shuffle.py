"""Dedupe's candidate pairs made, compared and scored on the cluster engine's workers, in shares
shuffled by blocking key (`ShuffledPairs`, a `dedupe.pairset.PairSet`).

The run's process blocks as ever (`blocking.block`: each key's block per record, a few int32
arrays of a record each) and sends that once to every worker. Share s of S then holds, of each
blocking key, the blocks whose code is s modulo S, as a shuffle by blocking key would. It is
sent the match values of those blocks' records alone (`blocking.share_records`, then
`Column.subset`: about K/S of the records, for K keys), a few shares at a time, not every
value to every worker (1.3 GB at 5M contacts, which took 4 GiB workers over their limit). Its
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

A share's values are sent for its comparing alone, so Dask cannot make a share again once
they are let go: a share lost with its worker is sent its values and compared again here
(`_answers`), at most REMADE_AT_MOST times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crmmigrate.dedupe.blocking import Blocked, pairs_of, share_records, via
from crmmigrate.dedupe.columns import Column
from crmmigrate.dedupe.comparisons import Patterns, made_later, normalise, patterns
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


REMADE_AT_MOST = 3  # times a share lost with a worker is made again before the run gives up


class ShuffledPairs:
    """A `PairSet` left on the workers in `shares` shares (see the module)."""

    def __init__(self, client: Any, blocked: Blocked, shares: int, ahead: int) -> None:
        self.client = client
        self.ahead = ahead  # shares sent their values and not yet compared, at most
        self.side, self.skipped = blocked.side, blocked.skipped
        self.count = shares
        self.remade = 0  # shares lost with a worker and made again
        # The blocking is kept on every worker while the shares live: each share's pairs are
        # made again from it. hash=False and pure=False throughout, as the engine's other tasks
        # (see ClusterEngine._sent); an object is scattered inside a list, as a dict's own keys
        # would become its keys on the scheduler ("email"), which another run's could be.
        self._blocked = _everywhere(client, blocked)
        self._here = blocked
        self._shares: list[Any] = []  # once compared, a Share per share
        self._sizes: list[int] | None = None
        self._records: list[np.ndarray] = []  # per share, the records its pairs hold
        self._values: dict[str, Column] = {}
        self._spec: MatchSpec | None = None
        self._model: tuple[Model, Any] | None = None  # the model the shares are asked with, and as sent
        self._lost = [0] * shares

    def __len__(self) -> int:
        if self._sizes is None:  # asked before they are compared: made once to be counted
            self._sizes = self.client.gather([self.client.submit(_size, self._blocked, number, self.count, pure=False)
                                              for number in range(self.count)])
        return sum(self._sizes)

    def _sent_to_compare(self, number: int) -> Any:
        """Share `number` made and compared on a worker, sent the values of its records alone
        (`Column.subset`): a share of a few blocks of each key holds a few of the records, and
        every worker holding every value (1.3 GB at 5M contacts) took it over its limit. Sent
        for this task only, so a share lost later with its worker is made here again (`_share`)."""
        records = self._records[number]
        assert self._spec is not None, "compare() first"
        sent = self.client.scatter([(records, {name: column.subset(records) for name, column in self._values.items()})],
                                   hash=False)[0]
        return self.client.submit(_compared, self._blocked, number, self.count, sent, self._spec, pure=False)

    def _share(self, number: int) -> Any:
        """Share `number`'s compared pairs: sent to be compared if not yet, or again if they
        were lost with their worker since (the task cancelled: what it was made of is gone)."""
        if self._shares[number] is not None and self._shares[number].status == "cancelled":
            self._again(number)
        if self._shares[number] is None:
            self._shares[number] = self._sent_to_compare(number)
        return self._shares[number]

    def _again(self, number: int) -> None:
        """Share `number` lost (its compared pairs, or a task asking them, cancelled): to be
        compared again, at most REMADE_AT_MOST times. What every share is made from (the
        blocking) and asked with (the model), if every worker holding it was lost too, is sent
        again."""
        self._lost[number] += 1
        if self._lost[number] > REMADE_AT_MOST:  # the engine tells the cluster failed the run
            raise CancelledError(f"share {number} of {self.count} of the candidate pairs was lost with its worker "
                                 f"{self._lost[number]} times")
        if self._blocked.status == "cancelled":
            self._blocked = _everywhere(self.client, self._here)
        if self._model is not None and self._model[1].status == "cancelled":
            self._model = (self._model[0], _everywhere(self.client, self._model[0]))
        self.remade += 1
        self._shares[number] = None

    def _answers(self, ask: Callable[[int], Any], done: Callable[[int], None] | None = None,
                 ahead: int | None = None) -> Iterator[tuple[int, Any]]:
        """Per share, its number and the future of ask(number) as its task finishes (a task's
        error raised then), `done` told its share's pairs; at most `ahead` shares asked at a
        time. A share lost with its worker (its task cancelled for lost dependencies: the
        values it was compared from were sent for that alone) is compared again and asked
        again, at most REMADE_AT_MOST times."""
        from distributed import as_completed

        waiting = list(range(self.count - 1, -1, -1))
        running: dict[str, int] = {}
        flow = as_completed()

        def send() -> None:
            while waiting and (ahead is None or len(running) < ahead):
                number = waiting.pop()
                future = ask(number)
                running[future.key] = number
                flow.add(future)

        send()
        for future in flow:
            number = running.pop(future.key)
            if future.status == "cancelled":
                self._again(number)
                waiting.append(number)
            else:
                if future.status != "finished":
                    future.result()  # raises the task's error
                if done is not None:
                    done((self._sizes or [0] * self.count)[number])
                yield number, future
            send()

    def _remade(self, function: Callable[..., Any], *args: Any) -> Callable[[int], Any]:
        """ask(number): function(share, left, right, model, *args) on the compared share, its
        pairs made again (the model as sent last: `_again`)."""
        assert self._model is not None, "a model first"
        return lambda number: self.client.submit(_with_pairs, function, self._share(number), self._blocked, number,
                                                 self.count, self._model[1], *args, pure=False)

    def _with_model(self, model: Model) -> None:
        self._model = (model, _everywhere(self.client, model))

    def compare(self, values: dict[str, Column], spec: MatchSpec, done: Callable[[int], None] | None = None
                ) -> None:
        len(self)  # the shares' sizes, for `done`
        normalise(values, spec)  # a share's values are cut from the whole's (counts over every record)
        for column in values.values():
            for coded in column.normalised.values():
                if coded.names is not None:  # made once here, not once per share
                    made_later(coded.names)
        self._values, self._spec = values, spec
        self._records = share_records(self._here, self.count)
        self._shares = [None] * self.count

        for _ in self._answers(self._share, done, ahead=self.ahead):
            pass

    def counts(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        found: list[Any] = [None] * self.count
        for number, future in self._answers(lambda number: self.client.submit(_counts, self._share(number), key,
                                                                               pure=False)):
            found[number] = future.result()
        return added_counts(found)

    def best(self, model: Model, n: int) -> np.ndarray:
        self._with_model(model)
        best = np.full(n, -np.inf, dtype=np.float32)
        for _, future in self._answers(self._remade(_best, n)):  # one share's answer held at a time
            records, weights = future.result()
            future.release()
            np.maximum.at(best, records, weights)
        return best

    def at_least(self, model: Model, threshold: float, histogram: np.ndarray | None = None,
                 done: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._with_model(model)
        found: list[Any] = [None] * self.count
        for number, future in self._answers(self._remade(_kept, threshold), done):
            found[number] = future.result()
            future.release()
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


def _compared(blocked: Blocked, number: int, shares: int, sent: tuple[np.ndarray, dict[str, Column]],
              spec: MatchSpec) -> Share:
    """Share `number` made, compared (with the values of its records, `sent`) and counted per
    key; its pairs' positions let go."""
    records, values = sent
    left, right = pairs_of(blocked, number, shares)
    found = patterns(values, spec, np.searchsorted(records, left).astype(np.int32),
                     np.searchsorted(records, right).astype(np.int32))
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
