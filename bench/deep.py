"""Deep nets, decided (issue 29): verdicts, sub-domains per second and where the time goes.

One ``verify`` per row, BLAS single-threaded, a freshly loaded network each time:

    python bench/deep.py --eran 6x100:4 --timeout 120                 # one row
    python bench/deep.py --eran 6x100:0-19 --timeout 120 --workers 2  # acceptance sweep
    python bench/deep.py --mnistfc 256x6/2021/prop_5_0.03 --timeout 300
    python bench/deep.py --salman nor_mlp_b:0-9 --eps 0.03 --timeout 60
    python bench/deep.py --eran 6x100:4 --timeout 60 --profile prof.out  # cProfile

Rows: ``--eran NET:K`` or ``NET:K-L`` (ERAN images at ε 0.026 for 6x100 / 9x100, 0.015
for 6x200; misclassified images are skipped, as in the PRIMA setting), ``--mnistfc
NET/YEAR/PROP`` (a row of mnistfc/instances.csv), ``--salman NET:K-L`` (``--eps``).
Per row: verdict, seconds, the sub-domains bounded and per second of search (all
disjuncts), the shares of the search's time spent bounding / falsifying / branching, and
the root's costs (tightening, k-ReLU hulls, cut LPs) from the result's timings. With
``--disjuncts`` one more line per searched disjunct (its bound, sub-domains, rate).
``--jsonl`` appends one JSON record per row (resumable sweeps skip rows already there).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier.methods import VerifyOptions  # noqa: E402
from verifier.methods.options import BabOptions, TightenOptions  # noqa: E402
from verifier.network import load_network  # noqa: E402
from verifier.spec import linf_robustness, load_vnnlib  # noqa: E402
from verifier.verify.pipeline import verify  # noqa: E402

SHARED = Path(os.environ.get("VERIFIER_BENCHMARKS",
                             Path(__file__).resolve().parents[2] / "shared" / "benchmarks"))
ERAN_EPS = {"6x100": 0.026, "9x100": 0.026, "6x200": 0.015}
#: result timings that belong to the root (before the search)
ROOT_TIMINGS = ("falsify", "deeppoly", "alpha_tighten", "lp_tighten", "milp_refine",
                "krelu_hulls", "krelu_lp", "highs")


def _indices(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(text)]


def eran_rows(spec: str) -> list[tuple]:
    """(label, onnx, property maker) of ``NET:K`` or ``NET:K-L`` (correctly classified)."""
    net, images = spec.split(":")
    folder = SHARED / "eran_prima"
    X = np.load(folder / "X_eran.npy").reshape(-1, 784).astype(np.float64)
    y = np.load(folder / "y_eran.npy").astype(int)
    onnx = folder / "onnx" / f"mnist_{net.replace('x', '_')}_nat.onnx"
    return _image_rows(f"eran {net}", onnx, X, y, _indices(images), ERAN_EPS[net])


def salman_rows(spec: str, eps: float) -> list[tuple]:
    """Rows of a Salman et al. net (``NET:K-L``), images of mnist_test.npz."""
    net, images = spec.split(":")
    data = np.load(SHARED / "salman_mlp" / "mnist_test.npz")
    X = data["X"].reshape(len(data["X"]), -1)
    X = X.astype(np.float64) / 255.0 if X.dtype == np.uint8 else X.astype(np.float64)
    onnx = SHARED / "salman_mlp" / "onnx" / f"{net}.onnx"
    return _image_rows(f"salman {net}", onnx, X, data["y"].reshape(-1).astype(int),
                       _indices(images), eps)


def _image_rows(group, onnx, X, y, indices, eps) -> list[tuple]:
    net = load_network(str(onnx))
    rows = []
    for k in indices:
        if int(np.argmax(net.forward(X[k][None])[0])) != y[k]:
            print(f"{group} img{k}: misclassified, skipped", file=sys.stderr)
            continue

        def make(network, x0=X[k], label=int(y[k]), k=k):
            return linf_robustness(x0, eps, label, network.n_outputs, name=f"img{k}_eps{eps:g}")
        rows.append((f"{group} img{k}", onnx, make))
    return rows


def mnistfc_row(name: str) -> tuple:
    net, year, prop = name.split("/")
    vnnlib = SHARED / "mnistfc" / "vnnlib" / year / f"{prop}.vnnlib"
    onnx = SHARED / "mnistfc" / "onnx" / f"mnist-net_{net}.onnx"
    return (f"mnistfc {name}", onnx, lambda network: load_vnnlib(str(vnnlib)))


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_row(onnx: Path, make, options: VerifyOptions, method: str, timeout: float,
            profile: str | None = None) -> dict:
    """One verify: verdict, seconds, search counters and the root's timings."""
    net = load_network(str(onnx))
    prop = make(net)
    start = time.perf_counter()
    cpu = _cpu_seconds()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    result = verify(net, prop, method=method, timeout=timeout, options=options)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    searches = result.stats.get("bab", []) + result.stats.get("split", [])
    search_s = sum(s.get("seconds", 0.0) for s in searches)
    parts = {p: sum(s.get(f"seconds_{p}", 0.0) for s in searches)
             for p in ("bound", "falsify", "branch")}
    disjuncts = [{"case": o.case, "disjunct": o.disjunct, "status": o.status,
                  "bounds": o.bounds} for o in result.disjuncts]
    return {"verdict": result.verdict, "seconds": round(seconds, 2), "cpu": round(cpu, 2),
            "domains": int(sum(s.get("domains", 0) for s in searches)),
            "search_seconds": round(search_s, 2),
            "shares": {p: round(v / max(search_s, 1e-9), 3) for p, v in parts.items()},
            "timings": {k: round(float(v), 2) for k, v in result.timings.items()},
            "searches": [{k: v for k, v in s.items() if not isinstance(v, (list, dict))}
                         for s in searches],
            "disjuncts": disjuncts, "message": result.message}


def _fields(default, items: list[str], given: dict) -> dict:
    """``given`` plus ``FIELD=VALUE`` items, each parsed as the default's field type."""
    for item in items:
        name, value = item.split("=")
        kind = type(getattr(default, name))
        if getattr(default, name) is None:
            kind = int if value.isdigit() else float
        given[name] = bool(int(value)) if kind is bool else kind(value)
    return given


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eran", action="append", default=[], metavar="NET:K[-L]")
    parser.add_argument("--mnistfc", action="append", default=[], metavar="NET/YEAR/PROP")
    parser.add_argument("--salman", action="append", default=[], metavar="NET:K[-L]")
    parser.add_argument("--eps", type=float, default=0.03, help="--salman's epsilon")
    parser.add_argument("--method", default="auto")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--bab-cuts", action="store_true")
    parser.add_argument("--bab", action="append", default=[], metavar="FIELD=VALUE",
                        help="a BabOptions field (int, float, bool as 0/1), e.g. batch=64")
    parser.add_argument("--tighten", action="append", default=[], metavar="FIELD=VALUE",
                        help="a TightenOptions field, e.g. milp_layers=1")
    parser.add_argument("--profile", metavar="OUT", help="cProfile the (first) row to OUT")
    parser.add_argument("--disjuncts", action="store_true", help="a line per searched disjunct")
    parser.add_argument("--jsonl", metavar="OUT", help="append a JSON record per row")
    args = parser.parse_args(argv)
    rows = ([r for spec in args.eran for r in eran_rows(spec)]
            + [mnistfc_row(n) for n in args.mnistfc]
            + [r for spec in args.salman for r in salman_rows(spec, args.eps)])
    options = VerifyOptions(workers=args.workers, blas_threads=1)
    bab = {"cuts": True} if args.bab_cuts else {}
    options = replace(options, bab=BabOptions(**_fields(BabOptions(), args.bab, bab)),
                      tighten=TightenOptions(**_fields(TightenOptions(), args.tighten, {})))
    done = set()
    if args.jsonl and Path(args.jsonl).exists():
        done = {json.loads(line)["row"] for line in Path(args.jsonl).read_text().splitlines()
                if line.strip()}
    print(f"{'row':<34} {'verdict':<8} {'s':>6} {'cpu s':>6} {'sub-dom':>8} {'/s':>5} "
          f"{'/cpu s':>6} {'bnd/fals/br %':>14}  root timings  [{os.getloadavg()[0]:.1f}]",
          flush=True)
    counts: dict = {}
    for label, onnx, make in rows:
        if label in done:
            continue
        r = run_row(onnx, make, options, args.method, args.timeout, args.profile)
        args.profile = None
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        rate = r["domains"] / max(r["search_seconds"], 1e-9)
        cpu_rate = r["domains"] / max(r["cpu"], 1e-9)
        shares = "/".join(f"{100 * r['shares'][p]:.0f}" for p in ("bound", "falsify", "branch"))
        root = ", ".join(f"{k} {r['timings'][k]:.1f}" for k in ROOT_TIMINGS
                         if r["timings"].get(k, 0) >= 0.05)
        print(f"{label:<34} {r['verdict']:<8} {r['seconds']:>6.1f} {r['cpu']:>6.1f} "
              f"{r['domains']:>8} {rate:>5.0f} {cpu_rate:>6.0f} {shares:>14}  {root}  "
              f"[{os.getloadavg()[0]:.1f}]", flush=True)
        if args.disjuncts:
            for s, o in zip(r["searches"], [o for o in r["disjuncts"] if "exact" in o["bounds"]
                                            or "bab" in o["bounds"]]):
                print(f"    disjunct {o['disjunct']}: {o['status']}, bounds {o['bounds']}, "
                      f"{s.get('domains', 0)} sub-domains, {s.get('domains_per_second', 0):.0f}/s")
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps({"row": label, **r}, default=float) + "\n")
    print("counts:", counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
