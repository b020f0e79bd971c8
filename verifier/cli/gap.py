"""``verifier gap``: every method's certified bound next to the exact optimum."""

from __future__ import annotations

import sys

from verifier.catalog import GAP_METHODS, METHOD_SUMMARIES
from verifier.cli.arguments import (add_network_arguments, add_tighten_arguments,
                                    choice_list, positive_seconds, radius)
from verifier.errors import OptionError, VerifierError
from verifier.files import check_output_file


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
                   type=choice_list(METHOD_SUMMARIES),
                   help="comma-separated methods, of " + ", ".join(METHOD_SUMMARIES)
                        + " (default: %(default)s)")
    g.add_argument("--timeout", type=positive_seconds, default=60.0,
                   help="seconds per (objective, method) solve (60)")
    g.add_argument("--images", help=".npy of images (N, ...) in [0, 1]")
    g.add_argument("--labels", help=".npy of labels (N,)")
    g.add_argument("--eps", type=radius, help="L-inf radius (with --images)")
    g.add_argument("--index", help="images to use: 0:10, 3 or 1,4,7 (default all)")
    add_tighten_arguments(g)     # the layer table names its row after it
    g.add_argument("--csv", metavar="F", help="write CSV (and F_layers.csv / F_objectives.csv)")
    g.add_argument("--json", metavar="F", help="write JSON")
    g.add_argument("--md", metavar="F", help="write Markdown")
    g.add_argument("--quiet", action="store_true", help="no progress lines")
    g.add_argument("--network", dest="networks", action="append", metavar="NAME=FILE",
                   help="VNN-LIB 2.0: the positional argument is a query and this the ONNX "
                        "file of one of its networks (e.g. a net and its pruned copy)")
    g.set_defaults(func=run)


def run(args) -> int:
    """Run ``verifier gap`` (returns the exit code; errors raise VerifierError). Options,
    output paths and the images are checked before the network is loaded."""
    from verifier.network import load_network
    from verifier.report import gap_over_images, gap_table, parse_index
    from verifier.spec import load_vnnlib
    from verifier.verify import TightenOptions, VerifyOptions
    from verifier.verify.query import prepare_query
    check_outputs(args)
    options = VerifyOptions(lp_tighten=not args.no_tighten,
                            tighten=TightenOptions(method=args.tighten))
    progress = None if args.quiet else (lambda m: print(f"  .. {m}", file=sys.stderr))
    if args.images:
        if args.labels is None or args.eps is None:
            raise OptionError("--images needs --labels and --eps")
        images, labels = load_array(args.images), load_array(args.labels)
        if len(images) != len(labels):
            raise VerifierError(f"{len(images)} images but {len(labels)} labels")
        indices = parse_index(args.index, len(images))
        net = load_network(args.network)
        summary = gap_over_images(net, images, labels, args.eps, indices, args.methods,
                                  timeout=args.timeout, options=options, progress=progress)
        print(summary.to_text())
        summary.write(args.csv, args.json, args.md)
        return 0
    labels = None
    invocation = query_invocation(args)
    if invocation is not None:
        lowered = prepare_query(*invocation)
        net, prop = lowered.network, lowered.prop
        labels = lowered.output_labels()
    else:
        net = load_network(args.network)
        prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    table = gap_table(net, prop, args.methods, timeout=args.timeout, options=options,
                      progress=progress, labels=labels)
    print(table.to_text())
    table.write(args.csv, args.json, args.md)
    return 0


def query_invocation(args):
    """``(query, files)`` for a VNN-LIB 2.0 query (``QUERY --network ...`` or ``NETWORK
    QUERY``), else None (a 1.0 SPEC)."""
    from verifier.cli.standard import query_invocation as standard_invocation

    if args.spec is None and not args.networks:
        raise OptionError("give a SPEC file, a 2.0 QUERY with --network NAME=FILE, or "
                          "--images/--labels/--eps")
    return standard_invocation(args)


def check_outputs(args) -> None:
    """``--csv`` (and the second CSV next to it), ``--json``, ``--md``: their folders
    must exist."""
    if args.csv:
        stem = args.csv[:-4] if args.csv.endswith(".csv") else args.csv
        check_output_file(args.csv, "--csv")
        check_output_file(stem + ("_objectives.csv" if args.images else "_layers.csv"),
                          "--csv")
    for option, path in (("--json", args.json), ("--md", args.md)):
        if path:
            check_output_file(path, option)


def load_array(path: str):
    """A ``.npy`` array, or an :class:`InputFileError` saying why it cannot be read."""
    from verifier.files import load_npy
    return load_npy(path, "array file (.npy)")
