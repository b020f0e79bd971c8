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
    """Budget of the falsifier (seeded: two runs give the same points).

    Attributes:
        random_points, pgd_restarts, pgd_steps, seed: the sample and the attack.
        time_share: the share of the run's remaining time the first falsification may
            take before the bound methods start (they falsify too, with their own points).
    """

    random_points: int = 256
    pgd_restarts: int = 8
    pgd_steps: int = 40
    seed: int = 0
    time_share: float = 0.2


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
    order = np.argsort(margins)[:options.pgd_restarts]
    x, m = pgd(net, case, [(A, b, X[order])], options, deadline)[0]
    return (x, m) if m < best_m else (best_x, best_m)


def pgd(net: Network, case: Case, targets: list, options: FalsifyOptions,
        deadline: float | None = None) -> list[tuple[np.ndarray, float]]:
    """Projected sign-gradient descent on several disjuncts at once.

    Args:
        targets: ``[(A, b, starts (R, n))]``: each disjunct's rows (constraint rows
            included) and its start points; all rows of all targets share one forward
            and one backward pass per step.

    Returns:
        Per target, (best x, its margin). Stops early once some target reaches a margin
        <= 0 (a candidate: the pipeline replays it) or ``deadline`` passed.
    """
    lo, hi = case.lower, case.upper
    P = np.vstack([np.clip(starts, lo, hi) for _, _, starts in targets])
    owner = np.concatenate([np.full(len(starts), t) for t, (_, _, starts) in
                            enumerate(targets)])
    best = [(None, np.inf) for _ in targets]
    step = (hi - lo) / 4.0
    checkpoint = np.inf
    for it in range(options.pgd_steps + 1):
        values = net.forward(P, all_nodes=True)
        Y = values[net.output_name]
        on_input = input_margins(case, P)
        G = np.zeros_like(Y)
        m = np.empty(P.shape[0])
        for t, (A, b, _) in enumerate(targets):
            rows = np.flatnonzero(owner == t)
            viol = Y[rows] @ A.T - b
            m[rows] = np.maximum(viol.max(axis=1), on_input[rows])
            G[rows] = A[np.argmax(viol, axis=1)]
            k = rows[int(np.argmin(m[rows]))]
            if m[k] < best[t][1]:
                best[t] = (P[k].copy(), float(m[k]))
        lowest = min(v for _, v in best)
        if it == options.pgd_steps or lowest <= 0 or _past(deadline):
            break
        if it % STALL_STEPS == 0 and it:
            if checkpoint - lowest < STALL_GAIN * abs(checkpoint):
                break                 # far from a counterexample and hardly moving
            checkpoint = lowest
        elif it == 0:
            checkpoint = lowest
        grad = output_gradient(net, P, G, values)
        if case.input_rows is not None:      # an input row is the largest: step on it
            C, d = case.input_rows.A, case.input_rows.b
            rows = C[np.argmax(P @ C.T - d, axis=1)]
            grad = np.where((on_input >= m)[:, None], rows, grad)
        P = np.clip(P - step * np.sign(grad), lo, hi)
        step = step * 0.85
    return best


#: every this many gradient steps the attack checks its progress ...
STALL_STEPS = 10
#: ... and stops when its lowest margin fell by less than this share since the last check
STALL_GAIN = 0.05

LOW_DIMENSION_SAMPLES = 12   # up to this many inputs, sample 32x more points (cheap)


def falsify_case(net: Network, case: Case, options: FalsifyOptions = FalsifyOptions(),
                 pgd_disjuncts: int | None = None, deadline: float | None = None
                 ) -> list[tuple[int, np.ndarray, float]]:
    """Falsify all disjuncts of a case with one shared sample.

    The random sample (centre, corners lo/hi, uniform points; 32x more points for at most
    ``LOW_DIMENSION_SAMPLES`` inputs) is evaluated once; every
    disjunct gets its best sampled point, and PGD (:func:`pgd`, all disjuncts in one batch)
    is run on the ``pgd_disjuncts`` disjuncts whose sampled margin is lowest (all of them by
    default: the sampled margin is a poor guide to the class an attack reaches), from each
    one's best sampled points.

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
    attack = [item for item in found[:pgd_disjuncts or len(found)] if item[2] > 0]
    if attack and found[0][2] > 0 and options.pgd_restarts > 0 and not np.all(hi == lo) \
            and not _past(deadline):
        targets = []
        for item in attack:
            A, b = with_constraints(case, *_rows(case.disjuncts[item[0]]))
            margins = np.maximum((Y @ A.T - b).max(axis=1), input_margins(case, X))
            targets.append((A, b, X[np.argsort(margins)[:options.pgd_restarts]]))
        for item, (x, m) in zip(attack, pgd(net, case, targets, options, deadline)):
            if m < item[2]:
                item[1], item[2] = x, m
    for item in found:
        if item[2] > 0 and not meets_constraints(net, case, item[1]):
            item[2] = np.inf       # not a point of the case: its margin bounds nothing
    found.sort(key=lambda item: item[2])
    return [tuple(item) for item in found]


def _rows(poly) -> tuple[np.ndarray, np.ndarray]:
    return poly.A, poly.b


def meets_constraints(net: Network, case: Case, x: np.ndarray) -> bool:
    """Whether ``x`` meets the case's input rows and constraint rows exactly (the box is
    not checked)."""
    if case.input_rows is None and case.constraints is None:
        return True
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if case.input_rows is not None and not case.input_rows.contains(x):
        return False
    return case.constraints is None or case.admits(net.forward(x))
