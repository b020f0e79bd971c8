"""``triangle``: the LP over every ReLU's triangle (its convex hull on its interval), after
the case's bounds are tightened; the bound is certified from the LP's duals."""

from __future__ import annotations

from verifier.methods.context import CaseContext
from verifier.methods.margins import relaxation_margin
from verifier.methods.outcome import MethodOutcome
from verifier.relaxations import triangle


def triangle_margin(ctx: CaseContext, A, b) -> MethodOutcome:
    """Certified lower bound of the margin under the triangle relaxation."""
    return relaxation_margin(ctx, A, b, triangle)
