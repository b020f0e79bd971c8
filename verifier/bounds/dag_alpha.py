"""Optimised lower slopes (alpha-CROWN) for rows of any node of a DAG.

With every node's bounds fixed, back-substituting rows ``C`` of a node through lower ReLU
lines ``y >= alpha z`` gives a sound lower bound for *every* ``alpha`` in ``[0, 1]``
(:mod:`verifier.bounds.dag_backsub`, here with one slope vector per row). The bound is
piecewise linear in ``alpha``; its gradient with respect to the slope of neuron ``i`` of
ReLU ``r`` is ``max(M_r, 0)_i * z*_r,i``, where ``M_r`` are the row's coefficients on the
ReLU's output and ``z*`` the pre-activation at the point that attains the bound (the box
corner the input coefficients pick, pushed forward through the affine maps and the ReLU
lines the row uses). Projected Adam steps on ``alpha`` keep the best bound of each row.
Stopping early costs tightness, never soundness: every iterate is a valid bound.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from verifier.bounds.dag_backsub import backsub_bounds, node_scales
from verifier.bounds.relu_lines import relu_lines
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.bounds.types import Bounds
from verifier.network import Add, Affine, Network, Relu

__all__ = ["alpha_rows_lower_dag"]


def _times(M: np.ndarray, W) -> np.ndarray:
    return np.asarray((W.T @ M.T).T) if sp.issparse(W) else M @ W


def _walk(net: Network, target: str, C: np.ndarray, bounds: dict[str, Bounds],
          lines: dict[str, tuple], alpha: dict[str, np.ndarray], mu=None, rows_in=None):
    """Back-substitute rows C of ``target`` with per-row lower slopes ``alpha`` (k, n_r),
    and the input rows ``rows_in = (G, h)`` (``G x <= h``) with per-row multipliers ``mu``
    (k, m) >= 0 added at the input (``min over box of (M + mu G) x - mu h``).

    Returns (lower bounds (k,), coefficients on each ReLU output {relu: (k, n)}, input
    coefficients (k, n_in), multipliers included)."""
    k = C.shape[0]
    pending = {target: C.copy()}
    const = np.zeros(k)
    post: dict[str, np.ndarray] = {}
    for name in net.upstream_order(target):
        if name not in pending:
            continue
        rows = pending.pop(name)
        if name == net.input_name:
            box = bounds[name]
            if mu is not None:
                rows = rows + mu @ rows_in[0]
                const = const - mu @ rows_in[1]
            low = const + np.maximum(rows, 0) @ box.lower + np.minimum(rows, 0) @ box.upper
            return low, post, rows
        op = net.op(name)
        if isinstance(op, Affine):
            const = const + rows @ op.b
            sent = [_times(rows, op.W)]
        elif isinstance(op, Relu):
            post[name] = rows
            _, c_lo, a_up, c_up = lines[name]
            plus, minus = np.maximum(rows, 0.0), np.minimum(rows, 0.0)
            const = const + plus @ c_lo + minus @ c_up
            sent = [plus * alpha[name] + minus * a_up]
        else:
            sent = [rows, rows]
        for parent, part in zip(net.inputs_of(name), sent):
            pending[parent] = pending[parent] + part if parent in pending else part
    raise AssertionError("the walk did not reach the input")  # pragma: no cover


def _corner_values(net: Network, target: str, bounds: dict[str, Bounds], lines, alpha,
                   post: dict[str, np.ndarray], coef_in: np.ndarray) -> dict[str, np.ndarray]:
    """Per row, the value of every upstream pre-activation at the point attaining the
    row's bound: the input corner of its coefficients, through the affine maps and the
    ReLU line each row uses (lower where its coefficient is positive)."""
    box = bounds[net.input_name]
    values = {net.input_name: np.where(coef_in > 0, box.lower, box.upper)}
    upstream = set(net.upstream_order(target))
    for name in net.order:
        if name not in upstream or name == net.input_name:
            continue
        op = net.op(name)
        args = [values[i] for i in net.inputs_of(name)]
        if isinstance(op, Affine):
            values[name] = _times(args[0], op.W.T) + op.b
        elif isinstance(op, Relu):
            _, c_lo, a_up, c_up = lines[name]
            z = args[0]
            low = alpha[name] * z + c_lo
            high = a_up * z + c_up
            values[name] = np.where(post.get(name, np.zeros_like(z)) >= 0, low, high)
        elif isinstance(op, Add):
            values[name] = args[0] + args[1]
    return values


def _adam(moments: tuple, grad: np.ndarray, t: int) -> np.ndarray:
    """One Adam direction from ``grad`` (the moments are updated in place)."""
    m, v = moments
    m[...] = 0.9 * m + 0.1 * grad
    v[...] = 0.999 * v + 0.001 * grad * grad
    return (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-12)


def alpha_rows_lower_dag(net: Network, target: str, C: np.ndarray,
                         bounds: dict[str, Bounds], iterations: int = 20, lr: float = 0.1,
                         deadline: float | None = None, input_rows=None) -> np.ndarray:
    """Sound lower bounds of ``C @ value(target)`` on the input box, by optimised slopes.

    Args:
        net: any DAG of Affine / Relu / Add.
        target: the node; ``C``: (k, size(target)) rows.
        bounds: sound bounds of every node upstream of ``target`` (e.g. DeepPoly).
        iterations: projected Adam steps (0: DeepPoly's min-area slopes, one pass).
        lr: the step size.
        deadline: ``time.monotonic()`` value; the steps stop there (the best bound so
            far is returned).
        input_rows: ``(G, h)``, linear constraints ``G x <= h`` the input meets besides
            the box; they enter every row's bound as Lagrangian terms ``mu (G x - h)``
            (``<= 0`` on the region, so the bound stays valid for every ``mu >= 0``),
            ``mu`` optimised with the slopes (the gradient is ``G x* - h``).

    Returns:
        (k,) lower bounds, rounded outward (``ROUNDING_MARGIN`` times the magnitudes of
        :func:`~verifier.bounds.dag_backsub.node_scales`, valid for every slope in [0, 1]),
        never below DeepPoly's bound of the rows over the box (with its early stops).
    """
    C = np.atleast_2d(np.asarray(C, dtype=np.float64))
    k = C.shape[0]
    lines = {r: relu_lines(bounds[net.inputs_of(r)[0]].lower, bounds[net.inputs_of(r)[0]].upper)
             for r in net.relu_names() if r in set(net.upstream_order(target))}
    unstable = {r: (bounds[net.inputs_of(r)[0]].lower < 0) & (bounds[net.inputs_of(r)[0]].upper > 0)
                for r in lines}
    alpha = {r: np.broadcast_to(lines[r][0], (k, lines[r][0].size)).copy() for r in lines}
    moments = {r: (np.zeros_like(a), np.zeros_like(a)) for r, a in alpha.items()}
    mu = None
    if input_rows is not None:
        G, h = (np.atleast_2d(np.asarray(input_rows[0], float)),
                np.asarray(input_rows[1], float).reshape(-1))
        rows_in, mu = (G, h), np.zeros((k, G.shape[0]))
        moments["_mu"] = (np.zeros_like(mu), np.zeros_like(mu))
    best = np.full(k, -np.inf)
    for step in range(iterations + 1):
        low, post, coef_in = _walk(net, target, C, bounds, lines, alpha, mu,
                                   rows_in if mu is not None else None)
        best = np.maximum(best, low)
        if step == iterations or (deadline is not None and time.monotonic() > deadline):
            break
        values = _corner_values(net, target, bounds, lines, alpha, post, coef_in)
        if mu is not None:
            grad = values[net.input_name] @ rows_in[0].T - rows_in[1]
            mu = np.maximum(mu + lr * _adam(moments["_mu"], grad, step + 1), 0.0)
        for r in lines:
            if r not in post:
                continue
            grad = np.maximum(post[r], 0.0) * values[net.inputs_of(r)[0]] * unstable[r]
            update = _adam(moments[r], grad, step + 1)
            alpha[r] = np.where(unstable[r], np.clip(alpha[r] + lr * update, 0.0, 1.0),
                                alpha[r])
    scales = node_scales(net, bounds, lines, target)
    optimised = best - ROUNDING_MARGIN * (np.abs(C) @ scales[target]) - TINY
    # DeepPoly's own bound over the box (with its early stops) is sound too, also where
    # input rows restrict the box: never return less
    plain = backsub_bounds(net, target, C, bounds, lines, scales).lower
    return np.maximum(optimised, plain)
