"""``verifier verify``: decide one property, print the verdict, write JSON / result files.

Two forms: ``verifier verify NETWORK SPEC`` (VNN-LIB 1.0, or a 2.0 query of one network)
and the VNN-LIB 2.0 standard's ``verifier verify QUERY --network NAME=FILE ...``
(:mod:`verifier.cli.standard`). The library is imported inside :func:`run`, so that
``verifier verify --help`` answers at once; the time it takes counts against
``--timeout`` (see :mod:`verifier.cli.watchdog`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from verifier.catalog import METHOD_NAMES, METHOD_SUMMARIES
from verifier.cli import standard
from verifier.cli.arguments import (add_tighten_arguments, add_workers_argument, fraction,
                                    non_negative_int, positive_int, positive_seconds,
                                    scheduler_address)
from verifier.cli.watchdog import clock_of, finish, watchdog, write_atomically
from verifier.errors import InputFileError
from verifier.files import check_output_file

#: what verify gets when loading used up the whole time limit (it then answers timeout)
MIN_SECONDS = 0.01

METHOD_HELP = ("bounding method: " + "; ".join(f"{name} = {summary}" for name, summary
                                               in METHOD_SUMMARIES.items())
               + "; auto = falsify, interval, deeppoly, then exact (alpha and the triangle "
                 "LP first when the exact step is the MILP). Default auto")


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
                   help="wall-clock seconds from the start of the process, loading "
                        "included; the answer comes within --timeout + 1 s (60)")
    v.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    v.add_argument("--result-file", metavar="OUT",
                   help="write a VNN-COMP result file (verdict + counterexample)")
    add_workers_argument(v, "worker processes sharing one instance: the branch and "
                            "bound's open sub-domains (bab, split, exact, auto) and the "
                            "per-neuron LP/MILP tightening (1: all in this process)")
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
    """Check the options and output paths, load and verify within ``--timeout`` of the
    process start (loading included), print and write the results; a watchdog answers
    ``timeout`` (``timed-out`` in the 2.0 form) at the limit + 0.5 s if the run has not
    stopped by then."""
    check_outputs(args)
    seen, clock = {}, clock_of(args)
    query_form = standard.is_query_form(args)
    cut_short = ((lambda: standard.write_timeout(args)) if query_form
                 else (lambda: write_timeout(args, clock, seen.get("result"))))
    with watchdog(clock, args.timeout, cut_short) as dog:
        deadline = clock.deadline(args.timeout)
        if query_form:
            result = standard.run_query(args, standard.query_invocation(args),
                                        verify_options(args), deadline,
                                        partial=lambda r: seen.setdefault("result", r),
                                        claim=dog.claim)
            write_outputs(args, result)
            return finish(clock, 0)
        result = run_property(args, deadline, seen)
        dog.claim()
        write_answer(args, result)
    return finish(clock, 0)


def run_property(args, deadline: float, seen: dict):
    """``verifier verify NETWORK SPEC`` with a 1.0 property: the :class:`Result`."""
    from verifier.network import load_network
    from verifier.spec import load_vnnlib
    from verifier.verify import verify
    net = load_network(args.network)
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    status = StatusLine(sys.stderr)
    remaining = max(deadline - time.monotonic(), MIN_SECONDS)
    try:
        result = verify(net, prop, method=args.method, timeout=remaining,
                        options=verify_options(args),
                        onnx_path=args.network if args.network.endswith(".onnx") else None,
                        progress=None if args.quiet else status.say,
                        live=None if args.quiet or not status.tty else status.show,
                        partial=lambda r: seen.setdefault("result", r))
    finally:
        status.close()
    if result.verdict == "timeout":     # the library saw only the time left to it
        result.message = (f"time limit {args.timeout:g}s reached (start-up and loading "
                          f"took {args.timeout - remaining:.2f}s of it)")
    return result


def verify_options(args):
    """The :class:`~verifier.verify.VerifyOptions` of the command line."""
    from verifier.methods import BabOptions
    from verifier.verify import KReluOptions, TightenOptions, VerifyOptions
    return VerifyOptions(
        lp_tighten=not args.no_tighten, workers=args.workers, scheduler=args.scheduler,
        tighten=TightenOptions(method=args.tighten, milp_layers=args.milp_refine,
                               milp_time_limit=args.milp_refine_seconds),
        bab=BabOptions(cuts=args.bab_cuts,
                       refine_share=args.refine_share if args.milp_refine else 0.0),
        krelu=KReluOptions(k=args.k, ns=args.ns, s=args.s, lp_tighten=args.krelu_tighten,
                           milp_cuts=args.milp_cuts))


def write_answer(args, result) -> None:
    """Print the verdict (and details unless ``--quiet``); write the output files."""
    print(result.verdict)
    if not args.quiet:
        _print_details(result)
    sys.stdout.flush()
    write_outputs(args, result)


def write_outputs(args, result) -> None:
    """``--json`` and ``--result-file``, each written atomically."""
    from verifier.spec.results import result_file_text
    if args.json:
        _write(args.json, result.to_json())
    if args.result_file:
        w = result.witness
        _write(args.result_file, result_file_text(result.verdict, None if w is None else w.x,
                                                  None if w is None else w.y))


def write_timeout(args, clock, partial) -> int:
    """The watchdog's answer: ``timeout`` with what the cut-short run had certified
    (``partial``, the :class:`~verifier.verify.Result` being filled in, or None while
    loading), in the same outputs as :func:`write_answer`; returns the exit code 0."""
    message = (f"time limit {args.timeout:g}s reached (the run was cut short at "
               f"{clock.elapsed():.2f}s after the process started)")
    record, margin = None, None
    for _ in range(3):        # the run's thread may change the record while it is read
        try:
            record = {} if partial is None else partial.to_dict()
            margin = None if partial is None else partial.certified_margin()
            break
        except RuntimeError:
            continue
    record = dict(record or {}, verdict="timeout", message=message)
    record.setdefault("method", args.method)
    record["timings"] = dict(record.get("timings") or {}, total=clock.elapsed())
    record.pop("witness", None)
    print("timeout")
    if not args.quiet:
        print(f"  {message}")
        if margin is not None and margin not in (float("inf"), float("-inf")):
            print(f"  certified margin (min over disjuncts, when cut short): {margin:.6g}")
    sys.stdout.flush()
    if args.json:
        _write(args.json, json.dumps(record, indent=2))
    if args.result_file:
        _write(args.result_file, "timeout\n")
    return 0


def _write(path: str, text: str) -> None:
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None


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
    import numpy as np
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
