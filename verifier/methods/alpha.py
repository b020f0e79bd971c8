"""``alpha``: the margin's rows back-substituted with optimised lower slopes (alpha-CROWN).

Over the case's DeepPoly bounds, each row of the disjunct gets its own slopes, improved by
projected gradient steps (:func:`~verifier.bounds.dag_alpha.alpha_rows_lower_dag` on any
DAG; the chain's batched version on a chain of affine + ReLU layers). Every iterate is a
sound bound, so the method is as sound as DeepPoly at any stopping point, and at least as
tight as it.
"""

from __future__ import annotations

import time

import numpy as np

from verifier.bounds.dag_alpha import alpha_rows_lower_dag
from verifier.bounds.rounding import ROUNDING_MARGIN
from verifier.methods.context import CaseContext
from verifier.methods.outcome import MethodOutcome


def alpha_margin(ctx: CaseContext, A, b) -> MethodOutcome:
    """Certified lower bound of ``max_i (A_i y - b_i)`` by optimised slopes per row, over
    DeepPoly bounds, within the case's deadline (iterations: ``tighten.alpha_iterations``);
    the case's input rows (VNN-LIB 2.0 linear input constraints) enter with optimised
    multipliers."""
    bounds = ctx.deeppoly()
    ctx.check_time()
    tighten = ctx.options.tighten
    deadline = min(ctx.deadline, time.monotonic() + max(ctx.remaining(), 0.0))
    rows = ctx.case.input_rows
    lower = ctx.timed("bounds", lambda: alpha_rows_lower_dag(
        ctx.net, ctx.net.output_name, np.atleast_2d(A), bounds,
        iterations=tighten.alpha_iterations, lr=tighten.alpha_lr, deadline=deadline,
        input_rows=None if rows is None else (rows.A, rows.b)))
    margin = lower - b - ROUNDING_MARGIN * np.abs(b)
    return MethodOutcome(float(margin.max()))
