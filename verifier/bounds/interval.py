"""Interval (box) propagation through the constraint graph.

For ``z = W x + b`` with ``x in [l, u]``: ``z >= W+ l + W- u + b`` and ``z <= W+ u + W- l + b``
where ``W+ = max(W, 0)``, ``W- = min(W, 0)``. Floating-point rounding is covered by an
outward margin ``ROUNDING_MARGIN * (|W| max(|l|,|u|) + |b|) + TINY``
(:mod:`verifier.bounds.rounding`; tested by sampling).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.bounds.types import Bounds
from verifier.network import Add, Affine, Network, Relu


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


def add_interval(left: Bounds, right: Bounds) -> Bounds:
    """Sound interval of ``x1 + x2`` for ``x1 in left``, ``x2 in right``."""
    lo = left.lower + right.lower
    hi = left.upper + right.upper
    margin = ROUNDING_MARGIN * (np.abs(lo) + np.abs(hi)) + TINY
    return Bounds(lo - margin, hi + margin, "interval")


def relu_interval(pre: Bounds) -> Bounds:
    """``[max(l, 0), max(u, 0)]``: exact (no rounding in a maximum)."""
    return Bounds(np.maximum(pre.lower, 0), np.maximum(pre.upper, 0), "interval")


# the interval image of each op kind, given its operands' bounds (Input is the box itself)
INTERVAL_RULES = {
    Affine: lambda op, args: affine_interval(op.W, op.b, args[0].lower, args[0].upper),
    Relu: lambda op, args: relu_interval(args[0]),
    Add: lambda op, args: add_interval(args[0], args[1]),
}


def interval_bounds(net: Network, lower: np.ndarray, upper: np.ndarray) -> dict[str, Bounds]:
    """Bounds of every node's value by interval arithmetic.

    Args:
        net: the network.
        lower, upper: (n_inputs,) input box.
    Returns:
        dict node name -> Bounds (for an Affine node: its output, i.e. a pre-activation).
    """
    out: dict[str, Bounds] = {net.input_name: Bounds(lower, upper, "input")}
    for name in net.order:
        if name == net.input_name:
            continue
        op = net.op(name)
        out[name] = INTERVAL_RULES[type(op)](op, [out[i] for i in net.inputs_of(name)])
    return out
