"""Relaxation-gap tables: how far each method's certified bound is from the exact optimum.

For every objective of a property (each (case, disjunct); for L∞ robustness that is each
adversarial label ``j``, objective ``min y_label - y_j``) the table holds

* the certified lower bound of each method (``interval``, ``deeppoly``, ``triangle``,
  ``krelu``, ``milp``; each solved to its optimum, ``VerifyOptions.full_solve=True``);
* what is known of the exact optimum: the MILP optimum when it finished, else the bracket
  ``[lower, upper]`` with ``lower`` = the best certified bound of any method (the MILP dual
  bound included) and ``upper`` = the smallest margin at a real input (MILP incumbent, or
  the input part of any relaxation's LP solution evaluated through the network);
* the gap ``exact - bound`` of each method (a bracket when the exact value is a bracket);
* the share of the triangle's gap that k-ReLU closes, ``(krelu - triangle) / (exact -
  triangle)`` (computed against the bracket's upper end when the MILP did not finish: then
  it is a lower estimate of the share);

and per ReLU layer the number of unstable neurons and the mean/median pre-activation width
under interval, DeepPoly and tightened bounds (a row named after the tightening:
``alpha`` by default, ``lp`` with ``TightenOptions(method="lp")``).

How it runs: the methods are the pipeline's bound functions
(:data:`verifier.verify.pipeline.BOUND_METHODS`), called on one shared
:class:`~verifier.verify.pipeline.CaseContext` per case, so interval/DeepPoly bounds, LP
tightening and k-ReLU hulls are computed once per case and not once per method (what
``verify(net, prop, method=m)`` per method would do; measured 5x slower on ERAN 6x100).
Falsification is not run: every objective gets every bound, even when the property is
false. ``timeout`` is the budget of one (objective, method) solve; tightening gets its
own budget (``tighten_timeout``) once per case.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from verifier.bounds import Bounds
from verifier.network import Network
from verifier.spec import Property, linf_robustness
from verifier.verify.options import VerifyOptions
from verifier.verify.tighten import TightenOptions, add_tighten_argument
from verifier.verify.result import json_safe
from verifier.verify.pipeline import BOUND_METHODS, CaseContext, _load_plugins, _Timeout

DEFAULT_METHODS = ("interval", "deeppoly", "triangle", "krelu", "milp")
RELAXATIONS = ("interval", "deeppoly", "triangle", "krelu")
_NEEDS_TIGHTENED = {"triangle", "krelu", "milp", "exact"}


def gap_options(options: VerifyOptions | None) -> VerifyOptions:
    """``options`` with ``full_solve`` on and k-ReLU's triangle-first shortcut off."""
    opts = options or VerifyOptions()
    return replace(opts, full_solve=True, krelu=replace(opts.krelu, triangle_first=False))


# --------------------------------------------------------------------------- records
@dataclass
class ObjectiveGap:
    """One objective: bounds per method, the exact value (or bracket) and the gaps.

    Attributes:
        case, disjunct: indices into the property.
        label: a readable name (``"y7 - y3"`` for robustness, else ``"case0/d2"``).
        bounds: method -> certified lower bound of ``min margin`` (-inf: none).
        exact: the exact minimum when the MILP finished, else None.
        exact_lower, exact_upper: what is known of the exact minimum (equal to ``exact``
            when it is known).
        times: method -> seconds.
        statuses: method -> ``"ok"`` / ``"timeout"``.
    """

    case: int
    disjunct: int
    label: str
    bounds: dict[str, float] = field(default_factory=dict)
    exact: float | None = None
    exact_lower: float = -math.inf
    exact_upper: float = math.inf
    times: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)

    def gap(self, method: str) -> tuple[float, float]:
        """``exact - bound`` as ``(low, high)`` (equal when the exact value is known)."""
        b = self.bounds.get(method, -math.inf)
        if not math.isfinite(b):
            return math.inf, math.inf
        return self.exact_lower - b, self.exact_upper - b

    def krelu_share(self) -> float | None:
        """``(krelu - triangle) / (exact - triangle)``; None when undefined.

        When the exact value is only bracketed, the bracket's upper end is used, which
        gives a lower estimate of the share. A triangle gap below 1e-9 gives None.
        """
        if "krelu" not in self.bounds or "triangle" not in self.bounds:
            return None
        t, k = self.bounds["triangle"], self.bounds["krelu"]
        target = self.exact if self.exact is not None else self.exact_upper
        if not (math.isfinite(t) and math.isfinite(k) and math.isfinite(target)):
            return None
        if target - t <= 1e-9:
            return None
        return (k - t) / (target - t)


@dataclass
class LayerWidths:
    """Pre-activation bounds of one ReLU layer under one bounding method."""

    case: int
    layer: str
    neurons: int
    method: str
    unstable: int
    mean_width: float
    median_width: float


@dataclass
class GapTable:
    """Gap table of one property (see module docstring); renders to text/CSV/JSON/Markdown."""

    name: str
    methods: list[str]
    objectives: list[ObjectiveGap] = field(default_factory=list)
    layers: list[LayerWidths] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    # ---- rows
    def objective_rows(self) -> list[dict]:
        """One flat dict per objective (the CSV rows)."""
        rows = []
        for o in self.objectives:
            row = {"case": o.case, "disjunct": o.disjunct, "objective": o.label}
            for m in self.methods:
                row[m] = o.bounds.get(m, -math.inf)
            row["exact"] = o.exact
            row["exact_lower"], row["exact_upper"] = o.exact_lower, o.exact_upper
            for m in self.methods:
                if m == "milp":
                    continue
                lo, hi = o.gap(m)
                row[f"gap_{m}"] = lo if lo == hi else None
                row[f"gap_{m}_low"], row[f"gap_{m}_high"] = lo, hi
            row["krelu_share"] = o.krelu_share()
            for m in self.methods:
                row[f"time_{m}"] = o.times.get(m)
            rows.append(row)
        return rows

    def layer_rows(self) -> list[dict]:
        return [asdict(r) for r in self.layers]

    # ---- renderers
    def to_dict(self) -> dict:
        return json_safe({"name": self.name, "methods": self.methods, "seconds": self.seconds,
                       "notes": self.notes, "objectives": self.objective_rows(),
                       "layers": self.layer_rows()})

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self, layers: bool = False) -> str:
        """CSV of the objective rows (or of the layer rows with ``layers=True``)."""
        rows = self.layer_rows() if layers else self.objective_rows()
        return _csv(rows)

    def to_markdown(self) -> str:
        head, body = self._cells()
        out = [f"### {self.name}", "", "| " + " | ".join(head) + " |",
               "|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in body]
        lhead, lbody = self._layer_cells()
        if lbody:
            out += ["", "| " + " | ".join(lhead) + " |",
                    "|" + "|".join("---:" if i > 1 else "---" for i in range(len(lhead))) + "|"]
            out += ["| " + " | ".join(r) + " |" for r in lbody]
        out += [f"", *[f"- {n}" for n in self.notes]] if self.notes else []
        return "\n".join(out) + "\n"

    def to_text(self) -> str:
        head, body = self._cells()
        lines = [f"{self.name}: lower bounds of min margin per method; exact = MILP optimum "
                 "or [lower, upper]; gap = exact - bound", _align(head, body)]
        lhead, lbody = self._layer_cells()
        if lbody:
            lines += ["", "pre-activation bounds per layer (unstable / mean width / median "
                          "width)", _align(lhead, lbody)]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"({self.seconds:.1f}s)")
        return "\n".join(lines)

    __str__ = to_text

    def write(self, csv_path: str | None = None, json_path: str | None = None,
              md_path: str | None = None) -> None:
        """Write the renderings that are asked for (CSV objectives; layers to
        ``<stem>_layers.csv`` next to it)."""
        if csv_path:
            _write(csv_path, self.to_csv())
            stem = csv_path[:-4] if csv_path.endswith(".csv") else csv_path
            _write(stem + "_layers.csv", self.to_csv(layers=True))
        if json_path:
            _write(json_path, self.to_json())
        if md_path:
            _write(md_path, self.to_markdown())

    def _cells(self):
        relax = [m for m in self.methods if m != "milp"]
        head = ["objective"] + self.methods + ["exact"] + [f"gap {m}" for m in relax]
        if "krelu" in self.methods and "triangle" in self.methods:
            head.append("krelu closes")
        body = []
        for o in self.objectives:
            row = [o.label] + [_num(o.bounds.get(m, -math.inf)) for m in self.methods]
            row.append(_num(o.exact) if o.exact is not None
                       else f"[{_num(o.exact_lower)}, {_num(o.exact_upper)}]")
            for m in relax:
                lo, hi = o.gap(m)
                row.append(_num(lo) if lo == hi else f"[{_num(lo)}, {_num(hi)}]")
            if "krelu" in self.methods and "triangle" in self.methods:
                s = o.krelu_share()
                row.append("-" if s is None else
                           (f"{100 * s:.1f}%" if o.exact is not None else f">={100 * s:.1f}%"))
            body.append(row)
        return head, body

    def _layer_cells(self):
        methods = list(dict.fromkeys(r.method for r in self.layers))
        cases = sorted({r.case for r in self.layers})
        head = ["case", "layer", "neurons"] + methods
        body = []
        for c in cases:
            names = list(dict.fromkeys(r.layer for r in self.layers if r.case == c))
            for name in names:
                rs = {r.method: r for r in self.layers if r.case == c and r.layer == name}
                first = next(iter(rs.values()))
                row = [str(c), name, str(first.neurons)]
                for m in methods:
                    r = rs.get(m)
                    row.append("-" if r is None else
                               f"{r.unstable} / {r.mean_width:.3g} / {r.median_width:.3g}")
                body.append(row)
        return head, body


# --------------------------------------------------------------------------- building
def layer_widths(net: Network, bounds_by_method: dict[str, dict[str, Bounds]],
                 case: int = 0) -> list[LayerWidths]:
    """Unstable count and mean/median width of every ReLU layer's pre-activation bounds."""
    rows = []
    for relu in net.relu_names():
        pre = net.inputs_of(relu)[0]
        for method, bounds in bounds_by_method.items():
            b = bounds[pre]
            w = b.width
            rows.append(LayerWidths(case, pre, net.size(pre), method, int(b.unstable().size),
                                    float(np.mean(w)), float(np.median(w))))
    return rows


def case_bounds(ctx: CaseContext, lp: bool = True) -> dict[str, dict[str, Bounds]]:
    """``{"interval": ..., "deeppoly": ..., T: ...}`` of a case (cached in ``ctx``).

    ``T`` is the tightening that made ``ctx.tightened()``: ``"alpha"`` or ``"lp"``
    (``ctx.options.tighten.method``), so the row says which bounds it holds.
    """
    out = {"interval": ctx.interval(), "deeppoly": ctx.deeppoly()}
    if lp and ctx.options.lp_tighten:
        out[ctx.options.tighten.method] = ctx.tightened()
    return out


def available_methods(methods: Iterable[str]) -> tuple[list[str], list[str]]:
    """(registered methods in the order asked, notes about the skipped ones)."""
    _load_plugins()
    keep, notes = [], []
    for m in methods:
        if m in BOUND_METHODS:
            keep.append(m)
        else:
            notes.append(f"method {m!r} is not registered here: skipped")
    return keep, notes


def _objective_label(prop: Property, case: int, disjunct: int) -> str:
    A = prop.cases[case].disjuncts[disjunct].A
    if A.shape[0] == 1:
        pos, neg = np.flatnonzero(A[0] > 0), np.flatnonzero(A[0] < 0)
        if len(pos) == 1 and len(neg) == 1 and A[0, pos[0]] == 1 and A[0, neg[0]] == -1:
            return f"y{pos[0]} - y{neg[0]}"
    return f"case{case}/d{disjunct}"


def _real_margin(net: Network, case, A, b, x) -> float:
    """Margin at an input point clipped into the box (an upper bound on the exact min)."""
    if x is None:
        return math.inf
    x = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), case.lower, case.upper)
    y = net.forward(x[None, :])[0]
    return float(np.max(A @ y - b))


def gap_table(net: Network, prop: Property, methods: Sequence[str] = DEFAULT_METHODS,
              timeout: float = 60.0, options: VerifyOptions | None = None,
              tighten_timeout: float | None = None, progress=None) -> GapTable:
    """The gap table of a property (see module docstring).

    Args:
        net, prop: the network and property.
        methods: bound methods; those not registered are skipped with a note.
        timeout: seconds per (objective, method) solve.
        options: pipeline options (``full_solve`` is forced on).
        tighten_timeout: seconds for the tightening of a case (default ``max(timeout,
            60)``).
        progress: optional callback receiving one-line messages.
    """
    start = time.monotonic()
    opts = gap_options(options)
    prop.check_fits(net.n_inputs, net.n_outputs)
    methods, notes = available_methods(methods)
    say = progress or (lambda message: None)
    table = GapTable(name=prop.name or "property", methods=methods, notes=notes)
    tighten_budget = max(timeout, 60.0) if tighten_timeout is None else tighten_timeout
    for k, case in enumerate(prop.cases):
        ctx = CaseContext(net, case, opts, time.monotonic() + 3600.0, None)
        if _NEEDS_TIGHTENED & set(methods) and opts.lp_tighten:
            # ctx.tightened() uses half of the remaining time
            ctx.deadline = time.monotonic() + 2.0 * tighten_budget
            say(f"case {k}: {opts.tighten.method} tightening")
            ctx.tightened()
        table.layers += layer_widths(net, case_bounds(ctx), case=k)
        for d, poly in enumerate(case.disjuncts):
            row = ObjectiveGap(k, d, _objective_label(prop, k, d))
            upper = math.inf
            for m in methods:
                ctx.deadline = time.monotonic() + timeout
                t0 = time.perf_counter()
                status, bound, x = "ok", -math.inf, None
                try:
                    bound, x = BOUND_METHODS[m](ctx, poly.A, poly.b)
                except _Timeout:
                    status = "timeout"
                row.times[m] = time.perf_counter() - t0
                exact = ctx.stats.pop("_last_exact", None)
                if exact is not None:
                    if exact.get("optimum") is not None:
                        row.exact = float(exact["optimum"])
                    lo, hi = exact.get("bracket") or (-math.inf, math.inf)
                    bound = max(float(bound), float(lo)) if status == "timeout" else bound
                    upper = min(upper, float(hi))
                    x = exact.get("x", x)
                row.bounds[m] = float(bound)
                row.statuses[m] = status
                upper = min(upper, _real_margin(net, case, poly.A, poly.b, x))
                say(f"case {k} disjunct {d} {m}: {bound:.6g} ({status}, "
                    f"{row.times[m]:.1f}s)")
            best = max(row.bounds.values(), default=-math.inf)
            if row.exact is not None:
                row.exact_lower = row.exact_upper = row.exact
            else:
                row.exact_lower, row.exact_upper = best, max(upper, best)
            table.objectives.append(row)
    table.seconds = time.monotonic() - start
    return table


# --------------------------------------------------------------------------- many images
@dataclass
class GapSummary:
    """Gap tables over a set of images and their aggregate per method.

    ``aggregate[m]``: ``mean_bound`` (over all objectives), ``mean_gap_low`` /
    ``mean_gap_high`` (mean of ``exact - bound``; equal when every exact value is known),
    ``certified`` (images whose every objective has bound > 0), ``objectives``.
    """

    eps: float
    methods: list[str]
    images: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    tables: list[GapTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def aggregate(self) -> dict[str, dict]:
        out = {}
        objs = [o for t in self.tables for o in t.objectives]
        for m in self.methods:
            bounds = [o.bounds.get(m, -math.inf) for o in objs]
            gaps = [o.gap(m) for o in objs] if m != "milp" else [
                (o.exact_lower - o.bounds.get(m, -math.inf),
                 o.exact_upper - o.bounds.get(m, -math.inf)) for o in objs]
            certified = sum(all(o.bounds.get(m, -math.inf) > 0 for o in t.objectives)
                            for t in self.tables)
            out[m] = {"mean_bound": _mean(bounds), "mean_gap_low": _mean([g[0] for g in gaps]),
                      "mean_gap_high": _mean([g[1] for g in gaps]), "certified": certified,
                      "objectives": len(objs)}
        shares = [o.krelu_share() for o in objs]
        shares = [s for s in shares if s is not None]
        exact_known = sum(o.exact is not None for o in objs)
        out["_all"] = {"images": len(self.tables), "objectives": len(objs),
                       "exact_known": exact_known,
                       "exact_certified": sum(all(o.exact_lower > 0 for o in t.objectives)
                                              for t in self.tables),
                       "falsified": sum(any(o.exact_upper <= 0 for o in t.objectives)
                                        for t in self.tables),
                       "mean_krelu_share": _mean(shares) if shares else None}
        return out

    def aggregate_rows(self) -> list[dict]:
        agg = self.aggregate
        return [{"method": m, **agg[m]} for m in self.methods]

    def to_text(self) -> str:
        agg = self.aggregate
        a = agg["_all"]
        head = ["method", "mean bound", "mean gap", "certified"]
        body = []
        for m in self.methods:
            r = agg[m]
            gap = (_num(r["mean_gap_low"]) if r["mean_gap_low"] == r["mean_gap_high"]
                   else f"[{_num(r['mean_gap_low'])}, {_num(r['mean_gap_high'])}]")
            body.append([m, _num(r["mean_bound"]), gap, f"{r['certified']}/{a['images']}"])
        lines = [f"eps {self.eps:g}: {a['images']} images ({len(self.skipped)} misclassified "
                 f"skipped), {a['objectives']} objectives, exact optimum known for "
                 f"{a['exact_known']}", _align(head, body)]
        share = a["mean_krelu_share"]
        if share is not None:
            lines.append(f"mean share of the triangle gap closed by krelu: {100 * share:.1f}%"
                         + ("" if a["exact_known"] == a["objectives"] else
                            " (against the upper end of the exact bracket where the MILP "
                            "did not finish: a lower estimate)"))
        lines.append(f"images proved by the exact bracket: {a['exact_certified']}, with a "
                     f"counterexample: {a['falsified']}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    __str__ = to_text

    def to_dict(self) -> dict:
        return json_safe({"eps": self.eps, "methods": self.methods, "images": self.images,
                       "skipped": self.skipped, "aggregate": self.aggregate,
                       "notes": self.notes, "tables": [t.to_dict() for t in self.tables]})

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        return _csv(self.aggregate_rows())

    def objectives_csv(self) -> str:
        rows = []
        for img, t in zip(self.images, self.tables):
            rows += [{"image": img, **r} for r in t.objective_rows()]
        return _csv(rows)

    def to_markdown(self) -> str:
        agg = self.aggregate
        out = [f"### eps {self.eps:g}, {agg['_all']['images']} images", "",
               "| method | mean bound | mean gap (low) | mean gap (high) | certified |",
               "|---|---:|---:|---:|---:|"]
        for m in self.methods:
            r = agg[m]
            out.append(f"| {m} | {_num(r['mean_bound'])} | {_num(r['mean_gap_low'])} | "
                       f"{_num(r['mean_gap_high'])} | {r['certified']} |")
        return "\n".join(out) + "\n"

    def write(self, csv_path=None, json_path=None, md_path=None) -> None:
        if csv_path:
            _write(csv_path, self.to_csv())
            stem = csv_path[:-4] if csv_path.endswith(".csv") else csv_path
            _write(stem + "_objectives.csv", self.objectives_csv())
        if json_path:
            _write(json_path, self.to_json())
        if md_path:
            _write(md_path, self.to_markdown())


def gap_over_images(net: Network, images: np.ndarray, labels: np.ndarray, eps: float,
                    indices: Iterable[int] | None = None,
                    methods: Sequence[str] = DEFAULT_METHODS, timeout: float = 60.0,
                    options: VerifyOptions | None = None, domain=(0.0, 1.0),
                    progress=None) -> GapSummary:
    """Gap tables of L∞ robustness at ``eps`` around each image; misclassified skipped."""
    images = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    labels = np.asarray(labels).reshape(-1).astype(int)
    indices = range(len(images)) if indices is None else list(indices)
    kept, notes = available_methods(methods)
    summary = GapSummary(eps=float(eps), methods=kept, notes=notes)
    say = progress or (lambda message: None)
    for i in indices:
        x, label = images[i], int(labels[i])
        if int(np.argmax(net.forward(x[None, :])[0])) != label:
            summary.skipped.append(i)
            say(f"image {i}: misclassified, skipped")
            continue
        prop = linf_robustness(x, eps, label, net.n_outputs, domain=domain,
                               name=f"image{i}_eps{eps:g}")
        table = gap_table(net, prop, kept, timeout=timeout, options=options, progress=say)
        summary.images.append(i)
        summary.tables.append(table)
        say(f"image {i}: done ({table.seconds:.1f}s)")
    return summary


def parse_index(text: str | None, n: int) -> list[int]:
    """``"0:10"`` / ``"3"`` / ``"1,4,7"`` / None (all) -> indices below ``n``."""
    if text is None or text == "":
        return list(range(n))
    if ":" in text:
        a, b = text.split(":", 1)
        return list(range(int(a or 0), min(int(b) if b else n, n)))
    return [int(t) for t in text.split(",") if t.strip()]


# --------------------------------------------------------------------------- CLI
def add_gap_subparser(subparsers) -> None:
    """``verifier gap NET SPEC`` / ``verifier gap NET --images X.npy --labels y.npy``."""
    g = subparsers.add_parser(
        "gap", help="relaxation gap table: every method's bound vs the exact optimum",
        description="Per objective (each adversarial label), the certified lower bound of "
                    "each method, the exact MILP optimum (or its bracket) and the gaps; per "
                    "layer the unstable neurons and bound widths. With --images, the "
                    "aggregate over L-inf robustness of many images.")
    g.add_argument("network", help="network file (.onnx or .nnet)")
    g.add_argument("spec", nargs="?", help="property file (VNN-LIB 1.0); or use --images")
    g.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated methods (default: %(default)s)")
    g.add_argument("--timeout", type=float, default=60.0,
                   help="seconds per (objective, method) solve (60)")
    g.add_argument("--images", help=".npy of images (N, ...) in [0, 1]")
    g.add_argument("--labels", help=".npy of labels (N,)")
    g.add_argument("--eps", type=float, help="L-inf radius (with --images)")
    g.add_argument("--index", help="images to use: 0:10, 3 or 1,4,7 (default all)")
    g.add_argument("--no-tighten", action="store_true",
                   help="skip the tightening of intermediate bounds (DeepPoly's only)")
    add_tighten_argument(g)     # the layer table names its row after it
    g.add_argument("--csv", metavar="F", help="write CSV (and F_layers.csv / F_objectives.csv)")
    g.add_argument("--json", metavar="F", help="write JSON")
    g.add_argument("--md", metavar="F", help="write Markdown")
    g.add_argument("--quiet", action="store_true", help="no progress lines")


def run_gap_command(args) -> int:
    """Run ``verifier gap`` (returns the exit code; errors raise VerifierError)."""
    import sys

    from verifier.errors import VerifierError
    from verifier.network import load_network
    from verifier.spec import load_vnnlib

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    options = VerifyOptions(lp_tighten=not args.no_tighten,
                            tighten=TightenOptions(method=args.tighten))
    progress = None if args.quiet else (lambda m: print(f"  .. {m}", file=sys.stderr))
    net = load_network(args.network)
    if args.images:
        if args.labels is None or args.eps is None:
            raise VerifierError("--images needs --labels and --eps")
        images, labels = _load_array(args.images), _load_array(args.labels)
        if len(images) != len(labels):
            raise VerifierError(f"{len(images)} images but {len(labels)} labels")
        summary = gap_over_images(net, images, labels, args.eps,
                                  parse_index(args.index, len(images)), methods,
                                  timeout=args.timeout, options=options, progress=progress)
        print(summary.to_text())
        summary.write(args.csv, args.json, args.md)
        return 0
    if args.spec is None:
        raise VerifierError("give a SPEC file or --images/--labels/--eps")
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    table = gap_table(net, prop, methods, timeout=args.timeout, options=options,
                      progress=progress)
    print(table.to_text())
    table.write(args.csv, args.json, args.md)
    return 0


def _load_array(path: str) -> np.ndarray:
    from verifier.errors import InputFileError
    try:
        return np.load(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc


# --------------------------------------------------------------------------- helpers
def _mean(values) -> float:
    values = [float(v) for v in values]
    if not values:
        return math.nan
    if any(math.isinf(v) for v in values):
        return values[0] if all(v == values[0] for v in values) else (
            math.inf if any(v == math.inf for v in values) else -math.inf)
    return float(np.mean(values))


def _num(v) -> str:
    if v is None:
        return "-"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.4g}"


def _align(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    fmt = lambda row: "  ".join(  # noqa: E731
        (str(c).ljust(w) if i == 0 else str(c).rjust(w)) for i, (c, w) in
        enumerate(zip(row, widths)))
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body])




def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    return buf.getvalue()


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)
