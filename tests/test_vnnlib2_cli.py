"""The VNN-LIB 2.0 standard's command-line interface (chapter 5), through the CLI.

Result line and assignment block (format checked line by line), logs on stderr only, the
standard's three error conditions, the eleven ``supports`` answers against the code that
implements them, ``--serialise-assignments``, reading the standard's syntax tests, and
the element-type decision: the analysis is over the reals, and a float32 model can
answer differently.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_builders import mlp_onnx, random_layers, save
from verifier.cli import main
from verifier.cli.supports import CAPABILITIES

REPO_ROOT = Path(__file__).resolve().parents[1]
STANDARD = REPO_ROOT.parent / "shared" / "vnnlib2"
NUMBER = re.compile(r"-?\d+(\.\d+)?(e[-+]?\d+)?\Z")


def run_cli(argv, capsys):
    try:
        code = main(list(argv))
    except SystemExit as exc:      # argparse's own --version / --name
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def net(tmp_path):
    layers = random_layers(np.random.default_rng(7), [2, 5, 3])
    return layers, save(mlp_onnx(layers), tmp_path / "net.onnx")


def query_text(extra: str, element_type: str = "real") -> str:
    return ("(vnnlib-version <2.0>)\n(declare-network f\n"
            f"    (declare-input X {element_type} [1,2])\n"
            f"    (declare-output Y {element_type} [1,3])\n)\n"
            "(assert (>= X[0,0] -1.0))\n(assert (<= X[0,0] 1.0))\n"
            "(assert (>= X[0,1] -1.0))\n(assert (<= X[0,1] 1.0))\n" + extra)


def forward(layers, x):
    h = np.asarray(x, dtype=np.float64)
    for k, (W, b) in enumerate(layers):
        h = h @ W.T.astype(np.float64) + b
        if k < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def test_sat_prints_the_result_line_and_every_variable(net, tmp_path, capsys):
    layers, path = net
    fixed = "(assert (== X[0,0] 0.5))\n(assert (== X[0,1] -0.25))\n(assert (<= Y[0,0] 1000.0))\n"
    query = tmp_path / "q.vnnlib"
    query.write_text(query_text(fixed))
    code, out, err = run_cli(["verify", str(query), "--network", f"f={path}",
                              "--timeout", "30"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "sat"
    assert lines[1] == "X Real [1,2]" and lines[2:4] == ["0.5", "-0.25"]
    assert lines[4] == "Y Real [1,3]" and len(lines) == 8
    assert all(NUMBER.match(v) for v in lines[5:8])
    expected = forward(layers, [[0.5, -0.25]])[0]
    assert np.allclose([float(v) for v in lines[5:8]], expected, atol=1e-12)
    assert "sat" not in err.splitlines()[:1]           # logs only on stderr


def test_unsat_and_quiet_logs(net, tmp_path, capsys):
    _, path = net
    query = tmp_path / "q.vnnlib"
    query.write_text(query_text("(assert (>= Y[0,0] 1000.0))\n"))
    code, out, err = run_cli(["verify", str(query), "--network", f"f={path}"], capsys)
    assert (code, out) == (0, "unsat\n")
    assert err          # progress went to stderr


def test_timed_out_is_the_result_word(net, tmp_path, capsys, monkeypatch):
    from verifier.spec.results import RESULT_WORDS
    from verifier.verify.query import verify_query

    assert callable(verify_query)        # the module is loaded: it can be patched
    from verifier.verify.result import Result

    _, path = net
    query = tmp_path / "q.vnnlib"
    query.write_text(query_text("(assert (>= Y[0,0] 0.0))\n"))
    query_module = sys.modules["verifier.verify.query"]
    monkeypatch.setattr(query_module, "verify_query",
                        lambda *a, **k: Result(verdict="timeout", method="auto"))
    assert RESULT_WORDS["timeout"] == "timed-out"
    code, out, _ = run_cli(["verify", str(query), "--network", f"f={path}"], capsys)
    assert out == "timed-out\n"


def test_serialised_assignments(net, tmp_path, capsys):
    _, path = net
    query = tmp_path / "q.vnnlib"
    query.write_text(query_text("(assert (== X[0,0] 0.5))\n(assert (== X[0,1] 0.5))\n"
                                "(assert (<= Y[0,1] 1000.0))\n"))
    folder = tmp_path / "assignment"
    code, out, _ = run_cli(["verify", str(query), "--network", f"f={path}",
                            "--serialise-assignments", str(folder)], capsys)
    assert (code, out) == (0, "sat\n")
    x = numpy_helper.to_array(onnx.load_tensor(str(folder / "X.pb")))
    y = numpy_helper.to_array(onnx.load_tensor(str(folder / "Y.pb")))
    assert x.shape == (1, 2) and y.shape == (1, 3) and np.all(x == 0.5)
    assert sorted(p.name for p in folder.iterdir()) == ["X.pb", "Y.pb"]


@pytest.mark.parametrize("networks, words", [
    ([], "needs a model"),                                  # insufficient files
    (["f=NET", "g=NET"], "declares no network 'g'"),        # unnecessary files
])
def test_error_condition_one_model_files(net, tmp_path, capsys, networks, words):
    _, path = net
    query = tmp_path / "q.vnnlib"
    query.write_text(query_text("(assert (>= Y[0,0] 0.0))\n"))
    argv = ["verify", str(query)] + [a for n in networks
                                     for a in ("--network", n.replace("NET", path))]
    if not networks:
        argv += ["--network", "other=" + path]
        words = "declares no network 'other'"
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == "" and words in err and len(err.splitlines()) == 1


def test_error_conditions_two_and_three_element_types(net, tmp_path, capsys):
    _, path = net
    query = tmp_path / "q.vnnlib"
    # the model is float32: a float64 declaration does not match (condition 2, with consent
    # to real arithmetic the types are not compared), and float32 is not a type this
    # analysis is sound for (condition 3)
    query.write_text(query_text("(assert (>= Y[0,0] 0.0))\n", "float32"))
    code, out, err = run_cli(["verify", str(query), "--network", f"f={path}"], capsys)
    assert code == 6 and out == "" and "sound over the reals" in err
    query.write_text(query_text("(assert (>= Y[0,0] 0.0))\n", "float64"))
    code, out, err = run_cli(["verify", str(query), "--network", f"f={path}",
                              "--assume-real"], capsys)
    assert code == 0 and out.splitlines()[0] in ("sat", "unsat", "unknown")
    code, out, err = run_cli(["verify", str(query), "--network", f"f={path}"], capsys)
    assert code == 6 and out == ""


def test_real_and_float32_answers_differ(tmp_path, capsys):
    """Why only ``real`` is claimed: y = (x + 2^24) - 2^24 is x over the reals (so
    ``y <= 0.1`` is unsat on [0.25, 0.5]) but 0 in float32 (onnxruntime: sat)."""
    import onnxruntime as ort

    big = np.float32(2 ** 24)
    inits = [numpy_helper.from_array(np.array([[1.0]], np.float32), "W"),
             numpy_helper.from_array(np.array([big], np.float32), "up"),
             numpy_helper.from_array(np.array([-big], np.float32), "down")]
    nodes = [helper.make_node("Gemm", ["x", "W", "up"], ["h"]),
             helper.make_node("Gemm", ["h", "W", "down"], ["y"])]
    graph = helper.make_graph(nodes, "rounding",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "rounding.onnx"
    onnx.save(model, str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y32 = sess.run(None, {"x": np.array([[0.3]], np.float32)})[0][0, 0]
    assert y32 <= 0.1                     # float32: a counterexample at x = 0.3
    query = tmp_path / "q.vnnlib"
    query.write_text("(vnnlib-version <2.0>)\n(declare-network f\n"
                     "    (declare-input X real [1,1])\n    (declare-output Y real [1,1])\n)\n"
                     "(assert (>= X[0,0] 0.25))\n(assert (<= X[0,0] 0.5))\n"
                     "(assert (<= Y[0,0] 0.1))\n")
    code, out, _ = run_cli(["verify", str(query), "--network", f"f={path}"], capsys)
    assert (code, out) == (0, "unsat\n")  # reals: proved


def test_supports_answers_every_capability(capsys):
    from verifier.network.onnx_import import TRANSLATORS
    from verifier.catalog import SUPPORTED_THEORIES

    expected = {
        "onnx-element-types": ["real"],
        "onnx-operators": sorted(TRANSLATORS),
        "vnnlib-versions": ["1.0", "2.0"],
        "optimised-disjunctive-reasoning": ["false"],
        "serialise-assignments": ["true"],
        **{f"{k}-theories": list(v) for k, v in SUPPORTED_THEORIES.items()},
    }
    assert len(CAPABILITIES) == 11
    for capability in CAPABILITIES:
        code, out, err = run_cli(["supports", f"--{capability}"], capsys)
        assert code == 0 and err == ""
        lines = out.splitlines()
        if capability == "onnx-opset-versions":
            assert len(lines) == 2 and int(lines[0]) <= int(lines[1])
        else:
            assert lines == expected[capability], capability


def test_name_and_version(capsys):
    from verifier import __version__

    assert run_cli(["--version"], capsys)[1].strip() == __version__
    code, out, _ = run_cli(["--name"], capsys)
    assert code == 0 and out.strip() and len(out.splitlines()) == 1


def test_the_standards_syntax_tests_are_read():
    """Every file of the standard's syntax tests is valid (``error-files.txt`` lists none
    that must be refused) and is read into the query model."""
    folder = STANDARD / "syntax" / "test"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    from verifier.spec import load_query

    refused = set((folder / "error-files.txt").read_text().split())
    for path in sorted(folder.glob("*.vnnlib")):
        if path.name in refused:
            with pytest.raises(Exception):
                load_query(str(path))
        else:
            query = load_query(str(path))
            assert query.networks and query.n_variables > 0


def test_malformed_query_is_one_line_with_the_line_number(tmp_path, net, capsys):
    _, path = net
    query = tmp_path / "q.vnnlib"
    query.write_text(query_text("(assert (<= Y[0,7] 0.0))\n"))
    code, out, err = run_cli(["verify", str(query), "--network", f"f={path}"], capsys)
    assert code == 6 and out == "" and len(err.splitlines()) == 1
    assert f"{query}:10" in err and "out of bounds" in err


def test_standard_form_in_a_fresh_process(net, tmp_path):
    """stdout holds only the result (and assignment); everything else is on stderr."""
    _, path = net
    query = tmp_path / "q.vnnlib"
    query.write_text(query_text("(assert (>= Y[0,0] 1000.0))\n"))
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", str(query),
                           "--network", f"f={path}", "--timeout", "20"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "unsat\n"


def test_catalog_names_the_importers_ops():
    from verifier.catalog import SUPPORTED_OP_NAMES
    from verifier.network.onnx_import import TRANSLATORS

    assert SUPPORTED_OP_NAMES == tuple(sorted(TRANSLATORS))


def test_timeout_is_kept_in_the_standard_form(tmp_path):
    """A two-network query whose MILP runs longer than the limit: the first line is
    ``timed-out`` (or a verdict found in time), within 10 % + 1 s of the limit, process
    start-up included."""
    import time as clock

    from conftest import shared_benchmarks
    from verifier.spec.query_builders import output_difference_query
    from verifier.spec.vnnlib2_writer import write_query

    acas = shared_benchmarks() / "acasxu" / "onnx" / "ACASXU_run2a_1_1_batch_2000.onnx"
    other = shared_benchmarks() / "acasxu" / "onnx" / "ACASXU_run2a_1_2_batch_2000.onnx"
    centre = np.array([0.0, 0.0, 0.0, 0.3, 0.0])
    query = tmp_path / "pair.vnnlib"
    query.write_text(write_query(output_difference_query(
        (1, 1, 1, 5), (1, 5), centre - 0.3, centre + 0.3, delta=0.5, isomorphic=False)))
    limit = 3.0
    start = clock.monotonic()
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", str(query),
                           "--network", f"f={acas}", "--network", f"g={other}",
                           "--method", "milp", "--timeout", str(limit)],
                          capture_output=True, text=True, timeout=60)
    wall = clock.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] in ("timed-out", "sat", "unsat", "unknown")
    assert wall <= 1.1 * limit + 1.0, wall
