"""Relaxation-gap tables: how far each method's certified bound is from the exact optimum.

For every objective of a property (each (case, disjunct); for L∞ robustness that is each
adversarial label ``j``, objective ``min y_label - y_j``) the table holds

* the certified lower bound of each method (``interval``, ``deeppoly``, ``triangle``,
  ``krelu``, ``milp``; each solved to its optimum, ``VerifyOptions.full_solve=True``);
* what is known of the exact optimum: the MILP optimum when it finished, else the bracket
  ``[lower, upper]`` with ``lower`` = the best certified bound of any method (the MILP dual
  bound included) and ``upper`` = the smallest margin at a real input (MILP incumbent, or
  the input part of any relaxation's LP solution evaluated through the network);
* the gap ``exact - bound`` of each method (a bracket when the exact value is a bracket);
* the share of the triangle's gap that k-ReLU closes, ``(krelu - triangle) / (exact -
  triangle)`` (computed against the bracket's upper end when the MILP did not finish: then
  it is a lower estimate of the share);

and per ReLU layer the number of unstable neurons and the mean/median pre-activation width
under interval, DeepPoly and tightened bounds (a row named after the tightening:
``alpha`` by default, ``lp`` with ``TightenOptions(method="lp")``).

How it runs: the methods of :data:`verifier.methods.METHODS`, called on one shared
:class:`~verifier.methods.CaseContext` per case, so interval/DeepPoly bounds, tightening
and k-ReLU hulls are computed once per case and not once per method (as
``verify(net, prop, method=m)`` per method would). Falsification is not run: every objective gets every bound, even when the property is
false. ``timeout`` is the budget of one (objective, method) solve; tightening gets its
own budget (``tighten_timeout``) once per case.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from verifier.bounds import Bounds
from verifier.catalog import GAP_METHODS
from verifier.errors import TimeLimitReached
from verifier.methods import METHODS, CaseContext, MethodOutcome, VerifyOptions
from verifier.network import Network
from verifier.report.gap_table import GapTable, LayerWidths, ObjectiveGap
from verifier.spec import Property
from verifier.witness.falsify import meets_constraints
from verifier.witness.repair import onto_input_rows

#: the methods of a gap table unless others are asked for
DEFAULT_METHODS = GAP_METHODS
RELAXATIONS = ("interval", "deeppoly", "triangle", "krelu")
_NEEDS_TIGHTENED = {"triangle", "krelu", "milp", "exact"}


def gap_options(options: VerifyOptions | None) -> VerifyOptions:
    """``options`` with ``full_solve`` on and k-ReLU's triangle-first shortcut off."""
    opts = options or VerifyOptions()
    return replace(opts, full_solve=True, krelu=replace(opts.krelu, triangle_first=False))


def layer_widths(net: Network, bounds_by_method: dict[str, dict[str, Bounds]],
                 case: int = 0) -> list[LayerWidths]:
    """Unstable count and mean/median width of every ReLU layer's pre-activation bounds."""
    rows = []
    for relu in net.relu_names():
        pre = net.inputs_of(relu)[0]
        for method, bounds in bounds_by_method.items():
            b = bounds[pre]
            w = b.width
            rows.append(LayerWidths(case, pre, net.size(pre), method, int(b.unstable().size),
                                    float(np.mean(w)), float(np.median(w))))
    return rows


def case_bounds(ctx: CaseContext, lp: bool = True) -> dict[str, dict[str, Bounds]]:
    """``{"interval": ..., "deeppoly": ..., T: ...}`` of a case (cached in ``ctx``).

    ``T`` is the tightening that made ``ctx.tightened()``: ``"alpha"`` or ``"lp"``
    (``ctx.options.tighten.method``), so the row says which bounds it holds.
    """
    out = {"interval": ctx.interval(), "deeppoly": ctx.deeppoly()}
    if lp and ctx.options.lp_tighten:
        out[ctx.options.tighten.method] = ctx.tightened()
    return out


def available_methods(methods: Iterable[str]) -> tuple[list[str], list[str]]:
    """(known methods in the order asked, notes about the skipped ones)."""
    keep, notes = [], []
    for m in methods:
        if m in METHODS:
            keep.append(m)
        else:
            notes.append(f"method {m!r} is not a method of this tool: skipped")
    return keep, notes


def run_method(ctx: CaseContext, method: str, A, b, seconds: float) -> tuple[MethodOutcome, str]:
    """One method's outcome on one objective within ``seconds`` (the case's caches are
    shared), and ``"ok"`` or ``"timeout"``."""
    ctx.set_budget(seconds)
    try:
        found = METHODS[method].margin(ctx, A, b)
    except TimeLimitReached:
        return MethodOutcome(-math.inf), "timeout"
    return found, "timeout" if found.timed_out else "ok"


def _objective_label(prop: Property, case: int, disjunct: int,
                     labels: Sequence[str] | None = None) -> str:
    A = prop.cases[case].disjuncts[disjunct].A
    if A.shape[0] == 1:
        pos, neg = np.flatnonzero(A[0] > 0), np.flatnonzero(A[0] < 0)
        if len(pos) == 1 and len(neg) == 1 and A[0, pos[0]] == 1 and A[0, neg[0]] == -1:
            if labels is not None:
                return f"{labels[pos[0]]} - {labels[neg[0]]}"
            return f"y{pos[0]} - y{neg[0]}"
    return f"case{case}/d{disjunct}"


def _real_margin(net: Network, case, A, b, x) -> float:
    """Margin at an input point clipped into the box (an upper bound on the exact min)."""
    if x is None:
        return math.inf
    x = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), case.lower, case.upper)
    x = onto_input_rows(case, x)
    if x is None or not meets_constraints(net, case, x):
        return math.inf          # not a point of the case (constraints, input rows)
    y = net.forward(x[None, :])[0]
    return float(np.max(A @ y - b))


def gap_table(net: Network, prop: Property, methods: Sequence[str] = DEFAULT_METHODS,
              timeout: float = 60.0, options: VerifyOptions | None = None,
              tighten_timeout: float | None = None, progress=None,
              labels: Sequence[str] | None = None) -> GapTable:
    """The gap table of a property (see module docstring).

    Args:
        net, prop: the network and property.
        methods: bound methods; unknown names are skipped with a note.
        timeout: seconds per (objective, method) solve.
        options: pipeline options (``full_solve`` is forced on).
        tighten_timeout: seconds for the tightening of a case (default ``max(timeout,
            60)``).
        progress: optional callback receiving one-line messages.
        labels: names of the network outputs for the objective column (e.g. a 2.0
            query's ``Y[0,1]``); default ``y0, y1, ...``.
    """
    start = time.monotonic()
    opts = gap_options(options)
    prop.check_fits(net.n_inputs, net.n_outputs)
    methods, notes = available_methods(methods)
    say = progress or (lambda message: None)
    table = GapTable(name=prop.name or "property", methods=methods, notes=notes)
    tighten_budget = max(timeout, 60.0) if tighten_timeout is None else tighten_timeout
    for k, case in enumerate(prop.cases):
        ctx = CaseContext(net, case, opts, time.monotonic() + 3600.0)
        if _NEEDS_TIGHTENED & set(methods) and opts.lp_tighten:
            # ctx.tightened() uses half of the remaining time
            ctx.set_budget(2.0 * tighten_budget)
            say(f"case {k}: {opts.tighten.method} tightening")
            ctx.tightened()
        table.layers += layer_widths(net, case_bounds(ctx), case=k)
        for d, poly in enumerate(case.disjuncts):
            row = ObjectiveGap(k, d, _objective_label(prop, k, d, labels))
            upper = math.inf
            for m in methods:
                t0 = time.perf_counter()
                found, status = run_method(ctx, m, poly.A, poly.b, timeout)
                row.times[m] = time.perf_counter() - t0
                if found.optimum is not None:
                    row.exact = float(found.optimum)
                if found.bracket is not None:
                    upper = min(upper, float(found.bracket[1]))
                row.bounds[m] = float(found.bound)
                row.statuses[m] = status
                upper = min(upper, _real_margin(net, case, poly.A, poly.b, found.candidate))
                say(f"case {k} disjunct {d} {m}: {found.bound:.6g} ({status}, "
                    f"{row.times[m]:.1f}s)")
            best = max(row.bounds.values(), default=-math.inf)
            if row.exact is not None:
                row.exact_lower = row.exact_upper = row.exact
            else:
                row.exact_lower, row.exact_upper = best, max(upper, best)
            table.objectives.append(row)
    table.seconds = time.monotonic() - start
    return table
