"""The command line: documented exit codes, one-line errors, and end-to-end runs.

Contracts tested here:

* bad input never shows a traceback; stderr holds exactly one line ``error: ...`` and the
  exit code is the one documented in ``verifier.cli.EXAMPLES`` / the exception classes;
* ``verify`` prints the verdict on its first line, ``--json`` and ``--result-file`` write
  what they promise, a ``sat`` witness replays in onnxruntime;
* ``export`` writes an .lp/.mps whose LP optimum equals the model built in memory;
* ``inspect``, ``demo`` and every ``--help`` run.

Every network here is a few neurons built with ``onnx.helper`` in ``tmp_path``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO_ROOT
from verifier.cli import main
from verifier.errors import (EmptyInputBoxError, InputFileError, NetworkError, SpecError,
                             UnsupportedOpError)

# exit codes as documented in cli.EXAMPLES
EXIT_OK, EXIT_FILE, EXIT_OP, EXIT_NET, EXIT_SPEC = 0, 3, 4, 5, 6


# ====================================================================== builders
def _gemm_relu_model(weights: list[tuple[np.ndarray, np.ndarray]],
                     hidden_op: str = "Relu") -> onnx.ModelProto:
    """``x[1,n] -> Gemm -> hidden_op -> ... -> Gemm -> y[1,m]`` (transB=1, W is (out, in))."""
    n_in, n_out = weights[0][0].shape[1], weights[-1][0].shape[0]
    nodes, inits, cur = [], [], "x"
    for k, (W, b) in enumerate(weights):
        inits += [numpy_helper.from_array(np.asarray(W, dtype=np.float32), f"W{k}"),
                  numpy_helper.from_array(np.asarray(b, dtype=np.float32), f"b{k}")]
        out = "y" if k == len(weights) - 1 else f"z{k}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"b{k}"], [out],
                                      name=f"gemm{k}", transB=1))
        cur = out
        if k < len(weights) - 1:
            nodes.append(helper.make_node(hidden_op, [cur], [f"a{k}"],
                                          name=f"{hidden_op.lower()}{k}"))
            cur = f"a{k}"
    graph = helper.make_graph(
        nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _weights(sizes=(2, 4, 4, 2), seed: int = 0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(o, i)), rng.normal(scale=0.1, size=o))
            for i, o in zip(sizes[:-1], sizes[1:])]


def _save(model: onnx.ModelProto, path: Path) -> str:
    onnx.save(model, str(path))
    return str(path)


def _box_vnnlib(lower, upper, n_outputs: int, output_assert: str) -> str:
    lines = [f"(declare-const X_{i} Real)" for i in range(len(lower))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_outputs)]
    for i, (lo, hi) in enumerate(zip(lower, upper)):
        lines += [f"(assert (>= X_{i} {lo!r}))", f"(assert (<= X_{i} {hi!r}))"]
    lines.append(output_assert)
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _ort_output(path: str, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": np.asarray(x, dtype=np.float32).reshape(1, -1)})[0].reshape(-1)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 2-4-4-2 ReLU Gemm net, and an unsafe-output threshold chosen from its range.

    Returns a dict: ``net`` (path), ``tmp`` (folder), ``y0_mid`` (a value of Y_0 reached in
    the middle of its range over the box [-1, 1]^2), ``y0_max`` (above every sampled Y_0).
    """
    tmp = tmp_path_factory.mktemp("cli")
    path = _save(_gemm_relu_model(_weights()), tmp / "net.onnx")
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 41)), -1)
    ys = np.stack([_ort_output(path, x) for x in grid.reshape(-1, 2)])
    y0 = ys[:, 0].astype(np.float64)
    return {"net": path, "tmp": tmp, "y0_mid": float(np.median(y0)),
            "y0_lo": float(y0.min()), "y0_hi": float(y0.max())}


def _sat_spec(small) -> str:
    """Unsafe: Y_0 >= median of Y_0 over the box (half the grid points violate it)."""
    return _write(small["tmp"] / "sat.vnnlib", _box_vnnlib(
        [-1, -1], [1, 1], 2, f"(assert (>= Y_0 {small['y0_mid']!r}))"))


def _unsat_spec(small) -> str:
    """Unsafe: Y_0 >= a value far above anything the net can reach on the box."""
    far = abs(small["y0_hi"]) + abs(small["y0_lo"]) + 1000.0
    return _write(small["tmp"] / "unsat.vnnlib", _box_vnnlib(
        [-1, -1], [1, 1], 2, f"(assert (>= Y_0 {far!r}))"))


def _mid_spec(small) -> str:
    """A spec whose LP relaxation is not trivial: unsafe Y_0 >= just above the sampled max."""
    level = small["y0_hi"] + 0.05 * (small["y0_hi"] - small["y0_lo"])
    return _write(small["tmp"] / "mid.vnnlib", _box_vnnlib(
        [-1, -1], [1, 1], 2, f"(assert (>= Y_0 {level!r}))"))


# ====================================================================== error helpers
def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected_code: int, *needles: str) -> str:
    assert code == expected_code, f"exit code {code}, expected {expected_code}; stderr: {err}"
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got: {err!r}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert "internal error" not in line, line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def test_exit_codes_match_exception_classes():
    """The numbers checked below are those of the exception classes and of the epilog."""
    from verifier.cli import EXAMPLES
    assert InputFileError.exit_code == EXIT_FILE
    assert UnsupportedOpError.exit_code == EXIT_OP
    assert NetworkError.exit_code == EXIT_NET
    assert SpecError.exit_code == EXIT_SPEC and EmptyInputBoxError.exit_code == EXIT_SPEC
    for code in (EXIT_FILE, EXIT_OP, EXIT_NET, EXIT_SPEC):
        assert f"{code} " in EXAMPLES


# ====================================================================== bad networks
def test_missing_network_file(tmp_path, capsys, small):
    missing = str(tmp_path / "nope.onnx")
    code, out, err = run_cli(capsys, ["verify", missing, _unsat_spec(small)])
    assert_one_line_error(code, err, EXIT_FILE, "nope.onnx")
    assert out == ""


def test_text_file_named_onnx(tmp_path, capsys, small):
    fake = _write(tmp_path / "x.onnx", "this is not a protobuf, just some text\n" * 5)
    code, _, err = run_cli(capsys, ["verify", fake, _unsat_spec(small)])
    assert_one_line_error(code, err, EXIT_FILE, "x.onnx")


def test_text_file_named_onnx_inspect(tmp_path, capsys):
    fake = _write(tmp_path / "x.onnx", "hello\n")
    code, _, err = run_cli(capsys, ["inspect", fake])
    assert_one_line_error(code, err, EXIT_FILE, "x.onnx")


def test_unsupported_op_names_op_and_node(tmp_path, capsys, small):
    path = _save(_gemm_relu_model(_weights(), hidden_op="Sigmoid"), tmp_path / "sig.onnx")
    code, _, err = run_cli(capsys, ["verify", path, _unsat_spec(small)])
    assert_one_line_error(code, err, EXIT_OP, "Sigmoid", "sigmoid0")


def test_inspect_reports_unsupported_op(tmp_path, capsys):
    """inspect lists an unsupported op with the rest of the model, and exits with the
    import error's code (the network cannot be verified)."""
    path = _save(_gemm_relu_model(_weights(), hidden_op="Sigmoid"), tmp_path / "sig.onnx")
    code, out, err = run_cli(capsys, ["inspect", path])
    assert code == EXIT_OP, err
    assert "Sigmoid" in out and "Gemm" in out


def test_nan_weights(tmp_path, capsys, small):
    weights = _weights()
    weights[1][0][2, 1] = np.nan
    path = _save(_gemm_relu_model(weights), tmp_path / "nan.onnx")
    code, _, err = run_cli(capsys, ["verify", path, _unsat_spec(small)])
    line = assert_one_line_error(code, err, EXIT_NET)
    assert "nan" in line.lower()


def test_inconsistent_shapes(tmp_path, capsys, small):
    weights = _weights()
    weights[1] = (np.ones((4, 3)), np.zeros(4))   # layer 2 expects 3 inputs, gets 4
    path = _save(_gemm_relu_model(weights), tmp_path / "shape.onnx")
    code, _, err = run_cli(capsys, ["verify", path, _unsat_spec(small)])
    assert_one_line_error(code, err, EXIT_NET)


# ====================================================================== bad specs
BAD_SPECS = {
    "unbalanced": ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n"
                   "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
                   "(assert (>= X_0 -1)\n", "unbalanced"),
    "unknown_variable": (_box_vnnlib([-1, -1], [1, 1], 2, "(assert (>= Y_7 0.0))"), "Y_7"),
    # chains (<= a b c) are legal SMT-LIB; a one-argument comparison is not
    "wrong_arity": (_box_vnnlib([-1, -1], [1, 1], 2, "(assert (<= Y_0))"), "2 arguments"),
    "assert_arity": (_box_vnnlib([-1, -1], [1, 1], 2, "(assert (<= Y_0 0) (>= Y_1 0))"),
                     "1 argument"),
}


@pytest.mark.parametrize("kind", sorted(BAD_SPECS))
def test_malformed_vnnlib(kind, tmp_path, capsys, small):
    text, needle = BAD_SPECS[kind]
    spec = _write(tmp_path / f"{kind}.vnnlib", text)
    code, _, err = run_cli(capsys, ["verify", small["net"], spec])
    line = assert_one_line_error(code, err, EXIT_SPEC, needle)
    assert f"{kind}.vnnlib" in line          # names the file (and line)


@pytest.mark.parametrize("n_in, n_out, needle", [(3, 2, "X_2"), (1, 2, "1 input"),
                                                  (2, 3, "Y_2"), (2, 1, "1 output")])
def test_spec_variable_count_mismatch(n_in, n_out, needle, tmp_path, capsys, small):
    """The net has 2 inputs and 2 outputs; the spec declares another count."""
    spec = _write(tmp_path / "count.vnnlib",
                  _box_vnnlib([-1] * n_in, [1] * n_in, n_out, "(assert (>= Y_0 0.0))"))
    code, _, err = run_cli(capsys, ["verify", small["net"], spec])
    assert_one_line_error(code, err, EXIT_SPEC, needle)


def test_empty_input_box(tmp_path, capsys, small):
    spec = _write(tmp_path / "empty.vnnlib",
                  _box_vnnlib([-1, 0.5], [1, 0.25], 2, "(assert (>= Y_0 0.0))"))
    code, _, err = run_cli(capsys, ["verify", small["net"], spec])
    assert_one_line_error(code, err, EXIT_SPEC, "X_1")


def test_empty_input_box_message_prints_plain_numbers(tmp_path, capsys, small):
    spec = _write(tmp_path / "empty.vnnlib",
                  _box_vnnlib([-1, 0.5], [1, 0.25], 2, "(assert (>= Y_0 0.0))"))
    code, _, err = run_cli(capsys, ["verify", small["net"], spec])
    assert_one_line_error(code, err, EXIT_SPEC, "0.5", "0.25")
    assert "np.float64" not in err


def test_missing_spec_file(tmp_path, capsys, small):
    code, _, err = run_cli(capsys, ["verify", small["net"], str(tmp_path / "none.vnnlib")])
    assert_one_line_error(code, err, EXIT_FILE, "none.vnnlib")


def test_subprocess_exit_code_and_no_traceback(tmp_path, small):
    """A real process: the exit code reaches the shell, stderr is one line."""
    spec = _write(tmp_path / "bad.vnnlib", BAD_SPECS["unbalanced"][0])
    proc = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", small["net"], spec],
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert proc.returncode == EXIT_SPEC, proc.stderr
    assert_one_line_error(proc.returncode, proc.stderr, EXIT_SPEC, "unbalanced")
    assert proc.stdout == ""


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify"])
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# ====================================================================== positive runs
def test_verify_unsat_prints_verdict_and_json(tmp_path, capsys, small):
    out_json = tmp_path / "r.json"
    code, out, err = run_cli(capsys, ["verify", small["net"], _unsat_spec(small),
                                      "--timeout", "20", "--json", str(out_json)])
    assert code == 0, err
    assert out.splitlines()[0] == "unsat"
    record = json.loads(out_json.read_text())
    assert record["verdict"] == "unsat"
    assert "timings" in record and "disjuncts" in record


@pytest.mark.parametrize("method", ["interval", "deeppoly", "triangle"])
def test_verify_each_method_mid_spec(method, capsys, small):
    """Every relaxation answers something sound on a property that holds."""
    code, out, err = run_cli(capsys, ["verify", small["net"], _mid_spec(small),
                                      "--method", method, "--timeout", "20", "--quiet"])
    assert code == 0, err
    assert out.splitlines()[0] in ("unsat", "unknown")   # it holds: never sat


@pytest.mark.parametrize("method", ["triangle", "krelu", "bab"])
def test_verify_tighten_alpha_mid_spec(method, capsys, small):
    """``--tighten alpha`` runs end to end and stays sound on a property that holds."""
    code, out, err = run_cli(capsys, ["verify", small["net"], _mid_spec(small),
                                      "--method", method, "--tighten", "alpha",
                                      "--timeout", "20", "--quiet"])
    assert code == 0, err
    assert out.splitlines()[0] in ("unsat", "unknown")


@pytest.mark.parametrize("tighten", ["alpha", "lp"])
def test_gap_command_names_the_tightened_row(tighten, tmp_path, capsys, small):
    """``verifier gap --tighten T`` prints the table and its layer CSV has a row ``T``."""
    csv_path = tmp_path / "gap.csv"
    code, out, err = run_cli(capsys, ["gap", small["net"], _mid_spec(small),
                                      "--methods", "deeppoly,triangle", "--tighten", tighten,
                                      "--timeout", "20", "--quiet", "--csv", str(csv_path)])
    assert code == 0, err
    assert "triangle" in out
    layers = (tmp_path / "gap_layers.csv").read_text()
    assert f",{tighten}," in layers


def test_verify_sat_witness_replays(tmp_path, capsys, small):
    result_file, out_json = tmp_path / "sat.txt", tmp_path / "sat.json"
    spec = _sat_spec(small)
    code, out, err = run_cli(capsys, ["verify", small["net"], spec, "--timeout", "20",
                                      "--result-file", str(result_file),
                                      "--json", str(out_json)])
    assert code == 0, err
    assert out.splitlines()[0] == "sat"

    from verifier.spec.results import read_result_file
    text = result_file.read_text()
    assert text.splitlines()[0] == "sat"
    verdict, x, y = read_result_file(result_file)
    assert verdict == "sat" and x is not None and x.shape == (2,)
    assert np.all(x >= -1) and np.all(x <= 1)
    y_ort = _ort_output(small["net"], x)
    assert y_ort[0] >= small["y0_mid"] - 1e-4            # inside the unsafe set
    assert y is not None and np.allclose(y, y_ort, atol=1e-4)
    record = json.loads(out_json.read_text())
    assert record["verdict"] == "sat"
    assert np.allclose(record["witness"]["x"], x)


def test_result_file_for_unsat(tmp_path, capsys, small):
    result_file = tmp_path / "unsat.txt"
    code, _, err = run_cli(capsys, ["verify", small["net"], _unsat_spec(small), "--quiet",
                                    "--result-file", str(result_file)])
    assert code == 0, err
    assert result_file.read_text().splitlines() == ["unsat"]


def _lp_optimum(model) -> float:
    from solvers.highs import HighsBackend
    from solvers.result import Status
    backend = HighsBackend()
    backend.load(model)
    result = backend.solve()
    assert result.status == Status.OPTIMAL, result.status
    return float(result.objective)


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_export_roundtrip_optimum(suffix, tmp_path, capsys, small):
    from solvers.io import read_model
    from verifier.network import load_network
    from verifier.spec import load_vnnlib
    from verifier.verify.export import build_disjunct_model

    spec = _mid_spec(small)
    target = tmp_path / f"model{suffix}"
    code, out, err = run_cli(capsys, ["export", small["net"], spec, "--method", "triangle",
                                      "-o", str(target)])
    assert code == 0, err
    assert target.is_file() and target.stat().st_size > 0
    assert f"model{suffix}" in out

    read_back = read_model(str(target))
    net = load_network(small["net"])
    prop = load_vnnlib(spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    built = build_disjunct_model(net, prop, method="triangle")
    assert read_back.n_cols == built.n_cols
    assert abs(_lp_optimum(read_back) - _lp_optimum(built)) <= 1e-6


def test_inspect_prints_ops(capsys, small):
    code, out, err = run_cli(capsys, ["inspect", small["net"]])
    assert code == 0, err
    assert "Gemm" in out and "Relu" in out


def test_demo_prints_table(capsys):
    """One row per (image, eps): every method's margin and time, the exact margin, and
    k-ReLU's share of the triangle's gap; the relaxations are ordered as the theory says."""
    code, out, err = run_cli(capsys, ["demo", "--images", "1", "--eps", "0.05",
                                      "--timeout", "20"])
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("image"))
    assert "krelu" in lines[header] and "exact" in lines[header]
    assert set(lines[header + 1]) == {"-"}
    row = lines[header + 2].split()
    assert row[0] == "0" and row[2] == "0.05"
    margins = [float(row[3 + 2 * k]) for k in range(5)]   # interval .. milp, "m (t)" pairs
    assert margins == sorted(margins)                      # interval <= ... <= exact
    assert row[13] == "-" or row[13].endswith("%")


@pytest.mark.parametrize("command", [None, "verify", "export", "inspect", "bounds", "demo"])
def test_help_exits_zero(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_cli_needs_no_optional_extras_to_start():
    """The README's first command installs no extras: building the parser and running the
    demo must not import matplotlib, onnxruntime or dask."""
    code = ("import sys, verifier.cli as c; c.build_parser(); "
            "bad = [m for m in ('matplotlib', 'onnxruntime', 'distributed') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_method_choices_are_the_method_table():
    from verifier.cli import build_parser
    from verifier.methods import METHOD_NAMES, METHODS
    subcommands = build_parser()._subparsers._group_actions[0].choices
    for command in ("verify", "batch"):
        choices = next(a.choices for a in subcommands[command]._actions if a.dest == "method")
        assert list(choices) == list(METHOD_NAMES) == list(METHODS) + ["auto"]


def test_verify_bab_with_cuts_and_milp_refinement(capsys, small):
    """``--bab-cuts --milp-refine 1`` runs end to end and stays sound on a property that
    holds; an out-of-range share is a one-line usage error."""
    code, out, err = run_cli(capsys, ["verify", small["net"], _mid_spec(small),
                                      "--method", "bab", "--tighten", "lp", "--bab-cuts",
                                      "--milp-refine", "1", "--timeout", "20", "--quiet"])
    assert code == 0, err
    assert out.splitlines()[0] in ("unsat", "unknown")
    for tail, option in ((["--milp-refine", "1", "--refine-share", "2"], "--refine-share"),
                         (["--milp-refine", "-1"], "--milp-refine")):
        with pytest.raises(SystemExit) as info:     # argparse: before anything is loaded
            run_cli(capsys, ["verify", small["net"], _mid_spec(small)] + tail)
        assert_one_line_error(info.value.code, capsys.readouterr().err, 2, option)


@pytest.mark.parametrize("extra", [["--workers", "2"], ["--workers", "2", "--tighten", "lp"]])
def test_verify_with_workers_gives_the_serial_verdict(extra, capsys, small):
    """``--workers 2`` (the branch and bound's sub-domains and the LP tightening's neurons
    on two processes) answers as one process does."""
    args = ["verify", small["net"], _mid_spec(small), "--method", "bab", "--timeout", "30",
            "--quiet"]
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    code2, out2, err2 = run_cli(capsys, args + extra)
    assert code2 == 0, err2
    assert out2.splitlines()[0] == out.splitlines()[0]


def test_verify_bad_scheduler_is_a_clear_error(capsys, small):
    with pytest.raises(SystemExit) as info:
        run_cli(capsys, ["verify", small["net"], _mid_spec(small), "--scheduler", "nowhere"])
    assert_one_line_error(info.value.code, capsys.readouterr().err, 2, "--scheduler",
                          "'local' or tcp://HOST:PORT")
