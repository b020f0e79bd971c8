"""DeepPoly on many boxes at once, on any DAG of Affine / Relu / Add.

For B input boxes (sub-boxes of one root box), every node's bounds are computed per box in
topological order: the interval image of the operands' bounds, intersected with the root
box's bounds (valid on every sub-box), and for the pre-activation of every ReLU a
back-substitution of the neurons some box leaves unstable; then rows ``C`` of the output are
back-substituted. Each back-substitution is one walk with a leading batch axis: through an
affine node one ``(B k, n) @ (n, n')`` product, through a ReLU each box's own lines.

Rounding: every bound is lowered by ``ROUNDING_MARGIN * |rows| @ T + TINY`` with the
magnitude vectors ``T`` of the *root* box (:func:`~verifier.bounds.dag_backsub.node_scales`):
a sub-box's bounds, slopes and intercepts are no larger than the root's (its bounds are
intersected with the root's, and the triangle's intercept ``-u l / (u - l)`` grows with
``u`` and ``-l``), so the root's magnitudes bound every sub-box's terms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from verifier.bounds.chain import batched_relu_lines
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.bounds.types import Bounds
from verifier.errors import TimeLimitReached
from verifier.network import Affine, Network, Relu

__all__ = ["BoxBounds", "dag_box_bounds"]


@dataclass
class BoxBounds:
    """Bounds of a batch of boxes.

    Attributes:
        lower: (B, k) lower bounds of the output rows (rounding margin included).
        corner: (B, k, n_in) per row, the box corner where its linear bound is smallest.
        unstable: (B,) unstable ReLU neurons per box.
    """

    lower: np.ndarray
    corner: np.ndarray
    unstable: np.ndarray


def _times(M: np.ndarray, W) -> np.ndarray:
    return np.asarray((W.T @ M.T).T) if sp.issparse(W) else M @ W


def _interval(op, args, lo_hi):
    """The interval image of one node for every box: (B, n) lower and upper."""
    if isinstance(op, Affine):
        lo, hi = lo_hi[args[0]]
        Wp = op.W.maximum(0) if sp.issparse(op.W) else np.maximum(op.W, 0)
        Wn = op.W.minimum(0) if sp.issparse(op.W) else np.minimum(op.W, 0)
        return (_times(lo, Wp.T) + _times(hi, Wn.T) + op.b,
                _times(hi, Wp.T) + _times(lo, Wn.T) + op.b)
    if isinstance(op, Relu):
        lo, hi = lo_hi[args[0]]
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    (l1, h1), (l2, h2) = lo_hi[args[0]], lo_hi[args[1]]
    return l1 + l2, h1 + h2


def _walk(net: Network, target: str, M: np.ndarray, lo_hi: dict, lines: dict,
          deadline: float | None):
    """Back-substitute rows ``M`` (B, k, n_target); returns (lower (B, k) before the
    rounding margin, input coefficients (B, k, n_in))."""
    B, k, _ = M.shape
    pending = {target: M}
    const = np.zeros((B, k))
    for name in net.upstream_order(target):
        if name not in pending:
            continue
        if deadline is not None and time.monotonic() > deadline:
            raise TimeLimitReached("batched back-substitution passed its deadline")
        rows = pending.pop(name)
        if name == net.input_name:
            lo, hi = lo_hi[name]
            low = (const + np.einsum("bkn,bn->bk", np.maximum(rows, 0), lo)
                   + np.einsum("bkn,bn->bk", np.minimum(rows, 0), hi))
            return low, rows
        op = net.op(name)
        if isinstance(op, Affine):
            const = const + rows @ op.b
            sent = [_times(rows.reshape(B * k, -1), op.W).reshape(B, k, -1)]
        elif isinstance(op, Relu):
            a_lo, a_up, c_up = lines[name]
            negative = rows < 0
            const = const + np.einsum("bkn,bn->bk", np.where(negative, rows, 0.0), c_up)
            sent = [rows * np.where(negative, a_up[:, None, :], a_lo[:, None, :])]
        else:
            sent = [rows, rows]
        for parent, part in zip(net.inputs_of(name), sent):
            pending[parent] = pending[parent] + part if parent in pending else part
    raise AssertionError("the walk did not reach the input")  # pragma: no cover


def dag_box_bounds(net: Network, lower: np.ndarray, upper: np.ndarray, C: np.ndarray,
                   root: dict[str, Bounds], scales: dict[str, np.ndarray],
                   deadline: float | None = None) -> BoxBounds:
    """DeepPoly bounds of the rows ``C @ f(x)`` on each of B boxes (module docstring).

    Args:
        lower, upper: (B, n_in) the boxes (inside the root box).
        C: (k, n_out) rows.
        root: sound bounds of every node on the root box.
        scales: the root box's magnitude vectors (:func:`~verifier.bounds.dag_backsub.node_scales`).
        deadline: ``time.monotonic()`` value, checked between steps.

    Raises:
        TimeLimitReached: the deadline passed.
    """
    B = lower.shape[0]
    pre_of = {net.inputs_of(r)[0]: r for r in net.relu_names()}
    lo_hi = {net.input_name: (lower, upper)}
    lines: dict[str, tuple] = {}
    unstable = np.zeros(B, dtype=np.int64)
    for name in net.order[1:]:
        op, args = net.op(name), net.inputs_of(name)
        lo, hi = _interval(op, args, lo_hi)
        if not isinstance(op, Relu):          # sums are rounded: widen them outward
            slack = ROUNDING_MARGIN * scales[name] + TINY
            lo, hi = lo - slack, hi + slack
        lo = np.maximum(lo, root[name].lower)
        hi = np.minimum(hi, root[name].upper)
        if name in pre_of:
            open_ = np.flatnonzero(np.any((lo < 0) & (hi > 0), axis=0))
            if open_.size:
                eye = np.zeros((open_.size, net.size(name)))
                eye[np.arange(open_.size), open_] = 1.0
                rows = np.broadcast_to(eye, (B,) + eye.shape)
                low, _ = _walk(net, name, np.concatenate([rows, -rows], axis=1), lo_hi,
                               lines, deadline)
                margin = ROUNDING_MARGIN * scales[name][open_] + TINY
                lo[:, open_] = np.maximum(lo[:, open_], low[:, :open_.size] - margin)
                hi[:, open_] = np.minimum(hi[:, open_], -(low[:, open_.size:] - margin))
            unstable += np.sum((lo < 0) & (hi > 0), axis=1)
        if isinstance(op, Relu):
            lines[name] = batched_relu_lines(*lo_hi[args[0]])
        lo_hi[name] = (lo, hi)
    rows = np.broadcast_to(np.asarray(C, dtype=np.float64), (B,) + np.shape(C))
    low, coef = _walk(net, net.output_name, rows, lo_hi, lines, deadline)
    low = low - (ROUNDING_MARGIN * (np.abs(C) @ scales[net.output_name]) + TINY)
    corner = np.where(coef > 0, lower[:, None, :], upper[:, None, :])
    return BoxBounds(low, corner, unstable)
