"""Tree sizes and sub-domains per second of ReLU-split branch and bound, with and without
the root's k-ReLU cuts in every sub-domain and MILP refinement of intermediate bounds.

One robustness disjunct (image, label) of an MNIST net, one core, BLAS single-threaded:

    python bench/bab_cuts.py ../shared/benchmarks/salman_mlp/onnx/nor_mlp_b.onnx \\
        --data ../shared/benchmarks/salman_mlp/mnist_test.npz --eps 0.03 \\
        --case 2:1 --case 4:8 --seconds 120

Prints one row per (case, configuration): the sub-domains bounded, per second, still open,
the final lower bound of the margin, and whether it was proved (bound > 0).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier.methods import METHODS, BabOptions, CaseContext, VerifyOptions  # noqa: E402
from verifier.network import load_network  # noqa: E402
from verifier.report.barrier_run import load_images  # noqa: E402
from verifier.spec import linf_robustness  # noqa: E402
from verifier.threads import blas_threads  # noqa: E402
from verifier.tighten import TightenOptions  # noqa: E402

CONFIGURATIONS = {
    "plain": (BabOptions(), TightenOptions(method="lp")),
    "cuts": (BabOptions(cuts=True), TightenOptions(method="lp")),
    "cuts + refine": (BabOptions(cuts=True, refine_share=0.3),
                      TightenOptions(method="lp", milp_layers=1, milp_time_limit=2.0)),
}


def run_case(net, image, label: int, wrong: int, eps: float, seconds: float, name: str):
    """(sub-domains, per second, open, bound, proved) of one configuration."""
    bab, tighten = CONFIGURATIONS[name]
    prop = linf_robustness(image, eps, label, net.n_outputs)
    others = [c for c in range(net.n_outputs) if c != label]
    poly = prop.cases[0].disjuncts[others.index(wrong)]
    with blas_threads(1):
        ctx = CaseContext(net, prop.cases[0], VerifyOptions(tighten=tighten, bab=bab),
                          time.monotonic() + seconds + 600)
        ctx.set_budget(seconds)
        found = METHODS["bab"].margin(ctx, poly.A, poly.b)
    stats = ctx.stats["bab"][-1]
    return (stats["domains"], stats["domains_per_second"], stats["open"], float(found.bound),
            found.bound > 0 and not found.timed_out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("network")
    parser.add_argument("--data", required=True, help=".npz with X (images) and y (labels)")
    parser.add_argument("--eps", type=float, required=True)
    parser.add_argument("--case", action="append", required=True, metavar="IMAGE:LABEL",
                        help="an image and the wrong label to bound its margin against")
    parser.add_argument("--seconds", type=float, default=120.0, help="budget per search")
    parser.add_argument("--configs", default=",".join(CONFIGURATIONS))
    args = parser.parse_args(argv)
    net = load_network(args.network)
    images, labels = load_images(args.data)
    print("| case | configuration | sub-domains | per s | open | bound | proved |")
    print("|---|---|---:|---:|---:|---:|---|")
    for case in args.case:
        index, wrong = (int(v) for v in case.split(":"))
        for name in args.configs.split(","):
            domains, rate, open_, bound, proved = run_case(
                net, images[index], int(labels[index]), wrong, args.eps, args.seconds, name)
            print(f"| img {index} label {wrong} | {name} | {domains} | {rate:.0f} | {open_} | "
                  f"{bound:.4f} | {'yes' if proved else 'no'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
