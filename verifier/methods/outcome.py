"""`MethodOutcome`: what a bound method learned about one disjunct (data, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MethodOutcome:
    """The answer of a method for one disjunct's minimum margin
    ``min_x max_i (A_i f(x) - b_i)`` over the case's box.

    Attributes:
        bound: a certified lower bound of the minimum (``-inf``: none); > 0 proves the
            disjunct unreachable.
        candidate: an input worth replaying (an LP/MILP point, the best point of a
            search), or None. It counts only after replay.
        optimum: the exact minimum, when an exact method finished.
        bracket: ``(lower, upper)`` of the exact minimum known to an exact method (the
            upper end is the margin of a real input).
        timed_out: the method stopped at the deadline before it finished.
        witness_found: the candidate was already replayed as a counterexample.
    """

    bound: float
    candidate: np.ndarray | None = None
    optimum: float | None = None
    bracket: tuple[float, float] | None = None
    timed_out: bool = False
    witness_found: bool = False
