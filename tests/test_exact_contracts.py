"""Contracts of exact mode on random small networks.

* MILP optimum >= every relaxation's certified bound (interval, DeepPoly, triangle LP);
* MILP optimum <= the best sampled value;
* PuLP/CBC reaches the same optimum on the same big-M model;
* verify(..., "milp") and verify(..., "split") never contradict each other.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import random_box, random_network, sample_box
from solvers import Status
from solvers.highs import HighsBackend, HighsOptions
from verifier.bounds import deeppoly_bounds, output_form_bounds
from verifier.encode import encode_network, with_disjunct
from verifier.relaxations import big_m
from verifier.spec import halfspace_property
from verifier.verify import verify
from verifier.verify.lp import certified_minimum
from verifier.verify.tighten import triangle_blocks

params = st.tuples(st.integers(0, 10_000), st.integers(1, 3),
                   st.lists(st.integers(2, 6), min_size=1, max_size=2))


def _models(seed, n_in, widths):
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_in, widths, 2)
    lo, hi = random_box(rng, n_in)
    c = rng.normal(size=(1, 2))
    db = deeppoly_bounds(net, lo, hi)
    dp = output_form_bounds(net, c, db)
    t = (float(dp.lower[0]), float(dp.upper[0]))
    out = net.output_name

    def model(blocks):
        enc = encode_network(net, db, blocks)
        return with_disjunct(enc, enc.columns[out], c, np.zeros(1), t)

    milp = model({r: [big_m(db[net.inputs_of(r)[0]], r)] for r in net.relu_names()})
    lp = model(triangle_blocks(net, db))
    return rng, net, lo, hi, c, dp, milp, lp


@settings(max_examples=30, deadline=None)
@given(params)
def test_milp_between_relaxations_and_samples(p):
    rng, net, lo, hi, c, dp, milp, lp = _models(*p)
    backend = HighsBackend(HighsOptions(mip_rel_gap=1e-9))
    backend.load(milp)
    exact = backend.solve()
    assert exact.status == Status.OPTIMAL
    lp_backend = HighsBackend()
    lp_backend.load(lp)
    lp_bound, _ = certified_minimum(lp_backend)
    samples = net.forward(sample_box(rng, lo, hi, 3000)) @ c[0]
    tol = 1e-6 * (1 + abs(exact.objective))
    assert dp.lower[0] <= exact.objective + tol
    assert lp_bound <= exact.objective + tol
    assert exact.dual_bound <= exact.objective + tol
    assert exact.objective <= samples.min() + tol
    # the MILP optimum is attained by a real input: replay its input part
    x = exact.x[:net.n_inputs]
    assert float(net.forward(np.clip(x, lo, hi)) @ c[0]) == pytest.approx(exact.objective,
                                                                          abs=1e-5)


@settings(max_examples=10, deadline=None)
@given(params)
def test_pulp_cbc_reaches_the_same_optimum(p):
    from solvers.pulp_backend import solve_with_pulp
    _, _, _, _, _, _, milp, _ = _models(*p)
    backend = HighsBackend(HighsOptions(mip_rel_gap=1e-9))
    backend.load(milp)
    highs = backend.solve()
    cbc = solve_with_pulp(milp)
    assert cbc.status == Status.OPTIMAL
    assert highs.objective == pytest.approx(cbc.objective, rel=1e-5, abs=1e-5)


@settings(max_examples=10, deadline=None)
@given(params, st.floats(-1.0, 1.0))
def test_exact_methods_agree(p, threshold):
    seed, n_in, widths = p
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_in, widths, 2)
    lo, hi = random_box(rng, n_in)
    prop = halfspace_property(lo, hi, [(np.array([[1.0, -1.0]]), np.array([threshold]))], 2)
    verdicts = {m: verify(net, prop, method=m, timeout=20).verdict for m in ("milp", "split")}
    assert "sat" not in verdicts.values() or "unsat" not in verdicts.values(), verdicts
    assert verdicts["milp"] in ("sat", "unsat")
