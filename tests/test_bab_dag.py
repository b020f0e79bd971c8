"""ReLU-split branch and bound on graphs that are not chains: the bounds of a sub-domain
(split neurons clamped to their signs) hold at every sampled input of the sub-domain, an
empty sub-domain has no such input, and ``bab`` decides what the MILP decides."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import random_box, random_dag_network, sample_box
from verifier.bounds import deeppoly_bounds, relu_lines
from verifier.bounds.dag_backsub import node_scales
from verifier.bounds.dag_batched import dag_box_bounds
from verifier.spec import halfspace_property
from verifier.verify import VerifyOptions, verify


def _net_and_box(seed: int, n_in_max: int = 5):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(2, n_in_max))
    net = random_dag_network(rng, n_in, int(rng.integers(3, 7)), int(rng.integers(1, 4)), 3)
    lo, hi = random_box(rng, n_in)
    return rng, net, lo, hi


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000))
def test_split_sub_domain_bounds_hold_on_the_sub_domain(seed):
    rng, net, lo, hi = _net_and_box(seed)
    root = deeppoly_bounds(net, lo, hi)
    relus = list(net.relu_names())
    pres = [net.inputs_of(r)[0] for r in relus]
    lines = {r: relu_lines(root[p].lower, root[p].upper) for r, p in zip(relus, pres)}
    scales = node_scales(net, root, lines)
    D = 6
    states = {r: (rng.integers(-1, 2, size=(D, net.size(p))) * (rng.random((D, net.size(p)))
                                                                 < 0.3)).astype(np.int8)
              for r, p in zip(relus, pres)}
    C = rng.normal(size=(2, net.n_outputs))
    found = dag_box_bounds(net, np.repeat(lo[None], D, 0), np.repeat(hi[None], D, 0), C, root,
                           scales, states=states, keep_nodes=True)
    X = sample_box(rng, lo, hi, 3000)
    values = net.forward(X, all_nodes=True)
    out = values[net.output_name] @ C.T
    for d in range(D):
        inside = np.ones(len(X), dtype=bool)
        for r, p in zip(relus, pres):
            s = states[r][d]
            inside &= np.all((values[p] >= 0) | (s <= 0), axis=1)
            inside &= np.all((values[p] <= 0) | (s >= 0), axis=1)
        if np.isinf(found.lower[d]).any():
            assert not inside.any(), "a sub-domain with inputs was called empty"
            continue
        if inside.any():
            assert np.all(out[inside].min(axis=0) >= found.lower[d] - 1e-9)
            for name, (node_lo, node_hi) in found.nodes.items():
                v = values[name][inside]
                assert np.all(v >= node_lo[d] - 1e-9) and np.all(v <= node_hi[d] + 1e-9), name


@pytest.mark.parametrize("seed", range(24))
def test_relu_split_bab_on_dags_agrees_with_the_milp(seed):
    """Thresholds around the sampled minimum of y0 - y1 (both verdicts, some close enough
    that the search must split): ``bab`` on the graph gives the MILP's verdict, and its
    bound never exceeds a sampled margin."""
    rng, net, lo, hi = _net_and_box(seed, n_in_max=7)
    values = net.forward(sample_box(rng, lo, hi, 2000))
    diff = values[:, 0] - values[:, 1]
    spread = float(diff.max() - diff.min()) + 1e-3
    options = VerifyOptions(lp_tighten=False)
    searched = []
    for share in (-0.3, -0.02, -0.005, 0.005, 0.02, 0.1):
        threshold = diff.min() + share * spread
        prop = halfspace_property(lo, hi, [(np.array([[1.0, -1.0, 0.0]]),
                                            np.array([threshold]))], 3)
        exact = verify(net, prop, method="milp", timeout=60)
        bab = verify(net, prop, method="bab", timeout=60, options=options)
        assert exact.verdict in ("sat", "unsat")
        assert bab.verdict == exact.verdict, (share, bab.message)
        searched += [s["graph"] for s in bab.stats.get("bab", [])]
        bound = bab.disjuncts[0].bounds.get("bab")
        if bound is not None:
            assert bound <= float((diff - threshold).min()) + 1e-9
    assert set(searched) <= {"dag"}      # (seed 1 searches: 119 sub-domains)


@pytest.mark.parametrize("seed", [1, 13, 15])
def test_bab_on_dags_without_lps_above_the_leaves_is_sound(seed, monkeypatch):
    """The path of large graphs (DeepPoly on every sub-domain, the LP only at leaves)
    never contradicts the MILP and its bound stays below every sampled margin (without
    the LPs the tree may outgrow ``max_open``: ``unknown``, seed 1 at 20,000 open)."""
    from verifier.methods import bab_dag
    monkeypatch.setattr(bab_dag, "LP_EVERY_DOMAIN", 0)
    rng, net, lo, hi = _net_and_box(seed, n_in_max=7)
    diff = net.forward(sample_box(rng, lo, hi, 2000)) @ np.array([1.0, -1.0, 0.0])
    spread = float(diff.max() - diff.min()) + 1e-3
    for share in (-0.02, 0.02):
        threshold = diff.min() + share * spread
        prop = halfspace_property(lo, hi, [(np.array([[1.0, -1.0, 0.0]]),
                                            np.array([threshold]))], 3)
        exact = verify(net, prop, method="milp", timeout=60).verdict
        bab = verify(net, prop, method="bab", timeout=8,
                     options=VerifyOptions(lp_tighten=False))
        assert {bab.verdict, exact} != {"sat", "unsat"}
        bound = bab.disjuncts[0].bounds.get("bab")
        if bound is not None:
            assert bound <= float((diff - threshold).min()) + 1e-9
