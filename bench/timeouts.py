#!/usr/bin/env python
"""Does every method keep ``--timeout``? Requested limit against process wall time.

Runs ``verifier verify NET SPEC --method M --timeout T --quiet`` in a fresh process for
every method of ``verifier.catalog.METHOD_NAMES`` (``auto`` included) and every T, on
instances that run into the limit: an ERAN 9x200 row, an mnistfc 256x6 row at eps 0.05,
an ACAS Xu row (4_2 prop_2, the slowest for ``auto``) and a convolutional net (collins
RUL CNN). The wall time is the whole process, from before it is started to after it
ended (interpreter start-up, imports and loading included); a row passes when it is
within T + 1 s, the README's promise. The last column says whether the run stopped by
itself or was cut short by the command's watchdog (at T + 0.5 s). Prints the machine's load average before and after
(other work on the machine lengthens everything).

Usage::

    python bench/timeouts.py [--timeouts 5,20] [--methods milp,bab] [--instances eran,acas]
                             [--md] [--shared PATH]

Exit code 1 when a run breaks the promise (or ends with an error).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from verifier.catalog import METHOD_NAMES  # noqa: E402  (imports nothing heavy)

DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "benchmarks"
#: seconds a run may take beyond its limit (the README's promise)
ALLOWED_OVERRUN = 1.0
INSTANCES = [
    ("eran 9x200", "eran/onnx/mnist_relu_9_200.onnx",
     "eran/vnnlib/mnist_spec_idx_4424_eps_0.01500.vnnlib"),
    ("mnistfc 256x6", "mnistfc/onnx/mnist-net_256x6.onnx",
     "mnistfc/vnnlib/2022/prop_0_0.05.vnnlib"),
    ("acasxu 4_2 p2", "acasxu/onnx/ACASXU_run2a_4_2_batch_2000.onnx",
     "acasxu/vnnlib/prop_2.vnnlib"),
    ("collins conv", "collins_rul_cnn/onnx/NN_rul_small_window_20.onnx",
     "collins_rul_cnn/vnnlib/2022/if_then_7levels_w20.vnnlib"),
]


def run(method: str, net: Path, spec: Path, timeout: float) -> tuple[float, str, str]:
    """(process wall seconds, verdict, who stopped it) of one ``verifier verify``
    process; the run stopped by itself (``run``) or was cut short by the watchdog."""
    cmd = [sys.executable, "-m", "verifier.cli", "verify", str(net), str(spec),
           "--method", method, "--timeout", str(timeout)]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    wall = time.monotonic() - start
    verdict = (proc.stdout.strip().splitlines() or ["error"])[0]
    if proc.returncode != 0:
        verdict = f"exit {proc.returncode}: {proc.stderr.strip()[-80:]}"
    return wall, verdict, "watchdog" if "cut short" in proc.stdout else "run"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--timeouts", default="5,20", help="comma-separated limits (5,20)")
    p.add_argument("--methods", default=",".join(METHOD_NAMES))
    p.add_argument("--instances", default=None,
                   help="comma-separated substrings of the instance labels (default all)")
    p.add_argument("--md", action="store_true", help="print a Markdown table")
    p.add_argument("--shared", default=str(DEFAULT_SHARED))
    args = p.parse_args(argv)
    shared = Path(args.shared)
    methods = [m for m in args.methods.split(",") if m]
    timeouts = [float(t) for t in args.timeouts.split(",") if t]
    chosen = [i for i in INSTANCES if args.instances is None
              or any(s in i[0] for s in args.instances.split(","))]
    print(f"load average before: {load()}  (cores: {os.cpu_count()})")
    if args.md:
        print("| instance | method | T s | wall s | over s | within T + 1 s | verdict | "
              "stopped by |\n|---|---|---:|---:|---:|---|---|---|")
    else:
        print(f"{'instance':<14} {'method':<9} {'T':>5} {'wall':>7} {'over':>6}  ok  "
              f"{'verdict':<8} stopped by")
    bad = 0
    for label, onnx, spec in chosen:
        if not (shared / onnx).exists() or not (shared / spec).exists():
            print(f"{label:<14} (missing in {shared})")
            continue
        for timeout in timeouts:
            for method in methods:
                wall, verdict, stopper = run(method, shared / onnx, shared / spec, timeout)
                ok = wall <= timeout + ALLOWED_OVERRUN and not verdict.startswith("exit")
                bad += not ok
                cells = (label, method, f"{timeout:g}", f"{wall:.1f}",
                         f"{wall - timeout:+.1f}", "yes" if ok else "NO", verdict, stopper)
                if args.md:
                    print("| " + " | ".join(cells) + " |", flush=True)
                else:
                    print(f"{cells[0]:<14} {cells[1]:<9} {cells[2]:>5} {cells[3]:>7} "
                          f"{cells[4]:>6}  {cells[5]:<3} {cells[6]:<8} {cells[7]}",
                          flush=True)
    print(f"load average after: {load()}; {bad} run(s) over T + {ALLOWED_OVERRUN:g} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
