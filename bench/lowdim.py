"""Generate low-dimensional test networks with properties of known verdicts.

Networks with 3-6 inputs and 2-4 ReLU layers of 64-256 neurons (the shape of control
policies and density models in VNN-COMP), random He-initialised weights stored as
float32 ONNX, each over its own input box. For each network and each objective
(``y_0``, and ``y_0 - y_1`` when there are two outputs) the script bounds the minimum
``m`` over the box with ``split`` (``full_solve``, ``--seconds`` per objective): a certified
lower bound ``L <= m`` and the best replayed point ``x*`` (value ``v >= m``). It writes two
properties per objective whose verdicts follow from these alone, whatever any verifier
says:

* ``unsat``: the objective ``>= L - 0.01 s`` (s: the spread of sampled values); proved by L.
* ``sat``: the objective ``>= v + 0.001 s``; ``x*`` violates it. The best points of these
  nets mostly sit on faces or corners of their boxes, which is what falsification must
  find.

    python bench/lowdim.py --out bench/lowdim            # writes onnx/, vnnlib/, instances.csv
    verifier batch bench/lowdim/instances.csv --out lowdim.csv    # the run (summary: median)

The generated files are not committed (``bench/lowdim/`` is ignored); the same seed gives
the same networks and boxes, and thresholds that differ between machines only as far as
the time-limited bounds do.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.make_demo_network import to_onnx  # noqa: E402
from verifier.methods import CaseContext, METHODS, VerifyOptions  # noqa: E402
from verifier.network import Network  # noqa: E402
from verifier.spec import halfspace_property  # noqa: E402
from verifier.spec.vnnlib_writer import write_vnnlib  # noqa: E402
from verifier.threads import blas_threads  # noqa: E402

#: (name, inputs, hidden widths, outputs)
NETS = [
    ("ctrl3_64x2", 3, [64, 64], 2),
    ("ctrl4_128x2", 4, [128, 128], 2),
    ("ctrl5_64x3", 5, [64, 64, 64], 2),
    ("ctrl6_256x2", 6, [256, 256], 2),
    ("dens3_128x3", 3, [128, 128, 128], 1),
    ("dens4_64x4", 4, [64, 64, 64, 64], 1),
    ("dens5_256x2", 5, [256, 256], 1),
    ("ctrl6_128x3", 6, [128, 128, 128], 2),
]
#: distance of the unsat threshold below the certified bound, times the spread
OFFSET_UNSAT = 0.01
#: distance of the sat threshold above the best point's value, times the spread: a
#: counterexample must come within 0.1 % of the spread of the best value known
OFFSET_SAT = 0.001
#: seconds the verifier gets per instance in instances.csv
TIMEOUT = 60


def make_layers(rng: np.random.Generator, n_in: int, widths: list[int], n_out: int):
    """He-initialised float32 layers ``[(W, b)]`` (weights as ONNX will store them)."""
    layers, prev = [], n_in
    for w in widths + [n_out]:
        W = (rng.normal(size=(w, prev)) * np.sqrt(2.0 / prev)).astype(np.float32)
        b = (rng.normal(size=w) * 0.1).astype(np.float32)
        layers.append((W, b))
        prev = w
    return layers


def network_of(layers) -> Network:
    items = []
    for k, (W, b) in enumerate(layers):
        items.append((W.astype(np.float64), b.astype(np.float64)))
        if k < len(layers) - 1:
            items.append("relu")
    return Network.from_layers(items)


def bracket(net: Network, lo, hi, a: np.ndarray, seconds: float):
    """(certified lower bound of min a.y over the box, best point, its value)."""
    prop = halfspace_property(lo, hi, [(a[None, :], np.array([0.0]))], net.n_outputs)
    options = replace(VerifyOptions(), full_solve=True)
    with blas_threads(1):
        ctx = CaseContext(net, prop.cases[0], options, time.monotonic() + seconds + 60)
        ctx.set_budget(seconds)
        outcome = METHODS["split"].margin(ctx, a[None, :], np.array([0.0]))
    # the margin is a.y - 0: its bound is a bound of the minimum of a.y
    x = outcome.candidate if outcome.candidate is not None else (lo + hi) / 2
    value = float(net.forward(x[None, :])[0] @ a)
    return float(outcome.bound), x, value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "lowdim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="seconds of split per objective to bound its minimum (20)")
    args = parser.parse_args(argv)
    import onnx
    rng = np.random.default_rng(args.seed)
    (args.out / "onnx").mkdir(parents=True, exist_ok=True)
    (args.out / "vnnlib").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, n_in, widths, n_out in NETS:
        layers = make_layers(rng, n_in, widths, n_out)
        onnx.save(to_onnx(layers, name, producer="verifier/bench/lowdim.py"),
                  str(args.out / "onnx" / f"{name}.onnx"))
        net = network_of(layers)
        centre = rng.uniform(-1, 1, n_in)
        radius = rng.uniform(0.2, 1.0, n_in)
        lo, hi = centre - radius, centre + radius
        objectives = [("y0", np.eye(n_out)[0])]
        if n_out == 2:
            objectives.append(("y0-y1", np.array([1.0, -1.0])))
        samples = net.forward(rng.uniform(lo, hi, size=(4000, n_in)))
        for label, a in objectives:
            values = samples @ a
            spread = float(values.max() - values.min())
            lower, x, best = bracket(net, lo, hi, a, args.seconds)
            at_face = int(np.sum(np.isclose(x, lo) | np.isclose(x, hi)))
            for verdict, threshold in (("unsat", lower - OFFSET_UNSAT * spread),
                                       ("sat", best + OFFSET_SAT * spread)):
                # unsafe: a.y <= threshold
                prop = halfspace_property(lo, hi, [(a[None, :], np.array([threshold]))],
                                          n_out, name=f"{name}_{label}_{verdict}")
                vnnlib = f"vnnlib/{name}_{label}_{verdict}.vnnlib"
                (args.out / vnnlib).write_text(write_vnnlib(prop))
                rows.append({"onnx": f"onnx/{name}.onnx", "vnnlib": vnnlib,
                             "timeout": TIMEOUT, "verdict": verdict})
            print(f"{name:<12} {label:<6} bracket [{lower:.5g}, {best:.5g}] spread "
                  f"{spread:.4g}; best point on {at_face} of {n_in} faces", flush=True)
    with open(args.out / "instances.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["onnx", "vnnlib", "timeout", "verdict"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} instances to {args.out / 'instances.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
