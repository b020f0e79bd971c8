"""One hard instance on every core: wall time of ``verify`` with 1, 2, ... workers and on
a Dask LocalCluster, and the sub-domains each run bounded (in all, and per second of the
whole run).

    python bench/parallel.py --mnistfc 256x4/2021/prop_9_0.03 --eran 6x100:img12
    python bench/parallel.py --mnistfc 256x6/2022/prop_3_0.05 --run 1 --run 2 --run dask2
    python bench/parallel.py --eran 6x100:img0 --method triangle --tighten lp   # LP tightening

Rows: ``--mnistfc NET/YEAR/PROP`` (a row of mnistfc/instances.csv, its timeout unless
``--timeout``) and ``--eran NET:imgK`` (ERAN's image K at ε 0.026, the kPoly/PRIMA
setting). Runs: ``N`` (``verify --workers N``: local processes) and ``daskN`` (a Dask
LocalCluster of N single-threaded workers, ``--scheduler local``; the cluster's start is
counted). Method ``auto`` unless ``--method``, BLAS single-threaded everywhere; each run
starts from a freshly loaded network. ``tighten s`` is the time of the per-neuron LP
(``--tighten lp``) or MILP (``--milp-refine L``) tightening, which the workers share too. The speed-up is the 1-worker time over the run's time, and is only shown
when both runs decided the row.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier.methods import VerifyOptions  # noqa: E402
from verifier.methods.options import BabOptions, TightenOptions  # noqa: E402
from verifier.network import load_network  # noqa: E402
from verifier.spec import linf_robustness, load_vnnlib  # noqa: E402
from verifier.verify.pipeline import verify  # noqa: E402

SHARED = Path(os.environ.get("VERIFIER_BENCHMARKS",
                             Path(__file__).resolve().parents[2] / "shared" / "benchmarks"))
ERAN_EPS = 0.026


def mnistfc_row(name: str) -> tuple:
    """(label, onnx, property maker, expected, timeout) of ``NET/YEAR/PROP``."""
    net, year, prop = name.split("/")
    folder = SHARED / "mnistfc"
    with open(folder / "instances.csv") as f:
        for row in csv.DictReader(f):
            if row["onnx"] == f"onnx/mnist-net_{net}.onnx" and \
                    row["vnnlib"] == f"vnnlib/{year}/{prop}.vnnlib":
                vnnlib = folder / row["vnnlib"]
                return (f"mnistfc {name}", folder / row["onnx"], lambda net: load_vnnlib(vnnlib),
                        row["verdict"], float(row["timeout"]))
    raise SystemExit(f"no mnistfc row {name}")


def eran_row(name: str) -> tuple:
    """(label, onnx, property maker, expected, timeout) of ``NET:imgK``."""
    net, image = name.split(":")
    index = int(image.removeprefix("img"))
    folder = SHARED / "eran_prima"
    x0 = np.load(folder / "X_eran.npy")[index].astype(np.float64).ravel()
    label = int(np.load(folder / "y_eran.npy")[index])

    def make(network):
        return linf_robustness(x0, ERAN_EPS, label, network.n_outputs,
                               name=f"img{index}_eps{ERAN_EPS:g}")
    onnx = folder / "onnx" / f"mnist_{net.replace('x', '_')}_nat.onnx"
    return f"eran {name}", onnx, make, "", 300.0


def run_once(onnx: Path, make, run: str, timeout: float, method: str = "auto",
             tighten: str = "alpha", milp_layers: int = 0) -> dict:
    """One ``verify`` of the row with the run's workers: verdict, seconds, sub-domains,
    seconds of the LP/MILP tightening."""
    net = load_network(str(onnx))
    prop = make(net)
    dask = run.startswith("dask")
    workers = int(run.removeprefix("dask"))
    options = VerifyOptions(workers=workers, scheduler="local" if dask else None,
                            blas_threads=1,
                            tighten=TightenOptions(method=tighten, milp_layers=milp_layers),
                            bab=BabOptions(refine_share=0.3 if milp_layers else 0.0))
    start = time.perf_counter()
    result = verify(net, prop, method=method, timeout=timeout, options=options)
    seconds = time.perf_counter() - start
    searches = result.stats.get("bab", []) + result.stats.get("split", [])
    return {"verdict": result.verdict, "seconds": seconds,
            "domains": sum(s.get("domains", 0) for s in searches),
            "requeued": sum(s.get("requeued", 0) for s in searches),
            "tighten": sum(result.timings.get(k, 0.0) for k in ("lp_tighten", "milp_refine"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnistfc", action="append", default=[], metavar="NET/YEAR/PROP")
    parser.add_argument("--eran", action="append", default=[], metavar="NET:imgK")
    parser.add_argument("--run", action="append", metavar="N|daskN",
                        help="runs to compare (default: 1, 2 and dask2)")
    parser.add_argument("--timeout", type=float, help="seconds per run (default: the row's)")
    parser.add_argument("--method", default="auto", help="verification method (auto)")
    parser.add_argument("--tighten", default="alpha", choices=["alpha", "lp"],
                        help="intermediate-bound tightening (alpha; lp: per-neuron LPs, "
                             "spread over the workers)")
    parser.add_argument("--milp-refine", type=int, default=0, metavar="L",
                        help="bab: refine ReLU layers 2..L+1 by per-neuron MILPs first")
    args = parser.parse_args(argv)
    rows = [mnistfc_row(n) for n in args.mnistfc] + [eran_row(n) for n in args.eran]
    runs = args.run or ["1", "2", "dask2"]
    header = (f"{'instance':<32} {'run':<6} {'verdict':<8} {'expected':<8} {'time s':>7} "
              f"{'speed-up':>8} {'sub-domains':>11} {'per s':>6} {'tighten s':>9} "
              f"{'requeued':>8}")
    print(header)
    print("-" * len(header), flush=True)
    for label, onnx, make, expected, timeout in rows:
        base = None
        for run in runs:
            r = run_once(onnx, make, run, args.timeout or timeout, args.method, args.tighten,
                         args.milp_refine)
            decided = r["verdict"] in ("sat", "unsat")
            if run == "1":
                base = r if decided else None
            speed = (f"{base['seconds'] / r['seconds']:.2f}x" if base and decided else "")
            rate = r["domains"] / max(r["seconds"], 1e-9)
            print(f"{label:<32} {run:<6} {r['verdict']:<8} {expected:<8} "
                  f"{r['seconds']:>7.1f} {speed:>8} {r['domains']:>11} {rate:>6.0f} "
                  f"{r['tighten']:>9.1f} {r['requeued']:>8}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
