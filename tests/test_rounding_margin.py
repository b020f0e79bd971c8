"""The a-posteriori rounding margin of batched back-substitution (ReLU-split branch and
bound, optimised slopes): float64 bounds minus the margin stay below the same bounds
computed in long double (64-bit mantissa), with optimised slopes, split multipliers and
cut multipliers; on boxes so small that the bound is (almost) exact, below the network's
own value in long double."""

import numpy as np
from hypothesis import given, settings, strategies as st

from helpers import random_network, sample_box
from verifier.bounds.backsub import backsub_early, backsub_linear, box_minimum
from verifier.bounds.chain import batched_relu_lines, dense_chain, rounding_scales
from verifier.bounds.optimized import LayerCuts, cut_rounding, optimized_output_bound
from verifier.bounds.rounding import TINY

LD = np.longdouble


def _interval(chain, lo, hi):
    """Per ReLU layer (l, u) interval bounds of the box (what the lines are built from)."""
    out = []
    for W, b, relu in chain[:-1]:
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        lo, hi = Wp @ lo + Wn @ hi + b, Wp @ hi + Wn @ lo + b
        out.append((lo, hi))
        lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
    return out


def _instance(seed: int, depth: int, width: int):
    """A deep chain with large weights, its box, B = 3 split sub-domains (lines with random
    slopes, split multipliers, random cuts with multipliers) and k = 4 rows each."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(3, 40))
    net = random_network(rng, n_in, [width] * depth, 3, scale=float(rng.uniform(1.0, 3.0)))
    chain = dense_chain(net)
    lo = rng.uniform(-5, 5, n_in)
    hi = lo + rng.uniform(0, 3, n_in)
    scales = rounding_scales(chain, lo, hi)
    B, k = 3, 4
    lines, stops_lo, stops_hi, shifts, cut_terms, cut_margin = [], [], [], [], [], np.zeros(B)
    for r, (l, u) in enumerate(_interval(chain, lo, hi)):
        l, u = np.repeat(l[None], B, 0), np.repeat(u[None], B, 0)
        state = rng.choice([-1, 0, 1], size=l.shape, p=[0.2, 0.6, 0.2]) * ((l < 0) & (u > 0))
        l, u = np.where(state > 0, 0.0, l), np.where(state < 0, 0.0, u)
        a_lo, a_up, c_up = batched_relu_lines(l, u)
        a_lo = np.where((l < 0) & (u > 0), rng.uniform(0, 1, l.shape), a_lo)
        lines.append((a_lo, a_up, c_up))
        stops_lo.append(l)
        stops_hi.append(u)
        shifts.append(rng.exponential(2.0, l.shape) * -np.sign(state))
        c = int(rng.integers(1, 30))
        cuts = LayerCuts(rng.normal(size=(c, width)) * (rng.random((c, width)) < 0.1),
                         rng.normal(size=(c, width)) * (rng.random((c, width)) < 0.1),
                         rng.normal(size=c))
        gamma = rng.exponential(1.0, (B, c))
        cut_terms.append((gamma, cuts))
        cut_margin += gamma @ cut_rounding(cuts, scales.z[r], scales.y[r + 1])
    M = rng.normal(size=(B, k, 3))
    return chain, lo, hi, scales, lines, (stops_lo, stops_hi), shifts, cut_terms, cut_margin, M


def _cut_shifts(cut_terms, dtype):
    return [((g.astype(dtype) @ c.Hy.astype(dtype)), (g.astype(dtype) @ c.Hz.astype(dtype)),
             -(g.astype(dtype) @ c.h.astype(dtype))) for g, c in cut_terms]


def _as(x, dtype):
    if isinstance(x, (list, tuple)):
        return type(x)(_as(v, dtype) for v in x)
    return np.asarray(x, dtype=dtype)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 7), st.integers(5, 40))
def test_margin_covers_float_error_with_multipliers(seed, depth, width):
    """The bound, its linear form at sampled inputs, and the early-stopping bound of
    :func:`backsub_early` (also with the step to the input in float32), each minus its
    error bound (plus the cut products' rounding), never exceed the same computed in long
    double."""
    chain, lo, hi, scales, lines, stops, shifts, cut_terms, cut_margin, M = _instance(
        seed, depth, width)
    last = len(chain) - 1
    B = M.shape[0]
    lo_b, hi_b = np.repeat(lo[None], B, 0), np.repeat(hi[None], B, 0)
    w = scales.weights(last)
    out = backsub_linear(chain, last, M, lines, stops=stops, shifts=shifts,
                         cuts=_cut_shifts(cut_terms, np.float64), weights=w)
    ref = backsub_linear(_as(chain, LD), last, _as(M, LD), _as(lines, LD), stops=_as(stops, LD),
                         shifts=_as(shifts, LD), cuts=_cut_shifts(cut_terms, LD))
    margin = out.error + cut_margin[:, None] + TINY
    value = np.maximum(box_minimum(out.const, out.coef, lo_b, hi_b), out.early)
    exact = np.maximum(box_minimum(ref.const, ref.coef, _as(lo_b, LD), _as(hi_b, LD)), ref.early)
    assert np.all(_as(value - margin, LD) <= exact)
    X = sample_box(np.random.default_rng(seed), lo, hi, 50)
    form = out.const[:, :, None] + out.coef @ X.T - margin[:, :, None]
    assert np.all(_as(form, LD) <= ref.const[:, :, None] + ref.coef @ _as(X, LD).T)
    # the early stops and the per-domain input minimum (re-bounded intermediate layers)
    early, error = backsub_early(chain, last, M, lines, *stops, lo_b, hi_b, weights=w)
    early_ld, _ = backsub_early(_as(chain, LD), last, _as(M, LD), _as(lines, LD),
                                *_as(stops, LD), _as(lo_b, LD), _as(hi_b, LD))
    assert np.all(_as(early - error - TINY, LD) <= early_ld)
    single, error = backsub_early(chain, last, M, lines, *stops, lo_b, hi_b, weights=w,
                                  single=True)
    assert np.all(_as(single - error - TINY, LD) <= early_ld)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1e-12, 1e-9, 1e-6]))
def test_margin_covers_rounding_on_tiny_boxes(seed, width):
    """On boxes so small that the relaxation is (almost) exact, the optimised bound (slopes
    and split multipliers) stays below the network's value computed in long double."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [20, 20, 20, 20, 20], 2, scale=3.0)
    chain = dense_chain(net)
    C = rng.normal(size=(1, 2))
    for centre in rng.uniform(-0.9, 0.9, size=(10, 3)):
        lo, hi = centre - width, centre + width
        pre = _interval(chain, lo, hi)
        scales = rounding_scales(chain, lo, hi, pre)
        states = [np.zeros((1, l.size), dtype=np.int8) for l, _ in pre]
        bound, _, _ = optimized_output_bound(chain, lo, hi, scales, [l[None] for l, _ in pre],
                                             [u[None] for _, u in pre], states, C,
                                             iterations=5)
        y = sample_box(rng, lo, hi, 20).astype(LD)
        for W, b, relu in chain:
            y = y @ W.astype(LD).T + b.astype(LD)
            y = np.maximum(y, 0) if relu else y
        assert LD(bound[0]) <= (y @ C[0].astype(LD)).min()
