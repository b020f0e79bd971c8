"""Contracts of the input-splitting bounds: forward forms, the hybrid refinement, bounds
inherited from a parent piece, the chain's rounding margin, and the open-domain queue."""

import numpy as np
from hypothesis import given, settings, strategies as st

from helpers import random_box, random_network, sample_box
from verifier.bounds.batched import batched_output_lower
from verifier.bounds.chain import dense_chain, magnitude_scales
from verifier.bounds.forward import forward_output_lower
from verifier.bounds.rounding import ROUNDING_MARGIN, chain_relative_margin
from verifier.methods.branching.domains import DomainBatch, OpenDomains

nets = st.builds(
    lambda seed, n_in, widths, n_out: (seed, n_in, widths, n_out),
    st.integers(0, 10_000), st.integers(1, 5),
    st.lists(st.integers(1, 12), min_size=1, max_size=4), st.integers(1, 3))


def _sub_boxes(rng, lo, hi, count):
    a = rng.uniform(lo, hi, size=(count, lo.size))
    b = rng.uniform(lo, hi, size=(count, lo.size))
    return np.minimum(a, b), np.maximum(a, b)


@settings(max_examples=40, deadline=None)
@given(nets, st.sampled_from(["forward", "hybrid"]))
def test_forward_bounds_hold_on_sub_boxes_and_their_halves(params, mode):
    """Every ReLU layer's bounds and the output bound contain the sampled values, on
    sub-boxes and on their halves bounded with the sub-boxes' bounds as known."""
    seed, n_in, widths, n_out = params
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_in, widths, n_out, scale=2.0)
    lo, hi = random_box(rng, n_in)
    chain = dense_chain(net)
    scales = magnitude_scales(chain, lo, hi)
    margin = chain_relative_margin(chain)
    C = rng.normal(size=(2, n_out))
    sub_lo, sub_hi = _sub_boxes(rng, lo, hi, 5)
    parent = forward_output_lower(chain, sub_lo, sub_hi, C, scales,
                                  relative_margin=margin, refine=mode == "hybrid")
    half_hi = sub_hi.copy()
    half_hi[:, 0] = (sub_lo[:, 0] + sub_hi[:, 0]) / 2
    child = forward_output_lower(chain, sub_lo, half_hi, C, scales, known=parent.pre,
                                 relative_margin=margin, refine=mode == "hybrid")
    relu_nodes = [name for name in net.order if net.op(name).__class__.__name__ == "Affine"]
    for piece, upper in ((parent, sub_hi), (child, half_hi)):
        for k in range(5):
            X = sample_box(rng, sub_lo[k], upper[k], 300)
            values = net.forward(X, all_nodes=True)
            out = values[net.output_name] @ C.T
            assert np.all(out >= piece.bounds[k] - 1e-12)
            for r, (l, u) in enumerate(piece.pre):
                z = values[relu_nodes[r]]
                assert np.all(z >= l[k] - 1e-12) and np.all(z <= u[k] + 1e-12)
            # the minimiser vertex lies in the box
            assert np.all(piece.minimizers[k] >= sub_lo[k]) and np.all(
                piece.minimizers[k] <= upper[k])


def test_hybrid_is_about_as_tight_as_back_substitution():
    """Summed over many random nets and boxes, the hybrid bounds (forward forms, unstable
    neurons back-substituted) are as tight as DeepPoly's back-substitution from every
    neuron (within 2 %) and tighter than forward forms alone. (Box by box neither order
    is guaranteed: DeepPoly's lower lines switch with the bounds, so tighter
    intermediate bounds can give a slightly looser output bound.)"""
    gaps = {"forward": 0.0, "hybrid": 0.0, "backward": 0.0}
    for seed in range(20):
        rng = np.random.default_rng(seed)
        net = random_network(rng, 3, [12, 12, 12, 12], 2)
        lo, hi = random_box(rng, 3)
        chain = dense_chain(net)
        scales = magnitude_scales(chain, lo, hi)
        C = rng.normal(size=(1, 2))
        sub_lo, sub_hi = _sub_boxes(rng, lo, hi, 8)
        bounds = {
            "forward": forward_output_lower(chain, sub_lo, sub_hi, C, scales,
                                            refine=False).bounds[:, 0],
            "hybrid": forward_output_lower(chain, sub_lo, sub_hi, C, scales).bounds[:, 0],
            "backward": batched_output_lower(chain, sub_lo, sub_hi, C, scales)[:, 0]}
        for k in range(8):
            low = (net.forward(sample_box(rng, sub_lo[k], sub_hi[k], 200)) @ C.T).min()
            for name, b in bounds.items():
                assert b[k] <= low + 1e-12
                gaps[name] += low - b[k]
    assert gaps["hybrid"] <= 1.02 * gaps["backward"]
    assert gaps["hybrid"] < gaps["forward"]


def _extended_forward(chain, X):
    """The chain evaluated in long double (64-bit mantissa): a reference for float64."""
    y = X.astype(np.longdouble)
    for W, b, relu in chain:
        y = y @ W.astype(np.longdouble).T + b.astype(np.longdouble)
        if relu:
            y = np.maximum(y, 0)
    return y


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1e-12, 1e-9, 1e-6]),
       st.sampled_from(["hybrid", "backward"]))
def test_chain_margin_covers_rounding_on_tiny_boxes(seed, width, mode):
    """On boxes so small that the relaxation is (almost) exact, the bound minus the
    chain's margin stays below the value computed in extended precision: the margin
    covers float64's rounding. Deep nets with large weights make the errors large."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [20, 20, 20, 20], 2, scale=3.0)
    chain = dense_chain(net)
    root_lo, root_hi = -np.ones(3), np.ones(3)
    scales = magnitude_scales(chain, root_lo, root_hi)
    margin = chain_relative_margin(chain)
    assert margin < ROUNDING_MARGIN
    C = rng.normal(size=(2, 2))
    centre = rng.uniform(-0.9, 0.9, size=(40, 3))
    lo, hi = centre - width, centre + width
    if mode == "hybrid":
        bounds = forward_output_lower(chain, lo, hi, C, scales, relative_margin=margin).bounds
    else:
        bounds = batched_output_lower(chain, lo, hi, C, scales, relative_margin=margin)
    for k in range(40):
        X = sample_box(rng, lo[k], hi[k], 20)
        exact = _extended_forward(chain, X) @ C.T.astype(np.longdouble)
        assert np.all(bounds[k].astype(np.longdouble) <= exact.min(axis=0))


def test_open_domains_pop_lowest_and_keep_every_domain():
    """The queue returns every pushed domain exactly once, the lowest priorities first,
    across growth and squeezing, with their fields and lower bounds intact."""
    rng = np.random.default_rng(0)
    root = DomainBatch({"x": np.array([[-1.0, -1.0]]), "per": [np.zeros((1, 3))]})
    for selection in ("sorted", "partition"):
        queue = OpenDomains(root, selection=selection)
        seen = []
        batch, lower = queue.pop(4)
        seen.append(batch["x"][:, 0])
        label = 0
        for step in range(60):
            m = int(rng.integers(0, 300))
            ids = np.arange(label, label + m, dtype=float)
            label += m
            prio = rng.normal(size=m)
            queue.push(DomainBatch({"x": np.column_stack([ids, prio]),
                                    "per": [np.tile(ids[:, None], (1, 3))]}),
                       prio - 1.0, prio)
            batch, lower = queue.pop(int(rng.integers(1, 200)))
            np.testing.assert_array_equal(lower, batch["x"][:, 1] - 1.0)
            np.testing.assert_array_equal(batch["per"][0][:, 0], batch["x"][:, 0])
            if len(queue):   # nothing left behind was lower than what was taken
                assert queue._priority[queue._alive].min() >= batch["x"][:, 1].max()
            if selection == "sorted":
                assert np.all(np.diff(batch["x"][:, 1]) >= 0)
            seen.append(batch["x"][:, 0])
            assert queue.min_lower() == (queue._lower[queue._alive].min() if len(queue)
                                         else np.inf)
        while len(queue):
            batch, _ = queue.pop(500)
            seen.append(batch["x"][:, 0])
        ids = np.sort(np.concatenate(seen))
        np.testing.assert_array_equal(ids, np.concatenate([[-1.0], np.arange(label)]))
