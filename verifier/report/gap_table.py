"""Gap tables as data: per objective each method's certified bound, the exact optimum (or
its bracket) and the gaps; per layer the bound widths. Rendered as text, CSV, JSON or
Markdown (built by :mod:`verifier.report.gap`)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from verifier.report.render import align_table, format_number, rows_to_csv, write_text
from verifier.verify.result import json_safe


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
        return rows_to_csv(rows)

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
        out += ["", *[f"- {n}" for n in self.notes]] if self.notes else []
        return "\n".join(out) + "\n"

    def to_text(self) -> str:
        head, body = self._cells()
        lines = [f"{self.name}: lower bounds of min margin per method; exact = MILP optimum "
                 "or [lower, upper]; gap = exact - bound", align_table(head, body)]
        lhead, lbody = self._layer_cells()
        if lbody:
            lines += ["", "pre-activation bounds per layer (unstable / mean width / median "
                          "width)", align_table(lhead, lbody)]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"({self.seconds:.1f}s)")
        return "\n".join(lines)

    __str__ = to_text

    def write(self, csv_path: str | None = None, json_path: str | None = None,
              md_path: str | None = None) -> None:
        """Write the renderings that are asked for (CSV objectives; layers to
        ``<stem>_layers.csv`` next to it)."""
        if csv_path:
            write_text(csv_path, self.to_csv())
            stem = csv_path[:-4] if csv_path.endswith(".csv") else csv_path
            write_text(stem + "_layers.csv", self.to_csv(layers=True))
        if json_path:
            write_text(json_path, self.to_json())
        if md_path:
            write_text(md_path, self.to_markdown())

    def _cells(self):
        relax = [m for m in self.methods if m != "milp"]
        head = ["objective"] + self.methods + ["exact"] + [f"gap {m}" for m in relax]
        if "krelu" in self.methods and "triangle" in self.methods:
            head.append("krelu closes")
        body = []
        for o in self.objectives:
            row = [o.label] + [format_number(o.bounds.get(m, -math.inf)) for m in self.methods]
            row.append(format_number(o.exact) if o.exact is not None
                       else f"[{format_number(o.exact_lower)}, {format_number(o.exact_upper)}]")
            for m in relax:
                lo, hi = o.gap(m)
                row.append(format_number(lo) if lo == hi else f"[{format_number(lo)}, {format_number(hi)}]")
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
