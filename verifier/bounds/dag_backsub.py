"""Back-substitution through any DAG of Affine / Relu / Add nodes, both bounds at once.

Rows ``M`` on a node's value are walked backwards as in :mod:`verifier.bounds.deeppoly`
(through ``z = W x + b``: ``M W`` and ``M b``; through a ReLU: the lower line for positive
coefficients, the upper line for negative ones; through an Add: both operands get the
rows, and a node with several consumers sums what they send). Lower and upper bounds are
one pass: the rows ``[M; -M]`` go down together.

*Early stops.* Between steps, the part still pending is bounded by the boxes of the nodes
it sits on: ``const + sum over pending nodes v of min over box(v) of M_v v``. That is a
sound bound at every step (every node's box holds its value), so each row keeps the best
over the steps where every pending node is a ReLU output (whose box, ``[max(l, 0),
max(u, 0)]`` of back-substituted bounds, is tight; as input splitting's
``backsub_early``). With ``drop_stable``, a neuron
whose lower bound is already >= 0 or upper bound <= 0 leaves the walk at once: its ReLU is
stable and its relaxation exact whatever its bounds, so wide layers cost what their few
unstable neurons cost.

*Rounding.* A forward pass gives every node a magnitude vector ``T`` (``T_input = max(|l|,
|u|)``, ``T = |b| + |W| T_x`` for an affine node, ``T = c + [a != 0] T_z`` for a ReLU with
intercepts below ``c``, the sum for an Add): ``|M| @ T_target`` bounds the magnitude of
every term the walk of rows ``M`` sums, at every step, so each bound is lowered by
``ROUNDING_MARGIN * |M| @ T_target + TINY`` (far above the float64 error; tested by
sampling).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.bounds.types import Bounds
from verifier.errors import TimeLimitReached
from verifier.network import Add, Affine, Network, Relu

__all__ = ["node_scales", "extend_scales", "backsub_bounds"]


def extend_scales(net: Network, name: str, scales: dict[str, np.ndarray],
                  bounds: dict[str, Bounds], lines: dict[str, tuple]) -> None:
    """Add node ``name``'s magnitude vector to ``scales`` (its operands' are there)."""
    op = net.op(name)
    args = net.inputs_of(name)
    if name == net.input_name:
        box = bounds[name]
        scales[name] = np.maximum(np.abs(box.lower), np.abs(box.upper))
    elif isinstance(op, Affine):
        scales[name] = np.abs(op.b) + np.asarray(abs(op.W) @ scales[args[0]]).reshape(-1)
    elif isinstance(op, Relu):
        a_lo, c_lo, a_up, c_up = lines[name]
        live = (a_lo != 0) | (a_up != 0)
        scales[name] = np.maximum(np.abs(c_lo), np.abs(c_up)) + live * scales[args[0]]
    elif isinstance(op, Add):
        scales[name] = scales[args[0]] + scales[args[1]]
    else:  # pragma: no cover - the graph has no other op records
        raise TypeError(f"no magnitude rule for {type(op).__name__}")
    scales[name] = scales[name] * (1.0 + 1e-6) + TINY


def node_scales(net: Network, bounds: dict[str, Bounds], lines: dict[str, tuple],
                target: str | None = None) -> dict[str, np.ndarray]:
    """Magnitude vectors of every node (module docstring), or of ``target`` and its
    ancestors."""
    scales: dict[str, np.ndarray] = {}
    order = net.order if target is None else list(reversed(net.upstream_order(target)))
    for name in order:
        extend_scales(net, name, scales, bounds, lines)
    return scales


#: a sparse weight matrix at least this dense is multiplied as a dense one (BLAS does
#: the 3-30x more multiplications faster than sparse products on wide layers)
DENSE_ABOVE = 0.1


def _times(M: np.ndarray, W, name: str, dense: dict | None) -> np.ndarray:
    """``M @ W`` for dense rows M and a dense or sparse W (``dense`` caches the dense
    form of sparse matrices at least :data:`DENSE_ABOVE` full, by node name)."""
    if sp.issparse(W):
        if dense is not None and W.nnz >= DENSE_ABOVE * W.shape[0] * W.shape[1]:
            if name not in dense:
                dense[name] = W.toarray()
            return M @ dense[name]
        return np.asarray((W.T @ M.T).T)
    return M @ W


def _box_min(M: np.ndarray, box: Bounds) -> np.ndarray:
    return np.maximum(M, 0.0) @ box.lower + np.minimum(M, 0.0) @ box.upper


def backsub_bounds(net: Network, target: str, M: np.ndarray, bounds: dict[str, Bounds],
                   lines: dict[str, tuple], scales: dict[str, np.ndarray],
                   drop_stable: bool = False, deadline: float | None = None,
                   dense: dict | None = None) -> Bounds:
    """Sound lower and upper bounds of every row of ``M @ value(target)``.

    Args:
        net: the network (a DAG of Affine, Relu, Add).
        target: the node whose value is bounded.
        M: (k, size(target)) rows.
        bounds: sound boxes of ``target``'s ancestors (the input's box included).
        lines: relu node -> :func:`~verifier.bounds.relu_lines` tuple, for every ReLU
            upstream of ``target``.
        scales: magnitude vectors of ``target`` (at least; :func:`node_scales`).
        drop_stable: rows are unit rows of neurons: stop a neuron's rows once one bound
            proves it stable (lower >= 0 or upper <= 0; module docstring).
        deadline: ``time.monotonic()`` value; checked between steps.
        dense: a cache of dense forms of fairly dense sparse weights (by node name),
            shared by the calls of one bound computation; None: never densify.

    Returns:
        Bounds of the k rows (rounded outward).

    Raises:
        TimeLimitReached: the deadline passed.
    """
    M = np.asarray(M, dtype=np.float64)
    k = M.shape[0]
    margin = ROUNDING_MARGIN * (np.abs(M) @ scales[target]) + TINY
    best = np.full(2 * k, -np.inf)              # rows 0..k-1: lower; k..2k-1: -upper
    active = np.arange(2 * k)                   # which stacked rows are still walked
    pending = {target: np.vstack([M, -M])}
    const = np.zeros(2 * k)
    for name in net.upstream_order(target):
        if name not in pending:
            continue
        if deadline is not None and time.monotonic() > deadline:
            raise TimeLimitReached("back-substitution passed its deadline")
        if name == net.input_name:
            value = const + _box_min(pending.pop(name), bounds[name])
            best[active] = np.maximum(best[active], value)
            break
        rows = pending.pop(name)
        op = net.op(name)
        parents = net.inputs_of(name)
        if isinstance(op, Affine):
            const = const + rows @ op.b
            sent = [_times(rows, op.W, name, dense)]
        elif isinstance(op, Relu):
            a_lo, c_lo, a_up, c_up = lines[name]
            plus, minus = np.maximum(rows, 0.0), np.minimum(rows, 0.0)
            const = const + plus @ c_lo + minus @ c_up
            sent = [plus * a_lo + minus * a_up]
        else:                                   # Add: both operands get the rows
            sent = [rows, rows]
        for parent, part in zip(parents, sent):
            pending[parent] = pending[parent] + part if parent in pending else part
        if not all(isinstance(net.op(v), Relu) for v in pending):
            continue            # stop only where every pending node has a ReLU's tight box
        value = const + sum(_box_min(R, bounds[v]) for v, R in pending.items())
        best[active] = np.maximum(best[active], value)
        if drop_stable:
            keep = _undecided(best, active, k, margin)
            if keep.size < active.size:
                const = const[keep]
                pending = {v: R[keep] for v, R in pending.items()}
                active = active[keep]
                if active.size == 0:
                    break
    lower, upper = best[:k] - margin, -(best[k:] - margin)
    return Bounds(lower, upper, "deeppoly")


def _undecided(best: np.ndarray, active: np.ndarray, k: int, margin: np.ndarray
               ) -> np.ndarray:
    """Positions in ``active`` of the stacked rows whose neuron is not yet stable (its
    rounded lower bound >= 0 or upper bound <= 0)."""
    neuron = np.where(active < k, active, active - k)
    stable = (best[neuron] - margin[neuron] >= 0) | (best[neuron + k] - margin[neuron] >= 0)
    return np.flatnonzero(~stable)
