"""Bounds on graphs that are not chains (residual blocks, branches): every bound holds at
densely sampled points, relaxations nest, and the branch and bound over input boxes
decides what the MILP decides."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import random_box, random_dag_network, sample_box
from verifier.bounds import deeppoly_bounds, interval_bounds, relu_lines
from verifier.bounds.dag_alpha import alpha_rows_lower_dag
from verifier.bounds.dag_backsub import node_scales
from verifier.bounds.dag_batched import dag_box_bounds
from verifier.bounds.deeppoly import DeepPolyOptions
from verifier.spec import halfspace_property
from verifier.verify import verify

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _net_and_box(seed: int):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(2, 5))
    net = random_dag_network(rng, n_in, int(rng.integers(3, 7)), int(rng.integers(1, 4)), 3)
    lo, hi = random_box(rng, n_in)
    return rng, net, lo, hi


@SETTINGS
@given(seed=st.integers(0, 100_000), every=st.booleans())
def test_deeppoly_on_dags_contains_samples(seed, every):
    rng, net, lo, hi = _net_and_box(seed)
    dp = deeppoly_bounds(net, lo, hi, DeepPolyOptions(every_neuron=every))
    box = interval_bounds(net, lo, hi)
    values = net.forward(sample_box(rng, lo, hi, 400), all_nodes=True)
    for name in net.order:
        assert dp[name].contains(values[name], tol=1e-9), name
        assert np.all(dp[name].lower >= box[name].lower - 1e-9)     # interval >= DeepPoly


@SETTINGS
@given(seed=st.integers(0, 100_000))
def test_alpha_on_dags_is_sound_and_at_least_deeppoly(seed):
    from verifier.bounds import output_form_bounds
    rng, net, lo, hi = _net_and_box(seed)
    dp = deeppoly_bounds(net, lo, hi)
    C = rng.normal(size=(4, net.n_outputs))
    alpha = alpha_rows_lower_dag(net, net.output_name, C, dp, iterations=15)
    plain = output_form_bounds(net, C, dp).lower
    assert np.all(alpha >= plain - 1e-7 * (1 + np.abs(plain)))
    values = net.forward(sample_box(rng, lo, hi, 400)) @ C.T
    assert np.all(values.min(axis=0) >= alpha - 1e-9)


@SETTINGS
@given(seed=st.integers(0, 100_000))
def test_batched_box_bounds_contain_samples_of_each_piece(seed):
    rng, net, lo, hi = _net_and_box(seed)
    root = deeppoly_bounds(net, lo, hi)
    lines = {r: relu_lines(root[net.inputs_of(r)[0]].lower, root[net.inputs_of(r)[0]].upper)
             for r in net.relu_names()}
    scales = node_scales(net, root, lines)
    pieces_lo = rng.uniform(lo, hi, size=(5, lo.size))
    pieces_hi = np.minimum(pieces_lo + rng.uniform(0, 1, size=(5, lo.size)) * (hi - lo), hi)
    C = rng.normal(size=(3, net.n_outputs))
    found = dag_box_bounds(net, pieces_lo, pieces_hi, C, root, scales)
    for p in range(5):
        values = net.forward(sample_box(rng, pieces_lo[p], pieces_hi[p], 200)) @ C.T
        assert np.all(values.min(axis=0) >= found.lower[p] - 1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_input_splitting_on_dags_agrees_with_the_milp(seed):
    """A threshold below the sampled minimum of y0 - y1 (unsat) and one above it (sat):
    ``split`` on the graph and the MILP give the same verdicts."""
    rng, net, lo, hi = _net_and_box(seed)
    values = net.forward(sample_box(rng, lo, hi, 2000))
    diff = values[:, 0] - values[:, 1]
    spread = float(diff.max() - diff.min()) + 1e-3
    for threshold, expected in ((diff.min() - 0.3 * spread, "unsat"),
                                (diff.min() + 0.1 * spread, "sat")):
        prop = halfspace_property(lo, hi, [(np.array([[1.0, -1.0, 0.0]]),
                                            np.array([threshold]))], 3)
        verdicts = {m: verify(net, prop, method=m, timeout=60).verdict
                    for m in ("split", "milp")}
        assert verdicts == {"split": expected, "milp": expected}, (threshold, verdicts)
