"""Interval (box) propagation through the constraint graph.

For ``z = W x + b`` with ``x in [l, u]``: ``z >= W+ l + W- u + b`` and ``z <= W+ u + W- l + b``
where ``W+ = max(W, 0)``, ``W- = min(W, 0)``. Floating-point rounding is covered by an
outward margin ``ROUNDING_MARGIN * (|W| max(|l|,|u|) + |b|) + tiny`` (far above the
``n u`` error bound of the float64 dot products; tested by sampling).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from verifier.bounds.types import Bounds
from verifier.network import Add, Affine, Input, Network, Relu

ROUNDING_MARGIN = 1e-10
TINY = 1e-30  # absolute floor of rounding margins (not subnormal-prone like 1e-300)


def split_pos_neg(W):
    """``(max(W, 0), min(W, 0))`` for dense or sparse W."""
    if sp.issparse(W):
        return W.maximum(0).tocsr(), W.minimum(0).tocsr()
    return np.maximum(W, 0.0), np.minimum(W, 0.0)


def affine_interval(W, b: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Bounds:
    """Sound interval image of a box under ``x -> W x + b``."""
    Wp, Wn = split_pos_neg(W)
    lo = np.asarray(Wp @ lower + Wn @ upper).reshape(-1) + b
    hi = np.asarray(Wp @ upper + Wn @ lower).reshape(-1) + b
    scale = np.asarray(abs(W) @ np.maximum(np.abs(lower), np.abs(upper))).reshape(-1) + np.abs(b)
    margin = ROUNDING_MARGIN * scale + TINY
    return Bounds(lo - margin, hi + margin, "interval")


def interval_bounds(net: Network, lower: np.ndarray, upper: np.ndarray) -> dict[str, Bounds]:
    """Bounds of every node's value by interval arithmetic.

    Args:
        net: the network.
        lower, upper: (n_inputs,) input box.
    Returns:
        dict node name -> Bounds (for an Affine node: its output, i.e. a pre-activation).
    """
    out: dict[str, Bounds] = {}
    for name in net.order:
        op = net.op(name)
        args = [out[i] for i in net.inputs_of(name)]
        if isinstance(op, Input):
            out[name] = Bounds(lower, upper, "input")
        elif isinstance(op, Affine):
            out[name] = affine_interval(op.W, op.b, args[0].lower, args[0].upper)
        elif isinstance(op, Relu):
            out[name] = Bounds(np.maximum(args[0].lower, 0), np.maximum(args[0].upper, 0),
                               "interval")
        elif isinstance(op, Add):
            lo = args[0].lower + args[1].lower
            hi = args[0].upper + args[1].upper
            margin = ROUNDING_MARGIN * (np.abs(lo) + np.abs(hi)) + TINY
            out[name] = Bounds(lo - margin, hi + margin, "interval")
    return out
