#!/usr/bin/env python
"""VNN-LIB 1.0 instances written as 2.0 queries: same verdict, same cost?

For a spread of rows of every instance set in ``../shared/benchmarks`` (every k-th row of
each ``instances.csv``), writes the 1.0 property as a VNN-LIB 2.0 query over one network
(:func:`verifier.spec.vnnlib2_writer.query_from_property`, the declared shapes taken from
the ONNX model) and runs both through the command line, each in a fresh process:

    verifier verify NET.onnx PROP.vnnlib --timeout T --quiet
    verifier verify QUERY.vnnlib --network net=NET.onnx --timeout T --quiet

It prints one Markdown row per instance (both verdicts, both wall times, the published
verdict) and a summary: rows whose verdicts differ (a time-out on one side only is listed
apart: it is a time limit, not a contradiction), and the median wall-time ratio. It also
times the parsers alone (in this process, best of 3): the 1.0 reader against the reference
2.0 reader plus the query's lowering to the fast path.

Usage::

    python bench/vnnlib2_parity.py [--per-set 12] [--timeout 30] [--out DIR] [--shared PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SETS = ("acasxu", "collins_rul_cnn", "cora_mnist", "eran", "mnistfc", "sri_resnet", "test")
CLI = [sys.executable, "-c",
       "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
       "from verifier.cli import main; sys.exit(main(sys.argv[1:]))"]


def spread(rows: list, count: int) -> list:
    """``count`` rows spread evenly over ``rows``."""
    if len(rows) <= count:
        return rows
    step = len(rows) / count
    return [rows[int(i * step)] for i in range(count)]


def shapes(onnx_path: str):
    """The first graph input's and output's shapes (symbolic dimensions as 1)."""
    import onnx

    from verifier.network.onnx_import import graph_inputs

    model = onnx.load(onnx_path, load_external_data=False)
    out = model.graph.output[0].type.tensor_type.shape.dim
    return graph_inputs(model)[0][1], tuple(d.dim_value if d.dim_value > 0 else 1 for d in out)


def run(argv: list[str], timeout: float) -> tuple[str, float]:
    start = time.monotonic()
    try:
        done = subprocess.run(CLI + argv, capture_output=True, text=True,
                              timeout=timeout * 1.5 + 30)
        lines = done.stdout.splitlines()
        verdict = lines[0] if lines and done.returncode == 0 else f"exit {done.returncode}"
    except subprocess.TimeoutExpired:
        verdict = "killed"
    return verdict, time.monotonic() - start


def parse_times(net_path: str, spec: str, query_path: Path) -> tuple[float, float]:
    """Best of 3: the 1.0 reader; the 2.0 reader plus lowering to the fast path."""
    from verifier.network import load_network
    from verifier.spec import load_query, load_vnnlib
    from verifier.spec.lowering import lower_query
    from verifier.spec.binding import bind_networks

    net = load_network(net_path)
    parts = bind_networks(load_query(str(query_path)), {"net": net_path})
    one, two = [], []
    for _ in range(3):
        t = time.perf_counter()
        load_vnnlib(spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
        one.append(time.perf_counter() - t)
        t = time.perf_counter()
        lower_query(load_query(str(query_path)), parts)
        two.append(time.perf_counter() - t)
    return min(one), min(two)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-set", type=int, default=12)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--out", type=Path, default=None, help="where the 2.0 queries go")
    p.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared" / "benchmarks")
    args = p.parse_args(argv)

    from verifier.batch.instances import read_instances
    from verifier.spec import load_vnnlib
    from verifier.network import load_network
    from verifier.spec.vnnlib2_writer import query_from_property, write_query

    out = args.out or Path(tempfile.mkdtemp(prefix="vnnlib2_parity_"))
    out.mkdir(parents=True, exist_ok=True)
    print("| set | instance | published | 1.0 | 2.0 | s 1.0 | s 2.0 | parse ms 1.0 / 2.0 |")
    print("|---|---|---|---|---|---:|---:|---|")
    differ, one_sided, ratios, parse_ratio = [], [], [], []
    count = 0
    for name in args.sets.split(","):
        csv_path = args.shared / name / "instances.csv"
        if not csv_path.is_file():
            continue
        for inst in spread(read_instances(csv_path), args.per_set):
            timeout = min(inst.timeout or args.timeout, args.timeout)
            net = load_network(inst.onnx_path)
            prop = load_vnnlib(inst.vnnlib_path, n_inputs=net.n_inputs,
                               n_outputs=net.n_outputs)
            in_shape, out_shape = shapes(inst.onnx_path)
            query_path = out / f"{name}_{count}.vnnlib"
            query_path.write_text(write_query(query_from_property(prop, in_shape, out_shape),
                                              comment=f"{inst.vnnlib} written as 2.0"))
            v1, t1 = run(["verify", inst.onnx_path, inst.vnnlib_path, "--timeout",
                          str(timeout), "--quiet"], timeout)
            v2, t2 = run(["verify", str(query_path), "--network", f"net={inst.onnx_path}",
                          "--timeout", str(timeout), "--quiet"], timeout)
            v2_word = {"timed-out": "timeout"}.get(v2, v2)
            p1, p2 = parse_times(inst.onnx_path, inst.vnnlib_path, query_path)
            label = f"{Path(inst.onnx).stem} {Path(inst.vnnlib).stem}"
            print(f"| {name} | {label} | {inst.expected or '-'} | {v1} | {v2} | {t1:.1f} | "
                  f"{t2:.1f} | {1e3 * p1:.1f} / {1e3 * p2:.1f} |", flush=True)
            if v1 != v2_word:
                (one_sided if "timeout" in (v1, v2_word) else differ).append(label)
            ratios.append(t2 / t1)
            parse_ratio.append(p2 / max(p1, 1e-9))
            count += 1
    print(f"\n{count} instances; verdicts differ on {len(differ)} ({', '.join(differ) or '-'});"
          f" a time-out on one side only: {len(one_sided)} ({', '.join(one_sided) or '-'})")
    if ratios:
        print(f"wall time 2.0 / 1.0: median {statistics.median(ratios):.3f}, "
              f"max {max(ratios):.2f}; parsing 2.0 (reference parser + lowering) / 1.0: "
              f"median {statistics.median(parse_ratio):.2f}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
