"""Merged pairs into clusters, with a guard against chaining.

Pairs are joined strongest first. Two groups are joined only if no record of one clearly
differs from a record of the other: a pair scored below the review band, a pair a person kept
apart, or (for records no blocking key paired) a pair scored so on the spot. A refused join
goes to review, with the reason, instead of silently merging A and C because A~B and B~C.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

MAX_JOIN = 10_000  # record pairs checked when two groups would join; above it, review


@dataclass
class Clusters:
    """`label[i]`: record i's cluster (the smallest record position in it); refused joins."""

    label: np.ndarray
    refused: list[tuple[int, int, str]] = field(default_factory=list)  # left, right, why


def cluster(n: int, left: np.ndarray, right: np.ndarray, strength: np.ndarray, *,
            apart: set[tuple[int, int]], distinct: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Clusters:
    """Join records n by the pairs (left, right), strongest first (ties by position, for the
    same result every time). `distinct(a, b)` says which record pairs clearly differ; `apart`
    holds the pairs people kept apart (left < right)."""
    parent = list(range(n))
    members: dict[int, list[int]] = {}
    refused: list[tuple[int, int, str]] = []

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = np.lexsort((right, left, -strength))
    for index in order:
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
            refused.append((a, b, f"records {kept[0][0]} and {kept[0][1]} were kept apart by a decision"))
            continue
        others = (lo != min(a, b)) | (hi != max(a, b))
        if others.any():
            clash = distinct(lo[others], hi[others])
            if clash.any():
                first = int(np.flatnonzero(clash)[0])
                refused.append((a, b, f"would chain: records {lo[others][first]} and {hi[others][first]} "
                                      "clearly differ"))
                continue
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        parent[gone] = keep
        members[keep] = sorted(members.pop(keep, [keep]) + members.pop(gone, [gone]))
    label = np.array([root(i) for i in range(n)], dtype=np.int64)
    # A cluster's label is its smallest member (roots are, since the smaller root is kept).
    return Clusters(label=label, refused=refused)
