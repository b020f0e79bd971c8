"""The method table: every method answers through it, and a new relaxation is one table line.

Contracts: on random nets every method of ``METHODS`` returns a certified bound no larger
than the margin at sampled inputs, the complete ones agree with the MILP's verdict, and a
relaxation added as one line (DeepPoly's lines as an LP) sits where the theory puts it:
DeepPoly back-substitution <= LP over DeepPoly's lines <= triangle LP.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from helpers import random_box, random_network, sample_box
from verifier.methods import METHODS, Method
from verifier.methods.margins import relaxation_margin
from verifier.relaxations import deeppoly_lines
from verifier.spec import halfspace_property
from verifier.verify import VerifyOptions, verify


def _instance(seed: int, threshold: float):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 4, [8, 8], 2)
    lo, hi = random_box(rng, 4)
    A = np.array([[1.0, -1.0]])
    outputs = (net.forward(sample_box(rng, lo, hi, 2000)) @ A.T)[:, 0]
    b = np.array([outputs.min() + threshold * (outputs.max() - outputs.min())])
    return net, halfspace_property(lo, hi, [(A, b)], 2), float((outputs - b[0]).min())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_method_bounds_the_sampled_margin(seed):
    net, prop, sampled = _instance(seed, -0.2)
    milp = verify(net, prop, method="milp", timeout=30).verdict
    for name, method in METHODS.items():
        result = verify(net, prop, method=name, timeout=30,
                        options=VerifyOptions(full_solve=True))
        bound = result.disjuncts[0].bounds.get(name, -np.inf)
        assert bound <= sampled + 1e-9, (name, bound, sampled)
        if method.complete and result.verdict in ("sat", "unsat"):
            assert result.verdict == milp, (name, result.verdict, milp)


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_a_relaxation_added_as_one_table_line(monkeypatch, seed):
    monkeypatch.setitem(METHODS, "deeppoly-lp", Method(
        partial(relaxation_margin, relaxation=deeppoly_lines), False, "LP over DeepPoly lines"))
    net, prop, sampled = _instance(seed, -0.3)
    options = VerifyOptions(full_solve=True, lp_tighten=False)   # the same bounds for all
    bound = {name: verify(net, prop, method=name, timeout=30, options=options)
             .disjuncts[0].bounds[name] for name in ("deeppoly", "deeppoly-lp", "triangle")}
    tol = 1e-7 * (1 + abs(bound["triangle"]))
    assert bound["deeppoly"] <= bound["deeppoly-lp"] + tol
    assert bound["deeppoly-lp"] <= bound["triangle"] + tol
    assert bound["triangle"] <= sampled + 1e-9
