"""VNN-COMP's entry points: check that an instance loads; run one and write its result file."""

from __future__ import annotations

import os
import sys

from verifier.batch.isolate import Task, instance_query, run_isolated
from verifier.batch.networks import is_network_list
from verifier.errors import VerifierError
from verifier.network import load_network
from verifier.spec import load_vnnlib
from verifier.spec.results import write_query_result_file, write_result_file
from verifier.verify.query import prepare_query

#: seconds between the competition's timeout and the hard kill of the instance process
#: (whose own watchdog answers ``timeout`` at its limit + 0.5 s)
KILL_GRACE = 1.0
#: the shortest time limit an instance process is given
MIN_TIMEOUT = 0.1


def check_files(onnx_path: str, vnnlib_path: str) -> str:
    """Load both files (raises :class:`VerifierError` when one cannot be handled); a
    one-line description of the instance. A VNN-LIB 2.0 instance (a 2.0 query, the ONNX
    argument possibly a list of (name, file) pairs) is bound and lowered."""
    query = instance_query(onnx_path, vnnlib_path)
    if query is not None:
        lowered = prepare_query(*query)
        return (f"ok: VNN-LIB {query[0].version} query over {len(query[0].networks)} "
                f"network(s), {'fast path' if lowered.fast else 'joint network'}, "
                f"{len(lowered.prop.cases)} case(s)")
    net = load_network(onnx_path)
    prop = load_vnnlib(vnnlib_path, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    return (f"ok: {net.n_inputs} inputs, {net.n_outputs} outputs, "
            f"{len(net.relu_names())} ReLU layers; {len(prop.cases)} case(s)")


def run_vnncomp_instance(category: str, onnx_path: str, vnnlib_path: str, result_file: str,
                         timeout: float, method: str = "auto") -> int:
    """VNN-COMP's ``run_instance``: verify the instance isolated (killed shortly after
    ``timeout``) and always write the result file: ``sat`` with the counterexample,
    ``unsat``, ``unknown``, ``timeout`` or ``error``.

    Returns:
        0 once the result file is written; 3 if it cannot be.
    """
    budget = max(timeout, MIN_TIMEOUT)
    if not is_network_list(onnx_path):
        onnx_path = os.path.abspath(onnx_path)
    task = Task(onnx_path=onnx_path, vnnlib_path=os.path.abspath(vnnlib_path),
                method=method, timeout=budget, kill_after=budget + KILL_GRACE)
    out = run_isolated(task)
    verdict = out.get("verdict", "error")
    if verdict == "sat" and out.get("x") is None:
        verdict = "unknown"  # never claim sat without a counterexample
    try:
        if out.get("assignment") and verdict == "sat":      # a VNN-LIB 2.0 instance
            write_query_result_file(result_file, ["sat", *out["assignment"]])
        else:
            write_result_file(result_file, verdict, out.get("x"), out.get("y"))
    except VerifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(f"{category}: {verdict} in {out.get('wall_s', 0):.2f}s"
          + (f" ({out['message']})" if out.get("message") else ""), file=sys.stderr)
    return 0
