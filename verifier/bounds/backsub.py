"""Batched back-substitution through a chain: B domains, k rows each, one product per layer.

The same back-substitution as :mod:`verifier.bounds.deeppoly` (min-area or given lower
lines, triangle upper lines), with a leading batch dimension: every step through an
affine layer is ONE matrix product ``(B*k, n) @ (n, n')``. Callers subtract the outward
rounding margin: ``relative`` times the :attr:`Backsub.error` of the chain's
:class:`~verifier.bounds.rounding.RoundingScales` (ReLU-split branch and bound, optimised
slopes), or ``ROUNDING_MARGIN`` times :func:`~verifier.bounds.chain.magnitude_scales`.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from verifier.bounds.rounding import BacksubWeights
from verifier.errors import TimeLimitReached


def batched_matvec(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched ``M[b] @ v[b]``: (B, k, n), (B, n) -> (B, k)."""
    return np.matmul(M, v[:, :, None])[:, :, 0]


class Backsub(NamedTuple):
    """What :func:`backsub_linear` returns.

    Attributes:
        const, coef: (B, k) and (B, k, n_in) (or over ``z_0`` with ``to_input=False``):
            ``const + coef @ x <= M z_j`` for every x of each box, up to rounding.
        early: (B, k) the best bound of the early stops (with ``stops``), else None.
        error: (B, k) with ``weights``: the weighted sum whose ``relative`` multiple
            (:class:`~verifier.bounds.rounding.RoundingScales`) bounds the float64 error of
            ``const + coef @ x`` (any x of the box) and of every early stop; else None.
    """

    const: np.ndarray
    coef: np.ndarray
    early: np.ndarray | None = None
    error: np.ndarray | None = None


def backsub_linear(chain, j, M, lines, record: dict | None = None,
                   stops: tuple[list, list] | None = None, shifts: list | None = None,
                   to_input: bool = True, deadline: float | None = None,
                   cuts: list | None = None, weights: BacksubWeights | None = None) -> Backsub:
    """Back-substitute rows M (B, k, n_j) of ``z_j`` to the input through the ReLU lines.

    Returns a :class:`Backsub` with ``const (B, k), coef (B, k, n_in)``:
    ``const + coef @ x <= M z_j`` for every x of each box (before the rounding margin).
    With ``record`` given, the rows' coefficients on each ReLU output are stored there as
    ``record[relu layer] = (B, k, n)`` (used for branching scores). With ``stops =
    (pre_lower, pre_upper)`` (per ReLU layer, (B, n_r) bounds valid on each domain)
    ``early`` is (B, k) the best lower bound obtained by stopping at a ReLU layer and
    concretising over its output bounds (see :func:`backsub_early`). ``shifts`` (per ReLU
    layer, (B, n_r) or None) are added to every row's coefficients on the layer's
    pre-activation once its ReLU is relaxed (the split multipliers of
    :func:`optimized_output_bound`). With ``to_input=False`` the last step (through layer
    0) is left out: ``coef`` is then over ``z_0``, the pre-activation of layer 0 (see
    :func:`input_minimum`). Past ``deadline`` (``time.monotonic()``)
    :class:`TimeLimitReached` is raised between layers.

    ``cuts`` (per ReLU layer, None or ``(y_shift (B, n_r), z_shift (B, n_r), const (B,))``)
    are the Lagrangian terms ``gamma (H_z z_r + H_y y_r - h)`` of valid inequalities of the
    layer (k-ReLU cuts, any ``gamma >= 0``): ``y_shift = gamma H_y`` joins the coefficients
    on ``y_r`` before the ReLU is relaxed, ``z_shift = gamma H_z`` those on ``z_r`` after,
    ``const = -gamma h`` the constant. They enter after the layer's early stop, so every
    stop sees only whole terms: the expression bounded there is ``f`` plus the terms of the
    layers above, each <= 0 on the box, hence below ``f``. (The rounding of the cut
    products themselves is the caller's to bound.)

    ``weights`` (:meth:`RoundingScales.weights` of the chain's neurons) makes ``error``
    the sum ``|M| @ top + sum_r (|Q_r| @ q_r + |shift_r| @ p_r)`` over the rows carried
    (``Q_r``: the coefficients on ``y_r``; shifts: split multipliers and cut ``z_shift``),
    which bounds the float64 error of ``const + coef @ x`` and of every early stop when
    multiplied by the scales' ``relative`` (see :class:`RoundingScales`); with
    ``to_input=False`` it still counts the step through layer 0 (for
    :func:`input_minimum`).
    """
    B, k, _ = M.shape
    const = np.zeros((B, k), dtype=M.dtype)
    best = np.full((B, k), -np.inf, dtype=M.dtype)
    error = None if weights is None else batched_abs_dot(M, weights.top)
    for i in range(j, -1, -1):
        check_deadline(deadline)
        W, b, _ = chain[i]
        if i == 0 and not to_input:
            break
        const += M @ b
        M = (M.reshape(B * k, -1) @ W).reshape(B, k, -1)
        if i == 0:
            break
        if stops is not None:
            y_lo, y_hi = np.maximum(stops[0][i - 1], 0.0), np.maximum(stops[1][i - 1], 0.0)
            best = np.maximum(best, box_minimum(const, M, y_lo, y_hi))
        cut = None if cuts is None else cuts[i - 1]
        if cut is not None:           # a layer's cut terms enter after its early stop
            M = M + cut[0][:, None, :]
            const = const + cut[2][:, None]
        if record is not None:
            record[i - 1] = M
        if weights is not None:
            error += batched_abs_dot(M, weights.q[i - 1])
        a_lo, a_up, c_up = lines[i - 1]
        negative = M < 0
        const += batched_matvec(np.where(negative, M, 0.0), c_up)
        M = M * np.where(negative, a_up[:, None, :], a_lo[:, None, :])
        for shift in (None if shifts is None else shifts[i - 1],
                      None if cut is None else cut[1]):
            if shift is not None:
                M = M + shift[:, None, :]
                if weights is not None:
                    error += (np.abs(shift) @ weights.p[i - 1])[:, None]
    return Backsub(const, M, best if stops is not None else None, error)


def batched_abs_dot(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``|M| @ v`` for M (B, k, n) and v (n,) >= 0: (B, k)."""
    return np.abs(M) @ v


def backsub_early(chain, j, M, lines, pre_lower, pre_upper, lower, upper,
                  weights: BacksubWeights | None = None):
    """Lower bounds of ``M z_j`` (M: (B, k, n_j)) for each box, before rounding margin,
    taking at every ReLU layer ``r < j`` the better of going on and stopping there.

    Stopping at layer r uses the bounds of its output, ``y_r in [max(l_r, 0), max(u_r, 0)]``
    (valid on each domain): ``const + min over that box of M y_r``. It pays off when the
    intermediate bounds are tighter than what relaxing the layers below them gives
    (tightening, splits). Returns ``(bounds (B, k), error)``: ``error`` the
    :attr:`Backsub.error` of ``weights`` (None without).
    """
    out = backsub_linear(chain, j, M, lines, stops=(pre_lower, pre_upper), to_input=False,
                         weights=weights)
    W0, b0, _ = chain[0]
    return np.maximum(out.early, out.const + input_minimum(out.coef, W0, b0, lower, upper)), \
        out.error


def input_minimum(M: np.ndarray, W0: np.ndarray, b0: np.ndarray, lower: np.ndarray,
                   upper: np.ndarray) -> np.ndarray:
    """``min over each box of M_d @ (W0 x + b0)``, (B, k), for M (B, k, n_0).

    The same sums as ``box_minimum`` of the coefficients ``M @ W0``, but one domain at a
    time, so that its (k, n_in) coefficients stay in cache instead of one (B, k, n_in)
    array (memory bound for wide inputs).
    """
    out = M @ b0
    for d in range(M.shape[0]):
        X = M[d] @ W0
        out[d] += np.maximum(X, 0.0) @ lower[d] + np.minimum(X, 0.0) @ upper[d]
    return out


def box_minimum(const, coef, lower, upper):
    """``min over each box of const + coef @ x``: (B, k)."""
    return const + batched_matvec(np.maximum(coef, 0), lower) + batched_matvec(np.minimum(coef, 0), upper)


def check_deadline(deadline: float | None) -> None:
    """Raise :class:`TimeLimitReached` once ``deadline`` (``time.monotonic()``) passed."""
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimitReached("batched back-substitution passed its deadline")


def backsub_lower(chain, j, M, lines, lower, upper, deadline: float | None = None):
    """Lower bounds of ``M z_j`` (M: (B, k, n_j)) for each box, before rounding margin."""
    out = backsub_linear(chain, j, M, lines, deadline=deadline)
    return box_minimum(out.const, out.coef, lower, upper)


def live_neurons(lines: list, states: list | None = None) -> list[np.ndarray]:
    """Per ReLU layer, the neurons a batch's back-substitution has to carry.

    A neuron whose lines are all 0 in every domain (inactive everywhere: ``u <= 0``) has
    output 0: after its ReLU is relaxed its coefficients are exact zeros, and dropping its
    column changes no sum. A split neuron is kept (its multiplier adds to the
    coefficients, see ``shifts`` of :func:`backsub_linear`).
    """
    keep = []
    for r, (a_lo, a_up, c_up) in enumerate(lines):
        live = np.any((a_lo != 0) | (a_up != 0) | (c_up != 0), axis=0)
        if states is not None:
            live |= np.any(states[r] != 0, axis=0)
        keep.append(np.flatnonzero(live))
    return keep


def restrict_chain(chain, j: int, keep: list[np.ndarray], top: np.ndarray | None = None):
    """Layers ``0..j`` of the chain with each ReLU layer ``r < j`` cut to its neurons
    ``keep[r]`` (rows of ``W_r``, columns of ``W_{r+1}``) and layer ``j`` to the rows
    ``top`` (all when None). Back-substitution through it equals the full one when the
    dropped neurons are those :func:`live_neurons` leaves out."""
    out = []
    for i in range(j + 1):
        W, b, relu = chain[i]
        rows = keep[i] if i < j else top
        if rows is not None:
            W, b = W[rows], b[rows]
        if i > 0:
            W = W[:, keep[i - 1]]
        out.append((np.ascontiguousarray(W), b, relu))
    return out


def take_columns(per_layer: list, keep: list[np.ndarray]) -> list:
    """Per ReLU layer arrays (B, n_r), or tuples of them, cut to the columns ``keep[r]``."""
    return [tuple(x[:, keep[r]] for x in a) if isinstance(a, tuple) else a[:, keep[r]]
            for r, a in enumerate(per_layer)]


def widen_records(record: dict, keep: list[np.ndarray], sizes: list[int]) -> dict:
    """Records of a cut back-substitution (B, k, |keep_r|) back to (B, k, n_r) with zeros
    on the dropped neurons."""
    full = {}
    for r, M in record.items():
        out = np.zeros(M.shape[:2] + (sizes[r],))
        out[:, :, keep[r]] = M
        full[r] = out
    return full
