"""Random octahedral instances and hull timing, for tests and benchmarks of the k-ReLU hull.

Nothing on the verification path imports this module; the hulls themselves are in
:mod:`verifier.relaxations.krelu_hull`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from verifier.relaxations.krelu_hull import (
    exact_hull,
    fast_hull,
    lifted_vertices,
    octahedral_directions,
)

__all__ = [
    "random_octahedral_bounds",
    "time_hull_methods",
]


def random_octahedral_bounds(k: int, rng: np.random.Generator, n_points: int = 12,
                             require_unstable: bool = True) -> np.ndarray:
    """Octahedral bounds ``d`` (shape ``(3^k - 1,)``) of a random nonempty P.

    ``d`` is the support function ``d_c = max_p c . p`` of ``n_points`` random points (a
    random box with ``l < 0 < u`` per coordinate, points drawn inside it with random
    correlations), so P = octahedral hull of those points is nonempty and tight. With
    ``require_unstable`` the draw is repeated until every coordinate of P straddles 0.
    For tests and benchmarks.
    """
    C = octahedral_directions(k)
    for _ in range(1000):
        lo = -rng.uniform(0.1, 2.0, size=k)
        hi = rng.uniform(0.1, 2.0, size=k)
        mix = np.eye(k) + rng.uniform(-0.8, 0.8, size=(k, k))
        pts = rng.uniform(0.0, 1.0, size=(n_points, k)) @ mix
        pts = pts - pts.min(axis=0)
        span = np.where(pts.max(axis=0) > 0, pts.max(axis=0), 1.0)
        pts = lo + pts / span * (hi - lo)
        d = np.max(pts @ C.T, axis=0)
        box_hi = d[[_unit_row(k, i, +1) for i in range(k)]]
        box_lo = -d[[_unit_row(k, i, -1) for i in range(k)]]
        if not require_unstable or (np.all(box_lo < 0) and np.all(box_hi > 0)):
            return d
    raise RuntimeError("could not draw an unstable octahedron")


def _unit_row(k: int, i: int, sign: int) -> int:
    """Index of ``sign * e_i`` in :func:`octahedral_directions` order."""
    digits = [1] * k                    # digit 0 -> -1, 1 -> 0, 2 -> +1
    digits[i] = 2 if sign > 0 else 0
    index = 0
    for digit in digits:
        index = 3 * index + digit
    zero = (3 ** k - 1) // 2            # index of the (removed) zero vector
    return index if index < zero else index - 1


def time_hull_methods(k: int, n_groups: int = 50, seed: int = 0,
                      methods: dict[str, Callable] | None = None) -> dict[str, float]:
    """Mean wall time per group (seconds) of each hull method on random octahedra.

    Default methods: ``exact`` (:func:`exact_hull`), ``fast(qhull)`` (:func:`fast_hull`),
    and ``vertices`` (:func:`lifted_vertices` alone). Deterministic inputs from ``seed``.
    """
    rng = np.random.default_rng(seed)
    C = octahedral_directions(k)
    ds = [random_octahedral_bounds(k, rng) for _ in range(n_groups)]
    if methods is None:
        methods = {"exact": exact_hull, "fast(qhull)": fast_hull,
                   "vertices": lifted_vertices}
    times = {}
    for name, fn in methods.items():
        fn(C, ds[0])                    # warm caches
        start = time.perf_counter()
        for d in ds:
            fn(C, d)
        times[name] = (time.perf_counter() - start) / n_groups
    return times
