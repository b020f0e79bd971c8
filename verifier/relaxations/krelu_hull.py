"""Convex hull of a group of k ReLUs over an octahedral input polytope (k-ReLU / PRIMA).

Setting (Singh et al., NeurIPS 2019, "Beyond the single neuron convex barrier";
Müller et al., POPL 2022, PRIMA): a group of ``k`` neurons with pre-activations
``x in R^k`` and post-activations ``y = relu(x)``. The pre-activations are known to lie in
an *octahedral* polytope::

    P = {x in R^k : C x <= d},   C = octahedral_directions(k)  (shape (3^k - 1, k))

and we want the convex hull ``H = conv{(x, relu(x)) : x in P}`` in ``R^{2k}``.

Every hull in this module is returned as a pair ``(H, h)``:

* ``H`` has shape ``(m, 2k)``; a row is ``[a | b]`` with ``a`` acting on ``x`` and ``b``
  on ``y``;
* ``h`` has shape ``(m,)``;
* the relaxation is ``a . x + b . y <= c`` for each row, i.e. ``H @ [x; y] <= h``;
* rows are normalised to ``max |row| = 1``; an equality of the hull's affine hull is
  emitted as two opposite inequalities;
* an empty ``P`` gives the single infeasible row ``0 <= -1``.

What is guaranteed (soundness). ``H`` is piecewise linear on the orthants, so ``H`` is the
convex hull of the *lifted vertices*: the vertices of every piece ``P ∩ orthant``, each
mapped to ``(v, relu(v))`` (:func:`lifted_vertices`). After the candidate rows are computed
(by cdd or qhull, in floating point), every row's right-hand side is raised to at least the
maximum of the row over all computed lifted vertices, plus an outward margin of
``1e-9 * (1 + |rhs|)`` (:func:`relax_to_contain`). So every emitted inequality holds at every
computed lifted vertex, hence on their convex hull; the computed vertices differ from the
true ones only by the rounding of a ``k x k`` solve (relative error ~1e-15 for the
well-conditioned {-1, 0, 1} systems used here), which the margin absorbs for inputs of
ordinary scale. Nothing is promised about *tightness* beyond "exact up to float rounding"
for :func:`exact_hull` (the margin loosens each facet by ~1e-9 relative).

Arithmetic: the installed ``pycddlib-standalone`` 3.0 ships only the floating-point cdd
(there is no ``cdd.gmp``). Float cdd can stop with "numerical inconsistency" or return an
incomplete facet list (rate in bench/README.md), so the hulls are computed with qhull inside
the affine hull of the lifted vertices, float cdd as fallback, and every float result must
pass a completeness test (:mod:`verifier.relaxations.krelu_hull_facets`). When ``cdd.gmp`` is
importable (full pycddlib), :func:`exact_hull` uses exact rationals first (that path is
untested here).

Split by job: this module enumerates the vertices and assembles the sound hulls;
:mod:`~verifier.relaxations.krelu_hull_facets` computes candidate facets of a point set;
:mod:`~verifier.relaxations.krelu_hull_rows` holds the row-form utilities and the triangle
(re-exported here); :mod:`~verifier.relaxations.krelu_hull_tools` holds random instances and
timing for tests and benchmarks.

The functions here are pure numpy/scipy/cdd; no LP solver is imported.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from verifier.relaxations.krelu_hull_facets import hull_rows
from verifier.relaxations.krelu_hull_rows import (
    SOUNDNESS_MARGIN,
    check_sound,
    normalise_rows,
    relax_to_contain,
    triangle_rows,
)

__all__ = [
    "FAST_HULL_METHODS",
    "check_sound",
    "exact_hull",
    "fast_hull",
    "input_vertices",
    "lifted_vertices",
    "normalise_rows",
    "octahedral_directions",
    "relax_to_contain",
    "triangle_product_rows",
    "triangle_rows",
]

# Feasibility tolerance (relative) when deciding whether a candidate vertex lies in P.
_FEASIBILITY_TOL = 1e-9
# Distance (relative to the scale of P) below which two vertices are merged.
_DEDUP_TOL = 1e-11


def octahedral_directions(k: int) -> np.ndarray:
    """All nonzero directions of ``{-1, 0, 1}^k``, shape ``(3^k - 1, k)``, float64.

    The order is fixed: ``itertools.product((-1, 0, 1), repeat=k)`` in lexicographic order
    with the zero vector removed. Row ``i`` and row ``3^k - 2 - i`` are opposite
    (``C[i] == -C[-1 - i]``). For ``k = 1`` this is ``[[-1], [1]]``, so ``d = [-l, u]``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = [r for r in itertools.product((-1, 0, 1), repeat=k) if any(r)]
    return np.array(rows, dtype=np.float64)


# --------------------------------------------------------------------------------------
# vertex enumeration
# --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _hyperplane_systems(c_bytes: bytes, shape: tuple[int, int]):
    """Geometry of the hyperplane arrangement of ``C`` plus the coordinate hyperplanes.

    Depends on ``C`` only (not on ``d``), hence cached (a pure function of its arguments,
    no observable state). Returns

    * ``groups``: list of ``(normal, [(row index of C, sign)], is_unit)`` with one entry per
      class of parallel hyperplanes; ``normal . x = sign * d[row]`` is a hyperplane of P
      (``sign = -1`` when the row is ``-normal``) and ``is_unit`` adds ``normal . x = 0``;
    * ``combos``: ``(T, k)`` int array of k-subsets of groups with independent normals;
    * ``inverses``: ``(T, k, k)`` inverses of the stacked normals.
    """
    C = np.frombuffer(c_bytes, dtype=np.float64).reshape(shape)
    m, k = shape
    groups: list[tuple[np.ndarray, list[tuple[int, float]], bool]] = []
    keys: dict[tuple, int] = {}
    for i in range(m):
        row = C[i]
        norm = np.max(np.abs(row))
        if norm == 0:
            continue
        unit = row / norm
        first = unit[np.flatnonzero(np.abs(unit) > 1e-12)[0]]
        sign = 1.0 if first > 0 else -1.0
        canon = unit * sign
        key = tuple(np.round(canon, 12))
        # normal . x = sign * (row . x) / norm <= ... : keep (index, factor) with
        # normal . x <= factor * d[i] when factor > 0 and >= when factor < 0.
        factor = sign / norm
        if key not in keys:
            keys[key] = len(groups)
            groups.append((canon, [], False))
        groups[keys[key]][1].append((i, factor))
    for j in range(k):
        e = np.zeros(k)
        e[j] = 1.0
        key = tuple(e)
        if key not in keys:
            keys[key] = len(groups)
            groups.append((e, [], True))
        else:
            g = groups[keys[key]]
            groups[keys[key]] = (g[0], g[1], True)
    normals = np.array([g[0] for g in groups])
    combos = np.array(list(itertools.combinations(range(len(groups)), k)), dtype=np.int64)
    mats = normals[combos]                                   # (T, k, k)
    dets = np.linalg.det(mats)
    ok = np.abs(dets) > 1e-9
    combos = combos[ok]
    inverses = np.linalg.inv(mats[ok])
    return groups, combos, inverses


def _dedup(points: np.ndarray, tol: float) -> np.ndarray:
    """Drop points within ``tol`` (max-norm) of an earlier kept point (lexicographic order).

    Exact repeats (the same vertex found from many active sets) are first collapsed on a
    grid of width ``tol``; the few survivors are then merged pairwise.
    """
    if len(points) <= 1:
        return points
    grid = np.round(points / tol)
    _, first = np.unique(grid, axis=0, return_index=True)
    pts = points[np.sort(first)]
    pts = pts[np.lexsort(pts.T[::-1])]
    close = np.max(np.abs(pts[:, None, :] - pts[None, :, :]), axis=2) <= tol
    keep = np.ones(len(pts), dtype=bool)
    for i in range(len(pts)):
        if keep[i]:
            later = close[i].copy()
            later[: i + 1] = False
            keep[later] = False
    return pts[keep]


def _check_inputs(C: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    C = np.asarray(C, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    if C.ndim != 2 or C.shape[0] != d.shape[0]:
        raise ValueError(f"C must be (m, k) and d (m,); got {C.shape} and {d.shape}")
    if np.any(np.isnan(C)) or np.any(np.isnan(d)) or not np.all(np.isfinite(C)):
        raise ValueError("C and d must not contain NaN (and C must be finite)")
    return C, d


def input_vertices(C: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Vertices of all pieces ``P ∩ orthant`` of ``P = {x : C x <= d}``, shape ``(V, k)``.

    A point is such a vertex iff it lies in P and the hyperplanes active at it — rows of
    ``C x <= d`` and coordinate hyperplanes ``x_i = 0`` — have rank ``k``. All k-subsets of
    pairwise non-parallel hyperplane classes are solved at once with precomputed inverses
    (for the octahedral k = 3 case: 13 classes, <= 286 systems, <= 27 right-hand sides
    each), then filtered for membership in P (relative tolerance 1e-9, which errs on the
    side of keeping points) and deduplicated. Rows of ``d`` equal to ``+inf`` are ignored.

    Raises ValueError if P is unbounded in a way the rows cannot close (a coordinate
    without finite upper and lower bound among the rows is not detected; pass finite box
    rows).
    """
    C, d = _check_inputs(C, d)
    m, k = C.shape
    groups, combos, inverses = _hyperplane_systems(C.tobytes(), (m, k))
    # right-hand-side options per group, padded with NaN
    options = []
    for normal, members, is_unit in groups:
        vals = [factor * d[i] for i, factor in members if np.isfinite(d[i])]
        if is_unit:
            vals.append(0.0)
        options.append(vals)
    width = max(1, max(len(o) for o in options))
    opt = np.full((len(groups), width), np.nan)
    for g, vals in enumerate(options):
        opt[g, : len(vals)] = vals
    scale = 1.0 + (np.max(np.abs(d[np.isfinite(d)])) if np.any(np.isfinite(d)) else 0.0)
    # all choices of one option per member of a combo: (width^k, k) index grid
    choice = np.array(list(itertools.product(range(width), repeat=k)), dtype=np.int64)
    finite = np.isfinite(d)
    Cf, df = C[finite], d[finite]
    feas_tol = _FEASIBILITY_TOL * (1.0 + np.abs(df))
    found = []
    chunk = max(1, 200_000 // max(1, len(choice)))
    for start in range(0, len(combos), chunk):
        cmb = combos[start:start + chunk]                      # (t, k)
        inv = inverses[start:start + chunk]                    # (t, k, k)
        rhs = opt[cmb[:, None, :], choice[None, :, :]]         # (t, W, k)
        pts = np.einsum("tij,twj->twi", inv, rhs).reshape(-1, k)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if len(pts) == 0:
            continue
        inside = np.all(pts @ Cf.T <= df + feas_tol, axis=1)
        found.append(pts[inside])
    if not found:
        return np.zeros((0, k))
    pts = np.concatenate(found)
    return _dedup(pts, _DEDUP_TOL * scale)


def lifted_vertices(C: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Lifted vertices ``(v, relu(v))`` of every piece ``P ∩ orthant``; shape ``(V, 2k)``.

    ``P = {x : C x <= d}`` with ``C`` of shape ``(m, k)`` (normally
    :func:`octahedral_directions`) and ``d`` of shape ``(m,)``. The convex hull of the
    returned points is ``conv{(x, relu(x)) : x in P}``. Empty P gives shape ``(0, 2k)``.
    See :func:`input_vertices` for the method and tolerances.
    """
    X = input_vertices(C, d)
    return np.hstack([X, np.maximum(X, 0.0)])


# --------------------------------------------------------------------------------------
# sound rows from candidate rows
# --------------------------------------------------------------------------------------

def _infeasible(k: int) -> tuple[np.ndarray, np.ndarray]:
    """The single row ``0 <= -1`` over ``R^{2k}``: the (empty) hull of an empty P."""
    return np.zeros((1, 2 * k)), np.array([-1.0])


def _finish(H: np.ndarray, h: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound rows from candidate rows: normalise, drop zero and duplicate rows, then make
    every row contain ``V``.

    ``H`` is ``(m, 2k)``, ``h`` is ``(m,)``, ``V`` the lifted vertices ``(n, 2k)``. Each
    right-hand side is raised to ``max_v H v`` and pushed out by ``SOUNDNESS_MARGIN``
    (:func:`relax_to_contain`), so every returned row holds on ``conv(V)`` whatever the
    rounding in the candidate rows.
    """
    H, h = normalise_rows(H, h)
    nonzero = np.max(np.abs(H), axis=1) > 1e-12 if len(H) else np.zeros(0, bool)
    H, h = H[nonzero], h[nonzero]
    if len(H):
        key = np.round(np.hstack([H, h[:, None]]), 9)
        _, first = np.unique(key, axis=0, return_index=True)
        first.sort()
        H, h = H[first], h[first]
    h = relax_to_contain(H, h, V, margin=SOUNDNESS_MARGIN)
    return H + 0.0, h          # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------------------
# hulls
# --------------------------------------------------------------------------------------

def exact_hull(C: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convex hull of ``{(x, relu(x)) : C x <= d}``: all its facets (and equalities).

    Args:
        C: ``(m, k)`` directions (normally :func:`octahedral_directions`).
        d: ``(m,)`` upper bounds, ``C x <= d``; ``+inf`` entries are ignored.

    Returns:
        ``(H, h)``, ``H`` of shape ``(n_rows, 2k)``, ``h`` of shape ``(n_rows,)``, meaning
        ``H @ [x; y] <= h``; rows normalised to max-abs 1; the facets of the hull, plus two
        opposite rows per equality of its affine hull when it is not full-dimensional.
        Empty P gives ``0 <= -1``. Every row holds at every computed lifted vertex with an
        outward margin (module docstring).

    Method: the lifted vertices (:func:`lifted_vertices`) are reduced to their affine hull
    and handed to cdd in exact rationals when ``cdd.gmp`` is importable (full pycddlib,
    ``k <= 3``), else to qhull, then float cdd; each float result must pass a completeness
    test (every vertex is a vertex of the H-polytope). If all fail, the sound but looser
    :func:`triangle_product_rows` is returned.
    """
    C, d = _check_inputs(C, d)
    k = C.shape[1]
    V = lifted_vertices(C, d)
    if len(V) == 0:
        return _infeasible(k)
    order = (("cdd-exact",) if k <= 3 else ()) + ("qhull", "cdd")
    raw = hull_rows(V, order)
    if raw is None:
        raw = triangle_product_rows(C, d)
    return _finish(raw[0], raw[1], V)


FAST_HULL_METHODS = ("qhull",)


def fast_hull(C: np.ndarray, d: np.ndarray, method: str = "qhull"
              ) -> tuple[np.ndarray, np.ndarray]:
    """Convex hull of ``{(x, relu(x)) : C x <= d}`` for real runs; contract of
    :func:`exact_hull` (shapes, row form ``H @ [x; y] <= h``, normalisation, soundness).

    Lifted vertices come from the vectorised numpy enumeration (:func:`lifted_vertices`),
    the facets from floating-point geometry inside their affine hull:

    * ``"qhull"`` (the only method): ``scipy.spatial.ConvexHull``, which triangulates the
      degenerate facets of the lifted hull (duplicates are merged afterwards).
      If qhull fails, float cdd plus :func:`triangle_product_rows` (float cdd alone can miss
      facets silently, so it is no longer offered as a method of its own); if that fails
      too, the triangle-product rows alone.

    Every row is checked against all lifted vertices and its right-hand side relaxed if
    needed, plus the outward margin; so the result is sound even when the facets are not
    exact.
    """
    C, d = _check_inputs(C, d)
    k = C.shape[1]
    if method not in FAST_HULL_METHODS:
        raise ValueError(f"unknown hull method {method!r}; use one of {FAST_HULL_METHODS}")
    V = lifted_vertices(C, d)
    if len(V) == 0:
        return _infeasible(k)
    raw = hull_rows(V, ("qhull",))
    if raw is None:
        # qhull failed: float cdd, which can drop facets without noticing; the
        # triangle-product rows keep the result never looser than the triangles
        T, t = triangle_product_rows(C, d)
        cdd_rows = hull_rows(V, ("cdd",))
        raw = (T, t) if cdd_rows is None else (np.vstack([cdd_rows[0], T]),
                                               np.concatenate([cdd_rows[1], t]))
    return _finish(raw[0], raw[1], V)


def triangle_product_rows(C: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The single-neuron relaxation of the group, intersected with P, as ``(H, h)``.

    Rows: ``C x <= d`` (finite rows only, ``y`` coefficients 0) and, per neuron ``i``,
    :func:`triangle_rows` with ``l_i, u_i`` the bounds of ``x_i`` over P read from the unit
    rows of ``C`` (so ``C`` must contain ``+e_i`` and ``-e_i`` with finite bounds). Shape
    ``(m + 3k, 2k)`` for unstable neurons. Contains the hull; used as a fallback and as the
    baseline the hull must beat.
    """
    C, d = _check_inputs(C, d)
    k = C.shape[1]
    finite = np.isfinite(d)
    blocks_H = [np.hstack([C[finite], np.zeros((int(finite.sum()), k))])]
    blocks_h = [d[finite]]
    for i in range(k):
        e = np.zeros(k)
        e[i] = 1.0
        up = np.flatnonzero(np.all(C == e, axis=1) & finite)
        down = np.flatnonzero(np.all(C == -e, axis=1) & finite)
        if len(up) == 0 or len(down) == 0:
            raise ValueError(f"C needs finite rows +e_{i} and -e_{i} for the triangle of x_{i}")
        l, u = -float(np.min(d[down])), float(np.min(d[up]))
        if l > u:
            return _infeasible(k)
        T, t = triangle_rows(l, u)
        rows = np.zeros((len(T), 2 * k))
        rows[:, i] = T[:, 0]
        rows[:, k + i] = T[:, 1]
        blocks_H.append(rows)
        blocks_h.append(t)
    return normalise_rows(np.vstack(blocks_H), np.concatenate(blocks_h))
