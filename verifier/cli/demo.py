"""``verifier demo``: robustness of the bundled digits network with every method."""

from __future__ import annotations

import time

import numpy as np

from verifier.cli.arguments import positive_seconds, split_list
from verifier.data import demo_images, demo_network_path
from verifier.network import load_network
from verifier.spec import linf_robustness
from verifier.verify import VerifyOptions, verify


def add_parser(subparsers) -> None:
    d = subparsers.add_parser(
        "demo", help="robustness of the bundled digits network, every method",
        description="L-inf robustness of the bundled 64-32-32-10 digits network around its "
                    "first test images, each method's certified margin next to the exact one.")
    d.add_argument("--eps", default="0.02,0.05,0.08", help="comma-separated radii")
    d.add_argument("--images", type=int, default=3, help="number of bundled images (<= 10)")
    d.add_argument("--methods", default="interval,deeppoly,triangle,milp",
                   help="comma-separated methods")
    d.add_argument("--timeout", type=positive_seconds, default=30.0)
    d.set_defaults(func=run)


def run(args) -> int:
    path = str(demo_network_path())
    net = load_network(path)
    images, labels = demo_images()
    methods = split_list(args.methods)
    eps_list = [float(e) for e in split_list(args.eps)]
    print(f"network: {path} ({net.n_inputs} inputs, {len(net.relu_names())} ReLU layers, "
          f"{sum(net.size(r) for r in net.relu_names())} neurons)")
    print("cell = verdict / certified margin (min over adversarial labels; > 0 proves it);")
    print("milp gives the exact minimum margin; sat shows the witness's margin")
    header = f"{'image':>5} {'label':>5} {'eps':>6} " + "".join(f"{m:>26}" for m in methods)
    print(header)
    print("-" * len(header))
    for idx in range(min(args.images, len(labels))):
        for eps in eps_list:
            prop = linf_robustness(images[idx], eps, int(labels[idx]), net.n_outputs)
            cells = [_cell(net, prop, method, args.timeout, path) for method in methods]
            print(f"{idx:>5} {int(labels[idx]):>5} {eps:>6g} " + "".join(f"{c:>26}"
                                                                       for c in cells))
    return 0


def _cell(net, prop, method: str, timeout: float, path: str) -> str:
    start = time.perf_counter()
    r = verify(net, prop, method=method, timeout=timeout, onnx_path=path,
               options=VerifyOptions(full_solve=True))
    if r.verdict == "sat":
        text = f"sat / {r.witness.margin:.3g}"
    else:
        margin = r.certified_margin(method)
        text = f"{r.verdict} / {margin:.3g}" if np.isfinite(margin) else r.verdict
    exact = [o.exact for o in r.disjuncts if o.exact is not None]
    if r.verdict != "sat" and exact and len(exact) == len(r.disjuncts):
        text = f"{r.verdict} / exact {min(exact):.3g}"
    return f"{text} ({time.perf_counter() - start:.1f}s)"
