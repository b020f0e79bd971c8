"""Sequential networks as dense matrix chains, and what batched bounds need of them.

A chain is ``[(W, b, relu_after)]``: layer ``j`` computes ``z_j = W_j y_{j-1} + b_j`` and,
when ``relu_after``, ``y_j = relu(z_j)``. The batched bounds (input splitting, ReLU-split
branch and bound, optimised slopes) work on chains; graphs with residual connections use
:mod:`verifier.bounds.deeppoly` instead.
"""

from __future__ import annotations

import numpy as np

from verifier.bounds.relu_lines import LINE_MARGIN
from verifier.bounds.rounding import RoundingScales, backsub_relative
from verifier.errors import NetworkError
from verifier.network import Affine, Network, Relu


def dense_chain(net: Network) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """The network as ``[(W, b, relu_after)]`` (dense W); raises for non-chains."""
    chain = []
    for op in net.layers():
        if isinstance(op, Affine):
            chain.append([op.dense_W(), op.b, False])
        elif isinstance(op, Relu):
            if not chain or chain[-1][2]:
                raise NetworkError("batched bounds need Affine before every ReLU")
            chain[-1][2] = True
        else:  # pragma: no cover
            raise NetworkError(f"batched bounds do not support {type(op).__name__}")
    return [tuple(item) for item in chain]


def relu_chain(net: Network) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """:func:`dense_chain` of a network whose every layer but the last is an affine layer
    followed by a ReLU (what back-substitution over ReLU layers needs); raises
    ``NetworkError`` otherwise."""
    chain = dense_chain(net)
    if (len(chain) != len(net.relu_names()) + 1
            or not all(relu for _, _, relu in chain[:-1]) or chain[-1][2]):
        raise NetworkError("needs affine + ReLU layers and an affine output layer")
    return chain


def affine_names(net: Network) -> list[str]:
    """Node names of the affine layers of a sequential net, in chain order."""
    return [n for n in net.order if isinstance(net.op(n), Affine)]


def batched_relu_lines(l: np.ndarray, u: np.ndarray):
    """Batched ReLU lines (B, n) each: lower slope (min-area), upper slope and intercept."""
    active = l >= 0
    unstable = (l < 0) & (u > 0)
    width = np.where(unstable, u - l, 1.0)
    slope = np.where(unstable, u / width, 0.0)
    a_up = np.where(active, 1.0, slope)
    c_up = np.where(unstable, -slope * l * (1 + LINE_MARGIN) + LINE_MARGIN * (u - l) + 1e-30,
                    0.0)
    a_lo = np.where(active, 1.0, np.where(unstable & (u > -l), 1.0, 0.0))
    return a_lo, a_up, c_up


def magnitude_scales(chain, root_lower: np.ndarray, root_upper: np.ndarray,
                     pre_bounds: list[tuple[np.ndarray, np.ndarray]] | None = None
                     ) -> list[np.ndarray]:
    """Per layer, a vector ``T_j`` bounding the magnitudes that back-substitution sums.

    With ``R = max(|l0|, |u0|)`` of the root box and ``Z_j`` the magnitudes of the root
    box's interval pre-activation bounds (valid for every sub-box), ``T_0 = |b_0| + |W_0| R``
    and ``T_j = |b_j| + |W_j| m_{j-1} (2 Z_{j-1} + T_{j-1})`` (slopes are in [0, 1] and
    upper-line intercepts below ``2 Z``; ``m`` is 0 for neurons that are inactive, ``u <= 0``,
    whose lines are 0, and 1 otherwise). For coefficient rows ``M`` the float64 error of the
    bound is far below ``ROUNDING_MARGIN * |M| @ T_j``.

    ``pre_bounds`` (per ReLU layer, sound pre-activation bounds of the root, e.g. LP
    tightened) replace the interval bounds where tighter; they must hold for every domain
    the scales are used for (sub-domains of a ReLU split do: their bounds only shrink).
    Interval bounds grow exponentially with depth, so on deep nets the scales from
    tightened bounds can be orders of magnitude smaller (see bench/README.md).
    """
    R = np.maximum(np.abs(root_lower), np.abs(root_upper))
    scales = []
    T = None
    Z_prev = None
    mask = None
    for W, b, _, lo, hi in root_pre_activations(chain, root_lower, root_upper, pre_bounds):
        T = np.abs(b) + np.abs(W) @ (R if T is None else mask * (2.0 * Z_prev + T))
        Z_prev = np.maximum(np.abs(lo), np.abs(hi)) * (1 + 1e-6) + 1e-30
        mask = (hi > 0).astype(np.float64)
        scales.append(T * (1 + 1e-6))
    return scales


def root_pre_activations(chain, root_lower: np.ndarray, root_upper: np.ndarray,
                         pre_bounds: list[tuple[np.ndarray, np.ndarray]] | None = None):
    """Per layer ``(W, b, relu_after, lo, hi)``: the interval bounds of the layer's output
    before its ReLU on the root box, intersected per ReLU layer with ``pre_bounds``."""
    lo, hi = root_lower, root_upper
    for j, (W, b, relu_after) in enumerate(chain):
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        lo, hi = Wp @ lo + Wn @ hi + b, Wp @ hi + Wn @ lo + b
        if pre_bounds is not None and relu_after and j < len(pre_bounds):
            lo = np.maximum(lo, pre_bounds[j][0])
            hi = np.minimum(hi, pre_bounds[j][1])
        yield W, b, relu_after, lo, hi
        lo, hi = (np.maximum(lo, 0), np.maximum(hi, 0)) if relu_after else (lo, hi)


def rounding_scales(chain, root_lower: np.ndarray, root_upper: np.ndarray,
                    pre_bounds: list[tuple[np.ndarray, np.ndarray]] | None = None
                    ) -> RoundingScales:
    """The :class:`~verifier.bounds.rounding.RoundingScales` of a chain on a root box.

    ``Z_j`` and ``Y_j`` come from interval bounds of the box, intersected per ReLU layer with
    ``pre_bounds`` (sound bounds of the root, e.g. tightened; every sub-domain's values lie
    inside them), each rounded up by a relative ``1e-6``; ``Y_0 = max(|l0|, |u0|)``.
    """
    lo, hi = np.asarray(root_lower, dtype=np.float64), np.asarray(root_upper, dtype=np.float64)
    Y = np.maximum(np.abs(lo), np.abs(hi))
    zs, ys, ps, qs = [], [], [], []
    for W, b, relu_after, lo, hi in root_pre_activations(chain, lo, hi, pre_bounds):
        Z = np.maximum(np.abs(lo), np.abs(hi)) * (1 + 1e-6) + 1e-30
        p = (np.abs(W) @ Y + np.abs(b)) * (1 + 1e-6) + Z
        zs.append(Z)
        ys.append(Y)
        ps.append(p)
        if relu_after:
            Y = np.maximum(hi, 0) * (1 + 1e-6) + 1e-30
            qs.append(Y + 2.0 * Z + p)
    return RoundingScales(zs, ys, ps, qs, backsub_relative(chain))
