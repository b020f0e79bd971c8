"""``deeppoly``: the margin's rows back-substituted through DeepPoly's lines."""

from __future__ import annotations

import numpy as np

from verifier.bounds import output_form_bounds
from verifier.bounds.rounding import ROUNDING_MARGIN
from verifier.methods.context import CaseContext
from verifier.methods.outcome import MethodOutcome


def deeppoly_margin(ctx: CaseContext, A, b) -> MethodOutcome:
    """Certified lower bound of ``max_i (A_i y - b_i)``: each row's DeepPoly lower bound
    (the maximum over rows is valid since the margin is the maximum)."""
    forms = ctx.timed("bounds", lambda: output_form_bounds(ctx.net, A, ctx.deeppoly(),
                                                          ctx.options.deeppoly))
    lower = forms.lower - b - ROUNDING_MARGIN * np.abs(b)
    return MethodOutcome(float(lower.max()))
