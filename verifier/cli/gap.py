"""``verifier gap``: every method's certified bound next to the exact optimum."""

from __future__ import annotations

import sys

from verifier.catalog import GAP_METHODS
from verifier.cli.arguments import (add_network_arguments, add_tighten_arguments,
                                    positive_seconds, split_list)
from verifier.errors import InputFileError, VerifierError


def add_parser(subparsers) -> None:
    """``verifier gap NET SPEC`` / ``verifier gap NET --images X.npy --labels y.npy``."""
    g = subparsers.add_parser(
        "gap", help="relaxation gap table: every method's bound vs the exact optimum",
        description="Per objective (each adversarial label), the certified lower bound of "
                    "each method, the exact MILP optimum (or its bracket) and the gaps; per "
                    "layer the unstable neurons and bound widths. With --images, the "
                    "aggregate over L-inf robustness of many images.")
    add_network_arguments(g, spec_optional=True)
    g.add_argument("--methods", default=",".join(GAP_METHODS),
                   help="comma-separated methods (default: %(default)s)")
    g.add_argument("--timeout", type=positive_seconds, default=60.0,
                   help="seconds per (objective, method) solve (60)")
    g.add_argument("--images", help=".npy of images (N, ...) in [0, 1]")
    g.add_argument("--labels", help=".npy of labels (N,)")
    g.add_argument("--eps", type=float, help="L-inf radius (with --images)")
    g.add_argument("--index", help="images to use: 0:10, 3 or 1,4,7 (default all)")
    add_tighten_arguments(g)     # the layer table names its row after it
    g.add_argument("--csv", metavar="F", help="write CSV (and F_layers.csv / F_objectives.csv)")
    g.add_argument("--json", metavar="F", help="write JSON")
    g.add_argument("--md", metavar="F", help="write Markdown")
    g.add_argument("--quiet", action="store_true", help="no progress lines")
    g.set_defaults(func=run)


def run(args) -> int:
    """Run ``verifier gap`` (returns the exit code; errors raise VerifierError)."""
    from verifier.network import load_network
    from verifier.report import gap_over_images, gap_table, parse_index
    from verifier.spec import load_vnnlib
    from verifier.verify import TightenOptions, VerifyOptions
    methods = split_list(args.methods)
    options = VerifyOptions(lp_tighten=not args.no_tighten,
                            tighten=TightenOptions(method=args.tighten))
    progress = None if args.quiet else (lambda m: print(f"  .. {m}", file=sys.stderr))
    net = load_network(args.network)
    if args.images:
        if args.labels is None or args.eps is None:
            raise VerifierError("--images needs --labels and --eps")
        images, labels = load_array(args.images), load_array(args.labels)
        if len(images) != len(labels):
            raise VerifierError(f"{len(images)} images but {len(labels)} labels")
        summary = gap_over_images(net, images, labels, args.eps,
                                  parse_index(args.index, len(images)), methods,
                                  timeout=args.timeout, options=options, progress=progress)
        print(summary.to_text())
        summary.write(args.csv, args.json, args.md)
        return 0
    if args.spec is None:
        raise VerifierError("give a SPEC file or --images/--labels/--eps")
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    table = gap_table(net, prop, methods, timeout=args.timeout, options=options,
                      progress=progress)
    print(table.to_text())
    table.write(args.csv, args.json, args.md)
    return 0


def load_array(path: str):
    """A ``.npy`` array, or an :class:`InputFileError` saying why it cannot be read."""
    import numpy as np
    try:
        return np.load(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc
