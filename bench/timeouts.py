#!/usr/bin/env python
"""Does every method keep ``--timeout``? Requested limit against wall time, per method.

Runs ``verifier verify NET SPEC --method M --timeout T --quiet`` in a fresh process for each
method on instances that run into the limit (hard ones: an ERAN 9x200 row, a convolutional
net, an mnistfc 256x6 row at eps 0.05) and prints one row per run: the wall time of the
whole command (interpreter start-up and loading included), the overrun and whether it is
within the promise of the README (10 % + 1 s).

Usage::

    python bench/timeouts.py [--timeout 10] [--methods milp,krelu,...] [--shared PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "benchmarks"
METHODS = ["interval", "deeppoly", "triangle", "krelu", "milp", "split", "bab", "exact",
           "auto"]
INSTANCES = [
    ("eran 9x200", "eran/onnx/mnist_relu_9_200.onnx",
     "eran/vnnlib/mnist_spec_idx_4424_eps_0.01500.vnnlib"),
    ("collins conv", "collins_rul_cnn/onnx/NN_rul_small_window_20.onnx",
     "collins_rul_cnn/vnnlib/2022/if_then_7levels_w20.vnnlib"),
    ("mnistfc 256x6", "mnistfc/onnx/mnist-net_256x6.onnx",
     "mnistfc/vnnlib/2022/prop_0_0.05.vnnlib"),
]


def _spec_for(shared: Path, onnx: str, spec: str | None) -> str | None:
    """The given spec, or the first instance row of that network."""
    if spec is not None:
        return str(shared / spec)
    bench = onnx.split("/")[0]
    for line in (shared / bench / "instances.csv").read_text().splitlines()[1:]:
        fields = line.split(",")
        if fields[0].endswith(onnx.split("/")[-1]):
            return str(shared / bench / fields[1])
    return None


def run(method: str, net: str, spec: str, timeout: float) -> tuple[float, str]:
    """(wall seconds, verdict) of one ``verifier verify`` process."""
    cmd = [sys.executable, "-m", "verifier.cli", "verify", net, spec, "--method", method,
           "--timeout", str(timeout), "--quiet"]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    verdict = (proc.stdout.strip().splitlines() or ["error"])[0]
    if proc.returncode != 0:
        verdict = f"exit {proc.returncode}: {proc.stderr.strip()[-80:]}"
    return wall, verdict


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--shared", default=str(DEFAULT_SHARED))
    args = p.parse_args(argv)
    shared = Path(args.shared)
    methods = [m for m in args.methods.split(",") if m]
    print(f"{'instance':<14} {'method':<9} {'requested':>9} {'wall':>7} {'over':>7}  ok  verdict")
    bad = 0
    for label, onnx, spec in INSTANCES:
        spec_path = _spec_for(shared, onnx, spec)
        if spec_path is None or not (shared / onnx).exists():
            print(f"{label:<14} (missing in {shared})")
            continue
        for method in methods:
            wall, verdict = run(method, str(shared / onnx), spec_path, args.timeout)
            ok = wall <= 1.1 * args.timeout + 1.0
            bad += not ok
            print(f"{label:<14} {method:<9} {args.timeout:>9.1f} {wall:>7.1f} "
                  f"{100 * (wall / args.timeout - 1):>6.0f}%  {'yes' if ok else 'NO '} "
                  f"{verdict}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
