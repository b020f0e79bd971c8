"""Stack constraint blocks into one `LinearModel`, with readable names.

Columns: one per neuron of every node, named ``node(i)`` (``input(3)``, ``affine1(17)``,
``relu1(17)``), with the node's sound bounds as column bounds; new block columns (binaries)
after them. Rows: ``def(node,i)`` for each affine neuron
(``z_i - W[i,:] @ x = b_i``) and each Add neuron, then the relaxation blocks' rows.
The model has a zero objective; :func:`with_disjunct` adds a property's rows. Names use
parentheses, never brackets: HiGHS drops every name of an ``.lp`` file when one holds a
``[``, while ``(``, ``,`` and ``#`` survive both ``.lp`` and ``.mps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np
import scipy.sparse as sp

from solvers import LinearModel
from verifier.bounds import Bounds
from verifier.network import Add, Affine, Network, Relu
from verifier.relaxations import ConstraintBlock


@dataclass(frozen=True, eq=False)
class EncodedNetwork:
    """A network relaxation as one model plus the maps from the network to the model.

    Attributes:
        model: the LinearModel (objective 0).
        columns: node name -> (size,) column indices.
        blocks: the relaxation blocks used, by ReLU node.
        block_rows: ``(node, tag)`` -> first model row of that block's rows.
        block_columns: ``(node, tag)`` -> model columns of that block's new columns.
    """

    model: LinearModel
    columns: dict[str, np.ndarray]
    blocks: dict[str, list[ConstraintBlock]]
    block_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    block_columns: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def output_columns(self, net: Network) -> np.ndarray:
        return self.columns[net.output_name]

    def rows_of(self, node: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(model rows, neurons) of the rows of one kind (e.g. ``"tri_up"``) that the
        blocks of ReLU ``node`` added."""
        rows, neurons = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for block in self.blocks.get(node, []):
            first = self.block_rows.get((node, block.tag))
            if first is None:
                continue
            local, owners = block.rows_of_kind(kind)
            rows.append(first + local)
            neurons.append(owners)
        return np.concatenate(rows), np.concatenate(neurons)

    def new_columns(self, node: str, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """(model columns, neurons) of the new columns (e.g. big-M binaries) of a block."""
        for block in self.blocks.get(node, []):
            if block.tag == tag and (node, tag) in self.block_columns:
                return self.block_columns[(node, tag)], block.w_neuron
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def block_matrix(encoded: EncodedNetwork, block: ConstraintBlock, pre: str, n_cols: int
                 ) -> sp.csr_matrix:
    """The rows of a block without new columns (e.g. cuts) over the model's columns.

    Args:
        encoded: the encoding whose ``columns`` give the layer's ``x`` (node ``pre``) and
            ``y`` (node ``block.node``) columns.
        block: the rows, over the layer's local slots.
        pre: the pre-activation node of the block's ReLU.
        n_cols: columns of the model the rows are added to (may exceed the encoding's,
            e.g. with a margin column).
    """
    if block.n_new:
        raise ValueError(f"block {block.tag} of {block.node} adds columns; encode it instead")
    xcols, ycols = encoded.columns[pre], encoded.columns[block.node]
    parts = []
    for M, cols in ((block.Ax, xcols), (block.Ay, ycols)):
        coo = sp.coo_matrix(M)
        parts.append((coo.row, cols[coo.col], coo.data))
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    out = sp.csr_matrix((vals, (rows, cols)), shape=(block.n_rows, n_cols))
    out.sum_duplicates()
    return out


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


def _affine_rows(rows: "_Rows", name: str, op: Affine, cols, parent_cols) -> None:
    """``z_i - W[i,:] @ x = b_i``, named ``def(node,i)``."""
    rows.add_csr([(sp.identity(op.size, format="csr"), cols),
                  (-sp.csr_matrix(op.W), parent_cols[0])], op.b, op.b,
                 [f"def({name},{i})" for i in range(op.size)])


def _add_rows(rows: "_Rows", name: str, op: Add, cols, parent_cols) -> None:
    """``z_i - x1_i - x2_i = 0``, named ``def(node,i)``."""
    eye = sp.identity(op.size, format="csr")
    rows.add_csr([(eye, cols), (-eye, parent_cols[0]), (-eye, parent_cols[1])],
                 0.0, 0.0, [f"def({name},{i})" for i in range(op.size)])


# the defining equalities of each op kind (a ReLU is defined by its relaxation blocks)
DEFINITION_RULES = {Affine: _affine_rows, Add: _add_rows}


class _Columns:
    """Accumulates column bounds, integrality and names."""

    def __init__(self):
        self.lo, self.hi, self.integer, self.names = [], [], [], []
        self.count = 0

    def add(self, lower, upper, integer, names) -> np.ndarray:
        cols = np.arange(self.count, self.count + len(names))
        self.lo.append(lower), self.hi.append(upper), self.integer.append(integer)
        self.names += names
        self.count += len(names)
        return cols


def _node_columns(net: Network, order: list[str], node_bounds, blocks, out: _Columns):
    """One column per neuron of every node, bounded by its sound bounds (and a ReLU's
    blocks' ``y`` bounds); returns node -> columns."""
    columns = {}
    for name in order:
        size = net.size(name)
        b = node_bounds[name]
        lo, hi = b.lower.copy(), b.upper.copy()
        if isinstance(net.op(name), Relu):
            for block in blocks.get(name, []):
                if block.y_lower is not None:
                    lo = np.maximum(lo, block.y_lower)
                if block.y_upper is not None:
                    hi = np.minimum(hi, block.y_upper)
        columns[name] = out.add(lo, hi, np.zeros(size, dtype=bool),
                                [f"{name}({i})" for i in range(size)])
    return columns


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
    cols_acc = _Columns()
    columns = _node_columns(net, order, node_bounds, blocks, cols_acc)
    rows = _Rows()
    block_rows: dict[tuple[str, str], int] = {}
    block_columns: dict[tuple[str, str], np.ndarray] = {}
    for name in order:
        op = net.op(name)
        parent_cols = [columns[p] for p in net.inputs_of(name)]
        if type(op) in DEFINITION_RULES:
            DEFINITION_RULES[type(op)](rows, name, op, columns[name], parent_cols)
            continue
        for block in blocks.get(name, []) if isinstance(op, Relu) else []:
            parts = [(block.Ax, parent_cols[0]), (block.Ay, columns[name])]
            if block.n_new:
                w_cols = cols_acc.add(block.w_lower, block.w_upper, block.w_integrality,
                                      block.w_names)
                block_columns[(name, block.tag)] = w_cols
                parts.append((block.Aw, w_cols))
            block_rows[(name, block.tag)] = rows.count
            rows.add_csr(parts, block.row_lower, block.row_upper, block.row_names)
    n = cols_acc.count
    model = LinearModel(c=np.zeros(n), A=rows.matrix(n),
                        row_lower=np.concatenate(rows.lo) if rows.lo else np.zeros(0),
                        row_upper=np.concatenate(rows.hi) if rows.hi else np.zeros(0),
                        col_lower=np.concatenate(cols_acc.lo), col_upper=np.concatenate(cols_acc.hi),
                        integrality=np.concatenate(cols_acc.integer), col_names=cols_acc.names,
                        row_names=rows.names)
    return EncodedNetwork(model, columns, blocks, block_rows, block_columns)


def with_disjunct(encoded: EncodedNetwork, out_cols: np.ndarray, A: np.ndarray, b: np.ndarray,
                  t_bounds: tuple[float, float], label: str = "spec",
                  constraints=None, input_rows=None, in_cols=None) -> LinearModel:
    """The model ``min t`` s.t. ``A y - t <= b`` (y the output columns), ``t`` in t_bounds,
    ``H y <= h`` for ``constraints = (H, h)`` and ``C x <= d`` for ``input_rows = (C, d)``
    on the input columns ``in_cols`` (a case's constraints, if any).

    ``min t`` is the largest violation margin ``max_i (A_i y - b_i)`` of the unsafe
    polytope: if a certified lower bound on it is > 0 (or the model is certified
    infeasible), no point of the relaxation (hence no input) reaches the unsafe set.
    ``t_bounds`` must contain ``max_i (A_i f(x) - b_i)`` for every input x (e.g. from
    DeepPoly bounds).
    """
    m0 = encoded.model
    H, h = (np.zeros((0, A.shape[1])), np.zeros(0)) if constraints is None else constraints
    C, d = (np.zeros((0, 0)), np.zeros(0)) if input_rows is None else input_rows
    k, kh, kc = A.shape[0], H.shape[0], C.shape[0]
    n = m0.n_cols
    t_col = n
    dense = np.zeros((k + kh + kc, n + 1))
    dense[:k, out_cols] = A
    dense[:k, t_col] = -1.0
    dense[k:k + kh, out_cols] = H
    if kc:
        dense[k + kh:, in_cols] = C
    b = np.concatenate([np.asarray(b, dtype=np.float64), np.asarray(h, dtype=np.float64),
                        np.asarray(d, dtype=np.float64)])
    extra = sp.csr_matrix(dense)
    A_full = sp.vstack([sp.hstack([m0.A, sp.csr_matrix((m0.n_rows, 1))]), extra]).tocsr()
    c = np.zeros(n + 1)
    c[t_col] = 1.0
    return replace(m0, c=c, A=A_full,
                   row_lower=np.concatenate([m0.row_lower, np.full(k + kh + kc, -np.inf)]),
                   row_upper=np.concatenate([m0.row_upper, b]),
                   col_lower=np.concatenate([m0.col_lower, [t_bounds[0]]]),
                   col_upper=np.concatenate([m0.col_upper, [t_bounds[1]]]),
                   integrality=np.concatenate([m0.integrality, [False]]),
                   col_names=list(m0.col_names) + [f"{label}_margin"],
                   row_names=list(m0.row_names) + [f"{label}({i})" for i in range(k)]
                   + [f"constraint({i})" for i in range(kh)]
                   + [f"input_row({i})" for i in range(kc)])
