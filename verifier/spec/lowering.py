"""From a VNN-LIB 2.0 query over bound networks to a network and a :class:`Property`.

Every method of the project decides a :class:`Property` (cases of an input box, optional
constraint rows, and a disjunction of output polytopes) on one :class:`Network`. A query
is brought to that form in one of two ways:

* **Fast path** — one network without hidden nodes, every atom on inputs a bound
  ``a x_i <= c`` whose bound ``c / a`` is exact, every other atom on outputs only: the
  network itself and the 1.0-shaped property, so every method (input splitting, ReLU
  branch and bound) runs exactly as on a VNN-LIB 1.0 file.
* **Joint path** — anything else in the linear logic. Inputs that every disjunct ties
  together (``U[i] == X[i]``) become one entry of a joint input; a joint network
  (:func:`verifier.network.joint.compose`) reads it with every part and outputs each
  variable the atoms mention (inputs as copies of the joint input). A disjunct's rows are
  sorted into: bounds of single inputs (its box); *input rows* — other rows on inputs
  only — and *constraints* — equalities — which LP and MILP methods enforce as rows and
  every replay checks; and the rest, the output polytope whose margin the methods bound.
  The box is tightened over the input rows (propagation, then certified LP bounds), so
  every method that only takes a box still bounds a superset of the region.

Disjuncts whose input constraints are contradictory (an empty box, or an LP that
certifies infeasibility) are dropped: nothing satisfies them. An input without a finite
bound is refused: every method here needs a bounded input region.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import scipy.sparse as sp

from verifier.errors import SpecError
from verifier.network import Network
from verifier.network.joint import JOINT_INPUT, compose
from verifier.network.onnx_reference import JointReference, OnnxReference
from verifier.network.simplify import simplify
from verifier.spec.binding import BoundNetwork
from verifier.spec.input_region import region_box
from verifier.spec.property import Case, OutputPolytope, Property
from verifier.spec.query import INPUT, OUTPUT, Conjunction, Query

__all__ = ["LoweredQuery", "lower_query"]


@dataclass(frozen=True, eq=False)
class LoweredQuery:
    """A query in the form the methods decide.

    Attributes:
        query: the query.
        parts: its networks with their models.
        network: the network the methods run on (a part itself on the fast path).
        prop: cases over ``network``'s input and output.
        fast: whether this is the fast path (see the module docstring).
        full: a network from the same input to the whole variable vector (the
            assignment); None on the fast path (inputs and outputs are read directly).
        reference: onnxruntime's version of ``network``'s output (for replays).
        input_entries / input_positions: variable-vector entry of each declared input
            element and its position in the network input (tied inputs share one).
        output_columns: variable-vector entry of each network output.
        dropped: disjuncts left out because their input constraints are contradictory.
    """

    query: Query
    parts: tuple[BoundNetwork, ...]
    network: Network
    prop: Property
    fast: bool
    full: Network | None
    reference: Callable | None
    input_entries: np.ndarray
    input_positions: np.ndarray
    output_columns: np.ndarray
    dropped: int = 0

    def output_labels(self) -> list[str]:
        """``Y[0,1]``-style names of the network's outputs (the query's variables)."""
        return [self.query.variable_of(int(e)).label(int(e)) for e in self.output_columns]

    def assignment(self, x: np.ndarray) -> np.ndarray:
        """The whole variable vector (every declared tensor, declaration order) at the
        network input ``x``: inputs as given, hidden nodes and outputs computed by the
        float64 reference forward pass."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if self.full is not None:
            v = np.asarray(self.full.forward(x), dtype=np.float64).reshape(-1)
        else:
            v = np.zeros(self.query.n_variables)
            v[self.output_columns] = self.network.forward(x)
        v[self.input_entries] = x[self.input_positions]
        return v


def lower_query(query: Query, parts: tuple[BoundNetwork, ...]) -> LoweredQuery:
    """Bring a query over bound networks to a network and a property (module docstring).

    Raises:
        SpecError: an input with no finite bound in some disjunct.
    """
    kinds = query.kinds()
    entries = np.flatnonzero(kinds == INPUT)
    ties = _common_ties(query.disjuncts, kinds)
    position = _positions(query.n_variables, entries, ties)
    n_joint = int(position.max()) + 1 if entries.size else 0
    sorted_rows = [_sort_rows(d, kinds, position, n_joint, ties) for d in query.disjuncts]
    fast = not ties and _is_fast(query, sorted_rows)
    if fast:
        observed = np.concatenate([np.arange(v.offset, v.offset + v.size)
                                   for v in query.networks[0].outputs])
    else:
        observed = _observed(sorted_rows, query.n_variables)
    cases, dropped = _cases(query, sorted_rows, observed, position)
    if fast:
        part = parts[0]
        network, full = part.network, None
        reference = OnnxReference(part.path, part.input_names, ())
    else:
        network, full, reference = _joint(query, parts, observed, position, n_joint)
    prop = Property(tuple(cases), n_joint, int(observed.size), query.name,
                    meta={"path": query.path, "fast": fast})
    return LoweredQuery(query, parts, network, prop, fast, full, reference, entries,
                        position[entries], observed, dropped)


# ====================================================================== tied inputs
def _row_key(A: sp.csr_matrix, b: np.ndarray, strict: np.ndarray, r: int) -> tuple:
    lo, hi = A.indptr[r], A.indptr[r + 1]
    return (tuple(A.indices[lo:hi]), tuple(A.data[lo:hi]), float(b[r]), bool(strict[r]))


def _negated(key: tuple) -> tuple:
    cols, vals, rhs, strict = key
    return cols, tuple(-v for v in vals), -rhs, strict


def _tie(key: tuple, kinds: np.ndarray) -> tuple[int, int] | None:
    """``(a, b)`` when the row is ``x_a - x_b <= 0`` (or reversed) on two inputs."""
    cols, vals, rhs, strict = key
    if (len(cols) == 2 and rhs == 0.0 and not strict and sorted(vals) == [-1.0, 1.0]
            and all(kinds[c] == INPUT for c in cols)):
        return int(cols[0]), int(cols[1])
    return None


def _tie_candidates(d: Conjunction, kinds: np.ndarray) -> list[tuple]:
    """Keys of the rows that can be half of a tie (two inputs, unit coefficients of
    opposite signs, right-hand side 0, non-strict) and of their negations' partners."""
    A = d.A.tocsr()
    A.sort_indices()
    nnz = np.diff(A.indptr)
    rows = np.flatnonzero((nnz == 2) & (d.b == 0.0) & ~d.strict)
    return [key for r in rows if _tie(key := _row_key(A, d.b, d.strict, r), kinds)]


def _common_ties(disjuncts, kinds: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of inputs every disjunct equates (both ``x_a - x_b <= 0`` and its negation)."""
    common = None
    for d in disjuncts:
        keys = set(_tie_candidates(d, kinds))
        ties = {_tie(key, kinds) for key in keys if _negated(key) in keys}
        common = ties if common is None else common & ties
    return common or set()


def _positions(n: int, entries: np.ndarray, ties: set[tuple[int, int]]) -> np.ndarray:
    """The joint-input position of every input entry (-1 elsewhere); tied inputs share
    one (union-find), positions numbered in declaration order of their first entry."""
    parent = {int(e): int(e) for e in entries}

    def root(e: int) -> int:
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    for a, b in ties:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    position = np.full(n, -1, dtype=np.int64)
    numbering: dict[int, int] = {}
    for e in entries:
        position[e] = numbering.setdefault(root(int(e)), len(numbering))
    return position


# ====================================================================== rows
@dataclass(frozen=True)
class _Rows:
    """One disjunct's rows, sorted (see the module docstring)."""

    lower: np.ndarray          # (n_joint,) box from exact single-input bounds
    upper: np.ndarray
    inputs: sp.csr_matrix      # input rows over the joint input (non-strict)
    input_rhs: np.ndarray
    hard: Conjunction          # constraints: equalities that mention more than inputs
    soft: Conjunction          # the output polytope


def _sort_rows(d: Conjunction, kinds: np.ndarray, position: np.ndarray, n_joint: int,
               ties: set) -> _Rows:
    A = d.A.tocsr()
    A.sort_indices()
    nnz = np.diff(A.indptr)
    starts = A.indptr[:-1]
    on_input = (kinds[A.indices] == INPUT).astype(np.int64)
    inputs_only = np.add.reduceat(on_input, starts) == nnz if A.nnz else nnz == 0
    inputs_only = np.where(nnz == 0, True, inputs_only)
    role = np.zeros(A.shape[0], dtype=np.int64)        # 0 soft, 1 hard, 2 box/tie, 3 input
    lower, upper = _single_input_bounds(A, d, inputs_only & (nnz == 1) & ~d.strict,
                                        position, n_joint, role)
    rest = np.flatnonzero(role == 0)
    keys = {r: _row_key(A, d.b, d.strict, r) for r in rest}
    present = set(keys.values())
    for r, key in keys.items():
        tie = _tie(key, kinds)
        if tie is not None and (tie in ties or tie[::-1] in ties):
            role[r] = 2
        elif not d.strict[r] and inputs_only[r]:
            role[r] = 3
        elif not d.strict[r] and _negated(key) in present:
            role[r] = 1
    hard, soft, on_x = (np.flatnonzero(role == k) for k in (1, 0, 3))
    C = A[on_x].tocoo()
    inputs = sp.csr_matrix((C.data, (C.row, position[C.col])), shape=(on_x.size, n_joint))
    inputs.sum_duplicates()
    return _Rows(lower, upper, inputs, d.b[on_x],
                 Conjunction(A[hard], d.b[hard], d.strict[hard]),
                 Conjunction(A[soft], d.b[soft], d.strict[soft]))


def _single_input_bounds(A: sp.csr_matrix, d: Conjunction, candidates: np.ndarray,
                         position: np.ndarray, n_joint: int, role: np.ndarray):
    """The box of the rows ``a x_i <= c`` (``candidates``) whose bound ``c / a`` is
    exact; those rows get role 2 (in ``role``, in place)."""
    lower, upper = np.full(n_joint, -np.inf), np.full(n_joint, np.inf)
    rows = np.flatnonzero(candidates)
    a = A.data[A.indptr[rows]]
    cols = A.indices[A.indptr[rows]]
    mantissa = np.abs(np.frexp(a)[0])
    exact = (mantissa == 0.5) & np.isfinite(d.b[rows])     # a = ±2^k: c / a is exact
    for k in np.flatnonzero(~exact):                       # rare: check exactly
        exact[k] = _exact_quotient(float(d.b[rows[k]]), float(a[k])) is not None
    rows, a, cols = rows[exact], a[exact], cols[exact]
    with np.errstate(over="ignore", under="ignore"):
        bound = d.b[rows] / a
    normal = np.abs(bound) >= np.finfo(np.float64).tiny      # no underflow: still exact
    finite = np.isfinite(bound) & (normal | (d.b[rows] == 0))
    rows, a, cols, bound = rows[finite], a[finite], cols[finite], bound[finite]
    np.minimum.at(upper, position[cols[a > 0]], bound[a > 0])
    np.maximum.at(lower, position[cols[a < 0]], bound[a < 0])
    role[rows] = 2
    return lower, upper


def _exact_quotient(b: float, a: float) -> float | None:
    """``b / a`` when it is a float exactly (so ``a x <= b`` is exactly a bound), else None."""
    if a == 0.0 or not (np.isfinite(a) and np.isfinite(b)):
        return None
    q = b / a
    return q if np.isfinite(q) and Fraction(b) == Fraction(q) * Fraction(a) else None


def _is_fast(query: Query, rows: list[_Rows]) -> bool:
    """One network without hidden nodes, no constraints, the polytopes on outputs only."""
    if len(query.networks) != 1 or query.networks[0].hidden:
        return False
    kinds = query.kinds()
    return all(r.hard.A.shape[0] == 0 and r.inputs.shape[0] == 0
               and np.all(kinds[r.soft.A.indices] == OUTPUT) for r in rows)


def _observed(rows: list[_Rows], n_variables: int) -> np.ndarray:
    """The variable-vector entries the rows mention (sorted), at least one."""
    used = np.zeros(n_variables, dtype=bool)
    for r in rows:
        used[r.hard.A.indices] = True
        used[r.soft.A.indices] = True
    if not used.any():
        used[n_variables - 1] = True     # some variable, so that the network has an output
    return np.flatnonzero(used)


def _cases(query: Query, rows: list[_Rows], observed: np.ndarray, position: np.ndarray
           ) -> tuple[list[Case], int]:
    """Disjuncts with equal boxes and constraints become one case; contradictory ones are
    dropped."""
    groups: dict[tuple, tuple] = {}
    dropped = 0
    for r in rows:
        box = _box(r, position, query)
        if box is None:
            dropped += 1
            continue
        H = r.hard.A.tocsc()[:, observed].toarray()
        soft = r.soft.A.tocsc()[:, observed].toarray()
        poly = OutputPolytope(soft, r.soft.b, r.soft.strict)
        if poly.A.shape[0] == 0:
            # no atom left to bound: "0 <= 1" holds everywhere, so the margin is -1 on
            # every point that meets the constraints (and the disjunct is proved only
            # when nothing does)
            poly = OutputPolytope(np.zeros((1, observed.size)), [1.0])
        C = r.inputs.toarray()
        key = (box[0].tobytes(), box[1].tobytes(), H.tobytes(), r.hard.b.tobytes(),
               C.tobytes(), r.input_rhs.tobytes())
        entry = groups.setdefault(key, (box, OutputPolytope(H, r.hard.b),
                                        OutputPolytope(C, r.input_rhs), []))
        entry[3].append(poly)
    return [Case(box[0], box[1], tuple(polys), hard, rows)
            for box, hard, rows, polys in groups.values()], dropped


def _box(r: _Rows, position: np.ndarray, query: Query):
    """The disjunct's input box, tightened over its input-only constraints, or None when
    they are contradictory."""
    lower, upper = r.lower.copy(), r.upper.copy()
    if np.any(lower > upper):
        return None
    if r.inputs.shape[0]:
        tightened = region_box(r.inputs, r.input_rhs, lower, upper)
        if tightened is None:
            return None
        lower, upper = tightened
    free = np.flatnonzero(~np.isfinite(lower) | ~np.isfinite(upper))
    if free.size:
        entry = int(np.flatnonzero(position == free[0])[0])
        var = query.variable_of(entry)
        raise SpecError(f"input {var.label(entry)} has no finite bound in some disjunct: "
                        "every method here needs a bounded input region (hint: assert a "
                        "lower and an upper bound on every input)", query.path)
    return lower, upper


# ====================================================================== joint network
def _joint(query: Query, parts: tuple[BoundNetwork, ...], observed: np.ndarray,
           position: np.ndarray, n_joint: int):
    """The joint network over ``observed``, the joint network over the whole variable
    vector, and onnxruntime's version of the first."""
    where = _sources(query)
    reads = [position[np.concatenate([np.arange(v.offset, v.offset + v.size)
                                      for v in net.inputs])] for net in query.networks]
    picks = _picks(where, observed, position)
    networks = [p.network for p in parts]
    network = simplify(compose(networks, picks, reads, n_joint))
    full = simplify(compose(networks, _picks(where, np.arange(query.n_variables), position),
                            reads, n_joint))
    reference = JointReference(
        tuple(OnnxReference(p.path, p.input_names, p.tap_names) for p in parts),
        tuple(tuple(int(i) for i in r) for r in reads),
        tuple((k, tuple(int(i) for i in idx)) for k, idx in picks))
    return network, full, reference


def _sources(query: Query) -> np.ndarray:
    """(n_variables, 2): for each entry, (part, index in the part's output), or
    (JOINT_INPUT, -1) for inputs. A part's output holds its outputs, then its hidden
    nodes (:func:`~verifier.network.onnx_import.translate`)."""
    where = np.zeros((query.n_variables, 2), dtype=np.int64)
    for k, net in enumerate(query.networks):
        offset = 0
        for var in net.outputs + net.hidden:
            where[var.slice, 0] = k
            where[var.slice, 1] = np.arange(offset, offset + var.size)
            offset += var.size
        for var in net.inputs:
            where[var.slice] = (JOINT_INPUT, -1)
    return where


def _picks(where: np.ndarray, entries: np.ndarray, position: np.ndarray):
    """The entries as picks of :func:`~verifier.network.joint.compose`: each run of
    consecutive entries from one source is one pick."""
    source = where[entries, 0]
    index = np.where(source == JOINT_INPUT, position[entries], where[entries, 1])
    starts = np.flatnonzero(np.concatenate([[True], source[1:] != source[:-1]]))
    ends = np.append(starts[1:], entries.size)
    return [(int(source[a]), index[a:b]) for a, b in zip(starts, ends)]
