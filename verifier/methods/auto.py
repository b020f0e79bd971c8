"""``auto``: the cheap bounds first, then the complete method that suits the case.

``auto`` is a plan, not a bound: the pipeline runs each method of the plan on every open
disjunct before the next one, so a disjunct the cheap bounds prove never reaches the
costly step. When the exact step is a branch and bound (few free inputs, or a sequential
network), its root bound is as strong as the triangle LP, which is then left out; on
other graphs ``bab`` runs the triangle LP itself where it is cheap (small graphs) and
the optimised slopes (``alpha``) go first.
"""

from __future__ import annotations

from verifier.methods.exact import LOW_DIMENSION, free_inputs
from verifier.network import Network
from verifier.spec import Property


def few_free_inputs(prop: Property) -> bool:
    """Every case has at most ``LOW_DIMENSION`` free inputs."""
    return all(free_inputs(c.lower, c.upper) <= LOW_DIMENSION for c in prop.cases)


def auto_plan(net: Network, prop: Property) -> list[str]:
    """The methods ``auto`` runs, in order. Cases with constraint or input rows (VNN-LIB
    2.0 queries) go to the LP and the MILP, which take those rows; the branch and bound
    engines bound the box only."""
    if any(c.constraints is not None or c.input_rows is not None for c in prop.cases):
        return ["interval", "deeppoly", "alpha", "triangle", "milp"]
    if few_free_inputs(prop) or net.is_sequential():
        return ["interval", "deeppoly", "exact"]
    return ["interval", "deeppoly", "alpha", "exact"]
