"""``verifier barrier``: Salman et al.'s convex-barrier table, decided, with a k-ReLU column."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verifier.cli.arguments import add_workers_argument, positive_seconds, radius
from verifier.cli.plot import PICTURE_EXTENSIONS
from verifier.errors import InputFileError, OptionError
from verifier.files import check_output_file

BARRIER_HELP = """\
Adversarial error rates of MNIST-style classifiers under an L-inf ball, as in Table 1 of
Salman et al. 2019 ("A convex relaxation barrier ..."): the test error, the attack lower
bound (our falsification), the exact lower and upper bounds (ReLU-split branch and bound;
counterexamples found / images not certified), and the upper bounds (images not
certified) of DeepPoly (the LP-GREEDY analogue), the triangle LP over LP-tightened bounds
(LP-ALL, the best any single-neuron relaxation can do) and k-ReLU; plus the share of the
barrier that k-ReLU crosses, (LP-ALL - k-ReLU) / (LP-ALL - exact UB). Every image is one
line of <out>/<row>.jsonl as soon as it is decided: rerun the same command to resume,
or rerun it with a larger --exact-seconds and --retry-undecided to spend a longer budget
only on the images the first pass left undecided.

examples:
  verifier barrier ../shared/benchmarks/salman_mlp/instances.csv \\
      --data ../shared/benchmarks/salman_mlp/mnist_test.npz --images 0:200 --out barrier/
  verifier barrier ... --out barrier/ --exact-seconds 600 --retry-undecided   # second pass
  verifier barrier nor_mlp_b.onnx --eps 0.02 --data mnist_test.npz --images 0:30 --md t.md
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("barrier", help="the convex-barrier table (Salman et al.), "
                                              "decided, with k-ReLU",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description=BARRIER_HELP)
    p.add_argument("rows", help="a rows CSV (onnx,eps[,published_...]) or one network file")
    p.add_argument("--eps", type=radius, help="L-inf radius (with one network file)")
    p.add_argument("--data", required=True, help=".npz with arrays X (images) and y (labels)")
    p.add_argument("--images", default="0:200", help="which images: 0:200, 3 or 1,4,7")
    p.add_argument("--select", action="append", default=None, metavar="SUBSTR",
                   help="only rows whose name contains SUBSTR (repeatable: any)")
    p.add_argument("--out", default="barrier",
                   help="folder of the journals (barrier; created if missing, its parent "
                        "must exist)")
    add_workers_argument(p, "processes (1)")
    p.add_argument("--exact-seconds", type=positive_seconds, default=60.0,
                   help="branch-and-bound budget per image (60)")
    p.add_argument("--exact-method", choices=["bab", "milp"], default="bab",
                   help="the exact column's complete method: bab (ReLU-split branch and "
                        "bound with the k-ReLU cuts in every sub-domain; default) or milp")
    p.add_argument("--retry-undecided", action="store_true",
                   help="decide again the journal's images left undecided (e.g. with a "
                        "larger --exact-seconds)")
    p.add_argument("--relaxation-seconds", type=positive_seconds, default=120.0,
                   help="budget of each relaxation column per image (120)")
    p.add_argument("--csv", metavar="F", help="write the table as CSV")
    p.add_argument("--json", metavar="F", help="write the table and every image as JSON")
    p.add_argument("--md", metavar="F", help="write the table as Markdown")
    p.add_argument("--plot", metavar="F", help="write the picture (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def _rows(args) -> list:
    from verifier.report.barrier_run import RowSpec, read_rows
    if args.rows.lower().endswith(".csv"):
        rows = read_rows(args.rows)
    else:
        if args.eps is None:
            raise OptionError("one network file needs --eps")
        rows = [RowSpec(args.rows, float(args.eps), f"{Path(args.rows).stem} eps={args.eps:g}")]
    if args.select:
        rows = [r for r in rows if any(s in r.name for s in args.select)]
    if not rows:
        raise OptionError("no row selected")
    return rows


def check_outputs(args) -> None:
    """The tables, the picture and the journals' folder: their folders must exist."""
    for option, path in (("--csv", args.csv), ("--json", args.json), ("--md", args.md),
                         ("--plot", args.plot)):
        if path:
            check_output_file(path, option)
    if args.plot and not args.plot.lower().endswith(PICTURE_EXTENSIONS):
        raise OptionError(f"--plot {args.plot}: give a picture file "
                          f"({', '.join(PICTURE_EXTENSIONS)})")
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise InputFileError(f"--out {folder}: is not a folder")
    if not folder.exists():
        check_output_file(folder, "--out")     # its parent must exist


def run(args) -> int:
    from verifier.report.barrier import BarrierOptions
    from verifier.report.barrier_run import load_images, run_row
    from verifier.report.barrier_table import to_markdown, write_tables
    from verifier.report.gap_images import parse_index
    check_outputs(args)
    rows = _rows(args)
    images, labels = load_images(args.data)
    indices = parse_index(args.images, len(images), option="--images")
    options = BarrierOptions(relaxation_seconds=args.relaxation_seconds,
                             exact_seconds=args.exact_seconds,
                             exact_method=args.exact_method)
    progress = None if args.quiet else (
        lambda m: print(f"  .. {m}", file=sys.stderr, flush=True))
    done = [run_row(row, images, labels, indices, args.out, options, args.workers, progress,
                    retry_undecided=args.retry_undecided) for row in rows]
    print(to_markdown(done))
    write_tables(done, args.csv, args.json, args.md)
    if args.plot:
        from verifier.plot.barrier import plot_barrier
        plot_barrier(done, path=args.plot)
    violations = [v for row in done for v in row.ordering_violations()]
    for v in violations:
        print(f"ORDERING VIOLATED (a soundness bug): {v}", file=sys.stderr)
    return 8 if violations else 0
