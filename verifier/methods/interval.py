"""``interval``: the margin bounded by the interval box of the output (rounded outward)."""

from __future__ import annotations

from verifier.methods.context import CaseContext
from verifier.methods.margins import box_rows_lower
from verifier.methods.outcome import MethodOutcome


def interval_margin(ctx: CaseContext, A, b) -> MethodOutcome:
    """Certified lower bound of ``max_i (A_i y - b_i)`` from interval output bounds."""
    out = ctx.interval()[ctx.net.output_name]
    return MethodOutcome(float(box_rows_lower(A, b, out).max()))
