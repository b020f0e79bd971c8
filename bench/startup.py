#!/usr/bin/env python
"""Start-up: wall time of ``verifier --version``, ``--help`` and a subcommand's ``--help``.

Each command runs in a fresh process N times; the best and the median wall times are
printed (the best is the machine's floor, the median what a user sees on it now), with
the load average. The promise (README, "Limits"): under 1 s. Also times ``import
verifier.cli`` and the library imports a ``verify`` run needs (the part of every
``--timeout`` that start-up takes).

Usage::

    python bench/startup.py [--repeat 5] [--md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: the promise for --version and --help
LIMIT = 1.0


def commands() -> list[tuple[str, list[str]]]:
    script = shutil.which("verifier", path=str(Path(sys.executable).parent))
    cli = [script] if script else [sys.executable, "-m", "verifier.cli"]
    py = [sys.executable, "-c"]
    return [("verifier --version", cli + ["--version"]),
            ("verifier --help", cli + ["--help"]),
            ("verifier verify --help", cli + ["verify", "--help"]),
            ("python -c 'import verifier.cli'", py + ["import verifier.cli"]),
            ("library of a verify run", py + [
                "import verifier.verify, verifier.network.onnx_import, verifier.spec"])]


def wall(cmd: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   cwd=REPO_ROOT)
    return time.monotonic() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--md", action="store_true", help="print a Markdown table")
    args = p.parse_args(argv)
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    head = ["command", "best s", "median s", f"under {LIMIT:g} s"]
    print("| " + " | ".join(head) + " |\n|---|---:|---:|---|" if args.md else "  ".join(head))
    bad = 0
    for label, cmd in commands():
        times = [wall(cmd) for _ in range(args.repeat)]
        promised = label.startswith("verifier")
        ok = max(times) < LIMIT
        bad += promised and not ok
        row = [label, f"{min(times):.2f}", f"{statistics.median(times):.2f}",
               ("yes" if ok else "NO") if promised else "-"]
        print("| " + " | ".join(row) + " |" if args.md else "  ".join(row), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
