"""DeepPoly / CROWN back-substitution, vectorised (one matrix product per layer).

Every ReLU is replaced by two lines (``verifier.bounds.relu_lines``):
``a_lo x + c_lo <= relu(x) <= a_up x + c_up`` on its pre-activation interval. A linear
function ``M v`` of a node's value is bounded below by walking the graph backwards:
through ``z = W x + b`` it becomes ``(M W) x + M b``; through a ReLU the positive
coefficients take the lower line and the negative ones the upper line; through an Add both
operands receive ``M``. At the input box the minimum is ``M+ l + M- u``. Upper bounds are
``-lower(-M)``. For unstable ReLUs the lower slope is DeepPoly's min-area choice
(1 if ``u > -l`` else 0) unless told otherwise; the upper line is the triangle's.

Floating point: alongside ``M`` we propagate ``|M|`` through ``|W|`` and ``|a|`` (an upper
bound on the magnitude of every term that went into the result) and subtract
``ROUNDING_MARGIN * (|M|_prop max(|l|,|u|) + |const|_prop)``; that is orders of magnitude
above the float64 error of the products (tested by sampling).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from verifier.bounds.interval import ROUNDING_MARGIN, TINY, affine_interval, interval_bounds
from verifier.bounds.relu_lines import relu_lines
from verifier.bounds.types import Bounds
from verifier.errors import TimeLimitReached
from verifier.network import Add, Affine, Input, Network, Relu


@dataclass(frozen=True)
class DeepPolyOptions:
    """Options of back-substitution.

    Attributes:
        lower_slope: lower line of unstable ReLUs ("min_area", "zero", "one", "parallel").
        chunk: rows of ``M`` processed at once (memory: chunk x widest layer floats).
    """

    lower_slope: str = "min_area"
    chunk: int = 2048


def _matmul(M: np.ndarray, W) -> np.ndarray:
    if sp.issparse(W):
        return np.asarray((W.T @ M.T).T)
    return M @ W


def backsubstitute_lower(net: Network, target: str, M: np.ndarray,
                         node_bounds: dict[str, Bounds], lines: dict[str, tuple],
                         ) -> np.ndarray:
    """Sound lower bounds on ``M @ value(target)`` over the input box.

    Args:
        net: the network.
        target: node whose value is bounded.
        M: (k, size(target)) coefficient rows.
        node_bounds: bounds with at least the input node's box.
        lines: relu node name -> ``relu_lines(...)`` tuple for every ReLU upstream of target.

    Returns:
        (k,) lower bounds (rounded outward).
    """
    order = net.upstream_order(target)
    k = M.shape[0]
    pending = {target: M.astype(np.float64, copy=True)}
    pending_abs = {target: np.abs(M)}
    const = np.zeros(k)
    const_abs = np.zeros(k)
    result = None
    for name in order:
        if name not in pending:
            continue
        Mn, An = pending.pop(name), pending_abs.pop(name)
        op = net.op(name)
        parents = net.inputs_of(name)
        if isinstance(op, Input):
            box = node_bounds[name]
            Mp, Mm = np.maximum(Mn, 0), np.minimum(Mn, 0)
            result = const + Mp @ box.lower + Mm @ box.upper
            scale = const_abs + An @ np.maximum(np.abs(box.lower), np.abs(box.upper))
            return result - ROUNDING_MARGIN * scale - TINY
        if isinstance(op, Affine):
            const += Mn @ op.b
            const_abs += An @ np.abs(op.b)
            new, new_abs = _matmul(Mn, op.W), _matmul(An, abs(op.W))
            targets = [(parents[0], new, new_abs)]
        elif isinstance(op, Relu):
            a_lo, c_lo, a_up, c_up = lines[name]
            Mp, Mm = np.maximum(Mn, 0), np.minimum(Mn, 0)
            const += Mp @ c_lo + Mm @ c_up
            const_abs += An @ np.maximum(np.abs(c_lo), np.abs(c_up))
            new = Mp * a_lo + Mm * a_up
            new_abs = An * np.maximum(np.abs(a_lo), np.abs(a_up))
            targets = [(parents[0], new, new_abs)]
        elif isinstance(op, Add):
            targets = [(parents[0], Mn, An), (parents[1], Mn.copy(), An.copy())]
        else:  # pragma: no cover
            raise TypeError(type(op).__name__)
        for parent, coeffs, coeffs_abs in targets:
            if parent in pending:
                pending[parent] += coeffs
                pending_abs[parent] += coeffs_abs
            else:
                pending[parent] = coeffs
                pending_abs[parent] = coeffs_abs
    raise AssertionError("back-substitution did not reach the input node")  # pragma: no cover


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimitReached("DeepPoly back-substitution passed its deadline")


def linear_form_bounds(net: Network, target: str, M: np.ndarray,
                       node_bounds: dict[str, Bounds], lines: dict[str, tuple],
                       chunk: int = 2048, deadline: float | None = None) -> Bounds:
    """Lower and upper bounds of every row of ``M @ value(target)``, chunked over rows.

    Raises:
        TimeLimitReached: ``deadline`` (``time.monotonic()``) passed between chunks.
    """
    lows, highs = [], []
    for start in range(0, M.shape[0], chunk):
        _check_deadline(deadline)
        block = M[start:start + chunk]
        lows.append(backsubstitute_lower(net, target, block, node_bounds, lines))
        highs.append(-backsubstitute_lower(net, target, -block, node_bounds, lines))
    return Bounds(np.concatenate(lows), np.concatenate(highs), "deeppoly")


def relu_pre_nodes(net: Network) -> dict[str, str]:
    """Map relu node -> the node holding its pre-activation."""
    return {r: net.inputs_of(r)[0] for r in net.relu_names()}


def deeppoly_bounds(net: Network, lower: np.ndarray, upper: np.ndarray,
                    options: DeepPolyOptions = DeepPolyOptions(),
                    start: dict[str, Bounds] | None = None,
                    deadline: float | None = None) -> dict[str, Bounds]:
    """Bounds of every node: back-substituted where a ReLU needs them, interval elsewhere.

    Each ReLU's pre-activation bounds are the intersection of the interval bounds (or the
    ``start`` bounds, if given, e.g. from a previous LP pass) with the back-substituted
    ones; the output node is back-substituted too.

    Returns:
        dict node name -> Bounds, as :func:`interval_bounds`.
    Raises:
        TimeLimitReached: ``deadline`` (``time.monotonic()``) passed; checked between
            chunks of back-substituted rows (big convolutional layers take minutes).
    """
    base = start if start is not None else interval_bounds(net, lower, upper)
    out: dict[str, Bounds] = {}
    lines: dict[str, tuple] = {}
    needs = set(relu_pre_nodes(net).values()) | {net.output_name}
    for name in net.order:
        op = net.op(name)
        args = [out[i] for i in net.inputs_of(name)]
        if isinstance(op, Input):
            out[name] = Bounds(lower, upper, "input")
            continue
        if isinstance(op, Relu):
            pre = args[0]
            lines[name] = relu_lines(pre.lower, pre.upper, options.lower_slope)
            out[name] = Bounds(np.maximum(pre.lower, 0), np.maximum(pre.upper, 0), pre.provenance)
            continue
        # Affine / Add: interval from the (tightened) inputs first
        if isinstance(op, Affine):
            box = affine_interval(op.W, op.b, args[0].lower, args[0].upper)
        else:
            lo = args[0].lower + args[1].lower
            hi = args[0].upper + args[1].upper
            m = ROUNDING_MARGIN * (np.abs(lo) + np.abs(hi)) + TINY
            box = Bounds(lo - m, hi + m, "interval")
        box = box.intersect(base[name], "interval")
        if name in needs:
            eye = np.eye(net.size(name))
            back = linear_form_bounds(net, name, eye, out, lines, options.chunk, deadline)
            box = box.intersect(back, "deeppoly")
        out[name] = box
    return out


def output_form_bounds(net: Network, C: np.ndarray, node_bounds: dict[str, Bounds],
                       options: DeepPolyOptions = DeepPolyOptions()) -> Bounds:
    """Bounds of ``C @ y`` (y the network output) by back-substitution over ``node_bounds``."""
    C = np.atleast_2d(np.asarray(C, dtype=np.float64))
    lines = {r: relu_lines(node_bounds[p].lower, node_bounds[p].upper, options.lower_slope)
             for r, p in relu_pre_nodes(net).items()}
    back = linear_form_bounds(net, net.output_name, C, node_bounds, lines, options.chunk)
    # the box of the output node bounds the form too; keep the better of the two
    box = affine_interval(C, np.zeros(C.shape[0]), node_bounds[net.output_name].lower,
                          node_bounds[net.output_name].upper)
    return back.intersect(box, "deeppoly")
