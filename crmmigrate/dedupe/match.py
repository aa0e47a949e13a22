"""Candidate pairs, comparisons and match scores, with no training labels.

The model is Fellegi-Sunter's, as Splink fits it: each comparison sorts a pair into a level
(exact, close, far...); a level has `m`, the chance of it among true matches, and `u`, among
random pairs. A pair's match weight is the sum of log2(m/u) over its comparisons plus the prior
odds of two records matching; its match probability follows. `u` is measured on random pairs;
`m` is fitted by expectation-maximisation on the pairs each blocking key finds, leaving out the
comparisons of that key's own fields (those pairs agree on them by construction). An exact
agreement on a field with term frequencies counts for what its value's rarity says: two "Smith"s
are weaker evidence than two "Quintanilla"s.

Built for millions of records, where candidate pairs run to tens of millions:
- each field is dictionary-encoded once (Arrow); blocking transforms and a comparison's
  normalisation run once per distinct value, and records carry integer codes;
- blocking keys pair records with numpy; a key's pairs that an earlier key found are dropped by
  comparing the earlier key's codes (no sort of every pair);
- a comparison is computed once per distinct pair of values (real data pairs the same common
  names and cities over and over), kept in a table for the commonest values; emails, mostly
  distinct, get an edit distance only where one edit is possible;
- pairs are compared a chunk at a time on a thread per core (numpy, Arrow and rapidfuzz let go
  of the GIL), and each pair's levels are stored as one small pattern code: EM and the prior
  work on the few thousand distinct patterns with their counts.

One module per part: the values and their normalised codes (`columns`), candidate pairs
(`blocking`), comparisons and their levels (`comparisons`), the evidence apart from the name
(`clues`), the model and its fitting (`training`), match weights and probabilities (`scoring`).
This module runs them in order (`score`) and is where the stage imports them from.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from crmmigrate.dedupe.blocking import Blocked, Pairs, block, candidate_pairs, key_codes
from crmmigrate.dedupe.clues import NAME_METHODS, clues, conflicts
from crmmigrate.dedupe.columns import Column, house_street, name_root, prepared
from crmmigrate.dedupe.comparisons import LEVELS, Patterns, compare, levels, normalise, patterns, radix_of
from crmmigrate.dedupe.pairset import HeldPairs, PairSet, RemadePairs, held_or_remade
from crmmigrate.dedupe.rules import MatchSpec
from crmmigrate.dedupe.scoring import HISTOGRAM_EDGES, at_least, probabilities, probabilities_of, score_weights
from crmmigrate.dedupe.training import Model, fit, fit_steps

__all__ = ["HISTOGRAM_EDGES", "LEVELS", "NAME_METHODS", "Blocked", "Column", "HeldPairs", "Model", "PairSet", "Pairs",
           "Pairing", "RemadePairs", "above", "at_least", "candidate_pairs", "candidates", "clues", "compare",
           "conflicts", "fit", "fit_steps", "fitted", "held_or_remade", "house_street", "key_codes", "levels",
           "name_root", "patterns", "prepared", "probabilities", "probabilities_of", "score", "score_weights"]

# Makes the candidate pairs a blocking gives (not compared yet): `HeldPairs.made` every one here,
# `RemadePairs.made` here a share at a time (the leads' default), `held_or_remade` the one of
# those two that fits this process's memory (dedupe's default), the cluster engine's in shares
# on its workers.
Pairing = Callable[[dict[str, Column], MatchSpec, Blocked], PairSet]


def score(frame: pd.DataFrame, spec: MatchSpec, pointers: tuple[str, ...] = (), side: np.ndarray | None = None
          ) -> tuple[Pairs, np.ndarray, Model]:
    """The candidate pairs of a frame's records (positions), their match probabilities and the
    fitted model: matching without clusters or survivors (for benchmarks and the review). With
    `side` (per record, whether it is of the first of two datasets linked), the two are linked:
    only pairs of a record of each are made, and the model is fitted on those
    (`candidate_pairs`, `fit`)."""
    values = prepared(frame.reset_index(drop=True), spec.fields)
    held, model = fitted(values, spec, pointers, side, HeldPairs.made)
    assert isinstance(held, HeldPairs) and held.found is not None
    return held.pairs, probabilities_of(model, held.found, held.pairs.left), model


def fitted(values: dict[str, Column], spec: MatchSpec, pointers: tuple[str, ...] = (),
           side: np.ndarray | None = None, pairing: Pairing = HeldPairs.made) -> tuple[PairSet, Model]:
    """Records' `prepared` values' candidate pairs (made by `pairing`), compared, and the
    model fitted on them. The pairs hold none of the values: a caller that lets go of them
    after this holds only the pairs and the model (`above` needs no more)."""
    pairs = candidates(values, spec, side, pairing)
    pairs.compare(values, spec)
    return pairs, fit(values, spec, pairs, pointers)


def candidates(values: dict[str, Column], spec: MatchSpec, side: np.ndarray | None = None,
               pairing: Pairing = HeldPairs.made) -> PairSet:
    """The candidate pairs (`block`, then `pairing`: by default every pair made here), while
    another thread normalises the compared fields (and then this one helps it, from the other
    end)."""
    with ThreadPoolExecutor(1) as background:
        normalising = background.submit(normalise, values, spec)
        pairs = pairing(values, spec, block(values, spec, side))
        normalise(values, spec, backwards=True)
        normalising.result()
    return pairs


def above(pairs: PairSet, model: Model, spec: MatchSpec, threshold: float
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `fitted` pairs whose match probability is `threshold` or more: their records
    (left, right, in that order) and probabilities, without a probability for every candidate."""
    left, right, codes = pairs.at_least(model, threshold)
    levels = Patterns(codes, radix_of(spec)).levels()
    return left, right, probabilities(model, score_weights(model, levels, left))
