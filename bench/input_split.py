"""Input splitting on few-input networks: verdicts, pieces per second and where a step's
time goes (bound, falsify, branch), for several configurations of ``split``.

    python bench/input_split.py --timeout 60                  # the ACAS Xu rows of issue 18
    python bench/input_split.py --acas 4_9:1 --config default --config backward
    python bench/input_split.py --instances bench/lowdim/instances.csv --filter ctrl6

One process, one core, BLAS single-threaded; each row runs ``verify`` with the method
``split`` (falsification first, as ``auto``). Pieces, pieces per second of search and the
shares of the search's time spent bounding, falsifying (candidates and projected gradient
steps) and branching are summed over the property's disjuncts. To measure older code,
copy this file into that checkout's ``bench/`` and run it there with ``--config default``
(the script puts its own checkout first on the path; older engines report no shares).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier.methods import VerifyOptions  # noqa: E402
from verifier.methods.options import SplitOptions  # noqa: E402
from verifier.network import load_network  # noqa: E402
from verifier.spec import load_vnnlib  # noqa: E402
from verifier.verify.pipeline import verify  # noqa: E402

ACAS = Path(os.environ.get("VERIFIER_BENCHMARKS",
                           Path(__file__).resolve().parents[2] / "shared" / "benchmarks")
            ) / "acasxu"

#: the ACAS Xu rows the issue names: slow for us, slow for everyone, or late witnesses
ACAS_HARD = [("1_1", 5), ("1_1", 6), ("1_1", 2), ("5_3", 2), ("1_3", 2), ("3_3", 2),
             ("4_2", 2), ("4_9", 1), ("1_8", 2), ("1_9", 7), ("4_5", 10)]

#: configurations by name (built when used, so that ``default`` runs on older code too)
CONFIGURATIONS = {
    "default": lambda: SplitOptions(),
    "forward": lambda: SplitOptions(intermediate="forward"),
    "backward": lambda: SplitOptions(intermediate="backward"),
    "leaf-milps": lambda: SplitOptions(leaf_per_step=16),
    "widest": lambda: SplitOptions(rule="widest"),
    "batch1024": lambda: SplitOptions(batch=1024),
}


def acas_rows(names) -> list[tuple[str, str, str]]:
    """(onnx, vnnlib, expected verdict) of ACAS Xu rows given as (net, property)."""
    expected = {}
    with open(ACAS / "instances.csv") as f:
        for row in csv.DictReader(f):
            expected[(row["onnx"], row["vnnlib"])] = row.get("verdict", "")
    rows = []
    for net, prop in names:
        onnx = f"onnx/ACASXU_run2a_{net}_batch_2000.onnx"
        vnnlib = f"vnnlib/prop_{prop}.vnnlib"
        rows.append((str(ACAS / onnx), str(ACAS / vnnlib), expected.get((onnx, vnnlib), "")))
    return rows


def csv_rows(path: Path, needle: str) -> list[tuple[str, str, str]]:
    """(onnx, vnnlib, expected verdict) of an instances.csv, rows containing ``needle``."""
    with open(path) as f:
        return [(str(path.parent / r["onnx"]), str(path.parent / r["vnnlib"]),
                 r.get("verdict", "")) for r in csv.DictReader(f)
                if needle in r["onnx"] + r["vnnlib"]]


def run_row(onnx: str, vnnlib: str, config: str, timeout: float) -> dict:
    """One verification with one configuration: verdict, seconds, pieces, shares."""
    net = load_network(onnx)
    prop = load_vnnlib(vnnlib)
    options = replace(VerifyOptions(), split=CONFIGURATIONS[config](), blas_threads=1)
    start = time.perf_counter()
    result = verify(net, prop, method="split", timeout=timeout, options=options)
    seconds = time.perf_counter() - start
    searches = result.stats.get("split", [])
    total = {k: sum(s.get(k, 0.0) for s in searches)
             for k in ("domains", "seconds", "seconds_bound", "seconds_falsify",
                       "seconds_branch", "leaf_milps")}
    return {"verdict": result.verdict, "total": seconds, **total}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", choices=["acas-hard"], help="a named set of rows")
    parser.add_argument("--acas", action="append", metavar="NET:PROP",
                        help="an ACAS Xu row, e.g. 3_3:2 (repeatable)")
    parser.add_argument("--instances", type=Path, help="an instances.csv")
    parser.add_argument("--filter", default="", help="rows of --instances containing this")
    parser.add_argument("--config", action="append", choices=sorted(CONFIGURATIONS),
                        help="configurations to compare (default: all)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per row (60)")
    args = parser.parse_args(argv)
    if args.instances is not None:
        rows = csv_rows(args.instances, args.filter)
    elif args.acas:
        rows = acas_rows([tuple(a.split(":")) for a in args.acas])
    else:
        rows = acas_rows(ACAS_HARD)
    configs = args.config or list(CONFIGURATIONS)
    header = (f"{'row':<34} {'config':<9} {'verdict':<8} {'expected':<8} {'time s':>7} "
              f"{'pieces':>8} {'pieces/s':>9} {'bound':>6} {'falsify':>7} {'branch':>6} "
              f"{'MILPs':>5}")
    print(header)
    print("-" * len(header))
    for onnx, vnnlib, expected in rows:
        name = f"{Path(onnx).name.replace('ACASXU_run2a_', '').replace('_batch_2000.onnx', '')}"
        name += f" {Path(vnnlib).stem}"
        for config in configs:
            r = run_row(onnx, vnnlib, config, args.timeout)
            busy = max(r["seconds"], 1e-9)      # seconds inside the searches
            rate = r["domains"] / max(r["seconds"], 1e-9)   # pieces per second of search
            print(f"{name:<34} {config:<9} {r['verdict']:<8} {expected:<8} "
                  f"{r['total']:>7.2f} {int(r['domains']):>8} {rate:>9.0f} "
                  f"{r['seconds_bound'] / busy:>6.0%} {r['seconds_falsify'] / busy:>7.0%} "
                  f"{r['seconds_branch'] / busy:>6.0%} {int(r['leaf_milps']):>5}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
