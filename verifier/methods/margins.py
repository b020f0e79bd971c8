"""Bounds of a disjunct's margin shared by the methods: box, DeepPoly, alpha, one LP.

The margin of a disjunct ``A y <= b`` is ``m(x) = max_i (A_i f(x) - b_i)``; the disjunct is
unreachable iff ``min m > 0``. Every function here returns a *certified* lower bound of
``min m`` (rounded outward), or ``-inf``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds import Bounds, output_form_bounds
from verifier.bounds.alpha import alpha_rows_lower
from verifier.bounds.chain import relu_chain
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.encode import encode_network, with_disjunct
from verifier.errors import NetworkError
from verifier.lp import certified_minimum
from verifier.methods.context import CaseContext
from verifier.methods.outcome import MethodOutcome
from verifier.spec import Case, OutputPolytope, Property

#: absolute slack around DeepPoly's margin range (the LP's margin column bounds)
RANGE_SLACK = 1e-9


def case_constraints(case: Case, in_cols: np.ndarray, relax: float = 0.0) -> dict:
    """The case's constraint rows and input rows as keyword arguments of
    :func:`~verifier.encode.with_disjunct` (``in_cols``: the input columns). ``relax > 0``
    loosens each right-hand side by ``relax * (1 + |rhs|)`` (for a MILP, whose
    infeasibility is then trusted like its dual bound)."""
    def loosened(rows):
        return None if rows is None else (rows.A, rows.b + relax * (1.0 + np.abs(rows.b)))

    return {"constraints": loosened(case.constraints), "input_rows": loosened(case.input_rows),
            "in_cols": in_cols}


def box_rows_lower(A: np.ndarray, b: np.ndarray, box: Bounds) -> np.ndarray:
    """Certified lower bounds of ``A_i y - b_i`` for ``y`` in the box."""
    Ap, An = np.maximum(A, 0), np.minimum(A, 0)
    lo = Ap @ box.lower + An @ box.upper - b
    scale = np.abs(A) @ np.maximum(np.abs(box.lower), np.abs(box.upper)) + np.abs(b)
    return lo - ROUNDING_MARGIN * scale - TINY


def margin_range(ctx: CaseContext, A, b, bounds: dict[str, Bounds]) -> tuple[float, float]:
    """Sound ``[lower, upper]`` of the margin over the case's box.

    DeepPoly back-substitution of the rows over ``bounds``; with
    ``TightenOptions.method == "alpha"`` (and not ``full_solve``) a lower bound that does
    not prove the disjunct is raised by :func:`alpha_margin_lower`, so the LPs that follow
    are skipped whenever optimised slopes already prove it."""
    forms = output_form_bounds(ctx.net, A, bounds, ctx.options.deeppoly)
    t_lo = float((forms.lower - b).max()) - RANGE_SLACK
    if t_lo <= 0 and ctx.options.tighten.method == "alpha" and not ctx.options.full_solve:
        t_lo = max(t_lo, alpha_margin_lower(ctx, A, b, bounds))
    return t_lo, float((forms.upper - b).max()) + RANGE_SLACK


def alpha_margin_lower(ctx: CaseContext, A, b, bounds: dict[str, Bounds]) -> float:
    """Sound lower bound of the margin by optimised back-substitution of the rows of A
    (:func:`~verifier.bounds.alpha.alpha_rows_lower`) over ``bounds``; ``-inf`` for
    networks that are not a chain of affine + ReLU layers.

    Memoised per (bounds, A, b) in ``ctx.alpha_margins``. A memoised value stays sound even
    if ``bounds`` were changed in place later: it was certified over sound bounds of the
    same case, so it bounds the same margin over the same input box."""
    A, b = np.asarray(A, dtype=np.float64), np.asarray(b, dtype=np.float64)
    key = (A.shape, A.tobytes(), b.tobytes())
    memo = ctx.alpha_margins.get(key)
    if memo is not None and memo[0] is bounds:     # the entry keeps `bounds` alive: no id reuse
        return memo[1]
    value = _alpha_margin_lower(ctx, A, b, bounds)
    ctx.alpha_margins[key] = (bounds, value)
    return value


def _alpha_margin_lower(ctx: CaseContext, A, b, bounds: dict[str, Bounds]) -> float:
    net = ctx.net
    try:
        chain = relu_chain(net)
    except NetworkError:
        return -np.inf
    pres = [bounds[net.inputs_of(r)[0]] for r in net.relu_names()]
    box = bounds[net.input_name]
    tighten = ctx.options.tighten
    lower = ctx.timed("bounds", lambda: alpha_rows_lower(
        chain, box.lower, box.upper, [p.lower for p in pres], [p.upper for p in pres], A,
        iterations=tighten.alpha_iterations, lr=tighten.alpha_lr, deadline=ctx.deadline))
    return float((lower - b - ROUNDING_MARGIN * (np.abs(lower) + np.abs(b)) - TINY).max())


def relaxation_lp_margin(ctx: CaseContext, A, b, blocks: dict, tag: str,
                         bounds: dict[str, Bounds],
                         highs: HighsOptions = HighsOptions(threads=1)) -> MethodOutcome:
    """Certified LP lower bound of the margin under the given relaxation blocks.

    Args:
        blocks: ``{relu: [ConstraintBlock, ...]}`` over ``bounds``.
        tag: the name the LP's size is recorded under in ``ctx.stats[f"{tag}_lp"]``.
        bounds: the (sound) bounds the blocks were built from; column bounds of the LP.
        highs: the solver's options (presolve off where infeasibility must come with a
            dual ray: presolve proves it without one).
    """
    ctx.check_time()
    t_lo, t_hi = margin_range(ctx, A, b, bounds)
    if t_lo > t_hi:       # sound bounds of the margin that cross: no input meets `bounds`
        return MethodOutcome(np.inf)
    if t_lo > 0 and not ctx.options.full_solve:
        return MethodOutcome(t_lo)
    encoded = ctx.timed("encode", lambda: encode_network(ctx.net, bounds, blocks))
    model = with_disjunct(encoded, encoded.columns[ctx.net.output_name], A, b,
                          (t_lo, t_hi), label="disjunct",
                          **case_constraints(ctx.case, encoded.columns[ctx.net.input_name]))
    backend = HighsBackend(highs)
    backend.load(model)
    bound, result = ctx.timed("lp", lambda: certified_minimum(
        backend, SolveLimits(time_limit=max(ctx.remaining(), 0.01))))
    ctx.add_time("highs", backend.total_time)
    ctx.stats.setdefault(f"{tag}_lp", []).append(model.summary())
    x = None if result.x is None else result.x[encoded.columns[ctx.net.input_name]]
    return MethodOutcome(max(bound, t_lo), x)


def relaxation_margin(ctx: CaseContext, A, b, relaxation: Callable) -> MethodOutcome:
    """Certified LP lower bound of the margin with every ReLU layer relaxed by
    ``relaxation`` (``(pre: Bounds, node) -> ConstraintBlock``, e.g.
    :func:`~verifier.relaxations.triangle`) over the case's tightened bounds."""
    bounds = ctx.tightened()
    blocks = {r: [relaxation(bounds[ctx.net.inputs_of(r)[0]], r)] for r in ctx.net.relu_names()}
    return relaxation_lp_margin(ctx, A, b, blocks, getattr(relaxation, "__name__", "lp"),
                                bounds)


def single_disjunct(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> Property:
    """The disjunct ``A y <= b`` over the case's box as a property of its own (what a
    candidate of this disjunct is replayed against)."""
    case = ctx.case
    return Property((Case(case.lower, case.upper, (OutputPolytope(A, b),),
                          case.constraints, case.input_rows),),
                    ctx.net.n_inputs, ctx.net.n_outputs)
