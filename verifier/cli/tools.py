"""``verifier export | inspect | bounds``: look at the model, the network, the bounds."""

from __future__ import annotations

import sys

from verifier.cli.arguments import (add_network_arguments, check_index, non_negative_int,
                                    positive_seconds)
from verifier.cli.watchdog import clock_of


def add_parsers(subparsers) -> None:
    e = subparsers.add_parser(
        "export", help="write the LP/MILP of a property as .lp or .mps",
        description="Write the model min margin of one (case, disjunct) under a relaxation "
                    "(triangle or DeepPoly's lines) or the exact big-M MILP, with readable "
                    "row and column names.")
    add_network_arguments(e)
    e.add_argument("--method", default="triangle", choices=["deeppoly", "triangle", "milp"])
    e.add_argument("-o", "--output", required=True, help="model.lp or model.mps")
    e.add_argument("--case", type=non_negative_int, default=0, help="case index (0)")
    e.add_argument("--disjunct", type=non_negative_int, default=0,
                   help="disjunct index (0)")
    e.add_argument("--no-tighten", action="store_true", help="skip LP tightening of bounds")
    e.set_defaults(func=run_export)

    i = subparsers.add_parser(
        "inspect", help="list ops, shapes, neurons per layer and support",
        description="List the network's ops and shapes and whether each is supported.")
    add_network_arguments(i, spec=False)
    i.set_defaults(func=run_inspect)

    b = subparsers.add_parser(
        "bounds", help="per-layer pre-activation bound widths by method",
        description="Mean width and unstable neurons of every ReLU layer's pre-activation "
                    "bounds on one case's box, by interval, DeepPoly and (--lp) LP-ALL.")
    add_network_arguments(b)
    b.add_argument("--case", type=non_negative_int, default=0, help="case index (0)")
    b.add_argument("--lp", action="store_true",
                   help="also LP-tighten (two LPs per unstable neuron; slower)")
    b.add_argument("--timeout", type=positive_seconds, default=60.0,
                   help="seconds from the start: DeepPoly is left out if it has not "
                        "finished by then, and the LP tightening stops there (its neurons "
                        "not reached keep DeepPoly's bounds) (60)")
    b.add_argument("--quiet", action="store_true", help="no progress lines")
    b.set_defaults(func=run_bounds)


def run_export(args) -> int:
    from verifier.network import load_network
    from verifier.spec import load_vnnlib
    from verifier.verify.export import check_model_path, export_model
    check_model_path(args.output, "-o")
    net = load_network(args.network)
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    check_index("--case", args.case, len(prop.cases), "cases in the property")
    check_index("--disjunct", args.disjunct, len(prop.cases[args.case].disjuncts),
                f"disjuncts in case {args.case}")
    summary = export_model(net, prop, args.output, method=args.method, case=args.case,
                           disjunct=args.disjunct, lp_tighten=not args.no_tighten)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


def run_inspect(args) -> int:
    from verifier.network import load_network
    from verifier.network.inspect import format_inspection, inspect_onnx
    if args.network.endswith(".onnx"):
        info = inspect_onnx(args.network)
        print(format_inspection(info))
        return info["exit_code"]            # a network it cannot import is an error
    else:
        net = load_network(args.network)
        for row in net.summary():
            print(f"{row['name']:<16} {row['kind']:<8} {row['size']:>7}")
    return 0


def run_bounds(args) -> int:
    from verifier.network import load_network
    from verifier.report import bounds_by_method
    from verifier.spec import load_vnnlib
    net = load_network(args.network)
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    check_index("--case", args.case, len(prop.cases), "cases in the property")
    case = prop.cases[args.case]
    say = None if args.quiet else lambda m: print(f"  .. {m}", file=sys.stderr, flush=True)
    methods = bounds_by_method(net, case.lower, case.upper, lp=args.lp,
                               deadline=clock_of(args).deadline(args.timeout), progress=say)
    print(f"{'layer':<14}{'neurons':>8}" + "".join(f"{m + ' width':>16}{'unstable':>10}"
                                                  for m in methods))
    for relu in net.relu_names():
        pre = net.inputs_of(relu)[0]
        line = f"{pre:<14}{net.size(pre):>8}"
        for bounds in methods.values():
            line += f"{bounds[pre].width.mean():>16.4g}{bounds[pre].unstable().size:>10}"
        print(line)
    return 0
