"""`Result`: the verdict with everything needed to trust it (data, no behaviour)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from verifier.witness import Witness

VERDICTS = ("unsat", "sat", "unknown", "timeout", "error")


def json_safe(value):
    """``value`` with numpy scalars/arrays turned into Python numbers and lists, and
    non-finite floats into ``"inf"`` / ``"-inf"`` / ``None`` (JSON has no infinities)."""
    if isinstance(value, np.ndarray):
        return [json_safe(float(x)) for x in value.reshape(-1)]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(x) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(x) for x in value]
    return value


@dataclass
class DisjunctOutcome:
    """What is known about one (case, disjunct) objective.

    The objective is the violation margin ``m(x) = max_i (A_i f(x) - b_i)`` over the case
    box; the disjunct is safe iff ``min m > 0``.

    Attributes:
        case, disjunct: indices into the property.
        bounds: method -> certified lower bound on ``min m`` (``-inf`` when none).
        status: ``"proved"`` (some bound > 0), ``"violated"`` (replayed witness),
            ``"open"``.
        best_margin: smallest margin seen at a real point (an upper bound on ``min m``).
        exact: the exact ``min m`` when an exact method finished, else None.
        exact_bracket: ``[dual bound, incumbent]`` of an exact method that stopped early.
    """

    case: int
    disjunct: int
    bounds: dict[str, float] = field(default_factory=dict)
    status: str = "open"
    best_margin: float = float("inf")
    exact: float | None = None
    exact_bracket: tuple[float, float] | None = None


@dataclass
class Result:
    """The answer of :func:`verifier.verify`.

    Attributes:
        verdict: ``unsat`` (property proved), ``sat`` (replayed counterexample),
            ``unknown``, ``timeout`` or ``error``.
        method: the method asked for.
        witness: the replayed counterexample for ``sat``.
        disjuncts: one :class:`DisjunctOutcome` per (case, disjunct).
        timings: seconds per phase (``falsify``, ``bounds``, ``lp``, ``highs``, ``total``...).
        solver_versions: e.g. ``{"highs": "1.16.0"}``.
        options: the options used (as a dict).
        message: a human-readable reason (why unknown, what failed).
        stats: counters per method.
        assignment: for a ``sat`` answer to a VNN-LIB 2.0 query, the value of every
            declared variable (name -> array of its declared shape), in declaration
            order.
    """

    verdict: str
    method: str
    property_name: str = ""
    witness: Witness | None = None
    disjuncts: list[DisjunctOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    solver_versions: dict[str, str] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    message: str = ""
    stats: dict = field(default_factory=dict)
    assignment: dict[str, np.ndarray] | None = None

    def certified_margin(self, method: str | None = None) -> float:
        """Smallest over disjuncts of the best certified lower bound (by ``method``)."""
        values = []
        for d in self.disjuncts:
            if method is not None:
                values.append(d.bounds.get(method, -np.inf))
            else:
                values.append(max(d.bounds.values(), default=-np.inf))
        return float(min(values)) if values else float("inf")

    def to_dict(self) -> dict:
        out = {"verdict": self.verdict, "method": self.method, "property": self.property_name,
               "message": self.message, "timings": self.timings,
               "solver_versions": self.solver_versions, "options": self.options,
               "stats": self.stats,
               "disjuncts": [asdict(d) for d in self.disjuncts]}
        if self.witness is not None:
            w = self.witness
            out["witness"] = {"x": w.x, "y": w.y, "case": w.case, "disjunct": w.disjunct,
                              "margin": w.margin, "checked_with": list(w.checked_with)}
        if self.assignment is not None:
            out["assignment"] = {name: {"shape": list(np.shape(value)), "values": value}
                                 for name, value in self.assignment.items()}
        return json_safe(out)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
