"""VNN-LIB 2.0 instances in ``verifier batch`` and VNN-COMP's scripts: the network column
as a list of ``(name, path)`` pairs (VNN-COMP 2026), 2.0 result files."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest

from onnx_builders import mlp_onnx, random_layers, save
from verifier.batch.instances import read_instances
from verifier.batch.networks import parse_network_list
from verifier.cli import main
from verifier.errors import InputFileError
from verifier.spec.query_builders import output_difference_query
from verifier.spec.vnnlib2_writer import write_query

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_folder(tmp_path):
    """A bench_folder folder with a net, a perturbed copy and two pair queries: one sat
    (difference >= 0) and one unsat (difference >= 100)."""
    (tmp_path / "onnx").mkdir()
    (tmp_path / "vnnlib").mkdir()
    layers = random_layers(np.random.default_rng(4), [3, 6, 2])
    other = [(W * 1.05, b) for W, b in layers]
    save(mlp_onnx(layers), tmp_path / "onnx" / "f.onnx")
    save(mlp_onnx(other), tmp_path / "onnx" / "g.onnx")
    for name, delta in (("near", 0.0), ("far", 100.0)):
        q = output_difference_query((1, 3), (1, 2), -np.ones(3), np.ones(3), delta=delta)
        (tmp_path / "vnnlib" / f"{name}.vnnlib").write_text(write_query(q))
    pairs = "[('f','onnx/f.onnx'),('g','onnx/g.onnx')]"
    (tmp_path / "instances.csv").write_text(
        f"{pairs},vnnlib/near.vnnlib,30\n{pairs},vnnlib/far.vnnlib,30\n")
    return tmp_path


def test_network_lists_are_read_from_instances(bench_folder):
    rows = read_instances(bench_folder / "instances.csv")
    assert [r.vnnlib for r in rows] == ["vnnlib/near.vnnlib", "vnnlib/far.vnnlib"]
    pairs = parse_network_list(rows[0].onnx_path)
    assert [n for n, _ in pairs] == ["f", "g"]
    assert all(Path(p).is_file() for _, p in pairs)


@pytest.mark.parametrize("text", ["[('f')]", "[('f','a.onnx'),('f','b.onnx')]", "[1, 2]",
                                  "[('f', 'a.onnx')"])
def test_bad_network_lists_are_refused(text):
    with pytest.raises(InputFileError):
        parse_network_list(text)


def test_batch_runs_two_network_instances(bench_folder, capsys):
    out = bench_folder / "results.csv"
    code = main(["batch", str(bench_folder / "instances.csv"), "--out", str(out),
                 "--workers", "2"])
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["vnnlib"]: r["verdict"] for r in rows} == {"vnnlib/near.vnnlib": "sat",
                                                         "vnnlib/far.vnnlib": "unsat"}


def test_run_instance_script_writes_the_assignment(bench_folder):
    result = bench_folder / "result.txt"
    done = subprocess.run(["bash", str(REPO_ROOT / "vnncomp" / "run_instance.sh"), "v1",
                           "pairs", "[('f','onnx/f.onnx'),('g','onnx/g.onnx')]",
                           "vnnlib/near.vnnlib", str(result), "30"],
                          cwd=bench_folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = result.read_text().splitlines()
    assert lines[0] == "sat" and lines[1] == "X Real [1,3]"
    assert [ln for ln in lines if not ln[0].isdigit() and ln[0] != "-"][1:] == [
        "X Real [1,3]", "Y Real [1,2]", "U Real [1,3]", "V Real [1,2]"]
