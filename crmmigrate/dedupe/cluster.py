"""Merged pairs into clusters, with a guard against chaining.

Pairs are joined strongest first. Two groups are joined only if no record of one clearly
differs from a record of the other: a pair scored below the review band, a pair a person kept
apart, or (for records no blocking key paired) a pair scored so on the spot. A refused join
goes to review, with the reason, instead of silently merging A and C because A~B and B~C.

Only groups of records linked by the pairs can join, so the linked groups (connected
components) are found first: one of two records is a cluster as it is, and in the larger ones
every two records are scored at once before the joins are tried, strongest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

MAX_JOIN = 10_000  # record pairs checked when two groups would join; above it, review
SCORED_AHEAD = 200  # linked groups up to this many records have all their pairs scored at once
TELL_EVERY = 4_096  # pairs joined between two reports of progress


@dataclass
class Clusters:
    """`label[i]`: record i's cluster (the smallest record position in it); refused joins."""

    label: np.ndarray
    refused: list[tuple[int, int, str]] = field(default_factory=list)  # left, right, why


def cluster(n: int, left: np.ndarray, right: np.ndarray, strength: np.ndarray, *,
            apart: set[tuple[int, int]], distinct: Callable[[np.ndarray, np.ndarray], np.ndarray],
            name: Callable[[int], str] = str, done: Callable[[int], None] | None = None) -> Clusters:
    """Join records n by the pairs (left, right), strongest first (ties by position, for the
    same result every time). `distinct(a, b)` says which record pairs (a < b) clearly differ;
    `apart` holds the pairs people kept apart (left < right); `name(i)` is how a refusal names
    record i; `done(pairs)` is told as the pairs are joined (progress.Tally.add)."""
    done = done or (lambda _: None)
    label = np.arange(n, dtype=np.int64)
    refused: list[tuple[int, int, str]] = []
    if not len(left):
        return Clusters(label, refused)
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    graph = coo_array((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    edge_size = sizes[component[left]]
    # Two records linked by one pair: joined, nothing else can speak against it.
    pair = edge_size == 2
    label[right[pair]] = left[pair]
    done(int(pair.sum()))
    # Larger linked groups: every two of their records scored at once (up to SCORED_AHEAD).
    members = np.flatnonzero(sizes[component] > 2)
    ahead: dict[tuple[int, int], bool] = {}
    small = members[sizes[component[members]] <= SCORED_AHEAD]
    if len(small):
        order = small[np.argsort(component[small], kind="stable")]
        groups = np.split(order, np.flatnonzero(np.diff(component[order])) + 1)
        xs = np.concatenate([np.repeat(g, len(g)) for g in groups])
        ys = np.concatenate([np.tile(g, len(g)) for g in groups])
        keep = xs < ys
        xs, ys = xs[keep], ys[keep]
        ahead = dict(zip(zip(xs.tolist(), ys.tolist(), strict=True), distinct(xs, ys).tolist(), strict=True))

    def clash(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        known = [ahead.get(p) for p in zip(a.tolist(), b.tolist(), strict=True)]
        if all(k is not None for k in known):
            return np.array(known, dtype=bool)
        return distinct(a, b)

    linked = ~pair
    _join(label, left[linked], right[linked], np.asarray(strength)[linked], apart, clash, refused, name, done)
    return Clusters(label=label, refused=refused)


def _join(label: np.ndarray, left: np.ndarray, right: np.ndarray, strength: np.ndarray,
          apart: set[tuple[int, int]], clash: Callable[[np.ndarray, np.ndarray], np.ndarray],
          refused: list[tuple[int, int, str]], name: Callable[[int], str], done: Callable[[int], None]) -> None:
    """Union-find over the pairs of larger linked groups, strongest first, with the guard;
    writes each record's cluster (its smallest member) into `label`."""
    parent: dict[int, int] = {}
    members: dict[int, list[int]] = {}

    def root(i: int) -> int:
        while parent.get(i, i) != i:
            parent[i] = parent.get(parent[i], parent[i])
            i = parent[i]
        return i

    for tried, index in enumerate(np.lexsort((right, left, -strength)), start=1):
        if tried % TELL_EVERY == 0:
            done(TELL_EVERY)
        a, b = int(left[index]), int(right[index])
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        group_a, group_b = members.get(ra, [ra]), members.get(rb, [rb])
        if len(group_a) * len(group_b) > MAX_JOIN:
            refused.append((a, b, f"would join groups of {len(group_a)} and {len(group_b)} records"))
            continue
        xs = np.repeat(group_a, len(group_b))
        ys = np.tile(group_b, len(group_a))
        lo, hi = np.minimum(xs, ys), np.maximum(xs, ys)
        kept = [(int(x), int(y)) for x, y in zip(lo, hi, strict=True) if (int(x), int(y)) in apart]
        if kept:
            refused.append((a, b, f"records {name(kept[0][0])} and {name(kept[0][1])} were kept apart by a "
                                  "decision"))
            continue
        others = (lo != min(a, b)) | (hi != max(a, b))
        if others.any():
            clear = clash(lo[others], hi[others])
            if clear.any():
                first = int(np.flatnonzero(clear)[0])
                refused.append((a, b, f"would chain: records {name(int(lo[others][first]))} and "
                                      f"{name(int(hi[others][first]))} clearly differ"))
                continue
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        parent[gone] = keep
        members[keep] = sorted(members.pop(keep, [keep]) + members.pop(gone, [gone]))
    done(len(left) % TELL_EVERY)
    for record in list(parent):
        label[record] = root(record)
