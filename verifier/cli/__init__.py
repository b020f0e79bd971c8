"""Command line: ``verifier verify | export | inspect | bounds | demo | batch | gap | plot``.

The CLI holds no logic: it parses arguments, calls the library, prints, and maps errors to
the exit codes documented in the README (one line on stderr, no traceback unless
``--debug``).
"""

from __future__ import annotations

import argparse
import os
import sys

from verifier import __version__
from verifier.cli import barrier, batch, convert, demo, gap, plot, supports, tools, verify
from verifier.cli.arguments import Parser
from verifier.cli.watchdog import RunClock
from verifier.errors import VerifierError
from verifier.threads import blas_threads, single_threaded_environment

EXAMPLES = """\
examples:
  verifier demo                                  robustness of the bundled digits net
  verifier inspect net.onnx                      ops, shapes, neurons per layer, support
  verifier verify net.onnx prop.vnnlib           falsify, then the methods of --method auto
  verifier verify net.onnx prop.vnnlib --method milp --timeout 120 --json out.json
  verifier export net.onnx prop.vnnlib --method triangle -o model.lp
  verifier bounds net.onnx prop.vnnlib           per-layer bound widths by method
  verifier batch instances.csv --method auto --workers 2 --out results.csv --resume
  verifier gap net.onnx prop.vnnlib --md gap.md    every method's bound vs the exact optimum
  verifier gap net.onnx --images X.npy --labels y.npy --eps 0.026 --index 0:10
  verifier plot hull net.onnx --images X.npy --eps 0.05 --layer 1 -o hull.png
  verifier barrier salman_mlp/instances.csv --data salman_mlp/mnist_test.npz --images 0:200

verdicts: unsat = property holds (proved), sat = counterexample found and replayed,
unknown = neither, timeout = time limit reached first.
exit codes: 0 ran (any verdict), 1 internal error, 2 usage/other, 3 unreadable file,
4 unsupported ONNX op, 5 malformed network, 6 malformed/mismatched spec, 7 solver failure,
8 soundness check failed (a bug; batch: a verdict contradicts the ground truth),
130 interrupted (Ctrl-C).
"""

#: ``verifier --name`` (the VNN-LIB 2.0 standard's global option)
FULL_NAME = "verifier: exact and relaxed ReLU network verification (HiGHS LP/MILP)"
#: exit code of a solver failure that escapes a command
SOLVER_FAILURE_EXIT = 7


def build_parser() -> argparse.ArgumentParser:
    """The ``verifier`` argument parser with every subcommand."""
    p = Parser(
        prog="verifier", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Exact and relaxed verification of ReLU networks, side by side.",
        epilog=EXAMPLES)
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=__version__,
                   help="print the version and exit")
    p.add_argument("--name", action="version", version=FULL_NAME,
                   help="print the verifier's full name and exit")
    sub = p.add_subparsers(dest="command", required=True)
    verify.add_parser(sub)
    tools.add_parsers(sub)
    demo.add_parser(sub)
    batch.add_parser(sub)
    gap.add_parser(sub)
    plot.add_parser(sub)
    barrier.add_parser(sub)
    supports.add_parser(sub)
    convert.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``verifier`` console script; returns the exit code.

    Called without ``argv`` (the console script, ``python -m verifier.cli``) the command
    owns its process: its time limit counts from the process start and a watchdog may end
    the process at the limit (:mod:`verifier.cli.watchdog`). Called with ``argv`` from
    Python, the time limit counts from the call and nothing ends the caller's process.
    """
    clock = RunClock.of_process() if argv is None else RunClock.of_call()
    argv = list(sys.argv[1:] if argv is None else argv)
    if clock.owns_process:     # BLAS reads these once, when numpy first loads it
        os.environ.update(single_threaded_environment(os.environ))
    if argv and argv[0] in batch.INTERNAL_ENTRIES:
        with blas_threads(1):
            return batch.INTERNAL_ENTRIES[argv[0]](argv[1:], clock)
    args = build_parser().parse_args(argv)
    args.clock = clock
    try:
        with blas_threads(1):
            return args.func(args)
    except VerifierError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`verifier inspect net.onnx | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a solver failure, or an internal bug: one line unless --debug
        if args.debug:
            raise
        return report_unexpected(exc)


def report_unexpected(exc: Exception) -> int:
    """One line on stderr for an exception that is not a :class:`VerifierError`; the exit
    code (7 for a solver failure, 1 for an internal error)."""
    from solvers import SolverFailure
    if isinstance(exc, SolverFailure):
        print(f"error: solver failure: {exc}", file=sys.stderr)
        return SOLVER_FAILURE_EXIT
    print(f"error: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
          file=sys.stderr)
    return 1
