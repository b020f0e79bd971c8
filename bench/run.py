#!/usr/bin/env python
"""Benchmark the verification methods on public instances with known (or published) answers.

Usage::

    python bench/run.py --suite lp-core [--limit N] [--timeout S] [--methods a,b,...]
                        [--out bench/results] [--shared ../shared/benchmarks]
    python bench/run.py --suite exact --from-batch r1.csv [r2.csv ...]

Suites (see bench/README.md):

* ``lp-core``    mnistfc 256x2 (VNN-COMP, ground truth) and ERAN 6x100 eps=0.026 (first 20
                 images) with interval, deeppoly, triangle;
* ``exact``      acasxu + mnistfc with a complete method (default ``auto``: falsify, the
                 relaxations, then input splitting or MILP) under the competition time
                 limits, compared with the fastest competition time. Long (hours on 2
                 cores): run it with ``verifier batch`` (parallel, resumable) and tabulate
                 the result CSVs with ``--from-batch``;
* ``eran-prima`` the three kPoly/PRIMA nets, first N images (default 100), with deeppoly,
                 triangle, krelu and exact (complete: ReLU-split
                 branch and bound; "certified" + "sat" is where exact mode finishes).

Prints one table (one row per instance group and method) to stdout, progress (one line per
instance and method) to stderr, and writes ``<suite>.md``, ``<suite>.csv`` and
``<suite>_instances.csv`` into ``--out``. The script only calls the library's public
entry points: ``load_network``, ``load_vnnlib``, ``linf_robustness`` and ``verify``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # the bench_* modules beside it

from bench_suites import (DEFAULT_SHARED, REPO_ROOT, SUITE_METHODS, Instance,  # noqa: E402
                          Networks, Run, build_suite)
from bench_tables import conflicts, format_table, runs_from_batch, summarise, write_outputs  # noqa: E402,E501


def method_available(method: str) -> str | None:
    """None when ``verify`` accepts the method, else the library's message."""
    from verifier.methods import METHOD_NAMES
    known = list(METHOD_NAMES)
    if method in known:
        return None
    return f"unknown method {method!r}; choose from {', '.join(known)}"


def run_one(inst: Instance, method: str, net, prop, options=None) -> Run:
    from verifier.errors import VerifierError
    from verifier.verify import verify

    start = time.perf_counter()
    try:
        result = verify(net, prop, method=method, timeout=inst.timeout, options=options,
                        onnx_path=str(inst.onnx_path))
    except VerifierError as exc:
        return Run(inst, method, "error", time.perf_counter() - start,
                   message=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a library bug: record it, keep benchmarking
        return Run(inst, method, "error", time.perf_counter() - start,
                   message=f"internal {type(exc).__name__}: {exc}")
    wall = time.perf_counter() - start
    total = float(result.timings.get("total", wall))
    searches = [s for key in ("bab", "split") for s in result.stats.get(key, [])]
    return Run(inst, method, result.verdict, total,
               float(result.timings.get("highs", 0.0)), result.message,
               domains=int(sum(s.get("domains", 0) for s in searches)),
               search_seconds=float(sum(s.get("seconds", 0.0) for s in searches)))


JOURNAL_COLUMNS = ["group", "instance", "method", "verdict", "seconds", "highs_seconds",
                   "message", "domains", "search_seconds"]


def run_from_row(inst, method: str, row: dict) -> Run:
    """A journal row back as a :class:`Run` (journals older than the search columns give
    0 domains)."""
    return Run(inst, method, row["verdict"], float(row["seconds"]),
               float(row["highs_seconds"]), row["message"],
               domains=int(float(row.get("domains") or 0)),
               search_seconds=float(row.get("search_seconds") or 0.0))


def read_journal(path: Path) -> dict[tuple[str, str, str], dict]:
    """Finished runs of an earlier, interrupted bench run: (group, instance, method) -> row.
    A torn last line (the process was killed mid-write) is ignored."""
    done = {}
    if not path.exists():
        return done
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                float(row["seconds"]), float(row["highs_seconds"])
            except (TypeError, ValueError, KeyError):
                continue
            done[(row["group"], row["instance"], row["method"])] = row
    return done


def read_journals(out_dir: Path, suite: str) -> dict[tuple[str, str, str], dict]:
    """Finished runs in every journal of ``suite`` in ``out_dir``: the unsharded
    ``<suite>_journal.csv`` and the shards' ``<suite>_journal_shardIofN.csv``."""
    done = {}
    for path in sorted(out_dir.glob(f"{suite}_journal*.csv")):
        done.update(read_journal(path))
    return done


def append_journal(path: Path, run: Run) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(JOURNAL_COLUMNS)
        writer.writerow([run.instance.group, run.instance.name, run.method, run.verdict,
                         f"{run.seconds:.3f}", f"{run.highs_seconds:.3f}", run.message,
                         run.domains, f"{run.search_seconds:.3f}"])
        fh.flush()
        os.fsync(fh.fileno())


def run_suite(instances: list[Instance], methods: list[str], networks: Networks,
              options=None, journal: Path | None = None,
              done: dict | None = None) -> list[Run]:
    """Run every (instance, method); with ``journal`` each finished run is appended there
    at once, and runs found in ``done`` (:func:`read_journal`) are reused, not re-run."""
    runs: list[Run] = []
    done = done or {}
    n = len(instances)
    for i, inst in enumerate(instances, 1):
        todo = [m for m in methods if (inst.group, inst.name, m) not in done]
        for m in methods:
            if m not in todo:
                runs.append(run_from_row(inst, m, done[(inst.group, inst.name, m)]))
        if not todo:
            continue
        try:
            net = networks.get(inst.onnx_path)
            prop = inst.make_property(net)
        except Exception as exc:
            for method in todo:
                runs.append(Run(inst, method, "error", 0.0, message=f"load: {exc}"))
            print(f"[{i}/{n}] {inst.group} | {inst.name}: cannot load ({exc})",
                  file=sys.stderr, flush=True)
            continue
        for method in todo:
            run = run_one(inst, method, net, prop, options)
            runs.append(run)
            if journal is not None:
                append_journal(journal, run)
            flag = "  WRONG (truth " + inst.truth + ")" if run.wrong else ""
            note = f" [{run.message}]" if run.verdict == "error" else ""
            print(f"[{i}/{n}] {inst.group} | {inst.name} | {method}: {run.verdict} "
                  f"{run.seconds:.2f}s{flag}{note}", file=sys.stderr, flush=True)
    return runs


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; None stays None."""
    if text is None:
        return None
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise SystemExit(f"--shard expects I/N (e.g. 0/2), got {text!r}") from None
    if not 0 <= i < n:
        raise SystemExit(f"--shard {text}: need 0 <= I < N")
    return i, n


def parse_args(argv=None):
    from verifier.cli.arguments import add_tighten_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="suites: " + ", ".join(
                                    f"{s} (methods {','.join(m)})"
                                    for s, m in SUITE_METHODS.items()))
    p.add_argument("--suite", required=True, choices=sorted(SUITE_METHODS))
    p.add_argument("--limit", type=int, default=None,
                   help="at most N instances per group (default: all)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per instance and method (lp-core/eran-prima: default 60; "
                        "exact: caps the competition limit)")
    p.add_argument("--methods", default=None,
                   help="comma-separated methods (default: the suite's)")
    p.add_argument("--images", type=int, default=None,
                   help="ERAN images to consider (lp-core 20, eran-prima 100)")
    p.add_argument("--out", default=str(REPO_ROOT / "bench" / "results"),
                   help="folder for <suite>.md/.csv (default bench/results)")
    p.add_argument("--shared", default=str(DEFAULT_SHARED),
                   help=f"benchmark folder (default {DEFAULT_SHARED})")
    p.add_argument("--resume", action="store_true",
                   help="reuse the finished runs in <out>/<suite>_journal.csv (every run is "
                        "appended there as it finishes) and run only the rest")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="run only instances I, I+N, I+2N, ... (0 <= I < N) and journal them "
                        "to <out>/<suite>_journal_shardIofN.csv: start N processes (one per "
                        "core) with the same --out, then one run with --resume and no "
                        "--shard reads every journal there and prints the whole table")
    p.add_argument("--krelu-tighten", action="store_true",
                   help="krelu also separates k-ReLU cuts in the per-neuron LP tightening "
                        "(the strongest, slowest configuration)")
    add_tighten_arguments(p)      # how triangle/krelu/exact tighten bounds (--no-tighten)
    p.add_argument("--from-batch", nargs="+", metavar="CSV", default=None,
                   help="tabulate `verifier batch --out` CSVs instead of running (later "
                        "files override earlier rows of the same instance)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_batch:
        runs = runs_from_batch(args.from_batch)
        header, rows = summarise(runs, args.suite)
        text = format_table(header, rows) + "\n\n" + (
            f"suite {args.suite} from {len(args.from_batch)} batch file(s), "
            f"{len(runs)} instances")
        print(text)
        write_outputs(Path(args.out), args.suite, header, rows, runs, text)
        return 1 if any(r.wrong for r in runs) else 0
    shared = Path(args.shared)
    if not shared.is_dir():
        print(f"error: benchmark folder {shared} not found (use --shared)", file=sys.stderr)
        return 3
    requested = ([m.strip() for m in args.methods.split(",") if m.strip()]
                 if args.methods else list(SUITE_METHODS[args.suite]))
    methods = []
    for m in requested:
        problem = method_available(m)
        if problem is None:
            methods.append(m)
        elif args.suite == "eran-prima" and args.methods is None and m == "krelu":
            print(f"# skipping method {m}: {problem}", file=sys.stderr)
        else:
            # keep it: every run reports the error, so the table shows it
            print(f"# method {m} is not available: {problem}", file=sys.stderr)
            methods.append(m)
    networks = Networks()
    instances = build_suite(args.suite, shared, args, networks)
    shard = parse_shard(args.shard)
    if shard is not None:
        instances = instances[shard[0]::shard[1]]
    print(f"# suite {args.suite}: {len(instances)} instances x {len(methods)} methods "
          f"({', '.join(methods)})", file=sys.stderr, flush=True)
    start = time.perf_counter()
    from verifier.verify import KReluOptions, TightenOptions, VerifyOptions
    options = VerifyOptions(krelu=KReluOptions(lp_tighten=args.krelu_tighten),
                            tighten=TightenOptions(method=args.tighten),
                            lp_tighten=not args.no_tighten)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.suite if shard is None else f"{args.suite}_shard{shard[0]}of{shard[1]}"
    journal = out_dir / f"{args.suite}_journal{tag[len(args.suite):]}.csv"
    if not args.resume and journal.exists():
        journal.unlink()
    done = {}
    if args.resume:
        done = read_journals(out_dir, args.suite)
    if done:
        print(f"# resume: {len(done)} finished run(s) in {out_dir}", file=sys.stderr)
    runs = run_suite(instances, methods, networks, options, journal, done)
    wall = time.perf_counter() - start
    header, rows = summarise(runs, args.suite)
    table = format_table(header, rows)
    notes = [f"suite {args.suite}, {len(instances)} instances, wall time {wall:.0f}s, "
             f"timeout {args.timeout if args.timeout is not None else 'default'}"]
    clash = conflicts(runs)
    if clash:
        notes.append("CONFLICTING VERDICTS (some method is unsound):")
        notes += [f"  {c}" for c in clash]
    text = table + "\n\n" + "\n".join(notes)
    print(text)
    write_outputs(Path(args.out), tag, header, rows, runs, text)
    print(f"# wrote {Path(args.out) / (tag + '.md')} and .csv", file=sys.stderr)
    return 1 if any(r.wrong for r in runs) or clash else 0


if __name__ == "__main__":
    sys.exit(main())
