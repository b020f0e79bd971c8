"""Choice of neuron groups for the k-ReLU relaxation, as ERAN / PRIMA do it.

Only unstable neurons (``lower < 0 < upper``) are grouped: a stable neuron is exact
without a relaxation. Neurons are ranked by the area ``-l * u`` of their triangle
relaxation (a proxy for how loose it is), split into chunks of ``ns`` consecutive
neurons in that ranking, and inside each chunk k-subsets are chosen greedily so that two
chosen groups share at most ``s`` neurons ("sparse cover", Singh et al. NeurIPS 2019;
Müller et al. POPL 2022). ERAN's defaults are ``k = 3``, ``ns = 100`` (``sparse_n``) and an
overlap of ``k - 2 = 1`` neuron.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["select_groups", "unstable_by_area"]


def unstable_by_area(lower: np.ndarray, upper: np.ndarray,
                     area_cutoff: float | None = None) -> np.ndarray:
    """Indices of unstable neurons (``l < 0 < u``) sorted by area ``-l * u``, descending.

    Ties keep index order (stable sort). With ``area_cutoff``, neurons whose area is below
    it are dropped.
    """
    lower = np.asarray(lower, dtype=np.float64).reshape(-1)
    upper = np.asarray(upper, dtype=np.float64).reshape(-1)
    if lower.shape != upper.shape:
        raise ValueError(f"lower and upper differ in shape: {lower.shape} vs {upper.shape}")
    unstable = np.flatnonzero((lower < 0) & (upper > 0))
    area = -lower[unstable] * upper[unstable]
    order = np.argsort(-area, kind="stable")
    unstable, area = unstable[order], area[order]
    if area_cutoff is not None:
        unstable = unstable[area >= area_cutoff]
    return unstable


def _sparse_cover(n: int, k: int, s: int) -> list[tuple[int, ...]]:
    """Greedy k-subsets of ``range(n)`` in lexicographic order, pairwise overlap <= s.

    Two k-sets share more than ``s`` elements iff they share an ``(s + 1)``-subset, so the
    ``(s + 1)``-subsets of the chosen groups are kept in a set; a combination is taken iff
    none of its ``(s + 1)``-subsets is there. The lexicographic enumeration is a
    depth-first search that prunes a prefix as soon as it contains a used
    ``(s + 1)``-subset (the set only grows, so a pruned prefix stays infeasible; the
    prefix itself is re-checked after every chosen group).
    """
    if s >= k - 1:
        return list(itertools.combinations(range(n), k))
    used: set[tuple[int, ...]] = set()
    chosen: list[tuple[int, ...]] = []

    def blocked(prefix: list[int], new: int) -> bool:
        # (s + 1)-subsets containing `new` and s earlier elements of the prefix
        for part in itertools.combinations(prefix, s):
            if part + (new,) in used:
                return True
        return False

    def extend(prefix: list[int], start: int) -> None:
        if len(prefix) == k:
            group = tuple(prefix)
            chosen.append(group)
            used.update(itertools.combinations(group, s + 1))
            return
        for new in range(start, n - (k - len(prefix)) + 1):
            # a group chosen in an earlier branch may have used a subset of the prefix
            if any(part in used for part in itertools.combinations(prefix, s + 1)):
                return
            if len(prefix) >= s and blocked(prefix, new):
                continue
            prefix.append(new)
            extend(prefix, new + 1)
            prefix.pop()

    extend([], 0)
    return chosen


def select_groups(lower: np.ndarray, upper: np.ndarray, k: int = 3, ns: int = 100,
                  s: int = 1, area_cutoff: float | None = None) -> list[tuple[int, ...]]:
    """Groups of unstable neurons for the k-ReLU relaxation of one layer.

    Args:
        lower, upper: pre-activation bounds of the layer, shape ``(n,)``.
        k: group size. ``k = 1`` gives every unstable neuron alone (ranked by area).
        ns: chunk size: candidates are split into chunks of ``ns`` consecutive neurons in
            area order, and groups never cross a chunk (keeps the number of groups and
            of hulls ~ linear in the layer width). Must be ``>= k``.
        s: maximal number of neurons two groups of the same chunk may share, ``0 <= s``;
            ``s >= k - 1`` means every k-subset of the chunk (ERAN's "no sparsity").
        area_cutoff: drop candidates whose area ``-l * u`` is below this (ERAN uses 0.05
            in its sparse heuristic); None keeps all.

    Returns:
        List of groups, each a sorted tuple of neuron indices into the layer; chunks in
        area order, inside a chunk in the greedy lexicographic order (of positions in the
        chunk). A chunk with at most ``k`` candidates (the last one) becomes a single,
        possibly smaller group, as in ERAN.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if ns < k:
        raise ValueError(f"chunk size ns={ns} must be >= k={k}")
    if s < 0:
        raise ValueError(f"overlap s must be >= 0, got {s}")
    candidates = unstable_by_area(lower, upper, area_cutoff)
    if k == 1:
        return [(int(i),) for i in candidates]
    groups: list[tuple[int, ...]] = []
    for start in range(0, len(candidates), ns):
        chunk = candidates[start:start + ns]
        if len(chunk) <= k:
            groups.append(tuple(sorted(int(i) for i in chunk)))
            continue
        for positions in _sparse_cover(len(chunk), k, s):
            groups.append(tuple(sorted(int(chunk[p]) for p in positions)))
    return groups
