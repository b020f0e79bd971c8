"""``verifier batch`` and the internal entry points of instance processes and VNN-COMP.

``python -m verifier.cli`` also takes, before any subcommand:

* ``--one ONNX VNNLIB --method M --timeout S``: one instance in this process; prints one
  ``@@result@@ {json}`` line (what the batch's instance processes run);
* ``--vnncomp CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT [--method M]``: VNN-COMP's
  ``run_instance`` (``vnncomp/run_instance.sh``);
* ``--check ONNX VNNLIB``: load both files (``vnncomp/prepare_instance.sh``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from verifier.catalog import METHOD_NAMES
from verifier.cli.arguments import (Parser, add_workers_argument, positive_int,
                                    positive_seconds, scheduler_address)
from verifier.cli.watchdog import RunClock, finish, watchdog
from verifier.errors import VerifierError
from verifier.files import check_output_file

BATCH_HELP = """\
Verify every row of a VNN-COMP instances.csv (onnx,vnnlib,timeout[,verdict,best_time_s,...]),
each in its own process, killed at timeout*1.1+10 s. Rows are appended to --out as they
finish (flushed and fsync'ed); --resume skips rows already there. Bad rows (a missing or
unreadable file, an unsupported op, a malformed property, a timeout that is no number of
seconds > 0) become verdict `error` with a one-line reason; exit code 2 if every row is
`error`. With a `verdict` column the summary counts correct and WRONG answers (exit code 8
if any is WRONG). Times in the summary are wall times, process start-up included.

examples:
  verifier batch acasxu/instances.csv --method deeppoly --timeout 20 --workers 2 --out r.csv
  verifier batch acasxu/instances.csv --out r.csv --resume
  verifier batch instances.csv --out r.csv --scheduler local --workers 4
  verifier batch instances.csv --out r.csv --scheduler tcp://10.0.0.1:8786
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("batch", help="many instances from an instances.csv "
                                            "(resume, parallel, Dask)",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description=BATCH_HELP)
    p.add_argument("instances", help="instances.csv (paths relative to it)")
    p.add_argument("--out", required=True, help="results CSV, appended row by row")
    p.add_argument("--method", default="auto", choices=list(METHOD_NAMES),
                   help="bounding method (auto)")
    p.add_argument("--timeout", type=positive_seconds, default=None,
                   help="cap per instance, seconds (default: the CSV's timeout, else 60)")
    add_workers_argument(p, "instances run at once (1)")
    p.add_argument("--resume", action="store_true", help="skip rows already in --out")
    p.add_argument("--overwrite", action="store_true", help="start --out afresh")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT|local", default=None,
                   type=scheduler_address,
                   help="run on a Dask cluster (needs verifier[cluster]); 'local' starts "
                        "a LocalCluster with --workers processes")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="only the first N selected rows")
    p.add_argument("--filter", action="append", default=None, metavar="SUBSTR",
                   help="only rows whose onnx or vnnlib path contains SUBSTR (repeatable: any)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``verifier batch``: 0 when it ran (any verdicts), 8 if some verdict contradicts
    the ground truth, 2 if every row is ``error``, 130 on Ctrl-C (rows finished so far are
    kept)."""
    from verifier.batch import format_summary, run_batch
    try:
        summary = run_batch(args.instances, args.out, method=args.method, timeout=args.timeout,
                            workers=args.workers, resume=args.resume, overwrite=args.overwrite,
                            scheduler=args.scheduler, limit=args.limit, filters=args.filter)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished rows are in {args.out}; rerun with --resume",
              file=sys.stderr)
        return 130
    print(format_summary(summary))
    if summary["wrong"]:
        return 8
    if summary["total"] and summary["verdicts"].get("error", 0) == summary["total"]:
        print(f"error: all {summary['total']} instance(s) ended in error (their reasons are "
              f"in the message column of {args.out})", file=sys.stderr)
        return 2
    return 0


def main_one(argv: list[str], clock: RunClock | None = None) -> int:
    """``--one ONNX VNNLIB --method M --timeout S``: one instance, one result line, within
    S + 1 s of the process start (a watchdog writes a ``timeout`` line at S + 0.5 s)."""
    clock = clock or RunClock.of_call()
    p = Parser(prog="python -m verifier.cli --one")
    p.add_argument("onnx")
    p.add_argument("vnnlib")
    p.add_argument("--method", default="auto", choices=list(METHOD_NAMES))
    p.add_argument("--timeout", type=positive_seconds, default=None)
    args = p.parse_args(argv)
    from verifier.batch import DEFAULT_TIMEOUT, RESULT_MARKER, run_one
    from verifier.batch.isolate import watch_parent
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    seen = {}

    def write_timeout() -> int:
        sys.stdout.write(RESULT_MARKER + json.dumps(one_timeout(clock, timeout, seen)) + "\n")
        return 0

    with watchdog(clock, timeout, write_timeout) as dog:
        watch_parent()
        remaining = max(clock.deadline(timeout) - time.monotonic(), 0.01)
        out = run_one(args.onnx, args.vnnlib, args.method, remaining,
                      partial=lambda r: seen.setdefault("result", r))
        if out["verdict"] == "timeout":     # the library saw only the time left to it
            out["message"] = (f"time limit {timeout:g}s reached (start-up took "
                              f"{timeout - remaining:.2f}s of it)")
        dog.claim()
        sys.stdout.write(RESULT_MARKER + json.dumps(out) + "\n")
        sys.stdout.flush()
    return finish(clock, 0)


def one_timeout(clock: RunClock, timeout: float, seen: dict) -> dict:
    """The ``--one`` result of a run the watchdog cut short: ``timeout``, with the
    certified margin reached so far when the run had started bounding."""
    margin = None
    partial = seen.get("result")
    try:
        margin = None if partial is None else partial.certified_margin()
    except RuntimeError:         # changed by the run's thread while it was read
        pass
    finite = margin is not None and abs(margin) != float("inf")
    return {"verdict": "timeout", "time_s": clock.elapsed(),
            "certified_margin": margin if finite else None,
            "message": f"time limit {timeout:g}s reached (cut short by the watchdog)",
            "x": None, "y": None}


def main_vnncomp(argv: list[str], clock: RunClock | None = None) -> int:
    """``--vnncomp CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT [--method M]``: 0 once the
    result file is written, 2 on bad arguments (a TIMEOUT that is no number of seconds
    > 0), 3 if it cannot be written (checked before the instance runs). The instance
    process gets what is left of TIMEOUT after this process's own start-up."""
    clock = clock or RunClock.of_call()
    p = Parser(prog="run_instance.sh v1")
    p.add_argument("category")
    p.add_argument("onnx")
    p.add_argument("vnnlib")
    p.add_argument("result_file")
    p.add_argument("timeout", type=positive_seconds)
    p.add_argument("--method", default="auto", choices=list(METHOD_NAMES))
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        check_output_file(args.result_file, "RESULTFILE")
    except VerifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    from verifier.batch import run_vnncomp_instance
    return run_vnncomp_instance(args.category, args.onnx, args.vnnlib, args.result_file,
                                args.timeout - clock.elapsed(), args.method)


def main_check(argv: list[str], clock: RunClock | None = None) -> int:
    """``--check ONNX VNNLIB``: 0 when both load, else the error's exit code."""
    from verifier.batch import check_files
    if len(argv) != 2:
        print("usage: python -m verifier.cli --check ONNX VNNLIB", file=sys.stderr)
        return 2
    try:
        print(check_files(argv[0], argv[1]))
        return 0
    except VerifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


INTERNAL_ENTRIES = {"--one": main_one, "--vnncomp": main_vnncomp, "--check": main_check}
