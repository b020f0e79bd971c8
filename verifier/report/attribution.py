"""Where the gap comes from: the triangle LP's gap split over the ReLU layers.

For one objective ``min margin`` of a case, let ``v(S)`` be the optimum of the model in
which the ReLU layers in ``S`` are encoded exactly (big-M with binaries,
:func:`verifier.relaxations.big_m`) and all others by the triangle, every layer over the
*same* pre-activation bounds (DeepPoly, LP-tightened when the options say so). Then
``v(∅)`` is the triangle LP, ``v(all)`` the exact MILP optimum, and ``gap = v(all) - v(∅)``.

What is mathematically true (and what the tests assert):

* **monotone**: over ``[l, u]`` the big-M model's projection onto ``(x, y)`` is the graph of
  the ReLU, a subset of the triangle, so ``S ⊆ S'`` implies ``v(S) <= v(S')``; hence every
  per-layer number below lies in ``[0, gap]``;
* **one ReLU layer**: ``alone`` = ``gap`` exactly;
* **several layers**: the gap is *not* additive over layers. ``alone[L] = v({L}) - v(∅)``
  (make only L exact) can sum to less than the gap (layers whose looseness only matters
  together) or to more (each layer's fix alone removes the same slack).
  ``leave_one_out[L] = v(all) - v(all \\ {L})`` has the same caveat;
* **Shapley shares** (``mode="shapley"``, ``2^L`` solves, for small ``L``) average the
  marginal gains ``v(S ∪ {L}) - v(S)`` over all orders; they are ``>= 0`` and sum to the
  gap *exactly* (efficiency), the one split that adds up.

Numbers here are solver optima (MIP gap 1e-9 relative), not certified bounds: the
attribution is descriptive; the certified bounds are in :mod:`verifier.report.gap`.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from solvers import Status
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds import Bounds
from verifier.encode.summary import export_summary, row_kind  # noqa: F401 (re-exported)
from verifier.encode import encode_network, with_disjunct
from verifier.network import Network
from verifier.relaxations import big_m, triangle
from verifier.spec import Property
from verifier.methods import CaseContext, VerifyOptions
from verifier.methods.margins import margin_range

__all__ = ["GapAttribution", "attribute_gap", "layer_subset_value", "export_summary",
           "row_kind"]

MAX_SHAPLEY_LAYERS = 6


@dataclass
class GapAttribution:
    """Per-layer split of the triangle gap of one objective (see module docstring).

    Attributes:
        layers: ReLU node names, in order.
        triangle: ``v(∅)``; exact: ``v(all)`` (None if the MILP did not finish).
        alone: layer -> ``v({L}) - v(∅)``.
        leave_one_out: layer -> ``v(all) - v(all \\ {L})``.
        shapley: layer -> Shapley share (only with ``mode="shapley"``).
        values: ``frozenset`` of layers -> ``v(S)`` for every solved subset.
        finished: False if some solve hit the time limit (its value is then the dual
            bound, and the contracts above may fail).
    """

    layers: list[str]
    triangle: float
    exact: float | None
    alone: dict[str, float] = field(default_factory=dict)
    leave_one_out: dict[str, float] = field(default_factory=dict)
    shapley: dict[str, float] = field(default_factory=dict)
    values: dict[frozenset, float] = field(default_factory=dict)
    finished: bool = True
    seconds: float = 0.0

    @property
    def gap(self) -> float | None:
        return None if self.exact is None else self.exact - self.triangle

    def to_dict(self) -> dict:
        return {"layers": self.layers, "triangle": self.triangle, "exact": self.exact,
                "gap": self.gap, "alone": self.alone, "leave_one_out": self.leave_one_out,
                "shapley": self.shapley, "finished": self.finished, "seconds": self.seconds}

    def to_text(self) -> str:
        gap = self.gap
        lines = [f"triangle LP {self.triangle:.6g}, exact {self._n(self.exact)}, "
                 f"gap {self._n(gap)}"
                 + ("" if self.finished else " (some solves hit the time limit)")]
        head = f"{'layer':<12}{'alone':>12}{'leave-one-out':>15}"
        if self.shapley:
            head += f"{'shapley':>12}{'share':>9}"
        lines.append(head)
        for L in self.layers:
            line = (f"{L:<12}{self._n(self.alone.get(L)):>12}"
                    f"{self._n(self.leave_one_out.get(L)):>15}")
            if self.shapley:
                s = self.shapley[L]
                share = f"{100 * s / gap:.1f}%" if gap and gap > 1e-12 else "-"
                line += f"{self._n(s):>12}{share:>9}"
            lines.append(line)
        if self.shapley:
            lines.append(f"{'sum':<12}{self._n(sum(self.alone.values())):>12}"
                         f"{self._n(sum(self.leave_one_out.values())):>15}"
                         f"{self._n(sum(self.shapley.values())):>12}")
        else:
            lines.append(f"{'sum':<12}{self._n(sum(self.alone.values())):>12}"
                         f"{self._n(sum(self.leave_one_out.values())):>15}")
        lines.append("alone = gain from making only that layer exact; leave-one-out = loss "
                     "from relaxing only that layer; shapley shares sum to the gap")
        return "\n".join(lines)

    __str__ = to_text

    @staticmethod
    def _n(v) -> str:
        return "-" if v is None else f"{v:.4g}"


def layer_subset_value(net: Network, bounds: dict[str, Bounds], A: np.ndarray, b: np.ndarray,
                       exact_layers, t_bounds: tuple[float, float],
                       time_limit: float = 60.0) -> tuple[float, bool]:
    """``v(S)``: optimum of ``min margin`` with the layers in ``exact_layers`` big-M, the rest
    triangle. Returns ``(value, finished)``; on a time limit the value is the MIP dual bound.
    """
    exact_layers = set(exact_layers)
    blocks = {}
    for r in net.relu_names():
        pre = bounds[net.inputs_of(r)[0]]
        blocks[r] = [big_m(pre, r) if r in exact_layers else triangle(pre, r)]
    encoded = encode_network(net, bounds, blocks)
    model = with_disjunct(encoded, encoded.columns[net.output_name], A, b, t_bounds,
                          label="disjunct")
    backend = HighsBackend(HighsOptions(threads=1, mip_rel_gap=1e-9))
    backend.load(model)
    result = backend.solve(SolveLimits(time_limit=time_limit))
    if result.status == Status.OPTIMAL and result.objective is not None:
        return float(result.objective), True
    if result.dual_bound is not None:
        return float(result.dual_bound), False
    return -math.inf, False


def attribute_gap(net: Network, prop: Property, case: int = 0, disjunct: int = 0,
                  options: VerifyOptions | None = None, mode: str = "alone",
                  time_limit: float = 60.0, bounds: dict[str, Bounds] | None = None
                  ) -> GapAttribution:
    """Split the triangle gap of one objective over the ReLU layers.

    Args:
        net, prop: network and property; ``case`` / ``disjunct`` pick the objective.
        options: pipeline options (bounds: DeepPoly, LP-tightened if ``lp_tighten``).
        mode: ``"alone"`` (``L + 2`` solves: triangle, exact, each layer alone, each layer
            left out) or ``"shapley"`` (all ``2^L`` subsets; at most
            ``MAX_SHAPLEY_LAYERS`` layers).
        time_limit: seconds per solve.
        bounds: pre-computed node bounds to use instead (must be sound for the case box).
    """
    if mode not in ("alone", "shapley"):
        raise ValueError(f"mode must be 'alone' or 'shapley', got {mode!r}")
    start = time.monotonic()
    options = options or VerifyOptions()
    c = prop.cases[case]
    poly = c.disjuncts[disjunct]
    ctx = CaseContext(net, c, options, time.monotonic() + 3600.0)
    if bounds is None:
        bounds = ctx.tightened()
    t_bounds = margin_range(ctx, poly.A, poly.b, bounds)
    layers = list(net.relu_names())
    if mode == "shapley" and len(layers) > MAX_SHAPLEY_LAYERS:
        raise ValueError(f"shapley needs 2^L solves; {len(layers)} layers is more than "
                         f"{MAX_SHAPLEY_LAYERS}: use mode='alone'")
    values: dict[frozenset, float] = {}
    done: dict[frozenset, bool] = {}

    def v(S) -> float:
        key = frozenset(S)
        if key not in values:
            values[key], done[key] = layer_subset_value(net, bounds, poly.A, poly.b, key,
                                                        t_bounds, time_limit)
        return values[key]

    full = frozenset(layers)
    tri, exact = v(()), v(full)
    out = GapAttribution(layers, tri, exact)
    for L in layers:
        out.alone[L] = v({L}) - tri
        out.leave_one_out[L] = exact - v(full - {L})
    if mode == "shapley":
        n = len(layers)
        for L in layers:
            others = [x for x in layers if x != L]
            total = 0.0
            for size in range(n):
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                for S in itertools.combinations(others, size):
                    total += weight * (v(set(S) | {L}) - v(S))
            out.shapley[L] = total
    out.values = values
    out.finished = all(done.values())
    if not done[full]:
        out.exact = None
    out.seconds = time.monotonic() - start
    return out


# --------------------------------------------------------------------------- exports
