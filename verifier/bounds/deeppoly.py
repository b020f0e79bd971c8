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

from verifier.bounds.dag_backsub import backsub_bounds, extend_scales, node_scales
from verifier.bounds.interval import INTERVAL_RULES, affine_interval, interval_bounds
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.bounds.relu_lines import relu_lines
from verifier.bounds.types import Bounds
from verifier.errors import TimeLimitReached
from verifier.network import Add, Affine, Network, Relu


@dataclass(frozen=True)
class DeepPolyOptions:
    """Options of back-substitution.

    Attributes:
        lower_slope: lower line of unstable ReLUs ("min_area", "zero", "one", "parallel").
        chunk: rows of ``M`` processed at once (memory: chunk x widest layer floats).
        every_neuron: back-substitute every pre-activation neuron. By default only those
            the interval image of the (already back-substituted) operand bounds leaves
            unstable are: a stable neuron's ReLU is exact whatever its bounds, so every
            relaxation built on the bounds is the same, at a fraction of the cost on wide
            layers; the stable neurons keep that interval image (reports of per-layer
            widths ask for every neuron).
    """

    lower_slope: str = "min_area"
    chunk: int = 2048
    every_neuron: bool = False


def _matmul(M: np.ndarray, W) -> np.ndarray:
    if sp.issparse(W):
        return np.asarray((W.T @ M.T).T)
    return M @ W


def _affine_back(op: Affine, name, M, M_abs, lines):
    """Through ``z = W x + b``: rows ``M`` on z become ``M W`` on x plus ``M b``."""
    return (M @ op.b, M_abs @ np.abs(op.b),
            [(_matmul(M, op.W), _matmul(M_abs, abs(op.W)))])


def _relu_back(op: Relu, name, M, M_abs, lines):
    """Through a ReLU: positive coefficients take the lower line, negative the upper."""
    a_lo, c_lo, a_up, c_up = lines[name]
    Mp, Mm = np.maximum(M, 0), np.minimum(M, 0)
    return (Mp @ c_lo + Mm @ c_up, M_abs @ np.maximum(np.abs(c_lo), np.abs(c_up)),
            [(Mp * a_lo + Mm * a_up, M_abs * np.maximum(np.abs(a_lo), np.abs(a_up)))])


def _add_back(op: Add, name, M, M_abs, lines):
    """Through ``x1 + x2``: both operands receive the rows."""
    zero = np.zeros(M.shape[0])
    return zero, zero, [(M, M_abs), (M.copy(), M_abs.copy())]


# one backward step per op kind: (op, node name, M, |M| propagated, ReLU lines) ->
# (constant, |constant|, [(rows, |rows|) per operand in argument order])
BACKWARD_RULES = {Affine: _affine_back, Relu: _relu_back, Add: _add_back}


def backsubstitute_lower(net: Network, target: str, M: np.ndarray,
                         node_bounds: dict[str, Bounds], lines: dict[str, tuple],
                         deadline: float | None = None) -> np.ndarray:
    """Sound lower bounds on ``M @ value(target)`` over the input box.

    Args:
        net: the network.
        target: node whose value is bounded.
        M: (k, size(target)) coefficient rows.
        node_bounds: bounds with at least the input node's box.
        lines: relu node name -> ``relu_lines(...)`` tuple for every ReLU upstream of target.
        deadline: ``time.monotonic()``; :class:`TimeLimitReached` is raised between steps
            once it passed (a step through a wide convolution takes a second).

    Returns:
        (k,) lower bounds (rounded outward).
    """
    k = M.shape[0]
    pending = {target: (M.astype(np.float64, copy=True), np.abs(M))}
    const = np.zeros(k)
    const_abs = np.zeros(k)
    for name in net.upstream_order(target):
        if name not in pending:
            continue
        Mn, An = pending.pop(name)
        _check_deadline(deadline)
        if name == net.input_name:
            box = node_bounds[name]
            result = const + np.maximum(Mn, 0) @ box.lower + np.minimum(Mn, 0) @ box.upper
            scale = const_abs + An @ np.maximum(np.abs(box.lower), np.abs(box.upper))
            return result - ROUNDING_MARGIN * scale - TINY
        op = net.op(name)
        step_const, step_abs, operands = BACKWARD_RULES[type(op)](op, name, Mn, An, lines)
        const += step_const
        const_abs += step_abs
        for parent, (coeffs, coeffs_abs) in zip(net.inputs_of(name), operands):
            if parent in pending:
                pending[parent][0][...] += coeffs
                pending[parent][1][...] += coeffs_abs
            else:
                pending[parent] = (coeffs, coeffs_abs)
    raise AssertionError("back-substitution did not reach the input node")  # pragma: no cover


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimitReached("DeepPoly back-substitution passed its deadline")


def linear_form_bounds(net: Network, target: str, M: np.ndarray,
                       node_bounds: dict[str, Bounds], lines: dict[str, tuple],
                       chunk: int = 2048, deadline: float | None = None,
                       scales: dict[str, np.ndarray] | None = None,
                       drop_stable: bool = False, dense: dict | None = None) -> Bounds:
    """Lower and upper bounds of every row of ``M @ value(target)``, chunked over rows
    (:func:`~verifier.bounds.dag_backsub.backsub_bounds`: both bounds in one walk, the
    best of its early stops, rounded outward by the magnitude vectors ``scales``,
    computed here when not given).

    Raises:
        TimeLimitReached: ``deadline`` (``time.monotonic()``) passed (checked between
            chunks and between the steps of a chunk).
    """
    if scales is None:
        scales = node_scales(net, node_bounds, lines, target)
    lows, highs = [], []
    for start in range(0, M.shape[0], chunk):
        _check_deadline(deadline)
        found = backsub_bounds(net, target, M[start:start + chunk], node_bounds, lines,
                               scales, drop_stable, deadline, {} if dense is None else dense)
        lows.append(found.lower)
        highs.append(found.upper)
    if not lows:
        return Bounds(np.zeros(0), np.zeros(0), "deeppoly")
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
    scales: dict[str, np.ndarray] = {}
    dense: dict[str, np.ndarray] = {}
    pre_nodes = set(relu_pre_nodes(net).values())
    needs = pre_nodes | {net.output_name}
    for name in net.order:
        op = net.op(name)
        args = [out[i] for i in net.inputs_of(name)]
        if name == net.input_name:
            out[name] = Bounds(lower, upper, "input")
        elif isinstance(op, Relu):
            pre = args[0]
            lines[name] = relu_lines(pre.lower, pre.upper, options.lower_slope)
            out[name] = Bounds(np.maximum(pre.lower, 0), np.maximum(pre.upper, 0), pre.provenance)
        else:
            # interval from the (back-substituted) operands first, then back-substitution
            extend_scales(net, name, scales, out, lines)   # needs only the operands'
            box = INTERVAL_RULES[type(op)](op, args).intersect(base[name], "interval")
            if name in needs:
                box = _back_substituted(net, name, box, out, lines, scales, options,
                                        neurons=name in pre_nodes and name != net.output_name,
                                        deadline=deadline, dense=dense)
            out[name] = box
        if name not in scales:
            extend_scales(net, name, scales, out, lines)
    return out


def _back_substituted(net: Network, name: str, box: Bounds, out, lines, scales,
                      options: DeepPolyOptions, neurons: bool, deadline,
                      dense: dict) -> Bounds:
    """``box`` intersected with the back-substituted bounds of node ``name``: of its
    neurons the interval leaves unstable (``neurons``, unless ``every_neuron``; each
    leaves the walk once stable), or of every value."""
    rows = np.arange(net.size(name))
    if neurons and not options.every_neuron:
        rows = box.unstable()
    eye = np.zeros((rows.size, net.size(name)))
    eye[np.arange(rows.size), rows] = 1.0
    back = linear_form_bounds(net, name, eye, out, lines, options.chunk, deadline, scales,
                              drop_stable=neurons and not options.every_neuron, dense=dense)
    lo, hi = box.lower.copy(), box.upper.copy()
    lo[rows] = np.maximum(lo[rows], back.lower)
    hi[rows] = np.minimum(hi[rows], back.upper)
    return Bounds(lo, hi, "deeppoly")


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
