"""`LinearModel`: an LP/MILP as arrays, shaped like ``scipy.optimize.milp``'s arguments.

    minimize    c @ x + offset
    subject to  row_lower <= A @ x <= row_upper
                col_lower <=  x    <= col_upper
                x[j] integer where integrality[j]

Infinite bounds are ``±np.inf``. Names are optional but every encoder in this project
fills them so that exported files are readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class LinearModel:
    """An LP or MILP in array form (see module docstring).

    Attributes:
        c: (n,) objective coefficients.
        A: (m, n) CSR constraint matrix.
        row_lower, row_upper: (m,) row bounds.
        col_lower, col_upper: (n,) column bounds.
        integrality: (n,) bool, True for integer columns.
        col_names, row_names: optional lists of n / m names.
        offset: constant added to the objective.
    """

    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray | None = None
    col_names: list[str] | None = None
    row_names: list[str] | None = None
    offset: float = 0.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = int(np.asarray(self.c).size)
        A = (self.A if isinstance(self.A, sp.csr_matrix) and self.A.dtype == np.float64
             else sp.csr_matrix(self.A, dtype=np.float64))   # replace() passes it as is
        if A.shape[1] != n:
            raise ValueError(f"A has {A.shape[1]} columns, c has {n} entries")
        m = A.shape[0]
        arrays = {"c": (self.c, n), "row_lower": (self.row_lower, m),
                  "row_upper": (self.row_upper, m), "col_lower": (self.col_lower, n),
                  "col_upper": (self.col_upper, n)}
        for key, (value, size) in arrays.items():
            arr = np.asarray(value, dtype=np.float64).reshape(-1)
            if arr.size != size:
                raise ValueError(f"{key} has {arr.size} entries, expected {size}")
            object.__setattr__(self, key, arr)
        integrality = (np.zeros(n, dtype=bool) if self.integrality is None
                       else np.asarray(self.integrality, dtype=bool).reshape(-1))
        if integrality.size != n:
            raise ValueError(f"integrality has {integrality.size} entries, expected {n}")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "integrality", integrality)
        if self.col_names is not None and len(self.col_names) != n:
            raise ValueError("col_names has the wrong length")
        if self.row_names is not None and len(self.row_names) != m:
            raise ValueError("row_names has the wrong length")

    @property
    def n_cols(self) -> int:
        return int(self.c.size)

    @property
    def n_rows(self) -> int:
        return int(self.A.shape[0])

    @property
    def is_mip(self) -> bool:
        return bool(self.integrality.any())

    def with_objective(self, c: np.ndarray, offset: float = 0.0) -> "LinearModel":
        """A copy with another objective (arrays are shared, not copied)."""
        return replace(self, c=np.asarray(c, dtype=np.float64), offset=float(offset))

    def relaxed(self) -> "LinearModel":
        """The LP relaxation (integrality dropped)."""
        return replace(self, integrality=np.zeros(self.n_cols, dtype=bool))

    def summary(self) -> dict:
        """Counts for reports: rows, columns, integers, nonzeros."""
        return {"rows": self.n_rows, "cols": self.n_cols,
                "integers": int(self.integrality.sum()), "nonzeros": int(self.A.nnz)}
