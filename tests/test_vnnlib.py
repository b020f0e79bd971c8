"""VNN-LIB 1.0 parser/writer and VNN-COMP result files.

Contracts: every benchmark spec parses; every published witness is a counterexample of its
parsed spec under our forward pass; write -> parse is the identity on properties; nested
and/or formulas mean what they say (checked by evaluating them on random points); bad input
gives a one-line SpecError with the line of the offending token.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier.errors import EmptyInputBoxError, InputFileError, SpecError
from verifier.spec.property import Case, OutputPolytope, Property
from verifier.spec.results import format_counterexample, read_result_file, write_result_file
from verifier.spec.vnnlib import parse_vnnlib, parse_vnnlib_file, write_vnnlib

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
COLLINS_WITNESS_LIMIT = 20


def _benchmarks_or_skip() -> Path:
    if not BENCHMARKS.is_dir():
        from conftest import BENCHMARK_SKIP
        pytest.skip(f"{BENCHMARK_SKIP} at {BENCHMARKS}")
    return BENCHMARKS


def _declarations(n_in: int, n_out: int) -> str:
    return ("".join(f"(declare-const X_{i} Real)\n" for i in range(n_in))
            + "".join(f"(declare-const Y_{j} Real)\n" for j in range(n_out)))


# ------------------------------------------------------------------ benchmark files
def test_every_benchmark_spec_parses():
    root = _benchmarks_or_skip()
    files = sorted(root.rglob("*.vnnlib"))
    assert files
    for f in files:
        prop = parse_vnnlib_file(f)
        assert prop.cases, f
        for case in prop.cases:
            assert np.all(np.isfinite(case.lower)) and np.all(np.isfinite(case.upper)), f
            assert np.all(case.lower <= case.upper), f
            assert case.disjuncts, f


def test_known_benchmark_facts():
    root = _benchmarks_or_skip()
    prop6 = parse_vnnlib_file(root / "acasxu/vnnlib/prop_6.vnnlib", n_inputs=5, n_outputs=5)
    assert len(prop6.cases) == 2
    assert [len(c.disjuncts) for c in prop6.cases] == [4, 4]
    assert prop6.cases[0].upper[1] == pytest.approx(0.499999896)
    assert prop6.cases[1].upper[1] == pytest.approx(-0.11140846)

    for name in ("test_small", "test_tiny"):
        prop = parse_vnnlib_file(root / f"test/vnnlib/{name}.vnnlib")
        assert len(prop.cases) == 1
        np.testing.assert_array_equal(prop.cases[0].lower, [-1.0])
        np.testing.assert_array_equal(prop.cases[0].upper, [1.0])
        (poly,) = prop.cases[0].disjuncts
        np.testing.assert_array_equal(poly.A, [[-1.0]])       # Y_0 >= 100
        np.testing.assert_array_equal(poly.b, [-100.0])

    mnist_files = sorted((root / "mnistfc/vnnlib").rglob("*.vnnlib"))
    assert mnist_files
    for f in mnist_files:
        prop = parse_vnnlib_file(f, n_inputs=784, n_outputs=10)
        assert prop.n_inputs == 784 and prop.n_outputs == 10
        assert len(prop.cases) == 1 and len(prop.cases[0].disjuncts) == 9


def test_largest_mnistfc_file_parses_to_its_box_and_nine_disjuncts():
    """The largest mnistfc file (784 input bounds, 9 output disjuncts) parses to exactly
    the box its asserts state (read here by a regular expression) and one case of nine
    disjuncts. How fast it parses is measured in ``bench/parse_speed.py`` (timings do not
    belong in tests)."""
    import re
    root = _benchmarks_or_skip()
    f = max((root / "mnistfc/vnnlib").rglob("*.vnnlib"), key=lambda p: p.stat().st_size)
    text = f.read_text()
    lower, upper = np.full(784, -np.inf), np.full(784, np.inf)
    for op, i, value in re.findall(r"\(assert \((<=|>=) X_(\d+) ([^)\s]+)\)\)", text):
        bound = upper if op == "<=" else lower
        index = int(i)
        bound[index] = (min if op == "<=" else max)(bound[index], float(value))
    prop = parse_vnnlib(text, n_inputs=784, n_outputs=10)
    assert len(prop.cases) == 1 and len(prop.cases[0].disjuncts) == 9
    np.testing.assert_array_equal(prop.cases[0].lower, lower)
    np.testing.assert_array_equal(prop.cases[0].upper, upper)


def test_witnesses_are_counterexamples():
    root = _benchmarks_or_skip()
    try:
        from verifier.network import load_network
        import verifier.network.loader  # noqa: F401  (load_network imports it lazily)
    except ImportError as exc:
        pytest.skip(f"load_network is not available yet: {exc}")
    networks: dict[Path, object] = {}
    props: dict[Path, Property] = {}
    checked = 0
    for witness_file in sorted(root.glob("*/witnesses.jsonl")):
        folder = witness_file.parent
        limit = COLLINS_WITNESS_LIMIT if folder.name == "collins_rul_cnn" else None
        lines = witness_file.read_text().splitlines()
        for line in lines[:limit]:
            w = json.loads(line)
            onnx_path, spec_path = folder / w["onnx"], folder / w["vnnlib"]
            if onnx_path not in networks:
                networks[onnx_path] = load_network(str(onnx_path))
            net = networks[onnx_path]
            if spec_path not in props:
                props[spec_path] = parse_vnnlib_file(spec_path, n_inputs=net.n_inputs,
                                                     n_outputs=net.n_outputs)
            x = np.asarray(w["x"], dtype=np.float64)
            y = net.forward(x)
            assert props[spec_path].is_counterexample(x, y, tol=1e-4), (
                f"{folder.name}: {w['onnx']} {w['vnnlib']} ({w['source']})")
            checked += 1
    assert checked > 100


# ------------------------------------------------------------------ round trip
_any_float = st.floats(allow_nan=False, allow_infinity=False, width=64)
_nice_float = st.one_of(
    _any_float,
    st.floats(min_value=-1e-300, max_value=1e-300, allow_nan=False),
    st.floats(min_value=-10.0, max_value=10.0, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 1e300, -1e-300, 5e-324]))


@st.composite
def _properties(draw) -> Property:
    n_in = draw(st.integers(1, 3))
    n_out = draw(st.integers(1, 3))
    cases = []
    for _ in range(draw(st.integers(1, 3))):
        a = np.array(draw(st.lists(_nice_float, min_size=n_in, max_size=n_in)))
        b = np.array(draw(st.lists(_nice_float, min_size=n_in, max_size=n_in)))
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        disjuncts = []
        for _ in range(draw(st.integers(1, 3))):
            m = draw(st.integers(1, 4))
            A = np.array(draw(st.lists(st.lists(_nice_float, min_size=n_out, max_size=n_out),
                                       min_size=m, max_size=m)))
            A[np.all(A == 0.0, axis=1), 0] = 1.0      # a zero row says nothing about y
            rhs = np.array(draw(st.lists(_nice_float, min_size=m, max_size=m)))
            disjuncts.append(OutputPolytope(A, rhs))
        cases.append(Case(lo, hi, tuple(disjuncts)))
    return Property(tuple(cases), n_in, n_out, "random")


def _canonical(prop: Property) -> dict:
    """box -> sorted list of disjuncts, each the set of its (row..., rhs) tuples."""
    out: dict = {}
    for case in prop.cases:
        key = (tuple(case.lower + 0.0), tuple(case.upper + 0.0))
        for poly in case.disjuncts:
            rows = frozenset(tuple(a + 0.0) + (b + 0.0,) for a, b in zip(poly.A, poly.b))
            out.setdefault(key, []).append(tuple(sorted(rows)))
    return {k: sorted(v) for k, v in out.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_properties())
def test_write_parse_round_trip(prop):
    text = write_vnnlib(prop)
    back = parse_vnnlib(text, n_inputs=prop.n_inputs, n_outputs=prop.n_outputs)
    assert back.n_inputs == prop.n_inputs and back.n_outputs == prop.n_outputs
    assert _canonical(back) == _canonical(prop)


# Random and/or nesting over a fixed atom vocabulary, evaluated directly and via the parse.
_INPUT_CONSTANTS = [-1.5, -0.5, 0.5, 1.5]


def _atom_strategy():
    def x_atom(t):
        i, op, c = t
        return (f"({op} X_{i} {c!r})",
                lambda x, y: (x[:, i] <= c) if op == "<=" else (x[:, i] >= c))

    def y_atom(t):
        j, op, c = t
        return (f"({op} Y_{j} {c!r})",
                lambda x, y: (y[:, j] <= c) if op == "<=" else (y[:, j] >= c))

    def y_pair(t):
        j, k = t
        return f"(<= Y_{j} Y_{k})", lambda x, y: y[:, j] <= y[:, k]

    def y_linear(c):
        # (<= (+ Y_0 (* -2.0 Y_1)) c)   i.e.  y0 - 2 y1 <= c
        return (f"(<= (+ Y_0 (* -2.0 Y_1)) {c!r})",
                lambda x, y: y[:, 0] - 2.0 * y[:, 1] <= c)

    ops = st.sampled_from(["<=", ">="])
    consts = st.sampled_from(_INPUT_CONSTANTS)
    return st.one_of(
        st.tuples(st.integers(0, 1), ops, consts).map(x_atom),
        st.tuples(st.integers(0, 1), ops, consts).map(y_atom),
        st.tuples(st.integers(0, 1), st.integers(0, 1)).filter(lambda t: t[0] != t[1]).map(
            y_pair),
        consts.map(y_linear))


def _combine(parts, kind):
    texts = " ".join(t for t, _ in parts)
    fns = [f for _, f in parts]
    if kind == "and":
        return f"(and {texts})", lambda x, y: np.logical_and.reduce([f(x, y) for f in fns])
    return f"(or {texts})", lambda x, y: np.logical_or.reduce([f(x, y) for f in fns])


_formulas = st.recursive(
    _atom_strategy(),
    lambda inner: st.tuples(st.lists(inner, min_size=1, max_size=3),
                            st.sampled_from(["and", "or"])).map(lambda t: _combine(*t)),
    max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_formulas, min_size=1, max_size=2), st.integers(0, 2**32 - 1))
def test_nested_and_or_means_what_it_says(asserted, seed):
    text = _declarations(2, 2)
    text += "(assert (>= X_0 -2.0))\n(assert (<= X_0 2.0))\n"
    text += "(assert (and (>= X_1 -2.0) (<= X_1 2.0)))\n"
    text += "".join(f"(assert\n  {t})\n" for t, _ in asserted)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.5, 2.5, size=(400, 2))
    y = rng.uniform(-2.5, 2.5, size=(400, 2))
    truth = np.all(np.abs(x) <= 2.0, axis=1)
    for _, fn in asserted:
        truth &= fn(x, y)
    if not any("Y_" in t for t, _ in asserted):
        # no output constraint at all: a user's mistake, named (not a trivial "sat")
        with pytest.raises(SpecError, match="constrains no output"):
            parse_vnnlib(text)
        return
    try:
        prop = parse_vnnlib(text)
    except EmptyInputBoxError:
        assert not truth.any()
        return
    got = np.array([prop.is_counterexample(xi, yi) for xi, yi in zip(x, y)])
    np.testing.assert_array_equal(got, truth)


def test_linear_terms_and_equality():
    text = _declarations(2, 3) + """
    (assert (= X_0 0.25))
    (assert (<= -1 X_1 1))
    (assert (<= (+ Y_0 (* -1.0 Y_1) (- Y_2 1.5)) 0))
    (assert (>= (* 2 (- Y_2)) (* Y_1 3)))
    (assert (< Y_0 4))
    """
    prop = parse_vnnlib(text)
    (case,) = prop.cases
    np.testing.assert_array_equal(case.lower, [0.25, -1.0])
    np.testing.assert_array_equal(case.upper, [0.25, 1.0])
    (poly,) = case.disjuncts
    np.testing.assert_array_equal(poly.A, [[1, -1, 1], [0, 3, 2], [1, 0, 0]])
    np.testing.assert_array_equal(poly.b, [1.5, 0, 4])


def test_empty_disjunct_is_dropped_and_equal_boxes_grouped():
    text = _declarations(1, 1) + """
    (assert (or (and (>= X_0 0) (<= X_0 1) (<= Y_0 0))
                (and (>= X_0 2) (<= X_0 1) (<= Y_0 5))
                (and (<= X_0 1) (>= X_0 0) (>= Y_0 3))))
    """
    prop = parse_vnnlib(text)
    assert len(prop.cases) == 1 and len(prop.cases[0].disjuncts) == 2
    assert prop.meta["n_dropped_empty"] == 1


def test_gz_file_and_missing_file(tmp_path):
    text = _declarations(1, 1) + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (<= Y_0 0))\n"
    path = tmp_path / "p.vnnlib.gz"
    with gzip.open(path, "wt") as f:
        f.write(text)
    prop = parse_vnnlib_file(path)
    assert prop.name == "p" and prop.n_inputs == 1
    with pytest.raises(InputFileError):
        parse_vnnlib_file(tmp_path / "nope.vnnlib")


# ------------------------------------------------------------------ errors
def _spec_error(text, cls=SpecError, **kwargs) -> SpecError:
    with pytest.raises(cls) as info:
        parse_vnnlib(text, path="spec.vnnlib", **kwargs)
    err = info.value
    assert "\n" not in str(err)
    assert str(err).startswith("spec.vnnlib:")
    return err


BOX2 = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"


def test_error_unbalanced_parentheses():
    head = _declarations(2, 1) + BOX2        # 7 lines
    err = _spec_error(head + "(assert (<= Y_0 1)\n; comment\n")
    assert err.line == 8 and "unbalanced" in str(err)
    err = _spec_error(head + "(assert (<= Y_0 1)))\n")
    assert err.line == 8 and err.token == ")"


def test_error_unknown_variable():
    err = _spec_error(_declarations(2, 1) + BOX2 + "\n(assert (<= X_9 1))\n")
    assert err.line == 9 and err.token == "X_9" and "unknown variable" in str(err)
    err = _spec_error(_declarations(3, 1), n_inputs=2)     # index beyond the network's
    assert err.line == 3 and err.token == "X_2"


def test_error_arity_number_command_function():
    head = _declarations(2, 1) + BOX2
    err = _spec_error(head + "(assert (<= X_0))\n")
    assert err.line == 8 and "takes 2 arguments" in str(err)
    err = _spec_error(head + "(assert\n  (<= Y_0 1.2.3))\n")
    assert err.line == 9 and err.token == "1.2.3" and "number" in str(err)
    err = _spec_error(head + "(frobnicate X_0)\n")
    assert err.line == 8 and "unknown command" in str(err)
    err = _spec_error(head + "(assert (xor (<= Y_0 1) (<= Y_0 2)))\n")
    assert err.line == 8 and "unknown function" in str(err)
    err = _spec_error(head + "(assert (<= (* Y_0 Y_0) 1))\n")
    assert err.line == 8


def test_error_size_mismatch():
    err = _spec_error(_declarations(2, 1) + BOX2 + "(assert (<= Y_0 1))\n", n_inputs=784)
    assert "spec declares 2 inputs, network has 784" in str(err)
    assert err.line == 2
    err = _spec_error(_declarations(2, 1) + BOX2 + "(assert (<= Y_0 1))\n", n_outputs=10)
    assert "spec declares 1 outputs, network has 10" in str(err)


def test_error_empty_box():
    text = _declarations(1, 1) + "(assert (>= X_0 1))\n(assert (<= X_0 0))\n(assert (<= Y_0 0))\n"
    err = _spec_error(text, cls=EmptyInputBoxError)
    assert err.line == 4 and "empty input box" in str(err)


def test_error_box_and_atom_kinds():
    err = _spec_error(_declarations(2, 1) + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
                      "(assert (<= Y_0 0))\n")
    assert "X_1" in str(err) and "bound" in str(err)
    err = _spec_error(_declarations(2, 1) + BOX2 + "(assert (<= X_0 Y_0))\n")
    assert err.line == 8 and "mixes" in str(err)
    err = _spec_error(_declarations(2, 1) + BOX2 + "(assert (<= X_0 X_1))\n")
    assert err.line == 8 and "only box input constraints" in str(err)


def test_error_dnf_blow_up():
    clause = "(or (<= Y_0 1) (<= Y_0 2) (<= Y_0 3))"
    text = _declarations(1, 1) + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
    text += "(assert (and " + " ".join([clause] * 12) + "))\n"
    err = _spec_error(text)
    assert "disjuncts" in str(err) and err.line == 5


# ------------------------------------------------------------------ result files
def test_result_file_round_trip_with_witness(tmp_path):
    x = np.array([0.6, 0.012345679012345678, -0.22222222222222227, 0.475, -0.5])
    y = np.array([-0.0203, 1e-300, 3.5, -7.25e10, 0.1])
    path = tmp_path / "out.txt"
    write_result_file(path, "sat", x, y)
    lines = path.read_text().splitlines()
    assert lines[0] == "sat" and lines[1] == "(" and lines[-1] == ")"
    assert lines[2] == "(X_0 0.6)" and lines[7] == "(Y_0 -0.0203)"
    verdict, x2, y2 = read_result_file(path)
    assert verdict == "sat"
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    assert format_counterexample(x, y) == "\n".join(lines[1:]) + "\n"

    for verdict in ("unsat", "unknown", "timeout", "error"):
        write_result_file(path, verdict, x, y)          # no counterexample for these
        assert path.read_text() == verdict + "\n"
        assert read_result_file(path) == (verdict, None, None)


def test_result_file_with_benchmark_witness(tmp_path):
    root = _benchmarks_or_skip()
    w = json.loads((root / "test/witnesses.jsonl").read_text().splitlines()[0])
    x = np.asarray(w["x"])
    prop = parse_vnnlib_file(root / "test" / w["vnnlib"])
    y = np.zeros(prop.n_outputs)
    write_result_file(tmp_path / "r.txt", "sat", x, y)
    verdict, x2, y2 = read_result_file(tmp_path / "r.txt")
    assert verdict == "sat" and prop.cases[0].contains_input(x2, tol=1e-4)
    np.testing.assert_array_equal(x2, x)


def test_result_file_competition_variants(tmp_path):
    path = tmp_path / "c.counterexample.gz"
    with gzip.open(path, "wt") as f:
        f.write("violated\n((X_0 1.5)\n (X_1 -2e-3)\n (Y_0 0.25))\n")
    verdict, x, y = read_result_file(path)
    assert verdict == "sat"
    np.testing.assert_array_equal(x, [1.5, -2e-3])
    np.testing.assert_array_equal(y, [0.25])
    (tmp_path / "h.txt").write_text("holds\n")
    assert read_result_file(tmp_path / "h.txt") == ("unsat", None, None)
    (tmp_path / "bad.txt").write_text("maybe\n")
    with pytest.raises(InputFileError):
        read_result_file(tmp_path / "bad.txt")
    with pytest.raises(InputFileError):
        read_result_file(tmp_path / "missing.txt")
    with pytest.raises(ValueError):
        write_result_file(tmp_path / "x.txt", "perhaps")
