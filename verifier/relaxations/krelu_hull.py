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
(there is no ``cdd.gmp``). Float cdd was measured to stop with "numerical inconsistency"
or to return incomplete facet lists (~1 in 150 random k = 3 groups), so the hulls are
computed with qhull inside the affine hull of the lifted vertices, float cdd as fallback,
and every float result must pass a completeness test (:func:`_rows_complete`). When
``cdd.gmp`` is importable (full pycddlib), :func:`exact_hull` uses exact rationals first
(that path is untested here).

The functions here are pure numpy/scipy/cdd; no LP solver is imported.
"""

from __future__ import annotations

import functools
import itertools
import time
from typing import Callable

import numpy as np

__all__ = [
    "octahedral_directions",
    "lifted_vertices",
    "exact_hull",
    "fast_hull",
    "FAST_HULL_METHODS",
    "triangle_product_rows",
    "input_vertices",
    "relax_to_contain",
    "check_sound",
    "normalise_rows",
    "triangle_rows",
    "random_octahedral_bounds",
    "time_hull_methods",
]

# Outward margin added to every right-hand side after the vertex check (relative).
SOUNDNESS_MARGIN = 1e-9
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
# row utilities
# --------------------------------------------------------------------------------------

def normalise_rows(H: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each row ``[a | b], c`` so that ``max |[a | b]| = 1``; zero rows are kept."""
    H = np.asarray(H, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    norm = np.max(np.abs(H), axis=1) if H.size else np.zeros(len(h))
    norm = np.where(norm > 0, norm, 1.0)
    return H / norm[:, None], h / norm


def relax_to_contain(H: np.ndarray, h: np.ndarray, V: np.ndarray,
                     margin: float = SOUNDNESS_MARGIN) -> np.ndarray:
    """Right-hand sides raised so that every row holds at every point of ``V``.

    Returns ``h' = max(h, max_v H v) + margin * (1 + |.|)`` row-wise; ``V`` is ``(n, 2k)``.
    With empty ``V`` the rows are returned unchanged (plus margin).
    """
    h = np.asarray(h, dtype=np.float64)
    if len(V):
        h = np.maximum(h, np.max(H @ V.T, axis=1))
    return h + margin * (1.0 + np.abs(h))


def check_sound(H: np.ndarray, h: np.ndarray, V: np.ndarray, tol: float = 0.0) -> bool:
    """True iff every point ``v`` of ``V`` satisfies ``H v <= h + tol * (1 + |h|)``."""
    V = np.asarray(V, dtype=np.float64)
    if len(V) == 0:
        return True
    viol = H @ V.T - (h + tol * (1.0 + np.abs(h)))[:, None]
    return bool(np.all(viol <= 0.0))


def _infeasible(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((1, 2 * k)), np.array([-1.0])


def _finish(H: np.ndarray, h: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise, drop zero and duplicate rows, then make every row contain ``V``."""
    H, h = normalise_rows(H, h)
    nonzero = np.max(np.abs(H), axis=1) > 1e-12 if len(H) else np.zeros(0, bool)
    H, h = H[nonzero], h[nonzero]
    if len(H):
        key = np.round(np.hstack([H, h[:, None]]), 9)
        _, first = np.unique(key, axis=0, return_index=True)
        first.sort()
        H, h = H[first], h[first]
    h = relax_to_contain(H, h, V)
    return H + 0.0, h          # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------------------
# hulls
# --------------------------------------------------------------------------------------

def _cdd_rows(module, V: np.ndarray, row_order, rational: bool):
    """One cdd V-rep -> H-rep conversion; returns ``(H, h)`` with equalities split."""
    lifted = np.hstack([np.ones((len(V), 1)), V])
    if rational:
        from fractions import Fraction
        array = [[Fraction(float(x)) for x in row] for row in lifted]
    else:
        array = lifted.tolist()
    import cdd

    gen = module.matrix_from_array(array, rep_type=cdd.RepType.GENERATOR)
    if row_order is None:
        poly = module.polyhedron_from_matrix(gen)
    else:
        poly = module.polyhedron_from_matrix(gen, row_order=row_order)
    ineq = module.copy_inequalities(poly)
    rows = np.array([[float(x) for x in row] for row in ineq.array],
                    dtype=np.float64).reshape(-1, V.shape[1] + 1)
    # cdd row [b, A] means b + A z >= 0, i.e. -A z <= b
    H, h = -rows[:, 1:], rows[:, 0]
    lin = sorted(ineq.lin_set)
    if lin:
        H = np.vstack([H, -H[lin]])
        h = np.concatenate([h, -h[lin]])
    trivial = (np.max(np.abs(H), axis=1) == 0) & (h >= 0)   # cdd's "1 >= 0" row
    return H[~trivial], h[~trivial]


def _rows_complete(G: np.ndarray, g: np.ndarray, P: np.ndarray) -> bool:
    """Plausibility of a floating-point H-rep ``G p <= g`` of conv(P), P full-dimensional.

    Checks: finite nonzero rows; every point inside (up to 1e-7); every row touching P;
    and at every point of P the touching rows have full rank (each point here is a vertex
    of conv(P), so it must be a vertex of the H-polytope). Float cdd sometimes returns a
    valid but *incomplete* facet list (measured: ~1 in 150 random k = 3 groups, unbounded
    at times); the rank test catches those cases.
    """
    if len(G) == 0 or not (np.all(np.isfinite(G)) and np.all(np.isfinite(g))):
        return False
    G, g = normalise_rows(G, g)
    if np.any(np.max(np.abs(G), axis=1) == 0):
        return False
    tol = 1e-7 * (1.0 + np.max(np.abs(P)))
    slack = g[:, None] - G @ P.T                               # (rows, points)
    if np.any(slack < -tol) or np.any(slack.min(axis=1) > tol):
        return False
    tight = slack <= tol
    dim = P.shape[1]
    for j in range(P.shape[0]):
        rows = G[tight[:, j]]
        if len(rows) < dim or np.linalg.matrix_rank(rows, tol=1e-9) < dim:
            return False
    return True


def _cdd_hull(P: np.ndarray, rational: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """H-rep of conv(P) by cdd (P full-dimensional, centred and scaled), or None.

    Floating-point cdd may stop with "numerical inconsistency" or silently miss facets, so
    a few row orders are tried and a result is accepted only if :func:`_rows_complete`.
    With ``rational`` and ``cdd.gmp`` importable, cdd first runs in exact rationals on the
    (exactly representable) float coordinates.
    """
    try:
        import cdd  # optional dependency ("hull" extra)
    except ImportError:
        return None

    attempts = []
    if rational:
        try:
            import cdd.gmp as cdd_gmp
        except ImportError:
            # no exact arithmetic: float cdd can silently miss facets (measured), so leave
            # this route to the caller's next method (qhull, whose raw facets are complete)
            return None
        attempts.append((cdd_gmp, None, True))
    attempts += [(cdd, order, False) for order in
                 (None, cdd.RowOrderType.RANDOM_ROW, cdd.RowOrderType.MIN_INDEX)]
    for module, order, exact in attempts:
        try:
            G, g = _cdd_rows(module, P, order, rational=exact)
        except RuntimeError:                 # cdd's "numerical inconsistency"
            continue
        if _rows_complete(G, g, P):
            return G, g
    return None


def _qhull_hull(P: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """H-rep of conv(P) by qhull (P full-dimensional, centred and scaled), or None.

    qhull triangulates the facets, so each facet of the (very degenerate) lifted hull
    appears as many simplices; duplicates are merged later by :func:`_finish`.
    """
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(P)
    except (QhullError, ValueError):
        return None
    G, g = hull.equations[:, :-1], -hull.equations[:, -1]   # G p + offset <= 0
    G, g = normalise_rows(G, g)
    key = np.round(np.hstack([G, g[:, None]]), 9)
    _, first = np.unique(key, axis=0, return_index=True)
    G, g = G[np.sort(first)], g[np.sort(first)]
    if not _rows_complete(G, g, P):
        return None
    return G, g


def _hull_rows(V: np.ndarray, order: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw rows ``H z <= h`` describing conv(V) (V nonempty), or None if every method fails.

    The points are centred and scaled, their affine hull found by SVD (singular values
    below 1e-10 of the largest count as zero), the hull computed inside that affine hull
    by the methods in ``order`` (``"qhull"``, ``"cdd"``, ``"cdd-exact"``), and mapped back;
    the affine hull contributes equalities ``N (z - c) = 0`` as two rows each.
    """
    n, dim = V.shape
    center = V.mean(axis=0)
    W = V - center
    spread = float(np.max(np.abs(W)))
    if spread == 0.0:
        rank, basis, normal = 0, np.zeros((0, dim)), np.eye(dim)
    else:
        W = W / spread
        _, sv, vt = np.linalg.svd(W, full_matrices=True)
        rank = int(np.sum(sv > 1e-10 * sv[0]))
        basis, normal = vt[:rank], vt[rank:]
    rows: list[tuple[np.ndarray, np.ndarray]] = []
    if rank == 1:
        p = W @ basis[0]
        rows.append((np.array([[1.0], [-1.0]]), np.array([p.max(), -p.min()])))
    elif rank >= 2:
        P = W @ basis.T
        found = None
        for method in order:
            if method == "qhull":
                found = _qhull_hull(P)
            else:
                found = _cdd_hull(P, rational=method == "cdd-exact")
            if found is not None:
                break
        if found is None:
            return None
        rows.append(found)
    H_parts, h_parts = [], []
    for G, g in rows:                       # G (z - c) B^T / s <= g
        A = G @ basis
        H_parts.append(A)
        h_parts.append(g * spread + A @ center)
    if len(normal):
        H_parts += [normal, -normal]
        h_parts += [normal @ center, -(normal @ center)]
    return np.vstack(H_parts), np.concatenate(h_parts)


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
    raw = _hull_rows(V, order)
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

    * ``"qhull"`` (the only method): ``scipy.spatial.ConvexHull``; ~9 ms per k = 3 group
      because qhull triangulates the degenerate facets (~2,500 simplices for ~300 facets).
      If qhull fails, float cdd plus :func:`triangle_product_rows` (float cdd alone can miss
      facets silently, so it is no longer offered as a method of its own); if that fails
      too, the triangle-product rows alone. Every row is checked against all lifted
    vertices and its right-hand side relaxed if needed, plus the outward margin.
    """
    C, d = _check_inputs(C, d)
    k = C.shape[1]
    if method not in FAST_HULL_METHODS:
        raise ValueError(f"unknown hull method {method!r}; use one of {FAST_HULL_METHODS}")
    V = lifted_vertices(C, d)
    if len(V) == 0:
        return _infeasible(k)
    raw = _hull_rows(V, ("qhull",))
    if raw is None:
        # qhull failed: float cdd, which can drop facets without noticing (measured: ~1
        # in 150 k = 3 groups); the triangle-product rows keep the result never looser
        # than the triangles
        T, t = triangle_product_rows(C, d)
        cdd_rows = _hull_rows(V, ("cdd",))
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
    m, k = C.shape
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


# --------------------------------------------------------------------------------------
# single neuron
# --------------------------------------------------------------------------------------

def triangle_rows(l: float, u: float) -> tuple[np.ndarray, np.ndarray]:
    """The single-neuron relaxation as rows ``[a | b] . [x; y] <= c``, shapes (m, 2), (m,).

    For ``l < 0 < u`` (unstable): the triangle ``y >= 0``, ``y >= x``,
    ``y <= u (x - l) / (u - l)``, i.e. rows ``-y <= 0``, ``x - y <= 0``,
    ``-u x + (u - l) y <= -u l`` (normalised to max-abs 1). It is the exact hull of
    ``{(x, relu(x)) : l <= x <= u}`` and implies ``l <= x <= u``.
    For ``l >= 0`` (active): ``y = x`` plus ``l <= x <= u``. For ``u <= 0`` (inactive):
    ``y = 0`` plus ``l <= x <= u``. ``l > u`` raises ValueError.
    """
    l, u = float(l), float(u)
    if not l <= u:
        raise ValueError(f"empty interval [{l}, {u}]")
    if l < 0 < u:
        H = np.array([[0.0, -1.0], [1.0, -1.0], [-u, u - l]])
        h = np.array([0.0, 0.0, -u * l])
    elif l >= 0:
        H = np.array([[1.0, -1.0], [-1.0, 1.0], [-1.0, 0.0], [1.0, 0.0]])
        h = np.array([0.0, 0.0, -l, u])
    else:
        H = np.array([[0.0, 1.0], [0.0, -1.0], [-1.0, 0.0], [1.0, 0.0]])
        h = np.array([0.0, 0.0, -l, u])
    return normalise_rows(H, h)


# --------------------------------------------------------------------------------------
# random instances and timing
# --------------------------------------------------------------------------------------

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

    Default methods: ``exact`` (:func:`exact_hull`), ``fast(cdd)`` and ``fast(qhull)``
    (:func:`fast_hull`), and ``vertices`` (:func:`lifted_vertices` alone). Deterministic inputs from ``seed``.
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
