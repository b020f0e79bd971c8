"""Contracts of ``verifier batch``: every row written exactly once (also across a kill and
``--resume``), bad rows become ``error`` rows, ground truth is counted, Dask runs the same
isolated task, and the VNN-COMP script writes a witness that onnxruntime confirms."""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from verifier.batch import OUTPUT_COLUMNS, Task, read_instances, run_batch, run_isolated
from verifier.cli.batch import add_parser as add_batch_subparser

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_IN, N_HIDDEN, N_OUT = 3, 6, 2


# ------------------------------------------------------------------ tiny instances
def _weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(N_IN, N_HIDDEN)), rng.normal(size=N_HIDDEN) * 0.3,
            rng.normal(size=(N_HIDDEN, N_OUT)), rng.normal(size=N_OUT) * 0.3)


def _write_net(path: Path, activation: str = "Relu") -> None:
    W1, b1, W2, b2 = _weights()
    inits = [numpy_helper.from_array(a.astype(np.float32), name)
             for a, name in ((W1, "W1"), (b1, "b1"), (W2, "W2"), (b2, "b2"))]
    nodes = [helper.make_node("MatMul", ["X", "W1"], ["h0"], name="mm1"),
             helper.make_node("Add", ["h0", "b1"], ["h1"], name="add1"),
             helper.make_node(activation, ["h1"], ["h2"], name="act1"),
             helper.make_node("MatMul", ["h2", "W2"], ["h3"], name="mm2"),
             helper.make_node("Add", ["h3", "b2"], ["Y"], name="add2")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, N_IN])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, N_OUT])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _forward(X: np.ndarray) -> np.ndarray:
    W1, b1, W2, b2 = (a.astype(np.float32).astype(np.float64) for a in _weights())
    return np.maximum(X @ W1 + b1, 0) @ W2 + b2


def _interval_upper_y0(lo: np.ndarray, hi: np.ndarray) -> float:
    W1, b1, W2, b2 = (a.astype(np.float32).astype(np.float64) for a in _weights())
    c, r = (lo + hi) / 2, (hi - lo) / 2
    h_hi = np.maximum(c @ W1 + b1 + r @ np.abs(W1), 0)
    h_lo = np.maximum(c @ W1 + b1 - r @ np.abs(W1), 0)
    w = W2[:, 0]
    return float(np.maximum(w, 0) @ h_hi + np.minimum(w, 0) @ h_lo + b2[0])


def _vnnlib(lo, hi, y0_at_least: float, n_in: int = N_IN) -> str:
    lines = [f"(declare-const X_{i} Real)" for i in range(n_in)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(N_OUT)]
    for i in range(n_in):
        lines += [f"(assert (>= X_{i} {float(lo[i])!r}))",
                  f"(assert (<= X_{i} {float(hi[i])!r}))"]
    lines.append(f"(assert (>= Y_0 {float(y0_at_least)!r}))")
    return "\n".join(lines) + "\n"


def make_instances(folder: Path, count: int = 8, bad: bool = False) -> Path:
    """``count`` instances (half sat, half unsat, known verdicts) on one tiny ONNX net, plus
    bad rows (missing file, unsupported op, malformed spec, size mismatch) if ``bad``."""
    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    (folder / "vnnlib").mkdir(exist_ok=True)
    _write_net(folder / "onnx" / "tiny.onnx")
    rng = np.random.default_rng(1)
    rows = [["onnx", "vnnlib", "timeout", "verdict", "best_time_s"]]
    for k in range(count):
        centre = rng.uniform(-1, 1, N_IN)
        lo, hi = centre - 0.3, centre + 0.3
        if k % 2 == 0:  # sat: half of the box's points have Y_0 above the median
            samples = _forward(rng.uniform(lo, hi, size=(2000, N_IN)))[:, 0]
            threshold, verdict = float(np.median(samples)), "sat"
        else:  # unsat: above the interval bound, so even interval arithmetic proves it
            threshold, verdict = _interval_upper_y0(lo, hi) + 0.5, "unsat"
        name = f"vnnlib/p{k}.vnnlib"
        (folder / name).write_text(_vnnlib(lo, hi, threshold))
        rows.append(["onnx/tiny.onnx", name, "30", verdict, "0.05"])
    if bad:
        _write_net(folder / "onnx" / "sigmoid.onnx", activation="Sigmoid")
        (folder / "vnnlib" / "broken.vnnlib").write_text(
            "(declare-const X_0 Real)\n(assert (<= X_0 1.0)\n(assert (>= X_0")
        (folder / "vnnlib" / "five_inputs.vnnlib").write_text(
            _vnnlib(np.zeros(5), np.ones(5), 0.0, n_in=5))
        rows += [["onnx/missing.onnx", "vnnlib/p0.vnnlib", "30", "sat", ""],
                 ["onnx/sigmoid.onnx", "vnnlib/p1.vnnlib", "30", "", ""],
                 ["onnx/tiny.onnx", "vnnlib/broken.vnnlib", "30", "", ""],
                 ["onnx/tiny.onnx", "vnnlib/five_inputs.vnnlib", "30", "", ""],
                 ["onnx/tiny.onnx", "vnnlib/missing.vnnlib", "30", "", ""]]
    path = folder / "instances.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == OUTPUT_COLUMNS
    return [dict(zip(OUTPUT_COLUMNS, r)) for r in rows[1:]]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# ------------------------------------------------------------------ (a) ground truth
def test_batch_writes_every_row_and_counts_correct(tmp_path):
    csv_path = make_instances(tmp_path / "bench", count=8)
    out = tmp_path / "results.csv"
    summary = run_batch(str(csv_path), str(out), method="auto", timeout=20, workers=2,
                        progress_stream=open(os.devnull, "w"))
    rows = read_rows(out)
    assert len(rows) == 8
    assert {r["vnnlib"] for r in rows} == {f"vnnlib/p{k}.vnnlib" for k in range(8)}
    assert all(r["verdict"] == r["expected"] for r in rows), rows
    assert summary["correct"] == 8 and not summary["wrong"]
    assert summary["verdicts"] == {"sat": 4, "unsat": 4}
    assert all(float(r["time_s"]) > 0 and r["timeout"] == "20" for r in rows)
    # the CSV's own timeout is used when it is the smaller one
    rows_csv_limit = read_instances(csv_path)
    assert all(i.timeout == 30.0 and i.best_time_s == "0.05" for i in rows_csv_limit)


def test_headerless_csv_and_limit_filter(tmp_path):
    csv_path = make_instances(tmp_path / "bench", count=4)
    lines = csv_path.read_text().splitlines()[1:]
    bare = tmp_path / "bench" / "bare.csv"
    bare.write_text("\n".join(",".join(line.split(",")[:3]) for line in lines))  # no newline
    inst = read_instances(bare)
    assert [i.vnnlib for i in inst] == [f"vnnlib/p{k}.vnnlib" for k in range(4)]
    assert all(i.expected == "" and i.timeout == 30.0 for i in inst)
    out = tmp_path / "r.csv"
    summary = run_batch(str(bare), str(out), timeout=10, filters=["p1", "p2", "p3"], limit=2,
                        progress_stream=open(os.devnull, "w"))
    assert [r["vnnlib"] for r in read_rows(out)] in (["vnnlib/p1.vnnlib", "vnnlib/p2.vnnlib"],
                                                     ["vnnlib/p2.vnnlib", "vnnlib/p1.vnnlib"])
    assert summary["total"] == 2 and not summary["has_truth"]


# ------------------------------------------------------------------ (b) kill and resume
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_batch_resumes_without_loss_or_duplicates(tmp_path, sig):
    csv_path = make_instances(tmp_path / "bench", count=8)
    out = tmp_path / "results.csv"
    cmd = [sys.executable, "-m", "verifier.cli", "batch", str(csv_path), "--out", str(out),
           "--timeout", "20", "--workers", "1"]
    # a job started in the background of a non-interactive shell inherits SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler: restore the default
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= 1 + 4:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
    partial = read_rows(out)
    assert 4 <= len(partial) < 8
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=_env(),
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{len(partial)} of 8 instance(s) already" in again.stderr
    rows = read_rows(out)
    keys = [(r["onnx"], r["vnnlib"]) for r in rows]
    assert len(keys) == len(set(keys)) == 8
    assert rows[:len(partial)] == partial  # nothing rewritten
    assert all(r["verdict"] == r["expected"] for r in rows)
    assert "correct 8, WRONG 0" in again.stdout


def test_resume_drops_a_torn_last_row_and_existing_output_needs_a_flag(tmp_path):
    csv_path = make_instances(tmp_path / "bench", count=2)
    out = tmp_path / "results.csv"
    null = open(os.devnull, "w")
    run_batch(str(csv_path), str(out), timeout=10, progress_stream=null)
    text = out.read_text()
    out.write_text(text[:-7])  # a row cut in the middle, as if killed mid-write
    from verifier.errors import VerifierError
    with pytest.raises(VerifierError, match="--resume"):
        run_batch(str(csv_path), str(out), timeout=10, progress_stream=null)
    run_batch(str(csv_path), str(out), timeout=10, resume=True, progress_stream=null)
    rows = read_rows(out)
    assert sorted(r["vnnlib"] for r in rows) == ["vnnlib/p0.vnnlib", "vnnlib/p1.vnnlib"]


def test_hard_limit_kills_the_instance_process(tmp_path):
    csv_path = make_instances(tmp_path / "bench", count=1)
    inst = read_instances(csv_path)[0]
    out = run_isolated(Task(inst.onnx_path, inst.vnnlib_path, "auto", 10.0, kill_after=0.2))
    assert out["verdict"] == "timeout" and "killed after 0.2s" in out["message"]


# ------------------------------------------------------------------ (c) bad rows
def test_bad_rows_become_error_rows_and_the_batch_goes_on(tmp_path, capsys):
    csv_path = make_instances(tmp_path / "bench", count=2, bad=True)
    out = tmp_path / "results.csv"
    parser = argparse.ArgumentParser()
    add_batch_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["batch", str(csv_path), "--out", str(out), "--timeout", "10",
                              "--workers", "2"])
    assert args.func(args) == 0
    rows = {(r["onnx"], r["vnnlib"]): r for r in read_rows(out)}
    assert len(rows) == 7
    assert rows[("onnx/tiny.onnx", "vnnlib/p0.vnnlib")]["verdict"] == "sat"
    assert rows[("onnx/tiny.onnx", "vnnlib/p1.vnnlib")]["verdict"] == "unsat"
    errors = {k: r["message"] for k, r in rows.items() if r["verdict"] == "error"}
    assert len(errors) == 5
    assert "no such network file" in errors[("onnx/missing.onnx", "vnnlib/p0.vnnlib")]
    assert "Sigmoid" in errors[("onnx/sigmoid.onnx", "vnnlib/p1.vnnlib")]
    assert "SpecError" in errors[("onnx/tiny.onnx", "vnnlib/broken.vnnlib")]
    assert "SpecError" in errors[("onnx/tiny.onnx", "vnnlib/five_inputs.vnnlib")]
    assert "no such property file" in errors[("onnx/tiny.onnx", "vnnlib/missing.vnnlib")]
    assert all("\n" not in m and m for m in errors.values())
    summary = capsys.readouterr().out
    assert "error 5" in summary and "WRONG 0" in summary


# ------------------------------------------------------------------ (d) Dask
def test_dask_local_cluster_runs_a_small_batch(tmp_path):
    pytest.importorskip("dask.distributed")
    csv_path = make_instances(tmp_path / "bench", count=4)
    out = tmp_path / "results.csv"
    summary = run_batch(str(csv_path), str(out), timeout=20, workers=2, scheduler="local",
                        progress_stream=open(os.devnull, "w"))
    rows = read_rows(out)
    assert sorted(r["vnnlib"] for r in rows) == [f"vnnlib/p{k}.vnnlib" for k in range(4)]
    assert summary["correct"] == 4 and not summary["wrong"]


# ------------------------------------------------------------------ (e) VNN-COMP script
def test_run_instance_script_writes_a_witness_onnxruntime_confirms(tmp_path, benchmarks_dir):
    ort = pytest.importorskip("onnxruntime")
    from verifier.spec import load_vnnlib
    from verifier.spec.results import read_result_file
    onnx_path = benchmarks_dir / "test" / "onnx" / "test_sat.onnx"
    vnnlib_path = benchmarks_dir / "test" / "vnnlib" / "test_prop.vnnlib"
    result = tmp_path / "result.txt"
    env = _env()
    env["PYTHON"] = sys.executable
    script = REPO / "vnncomp" / "run_instance.sh"
    bad = subprocess.run(["bash", str(script), "v0", "test", str(onnx_path), str(vnnlib_path),
                          str(result), "30"], capture_output=True, env=env)
    assert bad.returncode != 0 and not result.exists()
    done = subprocess.run(["bash", str(script), "v1", "test", str(onnx_path),
                           str(vnnlib_path), str(result), "30"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert result.read_text().startswith("sat\n(\n(X_0 ")
    verdict, x, y_file = read_result_file(result)
    assert verdict == "sat"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    y = session.run(None, {inp.name: x.reshape(shape).astype(np.float32)})[0].reshape(-1)
    np.testing.assert_allclose(y_file, y, atol=1e-4)
    prop = load_vnnlib(str(vnnlib_path), n_inputs=x.size, n_outputs=y.size)
    tol = 1e-4
    assert any(np.all(x >= c.lower - tol) and np.all(x <= c.upper + tol)
               and any(np.all(d.A @ y <= d.b + tol) for d in c.disjuncts)
               for c in prop.cases)


def test_instance_processes_run_blas_single_threaded(monkeypatch):
    """Each instance process starts with one BLAS thread (two workers with two BLAS threads
    each oversubscribe a 2-core machine), unless the user chose otherwise."""
    from verifier.batch import child_environment
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = child_environment()
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["OMP_NUM_THREADS"] == "3"
