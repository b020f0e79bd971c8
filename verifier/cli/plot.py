"""``verifier plot``: pictures of one neuron, two-neuron hulls, output sets, widths, gaps."""

from __future__ import annotations

import argparse
import sys

from verifier.catalog import METHOD_SUMMARIES
from verifier.cli.arguments import (check_index, choice_list, finite_float, index_pair,
                                    interval, non_negative_int, positive_seconds, radius)
from verifier.cli.gap import load_array
from verifier.cli.watchdog import clock_of
from verifier.errors import OptionError, VerifierError
from verifier.files import check_output_file

#: the methods ``plot reach`` draws an output set for
REACH_METHODS = ("interval", "deeppoly", "triangle", "krelu", "milp")
#: picture formats (by extension) that matplotlib writes
PICTURE_EXTENSIONS = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff",
                      ".webp")

PLOT_HELP = """\
Write a picture (PNG/PDF/SVG by extension). The input box comes from SPEC (case 0), or
from --images/--index/--eps (the L-inf ball around one image), or from --box LO,HI (the
same interval for every input).

kinds:
  neuron   one ReLU over [--l, --u]: the triangle and DeepPoly's lines (no network)
  hull     two neurons of --layer (--neurons I,J or the widest): product of triangles vs
           the exact 2-ReLU hull
  reach    the output set of a network with exactly 2 outputs, by each of --methods
           (interval, deeppoly, triangle, krelu, milp) against sampled outputs
  widths   per-layer pre-activation bound widths and unstable neurons, by method
  gap      each method's gap to the exact optimum (needs SPEC, or --images with --labels)
"""


def add_parser(subparsers) -> None:
    """``verifier plot {neuron,hull,reach,widths,gap} ... -o out.png``."""
    p = subparsers.add_parser(
        "plot", help="pictures: one neuron, two-neuron hull, output reach (2-output "
                     "nets), widths, gaps",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=PLOT_HELP)
    p.add_argument("kind", choices=["neuron", "hull", "reach", "widths", "gap"])
    p.add_argument("network", nargs="?", help="network file (all kinds but neuron)")
    p.add_argument("spec", nargs="?", help="property file (VNN-LIB 1.0): case 0's box")
    p.add_argument("-o", "--output", required=True, help="out.png")
    p.add_argument("--l", type=finite_float, default=-1.0, help="neuron: lower bound (-1)")
    p.add_argument("--u", type=finite_float, default=1.5, help="neuron: upper bound (1.5)")
    p.add_argument("--images", help=".npy images (box = L-inf ball around --index)")
    p.add_argument("--labels", help=".npy labels (gap with --images)")
    p.add_argument("--index", type=non_negative_int, default=0, help="image index (0)")
    p.add_argument("--eps", type=radius, default=0.05, help="L-inf radius with --images")
    p.add_argument("--box", type=interval, help="LO,HI: the same interval for every input")
    p.add_argument("--layer", type=non_negative_int, default=0,
                   help="hull: ReLU layer index (0)")
    p.add_argument("--neurons", type=index_pair,
                   help="hull: two neuron indices I,J of the layer (default: the widest)")
    p.add_argument("--methods", default=",".join(REACH_METHODS),
                   type=choice_list(METHOD_SUMMARIES),
                   help="reach/gap: comma-separated methods (reach: of "
                        + ", ".join(REACH_METHODS) + ")")
    p.add_argument("--timeout", type=positive_seconds, default=30.0,
                   help="gap: seconds per solve; widths: seconds for all the bounds, from "
                        "the start (the LP tightening stops there, its neurons not reached "
                        "keep DeepPoly's bounds) (30)")
    p.add_argument("--quiet", action="store_true", help="no progress lines (widths)")
    p.add_argument("--no-tighten", action="store_true", help="skip LP tightening")
    p.set_defaults(func=run)


def check_arguments(args) -> None:
    """What can be checked before loading anything: the picture path, and that the kind
    has what it needs."""
    if not args.output.lower().endswith(PICTURE_EXTENSIONS):
        raise OptionError(f"-o {args.output}: give a picture file "
                          f"({', '.join(PICTURE_EXTENSIONS)})")
    check_output_file(args.output, "-o")
    if args.kind == "neuron":
        if not args.l < 0 < args.u:
            raise OptionError(f"plot neuron needs --l < 0 < --u (an unstable neuron), got "
                              f"--l {args.l:g} --u {args.u:g}")
        return
    if args.network is None:
        raise OptionError(f"plot {args.kind} needs a network file")
    if not (args.spec or args.images or args.box):
        raise OptionError("give SPEC, --images (with --eps) or --box LO,HI for the input box")
    if args.kind == "gap" and not (args.spec or (args.images and args.labels)):
        raise OptionError("plot gap needs SPEC or --images with --labels")
    if args.kind == "reach":
        other = [m for m in args.methods if m not in REACH_METHODS]
        if other:
            raise OptionError(f"--methods {','.join(other)}: plot reach draws "
                              f"{', '.join(REACH_METHODS)}")


def check_network(args, net) -> None:
    """What needs the network: reach takes 2 outputs; hull's layer and neurons exist."""
    if args.kind == "reach" and net.n_outputs != 2:
        raise OptionError(f"plot reach draws the output set of a network with exactly 2 "
                          f"outputs; {args.network} has {net.n_outputs}")
    if args.kind == "hull":
        relus = net.relu_names()
        check_index("--layer", args.layer, len(relus), "ReLU layers in the network")
        if args.neurons is not None:
            for neuron in args.neurons:
                check_index("--neurons", neuron, net.size(relus[args.layer]),
                            f"neurons in ReLU layer {args.layer}")


def box_from_args(args, net):
    import numpy as np

    from verifier.spec import linf_robustness, load_vnnlib
    if args.spec:
        prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
        return prop.cases[0].lower, prop.cases[0].upper, prop
    if args.images:
        X = load_array(args.images)
        check_index("--index", args.index, len(X), f"images in {args.images}")
        x = np.asarray(X[args.index], dtype=np.float64).ravel()
        prop = None
        if args.labels:
            label = int(np.asarray(load_array(args.labels)).ravel()[args.index])
            prop = linf_robustness(x, args.eps, label, net.n_outputs)
        return np.clip(x - args.eps, 0, 1), np.clip(x + args.eps, 0, 1), prop
    lo, hi = args.box
    return np.full(net.n_inputs, lo), np.full(net.n_inputs, hi), None


def run(args) -> int:
    """Run ``verifier plot`` (returns the exit code; errors raise VerifierError)."""
    from verifier.network import load_network
    from verifier.plot import plot_single_neuron
    check_arguments(args)
    if args.kind == "neuron":
        plot_single_neuron(args.l, args.u, path=args.output)
        print(f"wrote {args.output}")
        return 0
    net = load_network(args.network)
    check_network(args, net)
    lower, upper, prop = box_from_args(args, net)
    try:
        draw(args, net, lower, upper, prop)
    except ValueError as exc:
        raise VerifierError(str(exc)) from exc
    print(f"wrote {args.output}")
    return 0


def draw(args, net, lower, upper, prop) -> None:
    """The pictures of a network: hull, reach, widths or gap."""
    from verifier.plot import (plot_bound_widths, plot_gap_bars, plot_output_reach,
                               plot_two_neuron_hull)
    from verifier.report import gap_table
    from verifier.verify import VerifyOptions
    if args.kind == "hull":
        plot_two_neuron_hull(net, lower, upper, layer=args.layer, neurons=args.neurons,
                             path=args.output)
    elif args.kind == "reach":
        plot_output_reach(net, lower, upper, methods=args.methods,
                          lp_tighten=not args.no_tighten, path=args.output)
    elif args.kind == "widths":
        say = None if args.quiet else (
            lambda m: print(f"  .. {m}", file=sys.stderr, flush=True))
        plot_bound_widths(net, lower, upper, lp_tighten=not args.no_tighten,
                          path=args.output, deadline=clock_of(args).deadline(args.timeout),
                          progress=say)
    else:
        table = gap_table(net, prop, args.methods, timeout=args.timeout,
                          options=VerifyOptions(lp_tighten=not args.no_tighten))
        print(table.to_text())
        plot_gap_bars(table, path=args.output)
