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
                 triangle, krelu (when registered) and exact (complete: ReLU-split
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
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# One BLAS thread unless the user says otherwise: on a small shared machine multi-threaded
# BLAS makes the falsifier's small batched products 5-10x slower and the times erratic.
# (Must happen before numpy is imported; HiGHS already runs with threads=1.)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "benchmarks"

SUITE_METHODS = {
    "lp-core": ["interval", "deeppoly", "triangle"],
    "exact": ["auto"],
    "eran-prima": ["deeppoly", "triangle", "krelu", "exact"],
}
# (network file in eran_prima/onnx, eps) of the kPoly / PRIMA experiments
ERAN_PRIMA_NETS = [("mnist_6_100_nat.onnx", 0.026), ("mnist_9_100_nat.onnx", 0.026),
                   ("mnist_6_200_nat.onnx", 0.015)]
VERDICT_COLUMNS = ("unsat", "sat", "unknown", "timeout", "error")


# ====================================================================== instances
@dataclass
class Instance:
    """One (network, property) pair; the property is built lazily (VNN-LIB files are big).

    Attributes:
        group: the row of the table it counts in (e.g. ``"mnistfc 256x2"``).
        name: short label for progress lines and the per-instance CSV.
        onnx_path: the network file.
        make_property: ``net -> Property``.
        truth: ``"sat"`` / ``"unsat"`` when known, else ``""``.
        timeout: seconds allowed (already capped by ``--timeout``).
        best_time: fastest correct competition time (seconds), when known.
    """

    group: str
    name: str
    onnx_path: Path
    make_property: Callable
    truth: str = ""
    timeout: float = 60.0
    best_time: float | None = None


@dataclass
class Run:
    """The outcome of one (instance, method)."""

    instance: Instance
    method: str
    verdict: str
    seconds: float
    highs_seconds: float = 0.0
    message: str = ""

    @property
    def wrong(self) -> bool:
        truth = self.instance.truth
        return ((truth == "unsat" and self.verdict == "sat")
                or (truth == "sat" and self.verdict == "unsat"))


class Networks:
    """Loads each network once."""

    def __init__(self):
        self._cache: dict[Path, object] = {}

    def get(self, path: Path):
        from verifier.network import load_network
        if path not in self._cache:
            self._cache[path] = load_network(str(path))
        return self._cache[path]


def _read_instances_csv(folder: Path, keep: Callable[[dict], bool], group_of: Callable,
                        cap: float | None) -> list[Instance]:
    from verifier.spec import load_vnnlib

    out = []
    with open(folder / "instances.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if not keep(row):
                continue
            spec = folder / row["vnnlib"]

            def make(net, spec=spec):
                return load_vnnlib(str(spec), n_inputs=net.n_inputs, n_outputs=net.n_outputs)

            limit = float(row["timeout"] or 60.0)
            if cap is not None:
                limit = min(limit, cap)
            best = float(row["best_time_s"]) if row.get("best_time_s") else None
            truth = row["verdict"] if row["verdict"] in ("sat", "unsat") else ""
            out.append(Instance(group_of(row), f"{Path(row['onnx']).stem}/{row['vnnlib']}",
                                folder / row["onnx"], make, truth, limit, best))
    return out


def _eran_images(shared: Path, net_file: str, eps: float, n_images: int, timeout: float,
                 networks: Networks) -> list[Instance]:
    """L∞ robustness at the first ``n_images`` ERAN images the network classifies right."""
    from verifier.spec import linf_robustness

    folder = shared / "eran_prima"
    X = np.load(folder / "X_eran.npy")
    y = np.load(folder / "y_eran.npy")
    path = folder / "onnx" / net_file
    net = networks.get(path)
    group = f"eran {net_file.replace('mnist_', '').replace('_nat.onnx', '').replace('_', 'x')}" \
            f" eps={eps:g}"
    out, skipped = [], 0
    for index in range(min(n_images, len(y))):
        x0 = np.asarray(X[index], dtype=np.float64).ravel()
        label = int(y[index])
        if int(np.argmax(net.forward(x0))) != label:
            skipped += 1
            continue

        def make(net, x0=x0, label=label, index=index):
            return linf_robustness(x0, eps, label, net.n_outputs,
                                   name=f"img{index}_eps{eps:g}")

        out.append(Instance(group, f"{net_file}/img{index}", path, make, "", timeout))
    print(f"# {group}: {len(out)} of the first {min(n_images, len(y))} images classified "
          f"correctly ({skipped} skipped)", file=sys.stderr)
    return out


def _limited(instances: list[Instance], limit: int | None) -> list[Instance]:
    """The first ``limit`` instances of every group."""
    if limit is None:
        return instances
    seen: dict[str, int] = {}
    out = []
    for inst in instances:
        if seen.get(inst.group, 0) < limit:
            out.append(inst)
            seen[inst.group] = seen.get(inst.group, 0) + 1
    return out


def build_suite(suite: str, shared: Path, args, networks: Networks) -> list[Instance]:
    timeout = args.timeout
    if suite == "lp-core":
        cap = 60.0 if timeout is None else timeout
        mnist = _read_instances_csv(shared / "mnistfc", lambda r: "256x2" in r["onnx"],
                                    lambda r: "mnistfc 256x2", None)
        for inst in mnist:
            inst.timeout = cap
        images = 20 if args.images is None else args.images
        eran = _eran_images(shared, "mnist_6_100_nat.onnx", 0.026, images, cap, networks)
        return _limited(mnist, args.limit) + _limited(eran, args.limit)
    if suite == "exact":
        acas = _read_instances_csv(shared / "acasxu", lambda r: True,
                                   lambda r: "acasxu", timeout)
        mnist = _read_instances_csv(shared / "mnistfc", lambda r: True,
                                    lambda r: f"mnistfc {Path(r['onnx']).stem.split('_')[-1]}",
                                    timeout)
        return _limited(acas, args.limit) + _limited(mnist, args.limit)
    if suite == "eran-prima":
        cap = 60.0 if timeout is None else timeout
        images = 100 if args.images is None else args.images
        out = []
        for net_file, eps in ERAN_PRIMA_NETS:
            out += _limited(_eran_images(shared, net_file, eps, images, cap, networks),
                            args.limit)
        return out
    raise SystemExit(f"unknown suite {suite!r}")


# ====================================================================== running
def method_available(method: str) -> str | None:
    """None when ``verify`` accepts the method, else the library's message."""
    from verifier.verify.pipeline import registered_methods
    known = registered_methods()
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
    return Run(inst, method, result.verdict, total,
               float(result.timings.get("highs", 0.0)), result.message)


JOURNAL_COLUMNS = ["group", "instance", "method", "verdict", "seconds", "highs_seconds",
                   "message"]


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


def _append_journal(path: Path, run: Run) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(JOURNAL_COLUMNS)
        writer.writerow([run.instance.group, run.instance.name, run.method, run.verdict,
                         f"{run.seconds:.3f}", f"{run.highs_seconds:.3f}", run.message])
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
                row = done[(inst.group, inst.name, m)]
                runs.append(Run(inst, m, row["verdict"], float(row["seconds"]),
                                float(row["highs_seconds"]), row["message"]))
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
                _append_journal(journal, run)
            flag = "  WRONG (truth " + inst.truth + ")" if run.wrong else ""
            note = f" [{run.message}]" if run.verdict == "error" else ""
            print(f"[{i}/{n}] {inst.group} | {inst.name} | {method}: {run.verdict} "
                  f"{run.seconds:.2f}s{flag}{note}", file=sys.stderr, flush=True)
    return runs


def _batch_group(onnx_path: Path) -> str:
    """``acasxu`` or ``<benchmark> <network suffix>`` for a batch row's network path."""
    if onnx_path.name.upper().startswith("ACASXU"):
        return "acasxu"
    parts = onnx_path.parts
    bench = parts[parts.index("onnx") - 1] if "onnx" in parts[1:] else ""
    if not bench and onnx_path.name.startswith("mnist-net"):
        bench = "mnistfc"
    suffix = onnx_path.stem.split("_")[-1]
    return f"{bench} {suffix}".strip()


def _spec_label(vnnlib: Path) -> str:
    """The spec's path below its ``vnnlib`` folder without the suffix (``2021/prop_1_0.03``:
    mnistfc has specs of the same name for several years), else its stem."""
    parts = vnnlib.with_suffix("").parts
    if "vnnlib" in parts[:-1]:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("vnnlib") + 1:])
    return vnnlib.stem


def runs_from_batch(paths: list[str]) -> list[Run]:
    """Runs read from ``verifier batch --out`` CSVs; a later file's row replaces an earlier
    one for the same (onnx, vnnlib) (e.g. a re-run at the full competition limit).

    The group is ``<benchmark folder> <network suffix>`` (``acasxu``, ``mnistfc 256x2``).
    """
    by_key: dict[tuple[str, str], dict] = {}
    for path in paths:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                by_key[(row["onnx"], row["vnnlib"])] = row
    runs = []
    for (onnx, vnnlib), row in by_key.items():
        onnx_path = Path(onnx)
        group = _batch_group(onnx_path)
        truth = row.get("expected", "")
        inst = Instance(group, f"{onnx_path.stem} {_spec_label(Path(vnnlib))}", onnx_path,
                        make_property=lambda net: None,
                        truth=truth if truth in ("sat", "unsat") else "",
                        timeout=float(row.get("timeout") or 0.0),
                        best_time=float(row["best_time_s"]) if row.get("best_time_s")
                        else None)
        seconds = row.get("time_s") or row.get("wall_s") or "0"
        runs.append(Run(inst, row.get("method", "auto"), row["verdict"], float(seconds),
                        message=row.get("message", "")))
    runs.sort(key=lambda r: (r.instance.group, r.instance.name))
    return runs


# ====================================================================== table
def summarise(runs: list[Run], suite: str) -> tuple[list[str], list[list[str]]]:
    header = ["group", "method", "instances", *VERDICT_COLUMNS, "wrong", "total s",
              "median s", "highs %"]
    if suite == "exact":
        header += ["best median s", "solved", "known verdict", "solved of known",
                   "our total s (solved)", "best total s (solved)", "faster than best"]
    if suite in ("eran-prima", "lp-core"):
        header += ["certified", "s/instance"]
    keys: list[tuple[str, str]] = []
    for r in runs:
        if (r.instance.group, r.method) not in keys:
            keys.append((r.instance.group, r.method))
    rows = []
    for group, method in keys:
        sel = [r for r in runs if r.instance.group == group and r.method == method]
        counts = {v: sum(r.verdict == v for r in sel) for v in VERDICT_COLUMNS}
        times = [r.seconds for r in sel]
        total = sum(times)
        highs = sum(r.highs_seconds for r in sel)
        has_truth = any(r.instance.truth for r in sel)
        row = [group, method, str(len(sel)), *(str(counts[v]) for v in VERDICT_COLUMNS),
               str(sum(r.wrong for r in sel)) if has_truth else "-",
               f"{total:.1f}", f"{statistics.median(times):.2f}" if times else "-",
               f"{100 * highs / total:.0f}" if total > 0 else "-"]
        if suite == "exact":
            best = [r.instance.best_time for r in sel if r.instance.best_time is not None]
            solved = [r for r in sel if r.verdict in ("sat", "unsat") and not r.wrong]
            faster = sum(r.instance.best_time is not None and r.seconds <= r.instance.best_time
                         for r in solved)
            known = [r for r in sel if r.instance.truth in ("sat", "unsat")]
            solved_known = [r for r in solved if r.instance.truth in ("sat", "unsat")]
            best_solved = sum(r.instance.best_time for r in solved
                              if r.instance.best_time is not None)
            row += [f"{statistics.median(best):.2f}" if best else "-", str(len(solved)),
                    str(len(known)), str(len(solved_known)),
                    f"{sum(r.seconds for r in solved):.1f}", f"{best_solved:.1f}",
                    str(faster)]
        if suite in ("eran-prima", "lp-core"):
            row += [str(counts["unsat"]), f"{total / len(sel):.2f}" if sel else "-"]
        rows.append(row)
    return header, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, padded so that it also reads well in a terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i >= 2 else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def conflicts(runs: list[Run]) -> list[str]:
    """Instances where one method said sat and another unsat (one of them is unsound)."""
    by_instance: dict[int, dict[str, str]] = {}
    names: dict[int, Instance] = {}
    for r in runs:
        by_instance.setdefault(id(r.instance), {})[r.method] = r.verdict
        names[id(r.instance)] = r.instance
    out = []
    for key, verdicts in by_instance.items():
        values = set(verdicts.values())
        if "sat" in values and "unsat" in values:
            inst = names[key]
            out.append(f"{inst.group} | {inst.name}: " +
                       ", ".join(f"{m}={v}" for m, v in verdicts.items()))
    return out


def write_outputs(out_dir: Path, suite: str, header, rows, runs: list[Run], text: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{suite}.md").write_text(text + "\n")
    with open(out_dir / f"{suite}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    with open(out_dir / f"{suite}_instances.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["group", "instance", "method", "verdict", "truth", "wrong", "seconds",
                         "highs_seconds", "timeout", "best_time_s", "message"])
        for r in runs:
            writer.writerow([r.instance.group, r.instance.name, r.method, r.verdict,
                             r.instance.truth, int(r.wrong), f"{r.seconds:.3f}",
                             f"{r.highs_seconds:.3f}", r.instance.timeout,
                             "" if r.instance.best_time is None else r.instance.best_time,
                             r.message])


# ====================================================================== main
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
    from verifier.verify.tighten import add_tighten_argument

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
    add_tighten_argument(p)       # how triangle/krelu/exact tighten bounds
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
                            tighten=TightenOptions(method=args.tighten))
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
