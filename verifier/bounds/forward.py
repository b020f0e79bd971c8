"""Forward linear bounds over many small input boxes (symbolic intervals).

For networks with few inputs the pre-activation bounds of every layer can be carried
forward as linear forms in the input, ``L_j(x) <= z_j(x) <= U_j(x)`` for every x of a box
(ReluVal/Neurify's symbolic intervals with DeepPoly's lines). One layer costs two
products of ``(n_j, n_{j-1})`` with ``(n_{j-1}, B (d + 1))`` (d inputs, B boxes), where
back-substitution from every neuron costs ``2 n_j`` rows through all layers below: on
ACAS Xu (d = 5, six layers of 50) about twenty times less. The bounds are looser than
back-substitution's (a neuron's lower and upper forms are combined with the signs of the
single weights, not of the whole path), so callers intersect them with bounds they
already hold (the parent piece's: a sub-box's bounds only shrink).

Soundness: with ``A+ = max(A, 0)`` and ``A- = min(A, 0)``, ``W+ L + W- U + b <= W y + b``
whenever ``L <= y <= U``; the ReLU lines are DeepPoly's (lower ``a_lo z`` with
``a_lo`` in {0, 1}, upper ``a_up z + c_up``, valid on ``[l, u]``). A form's minimum over a
box is exact in reals; the float64 error of the coefficients and of the minimum is below
``relative_margin * T_j`` (``T_j`` of :func:`~verifier.bounds.chain.magnitude_scales` of a
box containing every piece bounds ``sum |coef| |x| + |const|`` of every form of layer j, as
it bounds the terms of back-substitution; ``relative_margin`` is ``ROUNDING_MARGIN`` or
:func:`~verifier.bounds.rounding.chain_relative_margin`), which is subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verifier.bounds.backsub import backsub_linear, backsub_lower, box_minimum
from verifier.bounds.chain import batched_relu_lines
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY

#: back-substitute a whole padded row block per box once the unstable neurons fill this
#: share of it (no copies of the lines); below, one domain per (box, neuron) pair
PADDED_FILL = 0.5


def form_minimum(F: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``min over box b of F[i, b, :d] @ x + F[i, b, d]``: (n, B), for F (n, B, d + 1)
    and boxes (B, d)."""
    coef = F[:, :, :-1]
    return (F[:, :, -1] + np.einsum("nbd,bd->nb", np.maximum(coef, 0.0), lower)
            + np.einsum("nbd,bd->nb", np.minimum(coef, 0.0), upper))


def forward_bounds(chain, lower: np.ndarray, upper: np.ndarray, scales: list[np.ndarray],
                   known: list[tuple[np.ndarray, np.ndarray]] | None = None,
                   relative_margin: float = ROUNDING_MARGIN, refine: bool = True,
                   deadline: float | None = None):
    """Pre-activation bounds of every ReLU layer of a chain over each box.

    Args:
        chain: :func:`~verifier.bounds.chain.dense_chain` of the network.
        lower, upper: (B, d) boxes.
        scales: :func:`~verifier.bounds.chain.magnitude_scales` of a box containing all.
        known: per ReLU layer, (B, n) bounds already valid on each box (e.g. the parent
            piece's), intersected with the new ones before the layer's lines are drawn;
            None: none known.
        relative_margin: the rounding margin per unit of ``scales``.
        refine: bound the neurons the forward bounds leave unstable again by
            back-substitution through the layers below (:func:`refine_unstable`).
        deadline: ``time.monotonic()`` after which the back-substitutions raise
            :class:`~verifier.errors.TimeLimitReached`.
    Returns:
        ``(pre, lines, box)``: per ReLU layer ``(l, u)`` (B, n) bounds and the DeepPoly
        lines drawn from them (``batched_relu_lines``), and the interval bounds
        ``(l, u)`` of the last layer's output (B, n_out).
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    B, d = lower.shape
    pre, lines = [], []
    L = U = None                     # forms of the last ReLU layer's output: (n, B, d + 1)
    post_lo, post_hi = lower, upper  # interval bounds of that output
    for j, (W, b, relu_after) in enumerate(chain):
        margin = (relative_margin * scales[j] + TINY)[:, None]
        Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
        box_lo = (post_lo @ Wp.T + post_hi @ Wn.T + b).T - margin
        box_hi = (post_hi @ Wp.T + post_lo @ Wn.T + b).T + margin
        if j == 0:
            F = np.empty((W.shape[0], B, d + 1))
            F[:, :, :d] = W[:, None, :]
            F[:, :, d] = b[:, None]
            Lz = Uz = F
        else:
            n_prev = L.shape[0]
            Lf, Uf = L.reshape(n_prev, -1), U.reshape(n_prev, -1)
            Lz = (Wp @ Lf + Wn @ Uf).reshape(W.shape[0], B, d + 1)
            Uz = (Wp @ Uf + Wn @ Lf).reshape(W.shape[0], B, d + 1)
            Lz[:, :, d] += b[:, None]
            Uz[:, :, d] += b[:, None]
        lo = np.maximum(form_minimum(Lz, lower, upper) - margin, box_lo)
        hi = np.minimum(-form_minimum(-Uz, lower, upper) + margin, box_hi)
        if not relu_after:
            return pre, lines, (lo.T, hi.T)
        lo, hi = lo.T, hi.T                           # (B, n)
        if known is not None:
            lo = np.maximum(lo, known[len(pre)][0])
            hi = np.minimum(hi, known[len(pre)][1])
        if refine and j >= 2:        # layers 0 and 1: forward bounds are back-substitution's
            lo, hi = refine_unstable(chain, j, lines, lo, hi, lower, upper, margin[:, 0],
                                     deadline)
        hi = np.maximum(hi, lo)      # an empty box's bounds cross; keep the lines defined
        pre.append((lo, hi))
        a_lo, a_up, c_up = batched_relu_lines(lo, hi)
        lines.append((a_lo, a_up, c_up))
        L = Lz * a_lo.T[:, :, None]
        U = Uz * a_up.T[:, :, None]
        U[:, :, d] += c_up.T
        post_lo, post_hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    return pre, lines, (post_lo, post_hi)


def refine_unstable(chain, j: int, lines: list, lo: np.ndarray, hi: np.ndarray,
                    lower: np.ndarray, upper: np.ndarray, margin: np.ndarray,
                    deadline: float | None = None):
    """``(lo, hi)`` (B, n) of layer j with every neuron unstable in them (``lo < 0 < hi``)
    bounded again by back-substitution through the ReLU lines of layers ``< j``, the
    better of the two kept.

    Only unstable neurons are back-substituted (rows ``+e_i`` and ``-e_i``). When most
    boxes have about as many as the most crowded one, each box takes ``2 k`` rows (k that
    largest count, shorter lists repeating a neuron) with its own lines; otherwise every
    (box, neuron) pair is a domain of its own with a copy of its box's lines, so the cost
    follows the number of unstable neurons rather than the batch times the largest count.
    """
    unstable = (lo < 0) & (hi > 0)
    counts = unstable.sum(axis=1)
    total, k = int(counts.sum()), int(counts.max(initial=0))
    if total == 0:
        return lo, hi
    B, n = lo.shape
    lo, hi = lo.copy(), hi.copy()
    if total >= PADDED_FILL * B * k:
        order = np.argsort(~unstable, axis=1, kind="stable")[:, :k]   # unstable first
        slot = np.arange(k)[None, :]
        neuron = np.where(slot < counts[:, None], order, order[:, :1])
        box = np.broadcast_to(np.arange(B)[:, None], neuron.shape)
        M = np.zeros((B, 2 * k, n))
        M[box, slot, neuron] = 1.0
        M[box, k + slot, neuron] = -1.0
        value = backsub_lower(chain, j, M, lines[:j], lower, upper, deadline)
        low, high = value[:, :k], value[:, k:]
    else:
        box, neuron = np.nonzero(unstable)         # row-major: boxes in order
        M = np.zeros((total, 2, n))
        rows = np.arange(total)
        M[rows, 0, neuron] = 1.0
        M[rows, 1, neuron] = -1.0
        pair_lines = [tuple(a.repeat(counts, axis=0) for a in layer) for layer in lines[:j]]
        value = backsub_lower(chain, j, M, pair_lines, lower.repeat(counts, axis=0),
                              upper.repeat(counts, axis=0), deadline)
        low, high = value[:, 0], value[:, 1]
    # a repeated neuron gets the same value twice: the assignments agree
    lo[box, neuron] = np.maximum(lo[box, neuron], low - margin[neuron])
    hi[box, neuron] = np.minimum(hi[box, neuron], -high + margin[neuron])
    return lo, hi


def forward_output_lower(chain, lower: np.ndarray, upper: np.ndarray, C: np.ndarray,
                         scales: list[np.ndarray], known=None,
                         relative_margin: float = ROUNDING_MARGIN, refine: bool = True,
                         deadline: float | None = None) -> PieceBounds:
    """Sound lower bounds of ``C @ f(x)`` over each box: forward bounds for the ReLU
    layers (:func:`forward_bounds`), then one back-substitution of the rows of C
    through their lines (m rows instead of ``2 n`` per layer)."""
    pre, lines, (out_lo, out_hi) = forward_bounds(chain, lower, upper, scales, known,
                                                  relative_margin, refine, deadline)
    last = len(chain) - 1
    C = np.atleast_2d(C)
    B = lower.shape[0]
    M = np.ascontiguousarray(np.broadcast_to(C, (B,) + C.shape))
    stops = ([lo for lo, _ in pre], [hi for _, hi in pre])
    const, coef, early, _ = backsub_linear(chain, last, M, lines, stops=stops,
                                           deadline=deadline)
    value = np.maximum(box_minimum(const, coef, lower, upper), early)
    margin = relative_margin * (np.abs(C) @ scales[last]) + TINY
    Cp, Cn = np.maximum(C, 0.0), np.minimum(C, 0.0)
    from_box = out_lo @ Cp.T + out_hi @ Cn.T         # out_lo/hi carry their margin
    bounds = np.maximum(value - margin, from_box)
    unstable = sum(np.sum((lo < 0) & (hi > 0), axis=1) for lo, hi in pre)
    minimizers = np.where(coef > 0, lower[:, None, :], upper[:, None, :])
    return PieceBounds(bounds, unstable, pre, minimizers)


@dataclass
class PieceBounds:
    """What :func:`forward_output_lower` finds per box.

    Attributes:
        bounds: (B, m) sound lower bounds of ``C f(x)``.
        unstable: (B,) unstable ReLUs.
        pre: per ReLU layer ``(l, u)`` (B, n): bounds valid on the box and its sub-boxes.
        minimizers: (B, m, d) the vertex of the box where each row's linear lower bound
            is smallest: a candidate counterexample.
    """

    bounds: np.ndarray
    unstable: np.ndarray
    pre: list
    minimizers: np.ndarray
