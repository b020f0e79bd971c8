"""``verifier verify``: decide one property, print the verdict, write JSON / result files."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from verifier.cli import standard
from verifier.cli.arguments import (add_tighten_arguments, fraction,
                                    non_negative_int, positive_int, positive_seconds,
                                    scheduler_address)
from verifier.files import check_output_file
from verifier.methods import METHOD_NAMES, METHODS, BabOptions
from verifier.network import load_network
from verifier.report.render import write_text
from verifier.spec import load_vnnlib
from verifier.spec.results import write_result_file
from verifier.verify import KReluOptions, TightenOptions, VerifyOptions, verify

#: what verify gets when loading used up the whole time limit (it then answers timeout)
MIN_SECONDS = 0.01

METHOD_HELP = ("bounding method: " + "; ".join(f"{name} = {m.summary}" for name, m in METHODS.items())
               + "; auto = falsify, interval, deeppoly, then exact (the triangle LP first when "
                 "the exact step is the MILP). Default auto")


def add_parser(subparsers) -> None:
    v = subparsers.add_parser(
        "verify", help="decide a property (unsat / sat / unknown / timeout)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Falsify first, then prove with the chosen method. A sat answer always "
                    "carries a replayed counterexample; unsat is reported only when every "
                    "unsafe disjunct has a certified bound > 0.",
        epilog=standard.USAGE)
    v.add_argument("network", metavar="NETWORK|QUERY",
                   help="network file (.onnx, .onnx.gz, .nnet) followed by SPEC; or a VNN-LIB "
                        "2.0 query with --network NAME=FILE (the standard's form)")
    v.add_argument("spec", nargs="?", metavar="SPEC",
                   help="property file (VNN-LIB 1.0 or 2.0, optionally .gz)")
    v.add_argument("--network", dest="networks", action="append", metavar="NAME=FILE",
                   help="VNN-LIB 2.0: the ONNX file of a declared network (once per network "
                        "without equal-to)")
    v.add_argument("--serialise-assignments", metavar="DIR",
                   help="VNN-LIB 2.0: write a sat assignment as DIR/NAME.pb (ONNX "
                        "TensorProto per variable) instead of printing it")
    v.add_argument("--assume-real", action="store_true",
                   help="VNN-LIB 2.0: read float32/float64/... declarations as 'real' "
                        "(consent to the real-valued analysis; see the README)")
    v.add_argument("--method", default="auto", choices=list(METHOD_NAMES), help=METHOD_HELP)
    v.add_argument("--timeout", type=positive_seconds, default=60.0,
                   help="wall-clock seconds (60)")
    v.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    v.add_argument("--result-file", metavar="OUT",
                   help="write a VNN-COMP result file (verdict + counterexample)")
    v.add_argument("--workers", type=positive_int, default=1,
                   help="worker processes sharing one instance: the branch and bound's "
                        "open sub-domains (bab, split, exact, auto) and the per-neuron "
                        "LP/MILP tightening (1: all in this process)")
    v.add_argument("--scheduler", metavar="tcp://HOST:PORT|local", type=scheduler_address,
                   help="run the workers on a Dask cluster (needs verifier[cluster]); "
                        "'local' starts a LocalCluster of --workers processes")
    add_tighten_arguments(v)
    v.add_argument("--k", type=positive_int, default=3, help="k-ReLU group size (krelu; 3)")
    v.add_argument("--ns", type=positive_int, default=100, help="k-ReLU chunk size (krelu; 100)")
    v.add_argument("--s", type=non_negative_int, default=1,
                   help="k-ReLU max overlap (krelu; 1)")
    v.add_argument("--krelu-tighten", action="store_true",
                   help="krelu: LP-tighten intermediate bounds with k-ReLU cuts of the "
                        "upstream layers (separated), not only with triangles")
    v.add_argument("--milp-cuts", action="store_true",
                   help="milp: first separate the disjunct's k-ReLU cuts by LP and add them "
                        "to the MILP")
    v.add_argument("--bab-cuts", action="store_true",
                   help="bab (and exact/auto when they branch on ReLUs): the root's k-ReLU "
                        "cuts enter every sub-domain's bound with their own multipliers "
                        "(MN-BaB); smaller trees, slower sub-domains")
    v.add_argument("--milp-refine", type=non_negative_int, default=0, metavar="L",
                   help="bab: before the search, refine the unstable neurons of ReLU layers "
                        "2..L+1 by MILPs over the layers before them (0: off)")
    v.add_argument("--milp-refine-seconds", type=positive_seconds, default=2.0, metavar="S",
                   help="seconds per refinement MILP (2)")
    v.add_argument("--refine-share", type=fraction, default=0.3, metavar="F",
                   help="share of the time the MILP refinement may use (0.3)")
    v.add_argument("--quiet", action="store_true", help="print only the verdict")
    v.set_defaults(func=run)


def run(args) -> int:
    """Check the options and output paths, load, verify within ``--timeout`` (loading
    included), print and write the results."""
    check_outputs(args)
    start = time.monotonic()
    query = standard.query_invocation(args)
    if query is not None:
        write_outputs(args, standard.run_query(args, query, verify_options(args), start))
        return 0
    net = load_network(args.network)
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    options = verify_options(args)
    status = StatusLine(sys.stderr)
    remaining = max(args.timeout - (time.monotonic() - start), MIN_SECONDS)
    try:
        result = verify(net, prop, method=args.method, timeout=remaining, options=options,
                        onnx_path=args.network if args.network.endswith(".onnx") else None,
                        progress=None if args.quiet else status.say,
                        live=None if args.quiet or not status.tty else status.show)
    finally:
        status.close()
    print(result.verdict)
    if not args.quiet:
        _print_details(result)
    write_outputs(args, result)
    return 0


def write_outputs(args, result) -> None:
    """``--json`` and ``--result-file``, if asked for."""
    if args.json:
        write_text(args.json, result.to_json())
    if args.result_file:
        w = result.witness
        write_result_file(args.result_file, result.verdict,
                          None if w is None else w.x, None if w is None else w.y)


def verify_options(args) -> VerifyOptions:
    """The :class:`VerifyOptions` of the command line."""
    return VerifyOptions(lp_tighten=not args.no_tighten, workers=args.workers,
                            scheduler=args.scheduler,
                            tighten=TightenOptions(method=args.tighten,
                                                   milp_layers=args.milp_refine,
                                                   milp_time_limit=args.milp_refine_seconds),
                            bab=BabOptions(cuts=args.bab_cuts,
                                           refine_share=args.refine_share
                                           if args.milp_refine else 0.0),
                            krelu=KReluOptions(k=args.k, ns=args.ns, s=args.s,
                                               lp_tighten=args.krelu_tighten,
                                               milp_cuts=args.milp_cuts))


def check_outputs(args) -> None:
    """The output paths, checked before any work (the folder must exist)."""
    for option, path in (("--json", args.json), ("--result-file", args.result_file)):
        if path:
            check_output_file(path, option)
    if args.serialise_assignments:
        standard.check_assignment_folder(args.serialise_assignments)


class StatusLine:
    """Progress on stderr: ``  .. message`` lines, and on a terminal one live line that is
    rewritten in place (``show``) and cleared before the next message or at the end."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.shown = False

    def say(self, message: str) -> None:
        self.close()
        print(f"  .. {message}", file=self.stream, flush=True)

    def show(self, message: str) -> None:
        self.stream.write(f"\r\x1b[K  .. {message}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _print_details(result) -> None:
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
