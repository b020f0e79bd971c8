"""Command line: ``verifier verify | export | inspect | bounds | demo``.

The CLI holds no logic: it parses arguments, calls the library, prints, and maps errors to
the exit codes documented in the README (one line on stderr, no traceback unless
``--debug``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

EXAMPLES = """\
examples:
  verifier demo                                  robustness of the bundled digits net
  verifier inspect net.onnx                      ops, shapes, neurons per layer, support
  verifier verify net.onnx prop.vnnlib           falsify, then interval/DeepPoly/triangle
  verifier verify net.onnx prop.vnnlib --method milp --timeout 120 --json out.json
  verifier export net.onnx prop.vnnlib --method triangle -o model.lp
  verifier bounds net.onnx prop.vnnlib           per-layer bound widths by method
  verifier batch instances.csv --method auto --workers 2 --out results.csv --resume
  verifier gap net.onnx prop.vnnlib --md gap.md    every method's bound vs the exact optimum
  verifier gap net.onnx --images X.npy --labels y.npy --eps 0.026 --index 0:10
  verifier plot hull net.onnx --images X.npy --eps 0.05 --layer 1 -o hull.png

verdicts: unsat = property holds (proved), sat = counterexample found and replayed,
unknown = neither, timeout = time limit reached first.
exit codes: 0 ran (any verdict), 1 internal error, 2 usage/other, 3 unreadable file,
4 unsupported ONNX op, 5 malformed network, 6 malformed/mismatched spec, 7 solver failure.
"""


def _parser() -> argparse.ArgumentParser:
    from verifier.verify.tighten import add_tighten_argument

    p = argparse.ArgumentParser(
        prog="verifier", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Exact and relaxed verification of ReLU networks, side by side.",
        epilog=EXAMPLES)
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, spec=True):
        sp.add_argument("network", help="network file (.onnx or .nnet)")
        if spec:
            sp.add_argument("spec", help="property file (VNN-LIB 1.0, optionally .gz)")

    v = sub.add_parser("verify", help="decide a property (unsat / sat / unknown / timeout)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Falsify first, then prove with the chosen method. "
                                   "A sat answer always carries a replayed counterexample.")
    common(v)
    v.add_argument("--method", default="auto",
                   choices=["interval", "deeppoly", "triangle", "krelu", "milp", "split", "bab",
                            "exact", "auto"],
                   help="bounding method; auto tries interval, deeppoly, triangle, then exact "
                        "(input splitting for <= 12 free inputs, else MILP); default auto")
    v.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds (60)")
    v.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    v.add_argument("--result-file", metavar="OUT",
                   help="write a VNN-COMP result file (verdict + counterexample)")
    v.add_argument("--workers", type=int, default=1, help="processes for LP tightening")
    v.add_argument("--no-tighten", action="store_true",
                   help="skip the tightening of intermediate bounds (DeepPoly's only)")
    add_tighten_argument(v)
    v.add_argument("--k", type=int, default=3, help="k-ReLU group size (krelu)")
    v.add_argument("--ns", type=int, default=100, help="k-ReLU chunk size (krelu)")
    v.add_argument("--s", type=int, default=1, help="k-ReLU max overlap (krelu)")
    v.add_argument("--krelu-tighten", action="store_true",
                   help="krelu: LP-tighten intermediate bounds with k-ReLU cuts of the "
                        "upstream layers (separated), not only with triangles")
    v.add_argument("--milp-cuts", action="store_true",
                   help="milp: first separate the disjunct's k-ReLU cuts by LP and add them "
                        "to the MILP")
    v.add_argument("--quiet", action="store_true", help="print only the verdict")

    e = sub.add_parser("export", help="write the LP/MILP of a property as .lp or .mps")
    common(e)
    e.add_argument("--method", default="triangle", choices=["deeppoly", "triangle", "milp"])
    e.add_argument("-o", "--output", required=True, help="model.lp or model.mps")
    e.add_argument("--case", type=int, default=0, help="case index (0)")
    e.add_argument("--disjunct", type=int, default=0, help="disjunct index (0)")
    e.add_argument("--no-tighten", action="store_true", help="skip LP tightening of bounds")

    i = sub.add_parser("inspect", help="list ops, shapes, neurons per layer and support")
    common(i, spec=False)

    b = sub.add_parser("bounds", help="per-layer pre-activation bound widths by method")
    common(b)
    b.add_argument("--case", type=int, default=0)
    b.add_argument("--lp", action="store_true", help="also LP-tighten (slower)")

    d = sub.add_parser("demo", help="robustness of the bundled digits network, every method")
    d.add_argument("--eps", default="0.02,0.05,0.08", help="comma-separated radii")
    d.add_argument("--images", type=int, default=3, help="number of bundled images (<= 10)")
    d.add_argument("--methods", default="interval,deeppoly,triangle,milp",
                   help="comma-separated methods")
    d.add_argument("--timeout", type=float, default=30.0)

    from verifier.batch import add_batch_subparser
    from verifier.plot.pictures import add_plot_subparser
    from verifier.report.gap import add_gap_subparser
    add_batch_subparser(sub)
    add_gap_subparser(sub)
    add_plot_subparser(sub)
    return p


def _load(args, with_spec=True):
    from verifier.network import load_network
    from verifier.spec import load_vnnlib
    net = load_network(args.network)
    if not with_spec:
        return net, None
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    return net, prop


def _cmd_verify(args) -> int:
    from verifier.verify import KReluOptions, TightenOptions, VerifyOptions, verify
    net, prop = _load(args)
    options = VerifyOptions(lp_tighten=not args.no_tighten, workers=args.workers,
                            tighten=TightenOptions(method=args.tighten),
                            krelu=KReluOptions(k=args.k, ns=args.ns, s=args.s,
                                               lp_tighten=args.krelu_tighten,
                                               milp_cuts=args.milp_cuts))
    progress = None if args.quiet else (lambda m: print(f"  .. {m}", file=sys.stderr))
    result = verify(net, prop, method=args.method, timeout=args.timeout, options=options,
                    onnx_path=args.network if args.network.endswith(".onnx") else None,
                    progress=progress)
    print(result.verdict)
    if not args.quiet:
        print(f"  {result.message}")
        if result.witness is not None:
            w = result.witness
            print(f"  witness: case {w.case}, disjunct {w.disjunct}, margin {w.margin:.6g} "
                  f"(replayed in {' and '.join(w.checked_with)})")
        else:
            margin = result.certified_margin()
            if np.isfinite(margin):
                print(f"  certified margin (min over disjuncts): {margin:.6g}")
        print(f"  time: {result.timings.get('total', 0):.2f}s")
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(result.to_json())
    if args.result_file:
        from verifier.spec.results import write_result_file
        w = result.witness
        write_result_file(args.result_file, result.verdict,
                          None if w is None else w.x, None if w is None else w.y)
    return 0


def _cmd_export(args) -> int:
    from verifier.verify.export import export_model
    net, prop = _load(args)
    summary = export_model(net, prop, args.output, method=args.method, case=args.case,
                           disjunct=args.disjunct, lp_tighten=not args.no_tighten)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


def _cmd_inspect(args) -> int:
    from verifier.network.inspect import format_inspection, inspect_onnx
    if args.network.endswith(".onnx"):
        print(format_inspection(inspect_onnx(args.network)))
    else:
        net, _ = _load(args, with_spec=False)
        for row in net.summary():
            print(f"{row['name']:<16} {row['kind']:<8} {row['size']:>7}")
    return 0


def _cmd_bounds(args) -> int:
    from verifier.bounds import deeppoly_bounds, interval_bounds
    net, prop = _load(args)
    case = prop.cases[args.case]
    methods = {"interval": interval_bounds(net, case.lower, case.upper)}
    methods["deeppoly"] = deeppoly_bounds(net, case.lower, case.upper)
    if args.lp:
        from verifier.verify.tighten import lp_tighten
        methods["lp"], _ = lp_tighten(net, methods["deeppoly"])
    print(f"{'layer':<14}{'neurons':>8}" + "".join(f"{m + ' width':>16}{'unstable':>10}"
                                                  for m in methods))
    for relu in net.relu_names():
        pre = net.inputs_of(relu)[0]
        line = f"{pre:<14}{net.size(pre):>8}"
        for bounds in methods.values():
            line += f"{bounds[pre].width.mean():>16.4g}{bounds[pre].unstable().size:>10}"
        print(line)
    return 0


def _cmd_demo(args) -> int:
    from verifier.data import demo_images, demo_network_path
    from verifier.network import load_network
    from verifier.spec import linf_robustness
    from verifier.verify import VerifyOptions, verify
    path = str(demo_network_path())
    net = load_network(path)
    images, labels = demo_images()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    eps_list = [float(e) for e in args.eps.split(",")]
    print(f"network: {path} ({net.n_inputs} inputs, {len(net.relu_names())} ReLU layers, "
          f"{sum(net.size(r) for r in net.relu_names())} neurons)")
    print("cell = verdict / certified margin (min over adversarial labels; > 0 proves it);")
    print("milp gives the exact minimum margin; sat shows the witness's margin")
    header = f"{'image':>5} {'label':>5} {'eps':>6} " + "".join(f"{m:>26}" for m in methods)
    print(header)
    print("-" * len(header))
    for idx in range(min(args.images, len(labels))):
        for eps in eps_list:
            prop = linf_robustness(images[idx], eps, int(labels[idx]), net.n_outputs)
            cells = []
            for method in methods:
                start = time.perf_counter()
                r = verify(net, prop, method=method, timeout=args.timeout, onnx_path=path,
                           options=VerifyOptions(full_solve=True))
                if r.verdict == "sat":
                    text = f"sat / {r.witness.margin:.3g}"
                else:
                    margin = r.certified_margin(method)
                    text = f"{r.verdict} / {margin:.3g}" if np.isfinite(margin) else r.verdict
                exact = [o.exact for o in r.disjuncts if o.exact is not None]
                if r.verdict != "sat" and exact and len(exact) == len(r.disjuncts):
                    text = f"{r.verdict} / exact {min(exact):.3g}"
                cells.append(f"{text} ({time.perf_counter() - start:.1f}s)")
            print(f"{idx:>5} {int(labels[idx]):>5} {eps:>6g} " + "".join(f"{c:>26}"
                                                                       for c in cells))
    return 0


def _cmd_gap(args) -> int:
    from verifier.report.gap import run_gap_command
    return run_gap_command(args)


def _cmd_plot(args) -> int:
    from verifier.plot.pictures import run_plot_command
    return run_plot_command(args)


def _cmd_batch(args) -> int:
    from verifier.batch import run_batch_command
    return run_batch_command(args)


COMMANDS = {"verify": _cmd_verify, "export": _cmd_export, "inspect": _cmd_inspect,
            "bounds": _cmd_bounds, "demo": _cmd_demo, "batch": _cmd_batch,
            "gap": _cmd_gap, "plot": _cmd_plot}


def _limit_blas_threads() -> None:
    from verifier.batch import limit_blas_threads
    limit_blas_threads()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``verifier`` console script; returns the exit code."""
    from verifier.errors import VerifierError
    args = _parser().parse_args(argv)
    _limit_blas_threads()
    try:
        return COMMANDS[args.command](args)
    except VerifierError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal bug: still one line unless --debug
        if args.debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
