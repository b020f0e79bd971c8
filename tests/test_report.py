"""Contracts of the gap table and of the per-layer gap attribution.

Ordering (every objective, tolerance 1e-6): interval <= deeppoly <= triangle <= krelu <=
exact, where "exact" is the MILP optimum, or, when the MILP hit its time limit, the
incumbent (upper end of the bracket) for the relaxations and the dual bound for nothing
else. Attribution: monotonicity of v(S) (each per-layer number in [0, gap]), one ReLU
layer -> alone share == gap, Shapley shares sum to the gap (see verifier/report/attribution).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from helpers import random_network
from verifier.report import gap_table
from verifier.report.attribution import attribute_gap, export_summary
from verifier.report import gap_over_images, parse_index
from verifier.spec import linf_robustness
from verifier.verify.options import VerifyOptions

TOL = 1e-6
ORDER = ("interval", "deeppoly", "triangle", "krelu")


def check_ordering(table):
    present = [m for m in ORDER if m in table.methods]
    for o in table.objectives:
        b = o.bounds
        for lo, hi in zip(present, present[1:]):
            if math.isfinite(b[lo]) and math.isfinite(b[hi]):
                assert b[lo] <= b[hi] + TOL * (1 + abs(b[hi])), (o.label, lo, hi, b)
        for m in present:
            # relaxations are lower bounds of the exact optimum (or of the incumbent)
            assert b[m] <= o.exact_upper + TOL * (1 + abs(o.exact_upper)), (o.label, m, b)
        if o.exact is not None:
            assert b.get("milp", -math.inf) <= o.exact + TOL * (1 + abs(o.exact))
        assert o.exact_lower <= o.exact_upper + TOL


def _robustness(net, rng, n_in, eps):
    x = rng.uniform(0.2, 0.8, n_in)
    label = int(np.argmax(net.forward(x[None, :])[0]))
    return linf_robustness(x, eps, label, net.n_outputs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gap_table_ordering_random_nets(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 5, [10, 10], 4, scale=1.5)
    prop = _robustness(net, rng, 5, 0.15)
    table = gap_table(net, prop, timeout=30)
    assert "milp" in table.methods and len(table.objectives) == 3
    for o in table.objectives:
        assert o.exact is not None            # small nets: the MILP always finishes
        lo, hi = o.gap("triangle")
        assert lo == hi and lo >= -TOL
    check_ordering(table)
    # renderings
    assert "exact" in table.to_text()
    assert table.to_markdown().count("\n|") >= 4
    rows = table.to_csv().strip().splitlines()
    assert len(rows) == 1 + len(table.objectives)
    data = json.loads(table.to_json())
    assert len(data["objectives"]) == 3 and data["layers"]
    assert {r.method for r in table.layers} >= {"interval", "deeppoly", "alpha"}


def test_layer_rows_are_named_after_the_tightening():
    """The tightened row says which bounds it holds; alpha's widths lie inside DeepPoly's
    and LP-ALL's inside alpha's (LP-ALL optimises each neuron exactly over the same
    relaxation that alpha bounds from below)."""
    from verifier.verify import TightenOptions
    rng = np.random.default_rng(5)
    net = random_network(rng, 4, [8, 8], 3, scale=1.5)
    prop = _robustness(net, rng, 4, 0.2)
    widths = {}
    for method in ("alpha", "lp"):
        opts = VerifyOptions(tighten=TightenOptions(method=method))
        table = gap_table(net, prop, methods=["triangle"], timeout=30, options=opts)
        rows = {(r.layer, r.method): r.mean_width for r in table.layers}
        assert {m for _, m in rows} == {"interval", "deeppoly", method}
        widths.update(rows)
    for layer in {lay for lay, _ in widths}:
        w = {m: widths[(layer, m)] for m in ("deeppoly", "alpha", "lp")}
        assert w["lp"] <= w["alpha"] + 1e-6 <= w["deeppoly"] + 2e-6, (layer, w)


def test_unknown_method_is_skipped_with_note():
    rng = np.random.default_rng(4)
    net = random_network(rng, 3, [6], 3)
    prop = _robustness(net, rng, 3, 0.1)
    table = gap_table(net, prop, methods=("interval", "nosuchmethod"), timeout=10)
    assert table.methods == ["interval"]
    assert any("nosuchmethod" in n for n in table.notes)


def test_gap_over_images_aggregate(tmp_path):
    rng = np.random.default_rng(5)
    net = random_network(rng, 4, [8], 3)
    X = rng.uniform(0, 1, (4, 4))
    y = np.argmax(net.forward(X), axis=1)
    y[1] = (y[1] + 1) % 3                      # one misclassified image
    summary = gap_over_images(net, X, y, 0.05, parse_index("0:4", 4),
                              methods=("interval", "deeppoly", "triangle", "milp"), timeout=10)
    assert summary.skipped == [1] and summary.images == [0, 2, 3]
    agg = summary.aggregate
    assert agg["_all"]["exact_known"] == agg["_all"]["objectives"] == 6
    assert agg["deeppoly"]["mean_gap_low"] <= agg["interval"]["mean_gap_low"] + TOL
    assert agg["triangle"]["certified"] >= agg["deeppoly"]["certified"]
    summary.write(str(tmp_path / "s.csv"), str(tmp_path / "s.json"), str(tmp_path / "s.md"))
    assert (tmp_path / "s_objectives.csv").stat().st_size > 0
    assert "mean bound" in summary.to_text()


def test_parse_index():
    assert parse_index("0:3", 10) == [0, 1, 2]
    assert parse_index("2,5", 10) == [2, 5]
    assert parse_index(None, 2) == [0, 1]
    assert parse_index("8:", 10) == [8, 9]


# ------------------------------------------------------------------ attribution
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_attribution_contracts(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 5, [10, 10, 10], 3, scale=1.5)
    prop = _robustness(net, rng, 5, 0.15)
    a = attribute_gap(net, prop, mode="shapley", time_limit=30)
    assert a.finished and a.exact is not None
    gap = a.gap
    tol = 1e-6 * (1 + abs(a.exact))
    assert gap >= -tol
    for L in a.layers:                         # monotone game: each number in [0, gap]
        for share in (a.alone[L], a.leave_one_out[L], a.shapley[L]):
            assert -tol <= share <= gap + tol
    assert abs(sum(a.shapley.values()) - gap) <= 10 * tol   # efficiency
    for S, v in a.values.items():              # triangle <= v(S) <= exact
        assert a.triangle - tol <= v <= a.exact + tol


def test_attribution_one_layer_is_the_whole_gap():
    rng = np.random.default_rng(7)
    net = random_network(rng, 4, [16], 3, scale=2.0)
    prop = _robustness(net, rng, 4, 0.2)
    a = attribute_gap(net, prop, disjunct=1)
    (L,) = a.layers
    assert abs(a.alone[L] - a.gap) <= 1e-6 * (1 + abs(a.exact))
    assert abs(a.leave_one_out[L] - a.gap) <= 1e-6 * (1 + abs(a.exact))
    assert "alone" in a.to_text()


def test_export_summary_counts_kinds():
    from verifier.verify.export import build_disjunct_model
    rng = np.random.default_rng(8)
    net = random_network(rng, 4, [8, 8], 3, scale=2.0)
    prop = _robustness(net, rng, 4, 0.3)
    tri = export_summary(build_disjunct_model(net, prop, "triangle"))
    assert tri["binaries"] == 0 and tri["rows:def"] == 8 + 8 + 3
    assert tri.get("rows:tri_up", 0) == tri.get("rows:tri_lo", 0)
    assert sum(v for k, v in tri.items() if k.startswith("rows:")) == tri["rows"]
    assert sum(v for k, v in tri.items() if k.startswith("nonzeros:")) == tri["nonzeros"]
    mip = export_summary(build_disjunct_model(net, prop, "milp"))
    assert mip["binaries"] == mip.get("rows:bm_act", 0) == tri.get("rows:tri_up", 0)


# ------------------------------------------------------------------ ERAN 6x100
def _eran(count):
    from conftest import shared_benchmarks
    from verifier.network import load_network
    base = shared_benchmarks() / "eran_prima"
    path = base / "onnx" / "mnist_6_100_nat.onnx"
    if not path.exists():
        pytest.skip(f"{path} not found")
    net = load_network(str(path))
    X = np.load(base / "X_eran.npy")[:count].reshape(count, -1).astype(np.float64)
    y = np.load(base / "y_eran.npy")[:count]
    return net, X, y


def _eran_ordering(count, methods, timeout):
    net, X, y = _eran(count)
    summary = gap_over_images(net, X, y, 0.026, methods=methods, timeout=timeout)
    assert summary.tables
    for table in summary.tables:
        check_ordering(table)
    return summary


def test_eran_6x100_ordering_one_image():
    # milp left out here: on 6x100 it does not finish in test time (the bracket check is
    # in the slow test); the relaxations' ordering is what this checks
    _eran_ordering(1, ("interval", "deeppoly", "triangle", "krelu"), timeout=30)


@pytest.mark.slow
def test_eran_6x100_ordering_ten_images():
    _eran_ordering(10, ("interval", "deeppoly", "triangle", "krelu", "milp"), timeout=20)
