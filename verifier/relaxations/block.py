"""`ConstraintBlock`: the rows one relaxation adds for one ReLU layer.

Rows are over *local slots*: the layer's pre-activations ``x`` (n), its outputs ``y`` (n) and
``k`` new columns ``w`` that the block introduces (binaries of big-M, for instance)::

    row_lower <= Ax @ x + Ay @ y + Aw @ w <= row_upper

plus optional tightened column bounds for ``y``. The encoder maps the slots to model
columns. One block per layer, never one object per neuron.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class ConstraintBlock:
    """Rows of one relaxation for one layer (see module docstring).

    Attributes:
        tag: which relaxation made it (``"triangle"``, ``"deeppoly"``, ``"bigm"``, ``"krelu"``).
        node: the ReLU node's name.
        n: neurons in the layer.
        Ax, Ay: (r, n) CSR; Aw: (r, k) CSR.
        row_lower, row_upper: (r,).
        row_names: r names such as ``tri_up[relu0,17]``.
        y_lower, y_upper: (n,) column bounds for y (None: the encoder's default).
        w_lower, w_upper, w_integrality, w_names: the k new columns.
    """

    tag: str
    node: str
    n: int
    Ax: sp.csr_matrix
    Ay: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_names: list[str]
    Aw: sp.csr_matrix | None = None
    y_lower: np.ndarray | None = None
    y_upper: np.ndarray | None = None
    w_lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    w_upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    w_integrality: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    w_names: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return int(self.Ax.shape[0])

    @property
    def n_new(self) -> int:
        return int(self.w_lower.size)


def rows_from_triplets(n_rows: int, n_cols: int, rows: np.ndarray, cols: np.ndarray,
                       vals: np.ndarray) -> sp.csr_matrix:
    """CSR matrix from COO triplets (duplicates summed)."""
    return sp.csr_matrix((np.asarray(vals, dtype=np.float64),
                          (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
                         shape=(n_rows, n_cols))


def neuron_names(prefix: str, node: str, idx: np.ndarray) -> list[str]:
    """``prefix[node,i]`` for each i."""
    return [f"{prefix}[{node},{int(i)}]" for i in idx]
