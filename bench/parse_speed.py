#!/usr/bin/env python
"""How long the VNN-LIB 1.0 parser takes on the largest benchmark files (best of N).

Replaces a test that asserted a parse time (timings belong here, with the machine's load
next to them). For each benchmark folder, its largest ``.vnnlib`` file is parsed N times
in this process (``verifier.spec.parse_vnnlib`` on the text already read) and the best
and median times are printed, with the file's size and the property's shape.

Usage::

    python bench/parse_speed.py [--repeat 5] [--shared PATH] [--md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from verifier.spec.vnnlib import parse_vnnlib  # noqa: E402

DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "benchmarks"
FOLDERS = ("mnistfc", "acasxu", "eran", "collins_rul_cnn", "cora_mnist")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--shared", default=str(DEFAULT_SHARED))
    p.add_argument("--md", action="store_true", help="print a Markdown table")
    args = p.parse_args(argv)
    shared = Path(args.shared)
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    head = ["file", "KiB", "inputs", "cases", "disjuncts", "best ms", "median ms"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head) if args.md
          else "  ".join(head))
    for folder in FOLDERS:
        files = sorted((shared / folder).rglob("*.vnnlib"), key=lambda f: f.stat().st_size)
        if not files:
            continue
        path = files[-1]
        text = path.read_text()
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            prop = parse_vnnlib(text)
            times.append(time.perf_counter() - start)
        row = [str(path.relative_to(shared)), f"{len(text) / 1024:.0f}", str(prop.n_inputs),
               str(len(prop.cases)), str(sum(len(c.disjuncts) for c in prop.cases)),
               f"{1000 * min(times):.1f}", f"{1000 * statistics.median(times):.1f}"]
        print("| " + " | ".join(row) + " |" if args.md else "  ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
