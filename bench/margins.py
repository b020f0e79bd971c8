"""The rounding margin of the batched bounds of ReLU-split branch and bound, old and new.

For every disjunct's rows (logit differences) of a row, at the root (tightened
bounds, as ``bab`` starts): the flat margin ``ROUNDING_MARGIN * |C| @ T_last``
(:func:`~verifier.bounds.chain.magnitude_scales`, what ``bab`` subtracted before issue 29)
and the a-posteriori one, ``relative * error`` of the root's back-substitution
(:func:`~verifier.bounds.chain.rounding_scales`), with the bound they are subtracted from:

    python bench/margins.py --eran 6x100:4 --eran 9x100:4 --mnistfc 256x6/2021/prop_5_0.03
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deep import eran_rows, mnistfc_row  # noqa: E402
from verifier.bounds.backsub import backsub_linear, box_minimum  # noqa: E402
from verifier.bounds.chain import (affine_names, batched_relu_lines, magnitude_scales,  # noqa: E402
                                   relu_chain, rounding_scales)
from verifier.bounds.rounding import ROUNDING_MARGIN  # noqa: E402
from verifier.methods import CaseContext, VerifyOptions  # noqa: E402
from verifier.network import load_network  # noqa: E402
from verifier.threads import blas_threads  # noqa: E402


def margins(onnx, make) -> tuple:
    """(old margin, new margin, root bound) per row of every disjunct, as arrays."""
    net = load_network(str(onnx))
    case = make(net).cases[0]
    A = np.vstack([d.A for d in case.disjuncts])
    b = np.concatenate([d.b for d in case.disjuncts])
    with blas_threads(1):
        ctx = CaseContext(net, case, VerifyOptions(), time.monotonic() + 600)
        root = ctx.tightened()
        chain = relu_chain(net)
        names = affine_names(net)
        pre = [(root[names[r]].lower, root[names[r]].upper) for r in range(len(chain) - 1)]
        old = ROUNDING_MARGIN * (np.abs(A) @ magnitude_scales(
            chain, case.lower, case.upper, pre)[-1])
        scales = rounding_scales(chain, case.lower, case.upper, pre)
        lines = [batched_relu_lines(lo[None], hi[None]) for lo, hi in pre]
        last = len(chain) - 1
        out = backsub_linear(chain, last, A[None], lines, weights=scales.weights(last))
        bound = box_minimum(out.const, out.coef, case.lower[None], case.upper[None])[0] - b
    return old, out.error[0], bound


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eran", action="append", default=[], metavar="NET:K")
    parser.add_argument("--mnistfc", action="append", default=[], metavar="NET/YEAR/PROP")
    args = parser.parse_args(argv)
    rows = ([r for spec in args.eran for r in eran_rows(spec)]
            + [mnistfc_row(n) for n in args.mnistfc])
    print("| row | rows | old margin (max) | new margin (max) | ratio | root DeepPoly bound (min) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, onnx, make in rows:
        old, new, bound = margins(onnx, make)
        print(f"| {label} | {old.size} | {old.max():.3g} | {new.max():.3g} | "
              f"{old.max() / new.max():.0f}x | {bound.min():.3g} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
