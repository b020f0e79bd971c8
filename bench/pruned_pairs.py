#!/usr/bin/env python
"""How far is a pruned network from its original? Exact vs relaxed, on the joint graph.

For a few ACAS Xu nets, prunes copies (the given shares of the smallest weights of every
MatMul/Gemm set to zero, by magnitude over the whole net), writes for each pair and input
region the VNN-LIB 2.0 query "exists x in the region with |f(x)_i - g(x)_i| >= 0"
(:func:`verifier.spec.query_builders.output_difference_query`: ``g`` isomorphic-to ``f``,
inputs tied) and runs its gap table, i.e. what ``verifier gap QUERY --network f=F
--network g=G`` prints. From the table: the largest output difference ``max_x
|f(x) - g(x)|_inf`` exactly (MILP; a bracket if it did not finish) and the upper bound each
relaxation gives for it (``-min`` over the objectives of the method's certified bound).

Usage::

    python bench/pruned_pairs.py [--nets 1_1,2_3] [--prune 0.05,0.1,0.3]
        [--radius 0.02,0.05] [--timeout 30] [--out DIR] [--shared PATH]

Writes the pruned ONNX files and the queries to ``--out`` (default a temporary folder) and
prints one Markdown row per (net, pruned share, region). With ``--decide``, a second table:
for every pair whose exact largest difference ``E`` was found, the decision questions
``|f - g| >= 1.25 E`` (unsat) and ``>= 0.75 E`` (sat) answered by ``split`` (input splitting
on the joint graph) and ``milp``, with their times.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

METHODS = ("deeppoly", "triangle", "krelu", "milp")
#: region centres in ACAS Xu's normalised input space (inside every property's range)
CENTRES = {"c0": [0.0, 0.0, 0.0, 0.3, 0.0], "c1": [0.2, -0.2, 0.1, 0.4, -0.3]}


def prune(src: Path, share: float, out: Path) -> Path:
    """``src`` with the ``share`` smallest-magnitude weights of its MatMul/Gemm set to 0."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    mats = {n.input[1] for n in model.graph.node if n.op_type in ("MatMul", "Gemm")}
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name in mats]
    threshold = np.quantile(np.concatenate([np.abs(w).reshape(-1) for w in weights]), share)
    for i, t in enumerate(model.graph.initializer):
        if t.name in mats:
            w = numpy_helper.to_array(t).copy()
            w[np.abs(w) <= threshold] = 0
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, t.name))
    onnx.save(model, str(out))
    return out


def largest_difference(table, method: str | None) -> float:
    """``max |f - g|`` from a gap table: exact (``method`` None; the bracket's upper end
    when the MILP did not finish) or a method's bound."""
    if method is None:
        return -min(row.exact_lower for row in table.objectives)
    return -min(row.bounds.get(method, -math.inf) for row in table.objectives)


def exact_lower(table) -> float:
    """The lower end of the exact bracket of ``max |f - g|`` (the incumbents)."""
    return -min(row.exact_upper for row in table.objectives)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", default="1_1,3_3")
    p.add_argument("--prune", default="0.05,0.1,0.3")
    p.add_argument("--radius", default="0.02,0.05")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per solve")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--decide", action="store_true", help="also the split vs bab vs MILP table")
    p.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared" / "benchmarks")
    args = p.parse_args(argv)

    from verifier.report import gap_table
    from verifier.spec.query_builders import output_difference_query
    from verifier.spec.vnnlib2 import parse_query
    from verifier.spec.vnnlib2_writer import write_query
    from verifier.verify.query import prepare_query

    decided = []  # (name, f file, g file, box, exact difference)
    out = args.out or Path(tempfile.mkdtemp(prefix="pruned_pairs_"))
    out.mkdir(parents=True, exist_ok=True)
    print("| net | pruned | region | max abs(f - g) exact | deeppoly | triangle | krelu "
          "| s deeppoly / triangle / krelu / milp |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for net in args.nets.split(","):
        src = args.shared / "acasxu" / "onnx" / f"ACASXU_run2a_{net}_batch_2000.onnx"
        for share in (float(s) for s in args.prune.split(",")):
            pruned = prune(src, share, out / f"{net}_pruned{int(share * 100)}.onnx")
            for centre_name, centre in CENTRES.items():
                for radius in (float(r) for r in args.radius.split(",")):
                    c = np.asarray(centre)
                    name = f"{net}_p{int(share * 100)}_{centre_name}_r{radius:g}"
                    query = output_difference_query((1, 1, 1, 5), (1, 5), c - radius,
                                                    c + radius, name=f"{name}.vnnlib")
                    path = out / f"{name}.vnnlib"
                    path.write_text(write_query(query, comment=f"pruned pair {name}"))
                    lowered = prepare_query(parse_query(path.read_text(), str(path)),
                                            {"f": str(src), "g": str(pruned)})
                    start = time.monotonic()
                    table = gap_table(lowered.network, lowered.prop, METHODS,
                                      timeout=args.timeout)
                    times = [sum(r.times.get(m, 0.0) for r in table.objectives)
                             for m in METHODS]
                    exact = largest_difference(table, None)
                    low = exact_lower(table)
                    shown = f"{exact:.4g}" if math.isclose(low, exact, rel_tol=1e-6) else \
                        f"[{low:.4g}, {exact:.4g}]"
                    print(f"| {net} | {int(share * 100)} % | {centre_name} r={radius:g} | "
                          f"{shown} | " + " | ".join(f"{largest_difference(table, m):.4g}"
                                                     for m in METHODS[:-1])
                          + " | " + " / ".join(f"{t:.1f}" for t in times)
                          + f" ({time.monotonic() - start:.0f} s) |", flush=True)
                    if math.isclose(low, exact, rel_tol=1e-6) and exact > 0:
                        decided.append((name, src, pruned, (c - radius, c + radius), exact))
    if args.decide:
        decision_table(decided, args.timeout)
    print(f"\nqueries and pruned nets in {out}", file=sys.stderr)
    return 0


def decision_table(decided: list, timeout: float) -> None:
    """Print ``split`` vs ``bab`` vs ``milp`` on ``|f - g| >= 1.25 E`` and ``>= 0.75 E`` for each pair."""
    from verifier.spec.query_builders import output_difference_query
    from verifier.verify.query import verify_query

    print("\n| pair | delta | expected | split | bab | milp |")
    print("|---|---:|---|---|---|---|")
    for name, src, pruned, (lo, hi), exact in decided:
        for factor, expected in ((1.25, "unsat"), (0.75, "sat")):
            query = output_difference_query((1, 1, 1, 5), (1, 5), lo, hi, delta=factor * exact)
            cells = []
            for method in ("split", "bab", "milp"):
                start = time.monotonic()
                result = verify_query(query, {"f": str(src), "g": str(pruned)},
                                      method=method, timeout=timeout)
                cells.append(f"{result.verdict} {time.monotonic() - start:.1f} s")
            print(f"| {name} | {factor * exact:.4g} | {expected} | " + " | ".join(cells)
                  + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
