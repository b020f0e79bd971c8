"""Batched back-substitution through a chain: B domains, k rows each, one product per layer.

The same back-substitution as :mod:`verifier.bounds.deeppoly` (min-area or given lower
lines, triangle upper lines), with a leading batch dimension: every step through an
affine layer is ONE matrix product ``(B*k, n) @ (n, n')``. Callers add the outward
rounding margin (``ROUNDING_MARGIN`` times :func:`~verifier.bounds.chain.magnitude_scales`).
"""

from __future__ import annotations

import time

import numpy as np

from verifier.errors import TimeLimitReached


def batched_matvec(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched ``M[b] @ v[b]``: (B, k, n), (B, n) -> (B, k)."""
    return np.matmul(M, v[:, :, None])[:, :, 0]


def backsub_linear(chain, j, M, lines, record: dict | None = None,
                   stops: tuple[list, list] | None = None, shifts: list | None = None,
                   to_input: bool = True, deadline: float | None = None,
                   cuts: list | None = None):
    """Back-substitute rows M (B, k, n_j) of ``z_j`` to the input through the ReLU lines.

    Returns ``(const (B, k), coef (B, k, n_in))`` with ``const + coef @ x <= M z_j`` for
    every x of each box (before the rounding margin). With ``record`` given, the rows'
    coefficients on each ReLU output are stored there as ``record[relu layer] = (B, k, n)``
    (used for branching scores). With ``stops = (pre_lower, pre_upper)`` (per ReLU layer,
    (B, n_r) bounds valid on each domain) a third value is returned: (B, k) the best lower
    bound obtained by stopping at a ReLU layer and concretising over its output bounds
    (see :func:`backsub_early`). ``shifts`` (per ReLU layer, (B, n_r) or None) are added
    to every row's coefficients on the layer's pre-activation once its ReLU is relaxed
    (the split multipliers of :func:`optimized_output_bound`). With ``to_input=False``
    the last step (through layer 0) is left out: ``coef`` is then over ``z_0``, the
    pre-activation of layer 0 (see :func:`input_minimum`). Past ``deadline``
    (``time.monotonic()``) :class:`TimeLimitReached` is raised between layers.

    ``cuts`` (per ReLU layer, None or ``(y_shift (B, n_r), z_shift (B, n_r), const (B,))``)
    are the Lagrangian terms ``gamma (H_z z_r + H_y y_r - h)`` of valid inequalities of the
    layer (k-ReLU cuts, any ``gamma >= 0``): ``y_shift = gamma H_y`` joins the coefficients
    on ``y_r`` before the ReLU is relaxed, ``z_shift = gamma H_z`` those on ``z_r`` after,
    ``const = -gamma h`` the constant. They enter after the layer's early stop, so every
    stop sees only whole terms: the expression bounded there is ``f`` plus the terms of the
    layers above, each <= 0 on the box, hence below ``f``.
    """
    B, k, _ = M.shape
    const = np.zeros((B, k))
    best = np.full((B, k), -np.inf)
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
        a_lo, a_up, c_up = lines[i - 1]
        negative = M < 0
        const += batched_matvec(np.where(negative, M, 0.0), c_up)
        M = M * np.where(negative, a_up[:, None, :], a_lo[:, None, :])
        if shifts is not None and shifts[i - 1] is not None:
            M = M + shifts[i - 1][:, None, :]
        if cut is not None:
            M = M + cut[1][:, None, :]
    if stops is not None:
        return const, M, best
    return const, M


def backsub_early(chain, j, M, lines, pre_lower, pre_upper, lower, upper,
                  deadline: float | None = None):
    """Lower bounds of ``M z_j`` (M: (B, k, n_j)) for each box, before rounding margin,
    taking at every ReLU layer ``r < j`` the better of going on and stopping there.

    Stopping at layer r uses the bounds of its output, ``y_r in [max(l_r, 0), max(u_r, 0)]``
    (valid on each domain): ``const + min over that box of M y_r``. It pays off when the
    intermediate bounds are tighter than what relaxing the layers below them gives
    (tightening, splits). Past ``deadline`` :class:`TimeLimitReached` is raised between
    layers.
    """
    const, coef0, best = backsub_linear(chain, j, M, lines, stops=(pre_lower, pre_upper),
                                         to_input=False, deadline=deadline)
    W0, b0, _ = chain[0]
    return np.maximum(best, const + input_minimum(coef0, W0, b0, lower, upper))


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
    return box_minimum(*backsub_linear(chain, j, M, lines, deadline=deadline), lower, upper)


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
