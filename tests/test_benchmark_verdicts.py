"""No wrong verdicts on a fixed, fast sample of the shared benchmarks.

A wrong verdict is ``unsat`` where the published verdict is ``sat`` or the reverse; every
``sat`` must carry a witness that onnxruntime confirms (x in the box, output unsafe,
VNN-COMP tolerance 1e-4). ``unknown``/``timeout`` are allowed here (they are counted in
``bench/``, not asserted).
"""

import csv

import pytest

from conftest import shared_benchmarks
from verifier import load_network, load_vnnlib, verify
from verifier.witness import onnxruntime_output

# (benchmark, row ids, method, timeout): chosen to run in about a minute in total
SAMPLE = [
    ("test", None, "auto", 20.0),
    ("test", None, "milp", 20.0),
    ("acasxu", [0, 46, 47, 95, 140, 141, 183, 184], "auto", 5.0),
    ("mnistfc", [0, 1, 94, 95], "auto", 8.0),
    ("eran", [0, 1], "deeppoly", 10.0),
]


def _cases():
    for bench, ids, method, timeout in SAMPLE:
        yield pytest.param(bench, ids, method, timeout, id=f"{bench}-{method}")


@pytest.mark.parametrize("bench,ids,method,timeout", list(_cases()))
def test_no_wrong_verdicts(bench, ids, method, timeout):
    root = shared_benchmarks() / bench
    rows = list(csv.DictReader(open(root / "instances.csv")))
    if ids is not None:
        rows = [rows[i] for i in ids if i < len(rows)]
    for row in rows:
        onnx_path = str(root / row["onnx"])
        net = load_network(onnx_path)
        prop = load_vnnlib(str(root / row["vnnlib"]), net.n_inputs, net.n_outputs)
        result = verify(net, prop, method=method, timeout=timeout, onnx_path=onnx_path)
        truth = row["verdict"]
        label = f"{row['onnx']} {row['vnnlib']}: got {result.verdict}, published {truth}"
        if truth == "sat":
            assert result.verdict != "unsat", "WRONG " + label
        if truth == "unsat":
            assert result.verdict != "sat", "WRONG " + label
        if result.verdict == "sat":
            w = result.witness
            case = prop.cases[w.case]
            assert case.contains_input(w.x), label
            y = onnxruntime_output(onnx_path, w.x)
            if y is not None:
                assert case.disjuncts[w.disjunct].margin(y) <= 1e-4, label
