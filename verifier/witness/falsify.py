"""Falsification before any bound: box centre, corners, random points, projected gradient.

The objective per (case, disjunct) is the violation margin ``max_i (A_i f(x) - b_i)``; a
point with margin <= 0 is a candidate counterexample (replayed exactly before it counts).
Projected gradient descent uses the network's (sub)gradient computed by a reverse pass
over the graph and sign steps (as in PGD attacks), projected onto the box.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from verifier.network import Add, Affine, Network, Relu
from verifier.spec import Case


@dataclass(frozen=True)
class FalsifyOptions:
    """Budget of the falsifier (seeded: two runs give the same points)."""

    random_points: int = 256
    pgd_restarts: int = 8
    pgd_steps: int = 40
    seed: int = 0


# the reverse step of each op kind: (op, output gradient, forward values of its operands)
# -> one gradient per operand, in argument order
GRADIENT_RULES = {
    Affine: lambda op, g, args: [np.asarray(op.W.T @ g.T).T],
    Relu: lambda op, g, args: [g * (args[0] > 0)],
    Add: lambda op, g, args: [g, g],
}


def output_gradient(net: Network, X: np.ndarray, G: np.ndarray,
                    values: dict | None = None) -> np.ndarray:
    """Gradient of ``sum_k G[k] . f(X[k])`` w.r.t. each ``X[k]``; shapes (N, n_in), (N, n_out).

    ``values`` may pass the forward pass of X (``net.forward(X, all_nodes=True)``). At a
    ReLU's kink the subgradient 0 is taken.
    """
    values = net.forward(X, all_nodes=True) if values is None else values
    grads = {net.output_name: G.astype(np.float64)}
    for name in reversed(net.order):
        if name not in grads:
            continue
        g = grads.pop(name)
        if name == net.input_name:
            return g
        op = net.op(name)
        parents = net.inputs_of(name)
        operand_grads = GRADIENT_RULES[type(op)](op, g, [values[p] for p in parents])
        for parent, value in zip(parents, operand_grads):
            grads[parent] = grads[parent] + value if parent in grads else value
    return np.zeros_like(X)  # output does not depend on the input


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def with_constraints(case: Case, A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The disjunct's rows with the case's constraint rows appended: their margin is <= 0
    exactly at the points that are counterexamples (constraints met, disjunct reached)."""
    if case.constraints is None:
        return A, b
    return (np.vstack([np.asarray(A, dtype=np.float64).reshape(-1, case.constraints.A.shape[1]),
                       case.constraints.A]),
            np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1), case.constraints.b]))


def input_margins(case: Case, X: np.ndarray) -> np.ndarray:
    """``max_i (C_i x - d_i)`` of the case's input rows per sample (-inf without rows)."""
    if case.input_rows is None:
        return np.full(X.shape[0], -np.inf)
    return (X @ case.input_rows.A.T - case.input_rows.b).max(axis=1)


def _margins(net, A, b, X, case: Case):
    Y = net.forward(X)
    out = (Y @ A.T - b).max(axis=1) if A.shape[0] else np.full(X.shape[0], -np.inf)
    return np.maximum(out, input_margins(case, X)), Y


def falsify_disjunct(net: Network, case: Case, A: np.ndarray, b: np.ndarray,
                     options: FalsifyOptions = FalsifyOptions(),
                     extra_starts: np.ndarray | None = None,
                     deadline: float | None = None) -> tuple[np.ndarray, float]:
    """Search the box for a low violation margin; return (best x, its margin). The
    gradient steps stop once ``deadline`` (``time.monotonic()``) passed. The case's
    constraint rows count in the margin (:func:`with_constraints`)."""
    A, b = with_constraints(case, A, b)
    rng = np.random.default_rng(options.seed)
    lo, hi = case.lower, case.upper
    n = lo.size
    starts = [(lo + hi) / 2, lo, hi]
    X = np.vstack(starts + [rng.uniform(lo, hi, size=(options.random_points, n))]
                  + ([np.atleast_2d(extra_starts)] if extra_starts is not None else []))
    X = np.clip(X, lo, hi)
    margins, _ = _margins(net, A, b, X, case)
    best = int(np.argmin(margins))
    best_x, best_m = X[best].copy(), float(margins[best])
    if best_m <= 0 or A.shape[0] == 0 or np.all(hi == lo) or options.pgd_restarts < 1:
        return best_x, best_m
    # PGD from the best few points
    order = np.argsort(margins)[:options.pgd_restarts]
    P = X[order].copy()
    step = (hi - lo) / 4.0
    for it in range(options.pgd_steps + 1):
        values = net.forward(P, all_nodes=True)
        viol = values[net.output_name] @ A.T - b
        on_input = input_margins(case, P)
        m = np.maximum(viol.max(axis=1), on_input)
        k = int(np.argmin(m))
        if m[k] < best_m:
            best_x, best_m = P[k].copy(), float(m[k])
        if it == options.pgd_steps or (best_m < 0 and it > 5) or _past(deadline):
            break
        grad = output_gradient(net, P, A[np.argmax(viol, axis=1)], values)
        if case.input_rows is not None:      # an input row is the largest: step on it
            rows = case.input_rows.A[np.argmax(P @ case.input_rows.A.T - case.input_rows.b,
                                               axis=1)]
            grad = np.where((on_input > viol.max(axis=1))[:, None], rows, grad)
        P = np.clip(P - step * np.sign(grad), lo, hi)
        step = step * 0.85
    return best_x, best_m


LOW_DIMENSION_SAMPLES = 12   # up to this many inputs, sample 32x more points (cheap)


def falsify_case(net: Network, case: Case, options: FalsifyOptions = FalsifyOptions(),
                 pgd_disjuncts: int | None = None, deadline: float | None = None
                 ) -> list[tuple[int, np.ndarray, float]]:
    """Falsify all disjuncts of a case with one shared sample.

    The random sample (centre, corners lo/hi, uniform points; 32x more points for at most
    ``LOW_DIMENSION_SAMPLES`` inputs) is evaluated once; every
    disjunct gets its best sampled point, and PGD is run on the ``pgd_disjuncts``
    disjuncts whose sampled margin is lowest (all of them by default: the sampled margin
    is a poor guide to the class an attack reaches).

    The gradient search stops once ``deadline`` (``time.monotonic()``) passed.

    Returns:
        [(disjunct index, best x, its margin)] sorted by margin; the margin counts the
        case's constraint rows (:func:`with_constraints`), and is ``inf`` for a point that
        does not meet them (it bounds nothing), so every finite margin is an upper bound
        of the disjunct's minimum over the case.
    """
    rng = np.random.default_rng(options.seed)
    lo, hi = case.lower, case.upper
    count = options.random_points * (32 if lo.size <= LOW_DIMENSION_SAMPLES else 1)
    X = np.vstack([(lo + hi) / 2, lo, hi, rng.uniform(lo, hi, size=(count, lo.size))])
    Y = net.forward(X)
    found = []
    for d, poly in enumerate(case.disjuncts):
        A, b = with_constraints(case, poly.A, poly.b)
        margins = (Y @ A.T - b).max(axis=1) if A.shape[0] else np.full(X.shape[0], -np.inf)
        margins = np.maximum(margins, input_margins(case, X))
        k = int(np.argmin(margins))
        found.append([d, X[k].copy(), float(margins[k])])
    found.sort(key=lambda item: item[2])
    for item in found[:pgd_disjuncts or len(found)]:
        if item[2] <= 0:
            continue
        if _past(deadline):
            break
        poly = case.disjuncts[item[0]]
        x, m = falsify_disjunct(net, case, poly.A, poly.b, options, deadline=deadline)
        if m < item[2]:
            item[1], item[2] = x, m
    for item in found:
        if item[2] > 0 and not meets_constraints(net, case, item[1]):
            item[2] = np.inf       # not a point of the case: its margin bounds nothing
    found.sort(key=lambda item: item[2])
    return [tuple(item) for item in found]


def meets_constraints(net: Network, case: Case, x: np.ndarray) -> bool:
    """Whether ``x`` meets the case's input rows and constraint rows exactly (the box is
    not checked)."""
    if case.input_rows is None and case.constraints is None:
        return True
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if case.input_rows is not None and not case.input_rows.contains(x):
        return False
    return case.constraints is None or case.admits(net.forward(x))
