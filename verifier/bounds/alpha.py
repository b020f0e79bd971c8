"""Optimised back-substitution (alpha-CROWN) of pre-activation bounds and output forms.

With the bounds of the earlier layers fixed, back-substituting ``+-z_i`` through the ReLU
lines with lower slopes ``alpha`` in [0, 1] gives a sound bound for *every* choice of
``alpha``; the best choice is the optimum of the triangle LP over those layers (the LP's
duals on ``y >= 0`` and ``y >= z`` are such a convex combination). Projected gradient
steps on ``alpha``, one slope vector per bound, therefore approach what per-neuron LP
tightening ("LP-ALL") computes, for all neurons of a layer at once in batched matrix
products instead of two LPs per neuron. Stopping early costs tightness, never soundness.
"""

from __future__ import annotations

import numpy as np

from verifier.bounds.chain import rounding_scales
from verifier.bounds.optimized import optimized_output_bound


def alpha_layer_bounds(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                       pre_lower: list[np.ndarray], pre_upper: list[np.ndarray], j: int,
                       neurons: np.ndarray, iterations: int = 30, lr: float = 0.1,
                       deadline: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sound bounds ``lower <= z_j[neurons] <= upper`` on the input box, by optimised slopes.

    Args:
        chain: :func:`~verifier.bounds.chain.dense_chain` of the network; layers ``0..j-1``
            must each be followed by a ReLU.
        box_lower, box_upper: (n_in,) the input box.
        pre_lower, pre_upper: per ReLU layer ``r < j``, (n_r,) sound bounds of its
            pre-activation on the box (e.g. DeepPoly, or tightened ones).
        j: the layer whose output ``z_j = W_j y_{j-1} + b_j`` is bounded (j >= 1).
        neurons: (k,) indices into ``z_j``.
        iterations: projected Adam steps on the slopes (0: the back-substitution with
            DeepPoly's min-area slopes, one pass).
        lr: step size of the slopes.

    Returns:
        (lower (k,), upper (k,)). Each includes the outward rounding margin of
        :func:`~verifier.bounds.optimized.optimized_output_bound` (from the
        :func:`~verifier.bounds.chain.rounding_scales` of the box and the given bounds).

    Soundness: as sound as ``pre_lower/pre_upper``; the slopes may be anything in [0, 1].
    """
    if j < 1 or len(pre_lower) < j or len(pre_upper) < j:
        raise ValueError("alpha_layer_bounds needs j >= 1 and the bounds of layers 0..j-1")
    neurons = np.asarray(neurons, dtype=np.int64)
    k = neurons.size
    if k == 0:
        return np.zeros(0), np.zeros(0)
    rows = np.zeros((2 * k, chain[j][0].shape[0]))
    rows[np.arange(k), neurons] = 1.0
    rows[k + np.arange(k), neurons] = -1.0
    value = alpha_rows_lower(list(chain[: j + 1]), box_lower, box_upper, pre_lower[:j],
                             pre_upper[:j], rows, iterations=iterations, lr=lr,
                             deadline=deadline)
    return value[:k], -value[k:]


def alpha_rows_lower(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                     pre_lower: list[np.ndarray], pre_upper: list[np.ndarray],
                     rows: np.ndarray, iterations: int = 30, lr: float = 0.1,
                     deadline: float | None = None) -> np.ndarray:
    """Sound lower bounds of ``rows @ f(x)`` on the input box, by optimised slopes (one slope
    vector per row). ``f`` is the chain's last layer (for a hidden layer, pass the chain
    up to it: :func:`alpha_layer_bounds`).

    Args:
        chain: :func:`~verifier.bounds.chain.dense_chain`, every layer but the last
            followed by a ReLU.
        pre_lower, pre_upper: per ReLU layer, (n_r,) sound pre-activation bounds.
        rows: (m, n_out).

    Returns:
        (m,) lower bounds, rounding margin included.
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    last = len(chain) - 1
    fixed = [(np.asarray(pre_lower[r], dtype=np.float64),
              np.asarray(pre_upper[r], dtype=np.float64)) for r in range(last)]
    scales = rounding_scales(chain, box_lower, box_upper, fixed)
    m = rows.shape[0]
    lo = [np.broadcast_to(f[0], (m, f[0].size)) for f in fixed]
    hi = [np.broadcast_to(f[1], (m, f[1].size)) for f in fixed]
    states = [np.zeros((m, f[0].size), dtype=np.int8) for f in fixed]
    value, _, _ = optimized_output_bound(chain, box_lower, box_upper, scales, lo, hi, states,
                                         rows, iterations=iterations, lr_alpha=lr,
                                         deadline=deadline)
    return value
