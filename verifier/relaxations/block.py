"""`ConstraintBlock`: the rows one relaxation adds for one ReLU layer.

Rows are over *local slots*: the layer's pre-activations ``x`` (n), its outputs ``y`` (n) and
``k`` new columns ``w`` that the block introduces (binaries of big-M, for instance)::

    row_lower <= Ax @ x + Ay @ y + Aw @ w <= row_upper

plus optional tightened column bounds for ``y``. The encoder maps the slots to model
columns. One block per layer, never one object per neuron. Each row knows its kind (the
prefix of its name, e.g. ``tri_up``) and the neuron it belongs to, so that nobody has to
parse row names to find, say, the triangle's upper rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class ConstraintBlock:
    """Rows of one relaxation for one layer (see module docstring).

    Attributes:
        tag: which relaxation made it (``"triangle"``, ``"deeppoly"``, ``"bigm"``,
            ``"krelu"``, ``"krelu_cut"``).
        node: the ReLU node's name.
        n: neurons in the layer.
        Ax, Ay: (r, n) CSR; Aw: (r, k) CSR.
        row_lower, row_upper: (r,).
        row_names: r names such as ``tri_up(relu0,17)`` (valid in .lp and .mps files).
        row_kinds: ``(kind, start, stop)`` segments: rows ``start:stop`` are of ``kind``
            (the name prefix); together they cover every row once.
        row_neuron: (r,) the neuron a row belongs to, -1 for rows over several neurons.
        y_lower, y_upper: (n,) column bounds for y (None: the encoder's default).
        w_lower, w_upper, w_integrality, w_names: the k new columns.
        w_neuron: (k,) the neuron each new column belongs to.
    """

    tag: str
    node: str
    n: int
    Ax: sp.csr_matrix
    Ay: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_names: list[str]
    row_kinds: tuple[tuple[str, int, int], ...] = ()
    row_neuron: np.ndarray | None = None
    Aw: sp.csr_matrix | None = None
    y_lower: np.ndarray | None = None
    y_upper: np.ndarray | None = None
    w_lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    w_upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    w_integrality: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    w_names: list[str] = field(default_factory=list)
    w_neuron: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_rows(self) -> int:
        return int(self.Ax.shape[0])

    @property
    def n_new(self) -> int:
        return int(self.w_lower.size)

    def rows_of_kind(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(local rows, their neurons) of the rows of one kind, e.g. ``"tri_up"``."""
        rows = [np.arange(start, stop) for k, start, stop in self.row_kinds if k == kind]
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        neurons = (self.row_neuron[rows] if self.row_neuron is not None
                   else np.full(rows.size, -1, dtype=np.int64))
        return rows, neurons


def rows_from_triplets(n_rows: int, n_cols: int, rows: np.ndarray, cols: np.ndarray,
                       vals: np.ndarray) -> sp.csr_matrix:
    """CSR matrix from COO triplets (duplicates summed)."""
    return sp.csr_matrix((np.asarray(vals, dtype=np.float64),
                          (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
                         shape=(n_rows, n_cols))


def neuron_names(prefix: str, node: str, idx: np.ndarray) -> list[str]:
    """``prefix(node,i)`` for each i."""
    return [f"{prefix}({node},{int(i)})" for i in idx]


def group_label(group) -> str:
    """``(3,8,41)``: how a group of neurons appears in row names."""
    return "(" + ",".join(str(int(i)) for i in group) + ")"
