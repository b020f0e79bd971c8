"""Contracts of the k-ReLU method (verifier.relaxations.krelu, verifier.methods.krelu).

* octahedral bounds contain the pre-activations of sampled inputs;
* the k-ReLU block's rows hold at sampled (x, relu(x)) points of the layer;
* k = 1 reproduces the triangle LP's optimum;
* triangle <= k-ReLU (k = 2, 3) <= exact big-M MILP optimum <= min over samples;
* ``verify(method="krelu")`` never contradicts ``verify(method="milp")``;
* the hull budget: with no time for hulls the method falls back to the triangle, soundly;
* cut separation (the default, ``cuts="separate"``): triangle <= separated <= all facets
  (the full k-ReLU LP, the tightest), every bound certified on the model with the cuts.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import random_box, random_network, sample_box

from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from solvers.result import Status
from verifier.encode import encode_network, with_disjunct
from verifier.relaxations import big_m
from verifier.relaxations.groups import select_groups
from verifier.relaxations.krelu import krelu_block, octahedral_bounds
from verifier.relaxations.krelu_hull import octahedral_directions
from verifier.spec import Case, OutputPolytope
from verifier.spec.property import linf_robustness
from verifier.verify import KReluOptions, VerifyOptions, verify
from verifier.methods import CaseContext
from verifier.methods import krelu as krelu_method
from verifier.methods.margins import margin_range
from verifier.methods.triangle import triangle_margin
from verifier.tighten import TightenOptions, krelu_tighten, lp_tighten


def _instance(seed: int, widths=(8, 8), n_in=3, n_out=3):
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_in, list(widths), n_out, scale=1.5)
    lo, hi = random_box(rng, n_in, radius=0.8)
    return rng, net, lo, hi


def _ctx(net, lo, hi, A, b, k=3, ns=100, full_solve=False, **kw):
    case = Case(lo, hi, (OutputPolytope(A, b),))
    options = VerifyOptions(krelu=KReluOptions(k=k, ns=ns, **{'triangle_first': False, **kw}),
                            full_solve=full_solve)
    return CaseContext(net, case, options, time.monotonic() + 60.0)


def _milp_optimum(ctx, A, b) -> float:
    """Exact ``min max_i (A_i y - b_i)`` by big-M over the same tightened bounds."""
    bounds = ctx.tightened()
    blocks = {r: [big_m(bounds[ctx.net.inputs_of(r)[0]], r)] for r in ctx.net.relu_names()}
    encoded = encode_network(ctx.net, bounds, blocks)
    model = with_disjunct(encoded, encoded.columns[ctx.net.output_name], A, b,
                          margin_range(ctx, A, b, bounds))
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(model)
    result = backend.solve(SolveLimits(time_limit=30.0))
    assert result.status == Status.OPTIMAL and result.objective is not None
    return float(result.objective)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_octahedral_bounds_contain_samples(seed):
    rng, net, lo, hi = _instance(seed, widths=(10, 10, 10))
    X = sample_box(rng, lo, hi, 400)
    values = net.forward(X, all_nodes=True)
    ctx = _ctx(net, lo, hi, np.ones((1, 3)), np.zeros(1))
    bounds = ctx.deeppoly()
    checked = 0
    for relu in net.relu_names():
        pre = net.inputs_of(relu)[0]
        groups = select_groups(bounds[pre].lower, bounds[pre].upper, k=3, ns=6, s=1)
        groups += [(i,) for i in bounds[pre].unstable()[:2]]          # mixed sizes
        octa = octahedral_bounds(net, relu, groups, bounds)
        for group, d in zip(groups, octa):
            C = octahedral_directions(len(group))
            assert d.shape == (C.shape[0],)
            x = values[pre][:, list(group)]
            assert np.all(x @ C.T <= d + 1e-9)
            # the unit directions are no looser than the layer's bounds
            box_hi = np.abs(C) @ np.maximum(np.abs(bounds[pre].lower[list(group)]),
                                            np.abs(bounds[pre].upper[list(group)]))
            assert np.all(d <= box_hi + 1e-6)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("seed", [3, 4])
def test_krelu_block_rows_hold_at_samples(seed):
    rng, net, lo, hi = _instance(seed, widths=(10, 10))
    X = sample_box(rng, lo, hi, 300)
    values = net.forward(X, all_nodes=True)
    ctx = _ctx(net, lo, hi, np.ones((1, 3)), np.zeros(1))
    bounds = ctx.deeppoly()
    for relu in net.relu_names():
        pre = net.inputs_of(relu)[0]
        groups = select_groups(bounds[pre].lower, bounds[pre].upper, k=3, ns=6, s=1)
        if not groups:
            continue
        octa = octahedral_bounds(net, relu, groups, bounds)
        block = krelu_block(bounds[pre], relu, groups, octa, k=3)
        assert block.tag == "krelu" and block.n == net.size(pre)
        assert block.row_names[0].startswith(f"krelu({relu},(")
        assert "#0" in block.row_names[0]
        assert block.n_rows == len(block.row_names) > 0
        lhs = block.Ax @ values[pre].T + block.Ay @ values[relu].T
        assert np.all(lhs <= block.row_upper[:, None] + 1e-9)


@pytest.mark.parametrize("cuts", ["separate", "all"])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_k1_reproduces_triangle(seed, cuts):
    rng, net, lo, hi = _instance(seed)
    for _ in range(3):
        A = rng.normal(size=(1, 3))
        b = np.zeros(1)
        ctx = _ctx(net, lo, hi, A, b, k=1, cuts=cuts)
        tri = triangle_margin(ctx, A, b).bound
        kr = krelu_method.krelu_margin(ctx, A, b).bound
        assert abs(tri - kr) <= 1e-6 * (1.0 + abs(tri)), (tri, kr)


@pytest.mark.parametrize("cuts", ["separate", "all"])
@pytest.mark.parametrize("seed", [8, 9, 10, 11])
def test_ordering_triangle_krelu_exact(seed, cuts):
    rng, net, lo, hi = _instance(seed)
    X = sample_box(rng, lo, hi, 500)
    Y = net.forward(X)
    for _ in range(2):
        A = rng.normal(size=(1, 3))
        b = np.zeros(1)
        sample_min = float((Y @ A.T - b).max(axis=1).min())
        ctx = _ctx(net, lo, hi, A, b)
        exact = _milp_optimum(ctx, A, b)
        assert exact <= sample_min + 1e-6
        tri = triangle_margin(ctx, A, b).bound
        previous = tri
        for k in (2, 3):
            kctx = _ctx(net, lo, hi, A, b, k=k, cuts=cuts)
            kr = krelu_method.krelu_margin(kctx, A, b).bound
            assert tri <= kr + 1e-7, (k, tri, kr)
            assert kr <= exact + 1e-6, (k, kr, exact)
            assert kr <= sample_min + 1e-6
            previous = max(previous, kr)
        assert previous <= exact + 1e-6


def test_krelu_tightens_somewhere():
    """On a net with many unstable neurons the k = 3 bound beats the triangle at least once."""
    gains = 0
    for seed in range(12, 16):
        rng, net, lo, hi = _instance(seed, widths=(10, 10))
        A = rng.normal(size=(1, 3))
        b = np.zeros(1)
        tri = triangle_margin(_ctx(net, lo, hi, A, b), A, b).bound
        kr = krelu_method.krelu_margin(_ctx(net, lo, hi, A, b, k=3), A, b).bound
        gains += kr > tri + 1e-6
    assert gains >= 1


def test_cache_and_stats_per_case():
    rng, net, lo, hi = _instance(20)
    A = rng.normal(size=(1, 3))
    b = np.zeros(1)
    ctx = _ctx(net, lo, hi, A, b, k=2, cuts="all")
    first = krelu_method.krelu_margin(ctx, A, b).bound
    blocks = ctx.krelu.blocks
    second = krelu_method.krelu_margin(ctx, A, b).bound
    assert ctx.krelu.blocks is blocks and first == second
    (summary,) = ctx.stats["krelu"]
    assert summary["built"] == summary["groups"] and not summary["cut_short"]


def test_separation_cache_and_stats_per_case():
    """Hulls and found cuts are kept per case; a second disjunct starts from the pool."""
    rng, net, lo, hi = _instance(20)
    A = rng.normal(size=(1, 3))
    b = np.zeros(1)
    ctx = _ctx(net, lo, hi, A, b, k=2, full_solve=True)
    first = krelu_method.krelu_margin(ctx, A, b).bound
    case = ctx.krelu
    hulls = case.hulls
    second = krelu_method.krelu_margin(ctx, A, b).bound
    assert ctx.krelu is case and case.hulls is hulls
    assert second >= first - 1e-7
    (summary,) = ctx.stats["krelu"]
    assert summary["built"] <= summary["groups"] and not summary["cut_short"]
    s1, s2 = ctx.stats["krelu_cuts"]
    assert s2["reused_rows"] == s1["rows_added"] + s1["reused_rows"]
    assert case.pool.n_rows == s1["rows_added"] + s2["rows_added"]


@pytest.mark.parametrize("cuts", ["separate", "all"])
def test_no_hull_time_falls_back_to_triangle(cuts):
    rng, net, lo, hi = _instance(21)
    A = rng.normal(size=(1, 3))
    b = np.zeros(1)
    ctx = _ctx(net, lo, hi, A, b, k=3, hull_time_share=0.0, cuts=cuts)
    tri = triangle_margin(ctx, A, b).bound
    kr = krelu_method.krelu_margin(ctx, A, b).bound
    (summary,) = ctx.stats["krelu"]
    assert summary["built"] == 0
    if summary["groups"] and cuts == "all":
        assert summary["cut_short"]
    assert abs(kr - tri) <= 1e-6 * (1 + abs(tri))


def test_krelu_lp_tighten_sound():
    rng, net, lo, hi = _instance(22, widths=(8, 8, 8))
    A = rng.normal(size=(1, 3))
    b = np.zeros(1)
    ctx = _ctx(net, lo, hi, A, b, k=3, lp_tighten=True)
    kr = krelu_method.krelu_margin(ctx, A, b).bound
    Y = net.forward(sample_box(rng, lo, hi, 500))
    assert kr <= float((Y @ A.T - b).max(axis=1).min()) + 1e-6
    bounds = ctx.krelu.bounds
    values = net.forward(sample_box(rng, lo, hi, 300), all_nodes=True)
    for name, v in values.items():
        assert bounds[name].contains(v, tol=1e-9), name


def test_verify_krelu_agrees_with_milp():
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        net = random_network(rng, 4, [8, 8], 3, scale=1.5)
        x0 = rng.uniform(0.2, 0.8, 4)
        label = int(np.argmax(net.forward(x0)))
        for eps in (0.02, 0.08, 0.2):
            prop = linf_robustness(x0, eps, label, 3)
            options = VerifyOptions(krelu=KReluOptions(k=3, ns=100))
            kr = verify(net, prop, method="krelu", timeout=30, options=options)
            ex = verify(net, prop, method="milp", timeout=30)
            assert kr.verdict in ("unsat", "sat", "unknown"), kr.message
            assert {kr.verdict, ex.verdict} != {"unsat", "sat"}, (seed, eps, kr.verdict,
                                                                   ex.verdict)
            if kr.verdict == "unsat":
                assert ex.verdict in ("unsat", "unknown", "timeout")


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("seed", [30, 31, 32, 33, 34, 35])
def test_separation_between_triangle_and_all_facets(seed, lazy):
    """triangle <= separated cuts <= all facets (the full k-ReLU LP) on random nets; the
    separated bound is a certificate for the model that holds the added cuts."""
    rng, net, lo, hi = _instance(seed, widths=(10, 10, 10))
    Y = net.forward(sample_box(rng, lo, hi, 500))
    for _ in range(2):
        A = rng.normal(size=(1, 3))
        b = np.zeros(1)
        tri = triangle_margin(_ctx(net, lo, hi, A, b, full_solve=True), A, b).bound
        full = krelu_method.krelu_margin(
            _ctx(net, lo, hi, A, b, cuts="all", full_solve=True), A, b).bound
        ctx = _ctx(net, lo, hi, A, b, full_solve=True, lazy_hulls=lazy, cut_rounds=50)
        sep = krelu_method.krelu_margin(ctx, A, b).bound
        assert tri <= sep + 1e-7, (tri, sep)
        assert sep <= full + 1e-6, (sep, full)
        assert sep <= float((Y @ A.T - b).max(axis=1).min()) + 1e-6
        (stats,) = ctx.stats["krelu_cuts"]
        assert stats["final_rows"] == ctx.krelu.encoded.model.n_rows + 1 \
            + stats["rows_added"]


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_separated_lp_tighten_inside_triangle_tightening(seed):
    """k-ReLU cuts in LP tightening: sound (samples inside) and never looser than the
    triangle-only LP tightening from the same DeepPoly bounds."""
    rng, net, lo, hi = _instance(seed, widths=(10, 10, 10), n_in=4)
    ctx = _ctx(net, lo, hi, np.ones((1, 3)), np.zeros(1))
    opts = TightenOptions(early_stop=False)
    tri, _ = lp_tighten(net, ctx.deeppoly(), opts)
    sep, stats = krelu_tighten(net, ctx.deeppoly(), ctx.options.krelu, opts, None,
                               ctx.options.deeppoly)
    values = net.forward(sample_box(rng, lo, hi, 400), all_nodes=True)
    for name, v in values.items():
        assert sep[name].contains(v, tol=1e-9), name
        scale = 1e-6 * (1 + np.abs(tri[name].lower) + np.abs(tri[name].upper))
        assert np.all(sep[name].lower >= tri[name].lower - scale), name
        assert np.all(sep[name].upper <= tri[name].upper + scale), name
    assert stats["lps"] > 0


def test_separated_lp_tighten_reuses_upstream_hulls(monkeypatch):
    """Hulls of finished upstream layers are built once, not once per tightened layer, and
    the bounds are the same as when every layer's case builds its own."""
    from verifier.relaxations import krelu_separation
    rng, net, lo, hi = _instance(4, widths=(10, 10, 10, 10), n_in=4)
    ctx = _ctx(net, lo, hi, np.ones((1, 3)), np.zeros(1))
    opts = TightenOptions(early_stop=False)

    def run():
        return krelu_tighten(net, ctx.deeppoly(), ctx.options.krelu, opts, None,
                             ctx.options.deeppoly)

    shared, shared_stats = run()
    monkeypatch.setattr(krelu_separation, "upstream_signature", lambda *args: object())
    fresh, fresh_stats = run()
    assert shared_stats["built"] < fresh_stats["built"]
    for name in fresh:
        assert np.array_equal(shared[name].lower, fresh[name].lower), name
        assert np.array_equal(shared[name].upper, fresh[name].upper), name


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_milp_with_krelu_cuts_keeps_the_optimum(seed):
    """Hull facets are valid inequalities: adding them to the big-M MILP (``milp_cuts``)
    leaves its optimum unchanged, and the MILP still bounds the k-ReLU LP from above."""
    from verifier.methods.milp import milp_margin
    rng, net, lo, hi = _instance(seed, widths=(8, 8))
    A = rng.normal(size=(1, 3))
    b = np.zeros(1)
    optima = {}
    for cuts in (False, True):
        ctx = _ctx(net, lo, hi, A, b, full_solve=True, milp_cuts=cuts)
        found = milp_margin(ctx, A, b)
        assert found.optimum is not None
        optima[cuts] = found.optimum
        if cuts:
            assert ctx.stats.get("milp_cuts"), "no cut was added"
            kr = max(ctx.stats["krelu_cuts"][0]["bounds"])
            assert kr <= found.optimum + 1e-6 * (1 + abs(kr))
        assert found.bound <= found.optimum + 1e-9
    assert optima[True] == pytest.approx(optima[False], rel=1e-6, abs=1e-6)
