#!/usr/bin/env python
"""Does HiGHS keep ``time_limit`` in the MIP root? With and without presolve's sparsify.

Builds the big-M MILP of one disjunct of ERAN 9x200 idx 4424 (eps 0.015) over its
alpha-tightened bounds (what ``--method milp`` solves) and solves it with ``time_limit``
T for a few T, once with HiGHS's presolve rules as the verifier sets them (sparsify off,
``solvers.highs.PRESOLVE_RULES_OFF``) and once with every rule on (HiGHS's default). Prints
the wall time of each solve, its status and whether a dual bound came back. Also counts
how often HiGHS called ``cbMipInterrupt`` (the callback that could stop it) during the
solve.

Usage::

    python bench/highs_presolve.py [--limits 1,2,4] [--shared PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from solvers.highs import PRESOLVE_RULES_OFF, HighsBackend, HighsOptions, SolveLimits  # noqa: E402
from verifier import load_network, load_vnnlib  # noqa: E402
from verifier.encode import encode_network, with_disjunct  # noqa: E402
from verifier.methods import CaseContext, VerifyOptions  # noqa: E402
from verifier.methods.margins import margin_range  # noqa: E402
from verifier.methods.milp import bigm_blocks  # noqa: E402

DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "benchmarks"


def eran_milp(shared: Path):
    net = load_network(str(shared / "eran/onnx/mnist_relu_9_200.onnx"))
    prop = load_vnnlib(str(shared / "eran/vnnlib/mnist_spec_idx_4424_eps_0.01500.vnnlib"),
                       n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    ctx = CaseContext(net, prop.cases[0], VerifyOptions(), time.monotonic() + 600)
    poly = prop.cases[0].disjuncts[0]
    bounds = ctx.tightened()
    encoded = encode_network(net, bounds, bigm_blocks(net, bounds))
    return with_disjunct(encoded, encoded.columns[net.output_name], poly.A, poly.b,
                         margin_range(ctx, poly.A, poly.b, bounds))


def solve(model, rules_off: int, limit: float) -> tuple[float, str, bool, int]:
    backend = HighsBackend(HighsOptions(threads=1))
    backend.highs.setOptionValue("presolve_rule_off", rules_off)
    backend.load(model)
    calls = []
    backend.highs.cbMipInterrupt.subscribe(lambda event: calls.append(1))
    start = time.monotonic()
    result = backend.solve(SolveLimits(time_limit=limit))
    return (time.monotonic() - start, result.status.value, result.dual_bound is not None,
            len(calls))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limits", default="1,2,4")
    p.add_argument("--shared", default=str(DEFAULT_SHARED))
    args = p.parse_args(argv)
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    model = eran_milp(Path(args.shared))
    print(f"model: {model.n_rows} rows, {model.n_cols} columns, "
          f"{int(model.integrality.sum())} binaries")
    print("| presolve rules | time_limit s | wall s | status | dual bound | cbMipInterrupt calls |")
    print("|---|---:|---:|---|---|---:|")
    for label, rules in (("sparsify off (verifier)", PRESOLVE_RULES_OFF), ("all on", 0)):
        for limit in (float(t) for t in args.limits.split(",")):
            wall, status, dual, calls = solve(model, rules, limit)
            print(f"| {label} | {limit:g} | {wall:.2f} | {status} | "
                  f"{'yes' if dual else 'no'} | {calls} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
