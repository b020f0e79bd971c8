"""``exact``: the complete method that suits the case: input splitting for few free inputs
(on any graph), else ReLU-split branch and bound (on any graph)."""

from __future__ import annotations

import numpy as np

from verifier.methods.bab import bab_margins
from verifier.methods.bab_dag import bab_any_margin
from verifier.methods.context import CaseContext
from verifier.methods.outcome import MethodOutcome
from verifier.methods.split_dag import split_any_margin

#: at most this many free inputs: the input box is split (ACAS Xu has 5)
LOW_DIMENSION = 12


def free_inputs(lower: np.ndarray, upper: np.ndarray) -> int:
    """Inputs whose interval is not a single point."""
    return int(np.sum(upper > lower))


def exact_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """``split`` for at most ``LOW_DIMENSION`` free inputs, else ``bab`` (any graph)."""
    if free_inputs(ctx.case.lower, ctx.case.upper) <= LOW_DIMENSION:
        return split_any_margin(ctx, A, b)
    return bab_any_margin(ctx, A, b)


def exact_margins(ctx: CaseContext, polys: list[tuple[np.ndarray, np.ndarray]]
                  ) -> list[MethodOutcome] | None:
    """Several disjuncts of the case at once (:func:`~verifier.methods.bab.bab_margins`)
    when ``exact`` would branch on ReLUs of a chain; None otherwise (the caller takes them
    one by one with :func:`exact_margin`)."""
    if free_inputs(ctx.case.lower, ctx.case.upper) <= LOW_DIMENSION:
        return None
    return bab_margins(ctx, polys)
