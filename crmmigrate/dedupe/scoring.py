"""Scoring: a pair's match weight (the sum of its levels' weights, a value's rarity counted) and
match probability, a chunk at a time on every core; the match weight histogram."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from crmmigrate.dedupe.columns import chunked
from crmmigrate.dedupe.comparisons import Patterns

if TYPE_CHECKING:
    from crmmigrate.dedupe.training import Model


def probabilities_of(model: Model, found: Patterns, left: np.ndarray) -> np.ndarray:
    """The match probability of every pair, by its level pattern and (for term frequencies)
    its left record, a chunk at a time on every core."""
    out = np.empty(len(found.codes))
    chunk_probabilities = _probabilities_by_chunk(model, found, left)

    def work(start: int, stop: int) -> None:
        out[start:stop] = chunk_probabilities(start, stop)

    chunked(len(out), work)
    return out


# The edges of the match weight histogram (log2 odds, prior included), in bits.
HISTOGRAM_EDGES = np.arange(-40, 42, 2.0)


def at_least(model: Model, found: Patterns, left: np.ndarray, threshold: float,
             histogram: np.ndarray | None = None, done: Callable[[int], None] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (positions) whose match probability is `threshold` or more, with their
    probabilities, in pair order: `probabilities_of` without holding every pair's. Every
    pair's match weight is counted into `histogram` (HISTOGRAM_EDGES' bins, the ends open)
    when one is given. `done(pairs)` is told after each chunk."""
    chunk_probabilities = _probabilities_by_chunk(model, found, left)
    parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    counted: list[np.ndarray] = []

    def work(start: int, stop: int) -> None:
        probability = chunk_probabilities(start, stop)
        hit = np.flatnonzero(probability >= threshold)
        parts[start] = (hit + start, probability[hit])
        if histogram is not None:
            counted.append(weight_histogram(probability))

    chunked(len(found.codes), work, done)
    if histogram is not None and counted:
        histogram += np.sum(counted, axis=0)
    ordered = [parts[start] for start in sorted(parts)]
    if not ordered:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate([p for p, _ in ordered]), np.concatenate([q for _, q in ordered])


def weight_histogram(probability: np.ndarray) -> np.ndarray:
    """How many of these match probabilities fall in each bin of HISTOGRAM_EDGES (as match
    weights; the first and last bins take everything beyond them)."""
    with np.errstate(divide="ignore"):
        weight = np.log2(probability) - np.log2(1 - probability)
    weight = np.clip(np.nan_to_num(weight, posinf=99, neginf=-99), HISTOGRAM_EDGES[0], HISTOGRAM_EDGES[-1])
    return np.histogram(weight, bins=HISTOGRAM_EDGES)[0]


def _probabilities_by_chunk(model: Model, found: Patterns, left: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """The probabilities of the pairs start..stop (`weights_by_chunk`, the prior added)."""
    weights = weights_by_chunk(model, found, left)
    return lambda start, stop: probabilities(model, weights(start, stop))


def weights_by_chunk(model: Model, found: Patterns, left: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """The match weights (term frequencies included, the prior not) of the pairs start..stop.
    With few patterns (the shipped rules have thousands), each pattern's weight is looked up
    rather than summed pair by pair."""
    total = math.prod(found.radix.values())
    if total > 1 << 20:
        return lambda start, stop: score_weights(model, found.levels(slice(start, stop)), left[start:stop])
    every = Patterns(np.arange(total), found.radix).levels()
    table = score_weights(model, every)
    at_level = {(name, level): every[name] == level for name, per in model.tf.items() for level in per}

    def chunk(start: int, stop: int) -> np.ndarray:
        codes = found.codes[start:stop]
        weights = table[codes]
        _rarity(model, weights, {key: hit[codes] for key, hit in at_level.items()}, left[start:stop])
        return weights

    return chunk


def score_weights(model: Model, pair_levels: dict[str, np.ndarray], left: np.ndarray | None = None) -> np.ndarray:
    """Each pair's match weight without the prior; with the pairs' `left` records, exact
    agreements on fields with term frequencies weigh what their value's rarity says."""
    total = np.zeros(len(next(iter(pair_levels.values()))))
    for name, level in pair_levels.items():
        total += model.weights(name)[level]
    if left is not None:
        _rarity(model, total, {(name, level): pair_levels[name] == level
                               for name, per in model.tf.items() for level in per}, left)
    return total


def _rarity(model: Model, weights: np.ndarray, at_level: dict[tuple[str, int], np.ndarray],
            left: np.ndarray) -> None:
    """Term frequencies: where a field with them is at a level they cover (`at_level`, per
    field and level), its weight becomes log2(m / the record's own u) (floored as u is),
    in place."""
    for (name, level), hit in at_level.items():
        at = np.flatnonzero(hit)
        if len(at):
            own = np.log2(model.m[name][level] / np.maximum(model.tf[name][level][left[at]], 1e-7))
            if level == 1 and name in model.shared:
                own[model.shared[name][left[at]]] = 0.0
            weights[at] += own - model.weights(name)[level]


def probabilities(model: Model, weights: np.ndarray) -> np.ndarray:
    log_odds = weights + math.log2(model.prior / (1 - model.prior))
    return 1.0 / (1.0 + 2.0 ** -np.clip(log_odds, -60, 60))
