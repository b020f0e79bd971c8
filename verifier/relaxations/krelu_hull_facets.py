"""Candidate facets of the convex hull of a finite point set, in floating point.

:func:`hull_rows` turns points ``V`` (shape ``(n, dim)``) into rows ``H z <= h`` describing
``conv(V)``: the points are reduced to their affine hull, the facets inside it are computed
by qhull (``scipy.spatial.ConvexHull``) or cdd (``pycddlib``, float or exact rationals), and
the affine hull contributes its equalities as two opposite rows each.

The rows are *candidates*: floating-point geometry may shift a facet slightly, so they carry
no soundness guarantee on their own. :mod:`verifier.relaxations.krelu_hull` makes them sound
by raising every right-hand side over all points (:func:`~verifier.relaxations.krelu_hull_rows.
relax_to_contain`). What this module does guarantee is *completeness* of an accepted float
result: qhull or cdd output is accepted only if every point is a vertex of the H-polytope
(:func:`_rows_complete`), because float cdd can stop with "numerical inconsistency" or
silently return an incomplete facet list.

Pure numpy/scipy/cdd; no LP solver is imported.
"""

from __future__ import annotations

import numpy as np

from verifier.relaxations.krelu_hull_rows import normalise_rows

__all__ = ["hull_rows"]


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
    valid but *incomplete* facet list (unbounded at times); the rank test catches those
    cases.
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
            # no exact arithmetic: float cdd can silently miss facets, so leave this
            # route to the caller's next method (qhull, whose raw facets are complete)
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
    appears as many simplices; duplicates are merged here and again by the caller.
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


def hull_rows(V: np.ndarray, order: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw rows ``H z <= h`` describing conv(V) (V nonempty), or None if every method fails.

    The points are centred and scaled, their affine hull found by SVD (singular values
    below 1e-10 of the largest count as zero), the hull computed inside that affine hull
    by the methods in ``order`` (``"qhull"``, ``"cdd"``, ``"cdd-exact"``), and mapped back;
    the affine hull contributes equalities ``N (z - c) = 0`` as two rows each. Shapes:
    ``V`` is ``(n, dim)``, ``H`` is ``(m, dim)``, ``h`` is ``(m,)``. Rows are not
    normalised, deduplicated or relaxed to contain ``V``.
    """
    dim = V.shape[1]
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
