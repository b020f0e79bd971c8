"""Contracts of bounds and relaxations on random networks and boxes.

* every sampled value lies inside interval, DeepPoly and LP-tightened bounds;
* interval ⊇ DeepPoly ⊇ LP-tightened (per neuron);
* a certified LP bound on an output form is <= the smallest sampled value, and
  interval <= DeepPoly <= triangle LP for it;
* HiGHS and PuLP/CBC agree on the same model.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import random_box, random_network, sample_box
from solvers import certified_lower_bound
from solvers.highs import HighsBackend
from verifier.bounds import deeppoly_bounds, interval_bounds, output_form_bounds
from verifier.encode import encode_network, with_disjunct
from verifier.lp import certified_minimum
from verifier.tighten import lp_tighten, triangle_blocks

nets = st.builds(
    lambda seed, n_in, widths, n_out: (seed, n_in, widths, n_out),
    st.integers(0, 10_000), st.integers(1, 4),
    st.lists(st.integers(1, 8), min_size=1, max_size=3), st.integers(1, 3))


def _setup(params):
    seed, n_in, widths, n_out = params
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_in, widths, n_out)
    lo, hi = random_box(rng, n_in)
    return rng, net, lo, hi


@settings(max_examples=40, deadline=None)
@given(nets)
def test_samples_inside_bounds_and_ordering(params):
    rng, net, lo, hi = _setup(params)
    ib = interval_bounds(net, lo, hi)
    db = deeppoly_bounds(net, lo, hi)
    tb, _ = lp_tighten(net, db)
    values = net.forward(sample_box(rng, lo, hi, 2000), all_nodes=True)
    for name in net.order:
        for bounds in (ib, db, tb):
            assert bounds[name].contains(values[name]), name
        assert np.all(db[name].lower >= ib[name].lower) and np.all(db[name].upper <= ib[name].upper)
        assert np.all(tb[name].lower >= db[name].lower) and np.all(tb[name].upper <= db[name].upper)


@settings(max_examples=40, deadline=None)
@given(nets)
def test_certified_lp_bound_below_samples_and_ordered(params):
    rng, net, lo, hi = _setup(params)
    c = rng.normal(size=(1, net.n_outputs))
    ib = interval_bounds(net, lo, hi)
    db = deeppoly_bounds(net, lo, hi)
    out = ib[net.output_name]
    interval_lb = float((np.maximum(c, 0) @ out.lower + np.minimum(c, 0) @ out.upper)[0])
    dp = output_form_bounds(net, c, db)
    encoded = encode_network(net, db, triangle_blocks(net, db))
    model = with_disjunct(encoded, encoded.columns[net.output_name], c, np.zeros(1),
                          (float(dp.lower[0]), float(dp.upper[0])))
    backend = HighsBackend()
    backend.load(model)
    lp_lb, result = certified_minimum(backend)
    samples = net.forward(sample_box(rng, lo, hi, 3000)) @ c[0]
    assert lp_lb <= samples.min() + 1e-12
    assert interval_lb <= dp.lower[0] + 1e-9
    assert dp.lower[0] <= lp_lb + 1e-7
    assert result.objective is not None and lp_lb <= result.objective + 1e-12
    assert abs(lp_lb - result.objective) <= 1e-6 * (1 + abs(result.objective))


@settings(max_examples=15, deadline=None)
@given(nets)
def test_highs_and_pulp_agree(params):
    from solvers.pulp_backend import solve_with_pulp
    rng, net, lo, hi = _setup(params)
    db = deeppoly_bounds(net, lo, hi)
    encoded = encode_network(net, db, triangle_blocks(net, db))
    c = np.zeros(encoded.model.n_cols)
    c[encoded.columns[net.output_name]] = rng.normal(size=net.n_outputs)
    model = encoded.model.with_objective(c)
    backend = HighsBackend()
    backend.load(model)
    highs = backend.solve()
    cbc = solve_with_pulp(model)
    assert highs.objective == pytest.approx(cbc.objective, rel=1e-6, abs=1e-6)


def _output_difference_lp(seed: int):
    """(rng, the triangle LP of a random 3-input net with objective ``y_0 - y_1``)."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [6, 6], 2)
    lo, hi = random_box(rng, 3)
    db = deeppoly_bounds(net, lo, hi)
    encoded = encode_network(net, db, triangle_blocks(net, db))
    c = np.zeros(encoded.model.n_cols)
    c[encoded.columns[net.output_name]] = [1.0, -1.0]
    return rng, encoded.model.with_objective(c)


def test_certificate_rejects_bad_duals_soundly():
    """Any multipliers give a valid bound: random ones are never above the optimum."""
    rng, model = _output_difference_lp(0)
    backend = HighsBackend()
    backend.load(model)
    opt = backend.solve()
    exact_cert = certified_lower_bound(model, opt.row_duals)
    assert exact_cert <= opt.objective and exact_cert >= opt.objective - 1e-6
    for _ in range(50):
        y = opt.row_duals + rng.normal(size=opt.row_duals.size) * rng.choice([1e-6, 1e-2, 1.0])
        assert certified_lower_bound(model, y) <= opt.objective + 1e-12


def test_backend_matrix_parts_follow_the_matrix():
    """The certificate's cached transposes give the same bound bit for bit, and the
    backend recomputes them when rows are added (never certifies with a stale matrix)."""
    import scipy.sparse as sp
    rng, model = _output_difference_lp(1)
    backend = HighsBackend()
    backend.load(model)
    for step in range(3):
        bound, result = certified_minimum(backend)
        assert bound == certified_lower_bound(backend.model, result.row_duals)
        assert backend.matrix_parts().At.shape == backend.model.A.T.shape
        # a cut through the optimum (valid or not: only the bookkeeping is tested)
        row = sp.csr_matrix(rng.normal(size=(1, backend.model.n_cols)))
        value = float((row @ result.x)[0])
        backend.add_rows(row, np.array([-np.inf]), np.array([value - 0.1 * (step + 1)]))
        assert backend.matrix_parts().At.shape[1] == backend.model.n_rows


def test_backend_time_limit_is_per_solve():
    """``SolveLimits.time_limit`` bounds each solve, not the Highs object's total run time:
    HiGHS's own option is compared with a clock that adds up every ``run()``, which once
    made all but the first few seconds of a layer's warm-started LP tightening return
    ``TIME_LIMIT`` at iteration 0."""
    from solvers import Status
    from solvers.highs import HighsOptions, SolveLimits
    rng, model = _output_difference_lp(2)
    backend = HighsBackend(HighsOptions(presolve=False))   # presolve alone may solve it
    backend.load(model)
    limit = 0.02
    solves = 0
    while backend.highs.getRunTime() < 5 * limit:
        backend.set_objective(rng.normal(size=model.n_cols) * (model.c != 0))
        result = backend.solve(SolveLimits(time_limit=limit))
        assert result.status == Status.OPTIMAL, (solves, backend.highs.getRunTime())
        solves += 1
    assert solves > 5


@settings(max_examples=30, deadline=None)
@given(nets)
def test_batched_deeppoly_is_sound_on_sub_boxes(params):
    """Batched DeepPoly (input splitting) bounds hold on every sub-box of a root box."""
    from verifier.bounds.batched import batched_output_lower
    from verifier.bounds.chain import dense_chain, magnitude_scales
    rng, net, lo, hi = _setup(params)
    C = rng.normal(size=(2, net.n_outputs))
    chain = dense_chain(net)
    scales = magnitude_scales(chain, lo, hi)
    a = rng.uniform(lo, hi, size=(6, lo.size))
    b = rng.uniform(lo, hi, size=(6, lo.size))
    sub_lo, sub_hi = np.minimum(a, b), np.maximum(a, b)
    bounds = batched_output_lower(chain, sub_lo, sub_hi, C, scales)
    for k in range(6):
        values = net.forward(sample_box(rng, sub_lo[k], sub_hi[k], 500)) @ C.T
        assert np.all(values >= bounds[k] - 1e-12)
        # never looser than interval bounds of the sub-box
        out = interval_bounds(net, sub_lo[k], sub_hi[k])[net.output_name]
        interval_lb = np.maximum(C, 0) @ out.lower + np.minimum(C, 0) @ out.upper
        assert np.all(bounds[k] >= interval_lb - 1e-6 * (1 + np.abs(interval_lb)))


def test_parallel_lp_tightening_equals_serial():
    """Neurons split over 2 worker processes (each with its own HiGHS) give the same bounds."""
    from concurrent.futures import ProcessPoolExecutor
    from verifier.tighten import TightenOptions
    rng = np.random.default_rng(3)
    net = random_network(rng, 4, [12, 12], 3)
    lo, hi = random_box(rng, 4)
    db = deeppoly_bounds(net, lo, hi)
    serial, _ = lp_tighten(net, db, TightenOptions(early_stop=False))
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel, stats = lp_tighten(net, db, TightenOptions(early_stop=False, workers=2),
                                     executor=pool)
    assert stats["lps"] > 0
    for name in net.order:
        np.testing.assert_allclose(parallel[name].lower, serial[name].lower, atol=1e-9)
        np.testing.assert_allclose(parallel[name].upper, serial[name].upper, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(0, 6))
def test_box_rows_dual_bound_between_box_and_lp(seed, n, S):
    """Dual ascent for ``min c x`` over a box and rows: never above the LP optimum (nor the
    value at any feasible sample), never below the box bound, and closes at least half of
    the box-to-LP gap after enough iterations (typically > 95 %)."""
    from scipy.optimize import linprog
    from verifier.bounds.dual_ascent import box_rows_dual_bound
    rng = np.random.default_rng(seed)
    D = 3
    lower = -rng.uniform(0.1, 2.0, n)
    upper = rng.uniform(0.1, 2.0, n)
    coef = rng.normal(size=(D, n))
    const = rng.normal(size=D) * 10
    G = rng.normal(size=(D, S, n))
    x0 = rng.uniform(lower, upper, size=(D, n)) * 0.5
    h = np.einsum("dsn,dn->ds", G, x0) + rng.uniform(0.0, 1.0, (D, S))
    box, _ = box_rows_dual_bound(coef, const, G, h, lower, upper, iterations=0)
    dual, x = box_rows_dual_bound(coef, const, G, h, lower, upper, iterations=300)
    assert np.all(dual >= box)
    assert np.all((x >= lower) & (x <= upper))
    for d in range(D):
        lp = linprog(coef[d], A_ub=G[d] if S else None, b_ub=h[d] if S else None,
                     bounds=list(zip(lower, upper)), method="highs")
        optimum = lp.fun + const[d]
        assert dual[d] <= optimum + 1e-9
        assert dual[d] >= optimum - 0.5 * (optimum - box[d]) - 1e-6   # closes most of it
        feasible = x0[d]
        assert dual[d] <= const[d] + coef[d] @ feasible + 1e-9


@settings(max_examples=30, deadline=None)
@given(nets)
def test_alpha_layer_bounds_between_lp_and_deeppoly(params):
    """Optimised back-substitution of a layer (earlier bounds fixed) is sound: never above
    the triangle LP's optimum over the same bounds (weak duality: any slopes are a dual
    point) nor excluding a sample. (How much of the gap to the LP it closes:
    ``test_alpha_tightening_approaches_lp_tightening``.)"""
    from verifier.bounds.alpha import alpha_layer_bounds
    from verifier.bounds.chain import dense_chain
    rng, net, lo, hi = _setup(params)
    db = deeppoly_bounds(net, lo, hi)
    pres = [net.inputs_of(r)[0] for r in net.relu_names()]
    chain = dense_chain(net)
    for j in range(1, len(pres)):
        unstable = db[pres[j]].unstable()
        if unstable.size == 0:
            continue
        fixed = ([db[p].lower for p in pres[:j]], [db[p].upper for p in pres[:j]])
        a_lo, a_hi = alpha_layer_bounds(chain, lo, hi, *fixed, j, unstable, iterations=40)
        z = net.forward(sample_box(rng, lo, hi, 300), all_nodes=True)[pres[j]][:, unstable]
        assert np.all(z >= a_lo - 1e-12) and np.all(z <= a_hi + 1e-12)
        encoded = encode_network(net, db, triangle_blocks(net, db), upto=pres[j])
        backend = HighsBackend()
        backend.load(encoded.model)
        for k, col in enumerate(encoded.columns[pres[j]][unstable]):
            for sign, alpha_bound in ((1.0, a_lo[k]), (-1.0, -a_hi[k])):
                c = np.zeros(encoded.model.n_cols)
                c[col] = sign
                backend.set_objective(c)
                optimum = backend.solve().objective
                assert alpha_bound <= optimum + 1e-7 * (1 + abs(optimum))


@settings(max_examples=30, deadline=None)
@given(nets)
def test_alpha_tightening_is_sound_and_inside_deeppoly(params):
    """``TightenOptions(method="alpha")``: every sample inside, never looser than DeepPoly,
    and no HiGHS solve."""
    from verifier.tighten import TightenOptions, tighten_bounds
    rng, net, lo, hi = _setup(params)
    db = deeppoly_bounds(net, lo, hi)
    tight, stats = tighten_bounds(net, db, TightenOptions(method="alpha"))
    assert stats["lps"] == 0
    values = net.forward(sample_box(rng, lo, hi, 400), all_nodes=True)
    for name in net.order:
        assert tight[name].contains(values[name], tol=1e-12)
        assert np.all(tight[name].lower >= db[name].lower)
        assert np.all(tight[name].upper <= db[name].upper)


def test_alpha_tightening_approaches_lp_tightening():
    """On a net where the LP tightens, the alpha bounds close most of the DeepPoly-to-LP
    gap (summed widths) and are never tighter than the LP's beyond rounding."""
    from verifier.tighten import TightenOptions, tighten_bounds
    rng = np.random.default_rng(5)
    net = random_network(rng, 5, [20, 20, 20], 3)
    lo, hi = random_box(rng, 5)
    db = deeppoly_bounds(net, lo, hi)
    lp, _ = lp_tighten(net, db, TightenOptions(early_stop=False))
    al, _ = tighten_bounds(net, db, TightenOptions(method="alpha", alpha_iterations=100))
    pres = [net.inputs_of(r)[0] for r in net.relu_names()]
    pre = pres[1]                 # same fixed bounds before it: a like-for-like comparison
    assert np.all(al[pre].lower <= lp[pre].lower + 1e-6)
    assert np.all(al[pre].upper >= lp[pre].upper - 1e-6)
    total = lambda b: sum(float(np.sum(b[p].upper - b[p].lower)) for p in pres)  # noqa: E731
    assert total(db) - total(lp) > 0.1
    assert total(db) - total(al) >= 0.8 * (total(db) - total(lp))


@settings(max_examples=30, deadline=None)
@given(nets)
def test_alpha_rows_lower_below_samples_and_triangle_lp(params):
    """Optimised lower bounds of output forms: below every sample and never above the
    triangle LP's optimum over the same bounds; at least DeepPoly's back-substitution."""
    from verifier.bounds.alpha import alpha_rows_lower
    from verifier.bounds.chain import dense_chain
    rng, net, lo, hi = _setup(params)
    db = deeppoly_bounds(net, lo, hi)
    pres = [db[net.inputs_of(r)[0]] for r in net.relu_names()]
    C = rng.normal(size=(3, net.n_outputs))
    value = alpha_rows_lower(dense_chain(net), lo, hi, [p.lower for p in pres],
                             [p.upper for p in pres], C, iterations=40)
    samples = net.forward(sample_box(rng, lo, hi, 500)) @ C.T
    assert np.all(value <= samples.min(axis=0) + 1e-12)
    forms = output_form_bounds(net, C, db)
    assert np.all(value >= forms.lower - 1e-6 * (1 + np.abs(forms.lower)))
    encoded = encode_network(net, db, triangle_blocks(net, db))
    backend = HighsBackend()
    backend.load(encoded.model)
    for row, bound in zip(C, value):
        c = np.zeros(encoded.model.n_cols)
        c[encoded.columns[net.output_name]] = row
        backend.set_objective(c)
        optimum = backend.solve().objective
        assert bound <= optimum + 1e-7 * (1 + abs(optimum))


@settings(max_examples=30, deadline=None)
@given(nets)
def test_milp_refined_bounds_contain_samples_and_sit_inside_lp(params):
    """MILP refinement of the intermediate layers: every sample inside, never looser
    than the LP-ALL bounds it starts from; where a solve finished, the refined bound is
    the exact extreme of the neuron over the box (the MILP over the layers before it), so
    it lies within the MILP tolerance of the sampled extremes or beyond them."""
    from verifier.tighten import TightenOptions, milp_refine
    rng, net, lo, hi = _setup(params)
    db = deeppoly_bounds(net, lo, hi)
    lp, _ = lp_tighten(net, db)
    refined, stats = milp_refine(net, lp, TightenOptions(milp_layers=3, milp_time_limit=5.0))
    values = net.forward(sample_box(rng, lo, hi, 2000), all_nodes=True)
    for name in net.order:
        assert refined[name].contains(values[name], tol=1e-12), name
        assert np.all(refined[name].lower >= lp[name].lower)
        assert np.all(refined[name].upper <= lp[name].upper)
    assert stats["milps"] <= 2 * stats["refined"]


def test_milp_refinement_tightens_a_deep_net():
    """On a net where LP-ALL leaves the second layer loose, the MILP refinement shrinks
    its summed width and proves neurons stable."""
    from verifier.tighten import TightenOptions, milp_refine
    rng = np.random.default_rng(5)
    net = random_network(rng, 5, [20, 20, 20], 3)
    lo, hi = random_box(rng, 5)
    lp, _ = lp_tighten(net, deeppoly_bounds(net, lo, hi))
    refined, stats = milp_refine(net, lp, TightenOptions(milp_layers=2, milp_time_limit=5.0))
    pres = [net.inputs_of(r)[0] for r in net.relu_names()]
    width = lambda b, p: float(np.sum(b[p].upper - b[p].lower))  # noqa: E731
    assert width(refined, pres[1]) < width(lp, pres[1])
    assert width(refined, pres[2]) <= width(lp, pres[2])
    assert stats["refined"] > 0


def test_milp_refinement_over_two_processes_gives_the_serial_bounds():
    """Dealing a layer's neurons over worker processes changes nothing when every solve
    finishes: the bounds equal the serial ones."""
    from concurrent.futures import ProcessPoolExecutor
    from verifier.tighten import TightenOptions, milp_refine
    rng = np.random.default_rng(5)
    net = random_network(rng, 5, [20, 20, 20], 3)
    lo, hi = random_box(rng, 5)
    lp, _ = lp_tighten(net, deeppoly_bounds(net, lo, hi))
    serial, _ = milp_refine(net, lp, TightenOptions(milp_layers=2, milp_time_limit=5.0))
    with ProcessPoolExecutor(2) as pool:
        shared, _ = milp_refine(net, lp, TightenOptions(milp_layers=2, milp_time_limit=5.0,
                                                        workers=2), executor=pool)
    for name in net.order:
        np.testing.assert_allclose(shared[name].lower, serial[name].lower, atol=1e-6)
        np.testing.assert_allclose(shared[name].upper, serial[name].upper, atol=1e-6)


def test_an_interrupted_mip_does_not_stop_the_next_solve():
    """A MIP stopped by its callback (``stop_dual_above``) leaves HiGHS's interrupt flag
    set; the next solve on the same object must still run to its optimum."""
    from solvers.highs import HighsOptions, SolveLimits
    from verifier.relaxations import big_m
    rng = np.random.default_rng(5)
    net = random_network(rng, 5, [20, 20, 20], 3)
    lo, hi = random_box(rng, 5)
    lp, _ = lp_tighten(net, deeppoly_bounds(net, lo, hi))
    relus = net.relu_names()
    first, pre = net.inputs_of(relus[0])[0], net.inputs_of(relus[1])[0]
    encoded = encode_network(net, lp, {relus[0]: [big_m(lp[first], relus[0])]}, upto=pre)
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(encoded.model)
    statuses = []
    for col in encoded.columns[pre][lp[pre].unstable()]:
        for sign in (1.0, -1.0):
            c = np.zeros(encoded.model.n_cols)
            c[col] = sign
            backend.set_objective(c)
            result = backend.solve(SolveLimits(time_limit=10, stop_dual_above=0.0))
            statuses.append(result.status.name)
            assert result.dual_bound is not None, statuses
    assert "INTERRUPTED" in statuses[:-1]       # the case this test is about happened


def _option(backend: HighsBackend, name: str):
    """A HiGHS option's value (highspy returns ``(status, value)``)."""
    value = backend.highs.getOptionValue(name)
    return value[1] if isinstance(value, tuple) else value


def test_solver_time_limit_is_per_solve():
    """Every solve on one Highs object gets its own ``time_limit``: a MIP's is measured from
    the start of its own run (a limit relative to the object's run clock made each further
    solve about twice as long as the last), an LP's from the object's run clock (which adds
    up every earlier run). Checked on the option HiGHS is given, not on a timing; the
    presolve rule that ignores the clock (sparsify) stays off."""
    from solvers.highs import PRESOLVE_RULES_OFF, HighsOptions, SolveLimits
    from verifier.relaxations import big_m
    rng = np.random.default_rng(3)
    net = random_network(rng, 8, [60, 60, 10], 3)
    lo, hi = random_box(rng, 8, radius=1.0)
    db = deeppoly_bounds(net, lo, hi)
    relus = net.relu_names()
    encoded = encode_network(net, db, {r: [big_m(db[net.inputs_of(r)[0]], r)]
                                       for r in relus[:2]}, upto=net.inputs_of(relus[2])[0])
    backend = HighsBackend(HighsOptions(threads=1, mip_rel_gap=0.0))
    backend.load(encoded.model)
    assert _option(backend, "presolve_rule_off") & PRESOLVE_RULES_OFF
    for col in encoded.columns[net.inputs_of(relus[2])[0]][:4]:
        c = np.zeros(encoded.model.n_cols)
        c[col] = 1.0
        backend.set_objective(c)
        backend.solve(SolveLimits(time_limit=0.2))
        assert _option(backend, "time_limit") == pytest.approx(0.2)
    lp = HighsBackend(HighsOptions(threads=1))
    lp.load(encoded.model.relaxed())
    for col in encoded.columns[net.inputs_of(relus[2])[0]][:4]:
        c = np.zeros(encoded.model.n_cols)
        c[col] = 1.0
        lp.set_objective(c)
        clock = lp.highs.getRunTime()
        lp.solve(SolveLimits(time_limit=5.0))
        assert _option(lp, "time_limit") == pytest.approx(clock + 5.0)
