"""``verifier plot``: pictures of one neuron, two-neuron hulls, output sets, widths, gaps."""

from __future__ import annotations

import sys

from verifier.cli.arguments import positive_seconds
from verifier.cli.gap import load_array
from verifier.cli.watchdog import clock_of
from verifier.errors import InputFileError, OptionError, VerifierError


def add_parser(subparsers) -> None:
    """``verifier plot {neuron,hull,reach,widths,gap} ... -o out.png``."""
    p = subparsers.add_parser(
        "plot", help="pictures: one neuron, two-neuron hull, output reach, widths, gaps",
        description="Write a picture (PNG/PDF/SVG by extension). The input box comes from "
                    "SPEC, or from --images/--labels/--index/--eps (L-inf ball around one "
                    "image), or from --box LO,HI (the same interval for every input).")
    p.add_argument("kind", choices=["neuron", "hull", "reach", "widths", "gap"])
    p.add_argument("network", nargs="?", help="network file (all kinds but neuron)")
    p.add_argument("spec", nargs="?", help="property file (VNN-LIB 1.0): case 0's box")
    p.add_argument("-o", "--output", required=True, help="out.png")
    p.add_argument("--l", type=float, default=-1.0, help="neuron: lower bound (-1)")
    p.add_argument("--u", type=float, default=1.5, help="neuron: upper bound (1.5)")
    p.add_argument("--images", help=".npy images (box = L-inf ball around --index)")
    p.add_argument("--labels", help=".npy labels (gap with --images)")
    p.add_argument("--index", type=int, default=0, help="image index (0)")
    p.add_argument("--eps", type=float, default=0.05, help="L-inf radius with --images")
    p.add_argument("--box", help="LO,HI: the same interval for every input")
    p.add_argument("--layer", type=int, default=0, help="hull: ReLU layer index (0)")
    p.add_argument("--neurons", help="hull: two neuron indices i,j (default: widest)")
    p.add_argument("--methods", default="interval,deeppoly,triangle,krelu,milp",
                   help="reach/gap: comma-separated methods")
    p.add_argument("--timeout", type=positive_seconds, default=30.0,
                   help="gap: seconds per solve; widths: seconds for all the bounds, from "
                        "the start (the LP tightening stops there, its neurons not reached "
                        "keep DeepPoly's bounds) (30)")
    p.add_argument("--quiet", action="store_true", help="no progress lines (widths)")
    p.add_argument("--no-tighten", action="store_true", help="skip LP tightening")
    p.set_defaults(func=run)


def box_from_args(args, net):
    import numpy as np
    from verifier.spec import linf_robustness, load_vnnlib
    if args.spec:
        prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
        return prop.cases[0].lower, prop.cases[0].upper, prop
    if args.images:
        X = load_array(args.images)
        if not 0 <= args.index < len(X):
            raise OptionError(f"--index {args.index}: {args.images} holds {len(X)} images")
        x = np.asarray(X[args.index], dtype=np.float64).ravel()
        prop = None
        if args.labels:
            label = int(np.asarray(load_array(args.labels)).ravel()[args.index])
            prop = linf_robustness(x, args.eps, label, net.n_outputs)
        return np.clip(x - args.eps, 0, 1), np.clip(x + args.eps, 0, 1), prop
    if args.box:
        try:
            lo, hi = (float(v) for v in args.box.split(","))
        except ValueError:
            raise OptionError(f"--box {args.box!r}: give two numbers LO,HI") from None
        return np.full(net.n_inputs, lo), np.full(net.n_inputs, hi), None
    raise VerifierError("give SPEC, --images (with --eps) or --box LO,HI for the input box")


#: picture formats (by extension) that matplotlib writes
PICTURE_EXTENSIONS = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff",
                      ".webp")


def check_output(path: str) -> None:
    """A picture path matplotlib can write to, or an error naming what is wrong."""
    if not path.lower().endswith(PICTURE_EXTENSIONS):
        raise OptionError(f"-o {path}: give a picture file ({', '.join(PICTURE_EXTENSIONS)})")
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def run(args) -> int:
    """Run ``verifier plot`` (returns the exit code; errors raise VerifierError)."""
    from verifier.network import load_network
    from verifier.plot import plot_single_neuron
    check_output(args.output)
    if args.kind == "neuron":
        if not args.l < 0 < args.u:
            raise OptionError(f"plot neuron needs --l < 0 < --u (an unstable neuron), got "
                              f"--l {args.l:g} --u {args.u:g}")
        plot_single_neuron(args.l, args.u, path=args.output)
        print(f"wrote {args.output}")
        return 0
    if args.network is None:
        raise VerifierError(f"plot {args.kind} needs a network file")
    net = load_network(args.network)
    layers = len(net.relu_names())
    if args.kind == "hull" and not 0 <= args.layer < layers:
        raise OptionError(f"--layer {args.layer}: the network has {layers} ReLU layer(s) "
                          f"(0..{layers - 1})")
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
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.kind == "hull":
        neurons = (None if args.neurons is None else
                   tuple(int(v) for v in args.neurons.split(",")))
        plot_two_neuron_hull(net, lower, upper, layer=args.layer, neurons=neurons,
                             path=args.output)
    elif args.kind == "reach":
        plot_output_reach(net, lower, upper, methods=methods,
                          lp_tighten=not args.no_tighten, path=args.output)
    elif args.kind == "widths":
        say = None if args.quiet else (
            lambda m: print(f"  .. {m}", file=sys.stderr, flush=True))
        plot_bound_widths(net, lower, upper, lp_tighten=not args.no_tighten,
                          path=args.output, deadline=clock_of(args).deadline(args.timeout),
                          progress=say)
    else:
        if prop is None:
            raise VerifierError("plot gap needs SPEC or --images with --labels")
        table = gap_table(net, prop, methods, timeout=args.timeout,
                          options=VerifyOptions(lp_tighten=not args.no_tighten))
        print(table.to_text())
        plot_gap_bars(table, path=args.output)
