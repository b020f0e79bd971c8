"""VNN-LIB 2.0 queries, one test per theory of the linear logic, both verdicts.

Each test builds small random ONNX models, writes a 2.0 query ``g(v) >= c`` over them
(``v`` the declared variables, ``g`` linear) and computes ``g`` independently (numpy on
the layer weights) at a dense sample of the query's input region. With ``c`` below the
sampled maximum the exact method must answer ``sat`` with an assignment that satisfies
the query (checked here again, and against the numpy values); with ``c`` well above it,
``unsat``. Strict and non-strict atoms are checked at a boundary that is reached exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnx_builders import mlp_onnx, random_layers, save, two_io_onnx
from verifier.spec.vnnlib2 import parse_query
from verifier.verify.query import verify_query

HEADER = "(vnnlib-version <2.0>)\n"
BOX2 = "".join(f"(assert (>= {v}[0,{i}] -1.0))\n(assert (<= {v}[0,{i}] 1.0))\n"
               for v in ("X",) for i in range(2))


def mlp(layers, X):
    """numpy forward of a Gemm/Relu chain; returns (output, [pre-activations], [relus])."""
    h, pres, posts = np.asarray(X, dtype=np.float64), [], []
    for k, (W, b) in enumerate(layers):
        z = h @ W.T.astype(np.float64) + b
        if k == len(layers) - 1:
            return z, pres, posts
        pres.append(z)
        h = np.maximum(z, 0.0)
        posts.append(h)


def grid2(lo=-1.0, hi=1.0, n=161):
    g = np.linspace(lo, hi, n)
    return np.array(np.meshgrid(g, g)).reshape(2, -1).T


def decide(text: str, files: dict, method: str = "milp", timeout: float = 60.0):
    query = parse_query(text, "test.vnnlib")
    return query, verify_query(query, files, method=method, timeout=timeout)


def check_both(make_text, files, values, method="milp"):
    """``make_text(c)`` is a query ``g >= c``; ``values`` are g on a dense sample.
    c below the sample's maximum: sat with a checked assignment; well above: unsat."""
    top, spread = float(values.max()), float(values.max() - values.min()) + 1e-3
    query, result = decide(make_text(top - 0.05 * spread), files, method)
    assert result.verdict == "sat", result.message
    assert result.assignment is not None
    v = np.concatenate([result.assignment[var.name].reshape(-1) for var in query.variables])
    assert query.holds(v)
    _, result = decide(make_text(top + 0.5 * spread + 0.1), files, method)
    assert result.verdict == "unsat", result.message
    return v


@pytest.fixture
def net_f(tmp_path):
    layers = random_layers(np.random.default_rng(1), [2, 6, 6, 2])
    return layers, save(mlp_onnx(layers), tmp_path / "f.onnx")


def declare(name, n_in=2, n_out=2, extra="", hidden=""):
    return (f"(declare-network {name}\n{extra}"
            f"    (declare-input {'X' if name == 'f' else 'U'} real [1,{n_in}])\n{hidden}"
            f"    (declare-output {'Y' if name == 'f' else 'V'} real [1,{n_out}])\n)\n")


def test_hidden_node_constraints(net_f):
    layers, path = net_f
    X = grid2()
    _, _, posts = mlp(layers, X)
    values = posts[0][:, 0] + posts[0][:, 1]
    hidden = '    (declare-hidden H real [1,6] "relu0")\n'

    def text(c):
        return (HEADER + declare("f", hidden=hidden) + BOX2
                + f"(assert (>= (+ H[0,0] H[0,1]) {c:.6f}))\n")

    v = check_both(text, {"f": path}, values)
    _, _, posts = mlp(layers, v[None, :2])
    assert np.allclose(v[2:8], posts[0][0], atol=1e-6)    # H is relu0 at the witness


def test_two_equal_networks_on_related_inputs(net_f):
    """f(U) - f(X) with U[0] in [X[0] + 0.2, X[0] + 0.3] and U[1] = X[1] (a tie)."""
    layers, path = net_f
    X = grid2(-1.0, 0.7, 101)        # U[0] <= X[0] + 0.3 stays in the declared box
    values = np.concatenate([mlp(layers, X + [t, 0.0])[0][:, 0] - mlp(layers, X)[0][:, 0]
                             for t in np.linspace(0.2, 0.3, 11)])
    g = declare("g", extra="    (equal-to f)\n")
    ties = ("(assert (>= U[0,0] (+ X[0,0] 0.2)))\n(assert (<= U[0,0] (+ X[0,0] 0.3)))\n"
            "(assert (== U[0,1] X[0,1]))\n(assert (<= U[0,0] 1.0))\n")

    def text(c):
        return (HEADER + declare("f") + g + BOX2 + ties
                + f"(assert (>= (- V[0,0] Y[0,0]) {c:.6f}))\n")

    v = check_both(text, {"f": path}, values)
    assert v[1] == v[5] and 0.2 <= v[4] - v[0] <= 0.3 + 1e-12     # U[1] = X[1] exactly


def test_isomorphic_networks(net_f, tmp_path):
    layers, path = net_f
    other = random_layers(np.random.default_rng(2), [2, 6, 6, 2])
    path_g = save(mlp_onnx(other), tmp_path / "g.onnx")
    X = grid2()
    values = mlp(other, X)[0][:, 1] - mlp(layers, X)[0][:, 1]
    g = declare("g", extra="    (isomorphic-to f)\n")

    def text(c):
        return (HEADER + declare("f") + g + BOX2
                + "(assert (== U[0,0] X[0,0]))\n(assert (== U[0,1] X[0,1]))\n"
                + f"(assert (>= (- V[0,1] Y[0,1]) {c:.6f}))\n")

    check_both(text, {"f": path, "g": path_g}, values)


def test_several_inputs_and_outputs(tmp_path):
    layers = random_layers(np.random.default_rng(3), [3, 6, 3])
    path = save(two_io_onnx(layers, (1, 2), (2, 1)), tmp_path / "io.onnx")
    g = np.linspace(-1, 1, 41)
    X = np.array(np.meshgrid(g, g, g)).reshape(3, -1).T
    out = mlp(layers, X)[0]
    values = out[:, 0] + out[:, 2]          # o1[0] + o2[1]
    decl = ("(declare-network n\n    (declare-input A real [1,2])\n"
            "    (declare-input B real [1,1])\n    (declare-output P real [1,1])\n"
            "    (declare-output Q real [1,2])\n)\n")
    box = "".join(f"(assert (>= {v} -1.0))\n(assert (<= {v} 1.0))\n"
                  for v in ("A[0,0]", "A[0,1]", "B[0,0]"))

    def text(c):
        return HEADER + decl + box + f"(assert (>= (+ P[0,0] Q[0,1]) {c:.6f}))\n"

    v = check_both(text, {"n": path}, values)
    assert np.allclose(v[3:], mlp(layers, v[None, :3])[0][0], atol=1e-6)


def test_comparisons_across_nodes(net_f):
    layers, path = net_f
    X = grid2()
    values = X[:, 0] + mlp(layers, X)[0][:, 0]

    def text(c):
        return HEADER + declare("f") + BOX2 + f"(assert (>= (+ X[0,0] Y[0,0]) {c:.6f}))\n"

    check_both(text, {"f": path}, values)


def test_linear_input_constraints(net_f):
    layers, path = net_f
    X = grid2()
    X = X[1.5 * X[:, 0] - X[:, 1] <= -0.5]
    values = mlp(layers, X)[0][:, 1]

    def text(c):
        return (HEADER + declare("f") + BOX2
                + "(assert (<= (- (* 1.5 X[0,0]) X[0,1]) -0.5))\n"
                + f"(assert (>= Y[0,1] {c:.6f}))\n")

    v = check_both(text, {"f": path}, values)
    assert 1.5 * v[0] - v[1] <= -0.5


def test_contradictory_input_constraints_are_unsat(net_f):
    _, path = net_f
    text = (HEADER + declare("f") + BOX2 + "(assert (>= (+ X[0,0] X[0,1]) 1.5))\n"
            "(assert (<= (+ X[0,0] X[0,1]) 1.0))\n(assert (>= Y[0,0] -100.0))\n")
    _, result = decide(text, {"f": path})
    assert result.verdict == "unsat"


@pytest.mark.parametrize("strict", [False, True])
def test_strict_and_non_strict_at_the_boundary(net_f, strict):
    """``X[0] <= 0.25`` with ``X[0] >= 0.25`` is met exactly at 0.25; ``<`` never is."""
    _, path = net_f
    op = "<" if strict else "<="
    text = (HEADER + declare("f") + BOX2 + "(assert (>= X[0,0] 0.25))\n"
            f"(assert ({op} X[0,0] 0.25))\n(assert (>= Y[0,0] -100.0))\n")
    _, result = decide(text, {"f": path}, method="auto")
    if strict:
        assert result.verdict != "sat"
    else:
        assert result.verdict == "sat"
        assert result.assignment["X"][0, 0] == 0.25


@pytest.mark.parametrize("strict", [False, True])
def test_strict_and_non_strict_on_a_relu(net_f, strict):
    """A ReLU output is >= 0: ``H <= 0`` is met exactly where the neuron is off, ``H < 0``
    never; the strict query must not be answered sat."""
    layers, path = net_f
    _, pres, _ = mlp(layers, grid2())
    neuron = int(np.argmax((pres[0] < 0).mean(axis=0)))      # off somewhere in the box
    hidden = '    (declare-hidden H real [1,6] "relu0")\n'
    op = "<" if strict else "<="
    text = (HEADER + declare("f", hidden=hidden) + BOX2
            + f"(assert ({op} H[0,{neuron}] 0.0))\n")
    _, result = decide(text, {"f": path}, method="auto")
    if strict:
        assert result.verdict in ("unsat", "unknown")
    else:
        assert result.verdict == "sat"
        assert result.assignment["H"][0, neuron] == 0.0


# ====================================================================== bounds vs samples
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_joint_bounds_contain_the_constrained_samples(tmp_path, seed):
    """Two networks on tied inputs with a linear input row: every method's certified
    bound of each disjunct's margin is below the margin at every sampled point of the
    constrained region, and the MILP's exact value is too."""
    from verifier.report import gap_table
    from verifier.verify.query import prepare_query

    rng = np.random.default_rng(seed)
    f, g = (random_layers(rng, [2, 5, 4, 2]) for _ in range(2))
    paths = {"f": save(mlp_onnx(f), tmp_path / f"f{seed}.onnx"),
             "g": save(mlp_onnx(g), tmp_path / f"g{seed}.onnx")}
    a = rng.uniform(-1, 1, 2)
    text = (HEADER + declare("f") + declare("g") + BOX2
            + "(assert (== U[0,0] X[0,0]))\n(assert (== U[0,1] X[0,1]))\n"
            + f"(assert (<= (+ (* {a[0]:.3f} X[0,0]) (* {a[1]:.3f} X[0,1])) 0.2))\n"
            + "(assert (or (<= (- Y[0,0] V[0,0]) 0.0) (<= (+ Y[0,1] V[0,1]) -0.5)))\n")
    lowered = prepare_query(parse_query(text, "q.vnnlib"), paths)
    table = gap_table(lowered.network, lowered.prop, ("interval", "deeppoly", "alpha", "triangle",
                                                      "milp"), timeout=30)
    X = grid2(n=121)
    X = X[X @ a <= 0.2]
    Y, V = mlp(f, X)[0], mlp(g, X)[0]
    margins = [Y[:, 0] - V[:, 0], Y[:, 1] + V[:, 1] + 0.5]
    for row in table.objectives:
        sampled = float(margins[row.disjunct].min())
        for method, bound in row.bounds.items():
            assert bound <= sampled + 1e-9, (method, bound, sampled)
        assert row.exact_lower <= sampled + 1e-9
