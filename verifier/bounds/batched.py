"""DeepPoly over many input boxes at once, for sequential fully connected networks.

The same back-substitution as :mod:`verifier.bounds.deeppoly` (min-area lower lines,
triangle upper lines, outward rounding margin from :func:`magnitude_scales`), with a
leading batch dimension of B boxes (:mod:`verifier.bounds.backsub`). Used by input
splitting, where thousands of small boxes are bounded per step.
"""

from __future__ import annotations

import numpy as np

from verifier.bounds.backsub import backsub_lower
from verifier.bounds.chain import batched_relu_lines
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.errors import NetworkError


def batched_output_lower(chain, lower: np.ndarray, upper: np.ndarray, C: np.ndarray,
                         scales: list[np.ndarray], unstable_counts: bool = False,
                         deadline: float | None = None,
                         relative_margin: float = ROUNDING_MARGIN):
    """Sound lower bounds of ``C @ f(x)`` over each box.

    Args:
        chain: :func:`dense_chain` of the network.
        lower, upper: (B, n_in) boxes.
        C: (m, n_out) rows.
        scales: :func:`magnitude_scales` of a box containing all the boxes.
        unstable_counts: also return, per box, the number of unstable ReLUs.
        deadline: ``time.monotonic()``; :class:`~verifier.errors.TimeLimitReached` is raised
            between layers once it passed.
        relative_margin: the rounding margin per unit of ``scales`` (``ROUNDING_MARGIN``,
            or the smaller :func:`~verifier.bounds.rounding.chain_relative_margin`).
    Returns:
        (B, m) lower bounds (and (B,) counts when asked).
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    B = lower.shape[0]
    lines = []
    unstable = np.zeros(B, dtype=np.int64)
    post_lo, post_hi = lower, upper
    for j, (W, b, relu_after) in enumerate(chain):
        n = W.shape[0]
        WpT = np.ascontiguousarray(np.maximum(W, 0).T)   # contiguous: much faster in BLAS
        WnT = np.ascontiguousarray(np.minimum(W, 0).T)
        margin = relative_margin * scales[j] + TINY
        l_box = post_lo @ WpT + post_hi @ WnT + b - margin
        u_box = post_hi @ WpT + post_lo @ WnT + b + margin
        if not relu_after:
            continue
        if j == 0:
            l, u = l_box, u_box
        else:
            eye = np.eye(n)
            both = np.ascontiguousarray(np.broadcast_to(np.concatenate([eye, -eye]),
                                                        (B, 2 * n, n)))
            bounds = backsub_lower(chain, j, both, lines, lower, upper, deadline)
            margin = relative_margin * scales[j] + TINY
            l = np.maximum(bounds[:, :n] - margin, l_box)
            u = np.minimum(-bounds[:, n:] + margin, u_box)
        lines.append(batched_relu_lines(l, u))
        unstable += np.sum((l < 0) & (u > 0), axis=1)
        post_lo, post_hi = np.maximum(l, 0), np.maximum(u, 0)
    last = len(chain) - 1
    if chain[last][2]:
        raise NetworkError("batched bounds expect an affine output layer")
    C = np.atleast_2d(C)
    M = np.ascontiguousarray(np.broadcast_to(C, (B,) + C.shape))
    value = backsub_lower(chain, last, M, lines, lower, upper, deadline)
    value = value - relative_margin * (np.abs(C) @ scales[last]) - TINY
    # the interval box of the output bounds C y too: keep the better of the two
    Cp, Cn = np.maximum(C, 0), np.minimum(C, 0)
    from_box = l_box @ Cp.T + u_box @ Cn.T - relative_margin * (np.abs(C) @ scales[last]) - TINY
    result = np.maximum(value, from_box)
    return (result, unstable) if unstable_counts else result
