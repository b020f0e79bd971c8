"""The benchmark suites of ``bench/run.py``: which instances, with which methods."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

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
    domains: int = 0             # sub-domains (ReLU splits) or pieces (input splits) bounded
    search_seconds: float = 0.0  # seconds inside the branch-and-bound searches

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


def read_instances_csv(folder: Path, keep: Callable[[dict], bool], group_of: Callable,
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


def eran_images(shared: Path, net_file: str, eps: float, n_images: int, timeout: float,
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


def limited(instances: list[Instance], limit: int | None) -> list[Instance]:
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
        mnist = read_instances_csv(shared / "mnistfc", lambda r: "256x2" in r["onnx"],
                                    lambda r: "mnistfc 256x2", None)
        for inst in mnist:
            inst.timeout = cap
        images = 20 if args.images is None else args.images
        eran = eran_images(shared, "mnist_6_100_nat.onnx", 0.026, images, cap, networks)
        return limited(mnist, args.limit) + limited(eran, args.limit)
    if suite == "exact":
        acas = read_instances_csv(shared / "acasxu", lambda r: True,
                                   lambda r: "acasxu", timeout)
        mnist = read_instances_csv(shared / "mnistfc", lambda r: True,
                                    lambda r: f"mnistfc {Path(r['onnx']).stem.split('_')[-1]}",
                                    timeout)
        return limited(acas, args.limit) + limited(mnist, args.limit)
    if suite == "eran-prima":
        cap = 60.0 if timeout is None else timeout
        images = 100 if args.images is None else args.images
        out = []
        for net_file, eps in ERAN_PRIMA_NETS:
            out += limited(eran_images(shared, net_file, eps, images, cap, networks),
                            args.limit)
        return out
    raise SystemExit(f"unknown suite {suite!r}")
