"""The methods, by name: one literal table (no registration, no plug-ins).

A method is a function ``(ctx, A, b) -> MethodOutcome`` that bounds one disjunct's
minimum margin on one case (:mod:`verifier.methods.outcome`). To add one, write its
module, add its line here and its one line of help to
:data:`verifier.catalog.METHOD_SUMMARIES` (a test checks that both name the same
methods); ``verifier verify --method``, ``batch`` and the bench take their choices from
there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from verifier.catalog import METHOD_NAMES, METHOD_SUMMARIES
from verifier.methods.alpha import alpha_margin
from verifier.methods.bab import bab_margins
from verifier.methods.bab_dag import bab_any_margin
from verifier.methods.deeppoly import deeppoly_margin
from verifier.methods.exact import exact_margin, exact_margins
from verifier.methods.interval import interval_margin
from verifier.methods.krelu import krelu_margin
from verifier.methods.milp import milp_margin
from verifier.methods.split_dag import split_any_margin
from verifier.methods.triangle import triangle_margin


@dataclass(frozen=True)
class Method:
    """A bound method: its function, whether it is complete, whether it is a branch and
    bound whose searches share a worker pool (the pipeline then runs the open disjuncts'
    searches at once), and optionally its function of several disjuncts of a case at once,
    ``(ctx, [(A, b)]) -> [MethodOutcome]`` or None where it does not apply (one search
    sharing the time between them). Its one line of help is
    ``verifier.catalog.METHOD_SUMMARIES[name]``."""

    margin: Callable
    complete: bool
    searches: bool = False
    many: Callable | None = None


METHODS: dict[str, Method] = {
    "interval": Method(interval_margin, False),
    "deeppoly": Method(deeppoly_margin, False),
    "alpha": Method(alpha_margin, False),
    "triangle": Method(triangle_margin, False),
    "krelu": Method(krelu_margin, False),
    "milp": Method(milp_margin, True),
    "split": Method(split_any_margin, True, searches=True),
    "bab": Method(bab_any_margin, True, searches=True, many=bab_margins),
    "exact": Method(exact_margin, True, searches=True, many=exact_margins),
}

__all__ = ["Method", "METHODS", "METHOD_NAMES", "METHOD_SUMMARIES"]
