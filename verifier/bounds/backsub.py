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

from verifier.bounds.rounding import SINGLE_ROUNDOFF, TINY, UNIT_ROUNDOFF, BacksubWeights
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
        error: (B, k) with ``weights``: a bound on the float64 error of ``const + coef @ x``
            (any x of the box) and of every early stop
            (:class:`~verifier.bounds.rounding.RoundingScales`); else None.
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
    ``relative`` times ``|M| @ top + sum_r (|Q_r| @ q_r + |shift_r| @ p_r)`` over the rows
    carried (``Q_r``: the coefficients on ``y_r``; shifts: split multipliers and cut
    ``z_shift``), a bound on the float64 error of ``const + coef @ x`` and of every early
    stop (see :class:`RoundingScales`); with ``to_input=False`` it still counts the step
    through layer 0 (for :func:`input_minimum` in float64).
    """
    B, k, _ = M.shape
    const = np.zeros((B, k), dtype=M.dtype)
    best = None if stops is None else np.full((B, k), -np.inf, dtype=M.dtype)
    error = None if weights is None else weights.relative * (np.abs(M) @ weights.top)
    for i in range(j, -1, -1):
        check_deadline(deadline)
        W, b, _ = chain[i]
        if i == 0 and not to_input:
            break
        const += M @ b
        M = (M.reshape(B * k, -1) @ W).reshape(B, k, -1)
        if i == 0:
            break
        r = i - 1
        cut = None if cuts is None else cuts[r]
        negative = np.minimum(M, 0.0)
        if stops is not None:         # min over y in [y_lo, y_hi], y_lo >= 0
            y_lo = np.maximum(stops[0][r], 0.0)
            width = np.maximum(stops[1][r], 0.0) - y_lo
            best = np.maximum(best, const + batched_matvec(M, y_lo)
                              + batched_matvec(negative, width))
        if cut is not None:           # a layer's cut terms enter after its early stop
            M = M + cut[0][:, None, :]
            const = const + cut[2][:, None]
            negative = np.minimum(M, 0.0)
        if record is not None:
            record[r] = M
        M, error = _relax(M, negative, const, lines[r], weights, r, error, record is None)
        for shift in (None if shifts is None else shifts[r],
                      None if cut is None else cut[1]):
            if shift is not None:
                M = M + shift[:, None, :]
                if weights is not None:
                    error += weights.relative * (np.abs(shift) @ weights.p[r])[:, None]
    return Backsub(const, M, best, error)


def _relax(M, negative, const, line, weights, r: int, error, in_place: bool):
    """One ReLU layer of :func:`backsub_linear`: the rows on ``y_r`` (M, ``negative`` its
    negative part) become rows on ``z_r`` (the lower slope where a coefficient is >= 0,
    the upper line's slope and intercept, added to ``const`` in place, where < 0); the
    error weight ``|M| @ q_r`` is added (as ``M @ q - 2 negative @ q``: one pass over
    each, shared with the intercepts; its rounding is far inside the weight's slack)."""
    a_lo, a_up, c_up = line
    if weights is None:
        const += batched_matvec(negative, c_up)
    else:
        q = weights.q[r]
        sums = np.matmul(negative, np.stack([c_up, np.broadcast_to(q, c_up.shape)], axis=2))
        const += sums[:, :, 0]
        error += weights.relative * np.maximum(M @ q - 2.0 * sums[:, :, 1], 0.0)
    out = np.multiply(M, a_lo[:, None, :], out=M if in_place else None)
    out += negative * (a_up - a_lo)[:, None, :]
    return out, error


def backsub_early(chain, j, M, lines, pre_lower, pre_upper, lower, upper,
                  weights: BacksubWeights | None = None, single: bool = False,
                  deadline: float | None = None):
    """Lower bounds of ``M z_j`` (M: (B, k, n_j)) for each box, before rounding margin,
    taking at every ReLU layer ``r < j`` the better of going on and stopping there.

    Stopping at layer r uses the bounds of its output, ``y_r in [max(l_r, 0), max(u_r, 0)]``
    (valid on each domain): ``const + min over that box of M y_r``. It pays off when the
    intermediate bounds are tighter than what relaxing the layers below them gives
    (tightening, splits). Returns ``(bounds (B, k), error)``: ``error`` the
    :attr:`Backsub.error` of ``weights`` (None without). Past ``deadline``
    :class:`TimeLimitReached` is raised between layers.

    ``single``: the step to the input by :func:`input_minimum_single` (float32), whose error
    bound is added (float64 where float32 overflows). All of it in float32, with the error
    bound of float32, was tried and not kept: more sub-domains per second, larger trees.
    """
    W0, b0, _ = chain[0]
    out = backsub_linear(chain, j, M, lines, stops=(pre_lower, pre_upper), to_input=False,
                         weights=weights, deadline=deadline)
    if single:
        value, extra = input_minimum_single(out.coef, W0, b0, lower, upper)
        if np.all(np.isfinite(value)) and np.all(np.isfinite(extra)):   # no float32 overflow
            error = extra if out.error is None else out.error + extra
            return np.maximum(out.early, out.const + value), error
    return np.maximum(out.early, out.const + input_minimum(out.coef, W0, b0, lower, upper)), \
        out.error


def centre_radius(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c, r)`` with ``[c - r, c + r]`` containing ``[lower, upper]`` in exact arithmetic
    (``r`` rounded up by four units of roundoff)."""
    c = 0.5 * (lower + upper)
    r = np.maximum(upper - c, c - lower) * (1.0 + 4.0 * UNIT_ROUNDOFF) + TINY
    return c, r


def input_minimum(M: np.ndarray, W0: np.ndarray, b0: np.ndarray, lower: np.ndarray,
                  upper: np.ndarray) -> np.ndarray:
    """``min over each box of M_d @ (W0 x + b0)``, (B, k), for M (B, k, n_0).

    As ``M (W0 c + b0) - |M W0| r`` (``c``, ``r``: :func:`centre_radius` of each box, a box
    at least as large), one domain at a time, so that its (k, n_in) coefficients stay in
    cache instead of one (B, k, n_in) array (memory bound for wide inputs). The float64
    error is that of back-substitution's step through layer 0 (:class:`RoundingScales`
    counts it: ``|c|, r <= max(|l|, |u|)``).
    """
    c, r = centre_radius(lower, upper)
    out = batched_matvec(M, c @ W0.T + b0)
    for d in range(M.shape[0]):
        X = M[d] @ W0
        out[d] -= np.abs(X, out=X) @ r[d]
    return out


def input_minimum_single(M: np.ndarray, W0: np.ndarray, b0: np.ndarray, lower: np.ndarray,
                         upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`input_minimum` with ``|M W0| r`` in float32 (half the memory traffic, twice
    the BLAS speed); returns ``(value, error)``, ``error`` (B, k) bounding what float32
    adds to float64's error: ``M``, ``W0`` rounded to float32 (one unit each), their
    product (``gamma_{n_0}``), the radius rounded up, and the float32 sum of ``n_in``
    terms (``gamma_{n_in}``) give at most ``2 gamma_{n_in + n_0 + 4} |M| (|W0| r32)``
    (float32 units; twice for safety)."""
    c, r = centre_radius(lower, upper)
    out = batched_matvec(M, c @ W0.T + b0)
    r32 = (r * (1.0 + 2.0 ** -22)).astype(np.float32)
    W32 = W0.astype(np.float32)
    M32 = M.astype(np.float32)
    for d in range(M.shape[0]):
        X = M32[d] @ W32
        out[d] -= np.abs(X, out=X) @ r32[d]
    n_ops = W0.shape[1] + W0.shape[0] + 4
    factor = 2.0 * n_ops * SINGLE_ROUNDOFF / (1.0 - n_ops * SINGLE_ROUNDOFF)
    widths = r32.astype(np.float64) @ np.abs(W0).T           # (B, n_0)
    return out, factor * batched_matvec(np.abs(M), widths) * (1.0 + 1e-6)


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
