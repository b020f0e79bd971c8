"""Stack constraint blocks into one `LinearModel`, with readable names.

Columns: one per neuron of every node, named ``node[i]`` (``input[3]``, ``affine1[17]``,
``relu1[17]``), with the node's sound bounds as column bounds; new block columns (binaries)
after them. Rows: ``def[node,i]`` for each affine neuron
(``z_i - W[i,:] @ x = b_i``) and each Add neuron, then the relaxation blocks' rows.
The model has a zero objective; :func:`with_disjunct` adds a property's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
import numpy as np
import scipy.sparse as sp

from solvers import LinearModel
from verifier.bounds import Bounds
from verifier.network import Add, Affine, Input, Network, Relu
from verifier.relaxations import ConstraintBlock


@dataclass(frozen=True, eq=False)
class EncodedNetwork:
    """A network relaxation as one model plus the node -> columns map.

    Attributes:
        model: the LinearModel (objective 0).
        columns: node name -> (size,) column indices.
        blocks: the relaxation blocks used, by ReLU node.
    """

    model: LinearModel
    columns: dict[str, np.ndarray]
    blocks: dict[str, list[ConstraintBlock]]

    def output_columns(self, net: Network) -> np.ndarray:
        return self.columns[net.output_name]


class _Rows:
    """Accumulates COO triplets and row bounds; assembled in one call."""

    def __init__(self):
        self.r, self.c, self.v, self.lo, self.hi, self.names = [], [], [], [], [], []
        self.count = 0

    def add_csr(self, blocks: list[tuple[sp.csr_matrix, np.ndarray]], lo, hi, names):
        m = len(names)
        for M, cols in blocks:
            coo = sp.coo_matrix(M)
            self.r.append(coo.row + self.count)
            self.c.append(cols[coo.col])
            self.v.append(coo.data)
        self.lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), m))
        self.hi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), m))
        self.names += names
        self.count += m

    def matrix(self, n_cols: int) -> sp.csr_matrix:
        cat = (lambda p, dt: np.concatenate(p).astype(dt) if p else np.zeros(0, dtype=dt))
        return sp.csr_matrix((cat(self.v, np.float64), (cat(self.r, np.int64),
                                                         cat(self.c, np.int64))),
                             shape=(self.count, n_cols))


def encode_network(net: Network, node_bounds: dict[str, Bounds],
                   blocks: dict[str, list[ConstraintBlock]],
                   upto: str | None = None) -> EncodedNetwork:
    """Build the model of a network relaxation.

    Args:
        net: the network.
        node_bounds: sound bounds of every node's value (column bounds).
        blocks: for each ReLU node, the constraint blocks of its relaxation (at least one;
            blocks of one node may be combined, e.g. triangle + k-ReLU rows).
        upto: encode only this node and its ancestors (for bound tightening).
    """
    keep = set(net.order) if upto is None else nx.ancestors(net.graph, upto) | {upto}
    order = [name for name in net.order if name in keep]
    columns: dict[str, np.ndarray] = {}
    col_lo, col_hi, col_int, col_names = [], [], [], []
    n = 0
    for name in order:
        size = net.size(name)
        columns[name] = np.arange(n, n + size)
        b = node_bounds[name]
        lo, hi = b.lower.copy(), b.upper.copy()
        if isinstance(net.op(name), Relu):
            for block in blocks.get(name, []):
                if block.y_lower is not None:
                    lo = np.maximum(lo, block.y_lower)
                if block.y_upper is not None:
                    hi = np.minimum(hi, block.y_upper)
        col_lo.append(lo), col_hi.append(hi), col_int.append(np.zeros(size, dtype=bool))
        col_names += [f"{name}[{i}]" for i in range(size)]
        n += size
    rows = _Rows()
    new_cols: dict[int, np.ndarray] = {}
    for name in order:
        op = net.op(name)
        cols = columns[name]
        parents = net.inputs_of(name)
        idx = np.arange(net.size(name))
        if isinstance(op, Affine):
            W = sp.csr_matrix(op.W)
            rows.add_csr([(sp.identity(op.size, format="csr"), cols),
                          (-W, columns[parents[0]])], op.b, op.b,
                         [f"def[{name},{i}]" for i in idx])
        elif isinstance(op, Add):
            eye = sp.identity(op.size, format="csr")
            rows.add_csr([(eye, cols), (-eye, columns[parents[0]]), (-eye, columns[parents[1]])],
                         0.0, 0.0, [f"def[{name},{i}]" for i in idx])
        elif isinstance(op, Relu):
            for block in blocks.get(name, []):
                parts = [(block.Ax, columns[parents[0]]), (block.Ay, cols)]
                if block.n_new:
                    w_cols = np.arange(n, n + block.n_new)
                    n += block.n_new
                    new_cols[id(block)] = w_cols
                    col_lo.append(block.w_lower), col_hi.append(block.w_upper)
                    col_int.append(block.w_integrality)
                    col_names += block.w_names
                    parts.append((block.Aw, w_cols))
                rows.add_csr(parts, block.row_lower, block.row_upper, block.row_names)
        elif not isinstance(op, Input):  # pragma: no cover
            raise TypeError(type(op).__name__)
    model = LinearModel(c=np.zeros(n), A=rows.matrix(n),
                        row_lower=np.concatenate(rows.lo) if rows.lo else np.zeros(0),
                        row_upper=np.concatenate(rows.hi) if rows.hi else np.zeros(0),
                        col_lower=np.concatenate(col_lo), col_upper=np.concatenate(col_hi),
                        integrality=np.concatenate(col_int), col_names=col_names,
                        row_names=rows.names)
    return EncodedNetwork(model, columns, blocks)


def with_disjunct(encoded: EncodedNetwork, out_cols: np.ndarray, A: np.ndarray, b: np.ndarray,
                  t_bounds: tuple[float, float], label: str = "spec") -> LinearModel:
    """The model ``min t`` s.t. ``A y - t <= b`` (y the output columns), ``t`` in t_bounds.

    ``min t`` is the largest violation margin ``max_i (A_i y - b_i)`` of the unsafe
    polytope: if a certified lower bound on it is > 0, no point of the relaxation (hence no
    input) reaches the unsafe set. ``t_bounds`` must contain ``max_i (A_i f(x) - b_i)`` for
    every input x (e.g. from DeepPoly bounds).
    """
    m0 = encoded.model
    k = A.shape[0]
    n = m0.n_cols
    t_col = n
    dense = np.zeros((k, n + 1))
    dense[:, out_cols] = A
    dense[:, t_col] = -1.0
    extra = sp.csr_matrix(dense)
    A_full = sp.vstack([sp.hstack([m0.A, sp.csr_matrix((m0.n_rows, 1))]), extra]).tocsr()
    c = np.zeros(n + 1)
    c[t_col] = 1.0
    return replace(m0, c=c, A=A_full,
                   row_lower=np.concatenate([m0.row_lower, np.full(k, -np.inf)]),
                   row_upper=np.concatenate([m0.row_upper, np.asarray(b, dtype=np.float64)]),
                   col_lower=np.concatenate([m0.col_lower, [t_bounds[0]]]),
                   col_upper=np.concatenate([m0.col_upper, [t_bounds[1]]]),
                   integrality=np.concatenate([m0.integrality, [False]]),
                   col_names=list(m0.col_names) + [f"{label}_margin"],
                   row_names=list(m0.row_names) + [f"{label}[{i}]" for i in range(k)])
