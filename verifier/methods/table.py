"""The methods, by name: one literal table (no registration, no plug-ins).

A method is a function ``(ctx, A, b) -> MethodOutcome`` that bounds one disjunct's
minimum margin on one case (:mod:`verifier.methods.outcome`). To add one, write its
module and add its line here; ``verifier verify --method``, ``batch`` and the bench take
their choices from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from verifier.methods.bab import bab_margin, bab_margins
from verifier.methods.deeppoly import deeppoly_margin
from verifier.methods.exact import exact_margin, exact_margins
from verifier.methods.interval import interval_margin
from verifier.methods.krelu import krelu_margin
from verifier.methods.milp import milp_margin
from verifier.methods.split import split_margin
from verifier.methods.triangle import triangle_margin


@dataclass(frozen=True)
class Method:
    """A bound method: its function, whether it is complete, one line of help, whether it
    is a branch and bound whose searches share a worker pool (the pipeline then runs the
    open disjuncts' searches at once), and optionally its function of several disjuncts
    of a case at once, ``(ctx, [(A, b)]) -> [MethodOutcome]`` or None where it does not
    apply (one search sharing the time between them)."""

    margin: Callable
    complete: bool
    summary: str
    searches: bool = False
    many: Callable | None = None


METHODS: dict[str, Method] = {
    "interval": Method(interval_margin, False, "box propagation, rounded outward"),
    "deeppoly": Method(deeppoly_margin, False, "DeepPoly/CROWN back-substitution"),
    "triangle": Method(triangle_margin, False, "LP over per-neuron triangles, tightened bounds"),
    "krelu": Method(krelu_margin, False, "triangle LP + multi-neuron k-ReLU hull cuts"),
    "milp": Method(milp_margin, True, "big-M MILP on HiGHS (dual bound, never the incumbent)"),
    "split": Method(split_margin, True, "input-splitting branch and bound", True),
    "bab": Method(bab_margin, True, "ReLU-split branch and bound (alpha-beta bounds)", True,
                  bab_margins),
    "exact": Method(exact_margin, True, "split for few free inputs, else bab, else milp", True,
                    exact_margins),
}

#: every name ``verify`` accepts: the methods and the ``auto`` plan
METHOD_NAMES = tuple(METHODS) + ("auto",)
