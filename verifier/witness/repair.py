"""Moving a candidate input onto the exact input region of a case.

A candidate from an LP or MILP meets a case's input rows ``C x <= d`` only up to the
solver's tolerance (``1e-9``), and a vertex it lands on is violated by rounding about as
often as not; the exact replay would then reject a real counterexample. The repair pulls
the candidate toward a point deep inside the region (the Chebyshev centre of box and
rows, by LP) by the smallest of a few step lengths that makes every row hold exactly in
floating point. The repaired point is then replayed like any other: the repair can only
lose a witness, never create a false one.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from solvers import LinearModel, Status
from verifier.spec import Case

__all__ = ["onto_input_rows", "chebyshev_centre"]

#: fractions of the way to the centre that are tried, smallest first
STEPS = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 0.1, 0.5)


def chebyshev_centre(case: Case) -> np.ndarray | None:
    """The centre of the largest ball inside the box and the input rows, or None when the
    region has no interior (equalities, or empty)."""
    from solvers import HighsBackend

    C, d = case.input_rows.A, case.input_rows.b
    n = C.shape[1]
    norms = np.linalg.norm(C, axis=1)
    # rows C x + |C_i| r <= d; box faces x_j +- r within [lo, hi]; maximise r
    eye = sp.identity(n, format="csr")
    ones = np.ones((n, 1))
    A = sp.vstack([sp.hstack([sp.csr_matrix(C), norms[:, None]]),
                   sp.hstack([eye, ones]), sp.hstack([-eye, ones])], format="csr")
    upper = np.concatenate([d, case.upper, -case.lower])
    c = np.zeros(n + 1)
    c[-1] = -1.0
    model = LinearModel(c, A, np.full(A.shape[0], -np.inf), upper,
                        np.concatenate([case.lower, [0.0]]),
                        np.concatenate([case.upper, [np.inf]]))
    backend = HighsBackend()
    backend.load(model)
    result = backend.solve()
    if result.status != Status.OPTIMAL or result.x is None or result.x[-1] <= 0:
        return None
    return np.clip(result.x[:n], case.lower, case.upper)


def onto_input_rows(case: Case, x: np.ndarray, centre: np.ndarray | None = None
                    ) -> np.ndarray | None:
    """``x`` (in the box) moved just enough toward the region's centre to meet the case's
    input rows exactly; ``x`` itself when it does or the case has no rows; None when no
    tried step works."""
    if case.input_rows is None or case.input_rows.contains(x):
        return x
    centre = chebyshev_centre(case) if centre is None else centre
    if centre is None:
        return None
    for step in STEPS[1:]:
        moved = np.clip(x + step * (centre - x), case.lower, case.upper)
        if case.input_rows.contains(moved):
            return moved
    return None
