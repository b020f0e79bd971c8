"""Bounds on the values of network nodes, with provenance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Bounds:
    """Elementwise bounds ``lower <= v <= upper`` on a node's value.

    Attributes:
        lower, upper: (n,) float64 arrays (sound: rounded outward where computed).
        provenance: which method produced them (``"input"``, ``"interval"``,
            ``"deeppoly"``, ``"lp"``, ``"milp"``), for reports.
    """

    lower: np.ndarray
    upper: np.ndarray
    provenance: str = "interval"

    def __post_init__(self):
        object.__setattr__(self, "lower", np.asarray(self.lower, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "upper", np.asarray(self.upper, dtype=np.float64).reshape(-1))

    @property
    def size(self) -> int:
        return int(self.lower.size)

    @property
    def width(self) -> np.ndarray:
        return self.upper - self.lower

    def unstable(self) -> np.ndarray:
        """Indices with ``lower < 0 < upper`` (ReLUs that need a relaxation)."""
        return np.flatnonzero((self.lower < 0) & (self.upper > 0))

    def intersect(self, other: "Bounds", provenance: str | None = None) -> "Bounds":
        """Elementwise intersection (both must be sound; the result is then sound)."""
        return Bounds(np.maximum(self.lower, other.lower), np.minimum(self.upper, other.upper),
                      provenance or other.provenance)

    def contains(self, values: np.ndarray, tol: float = 0.0) -> bool:
        """True when every row of ``values`` ((N, n) or (n,)) lies in the bounds."""
        v = np.atleast_2d(values)
        return bool(np.all(v >= self.lower - tol) and np.all(v <= self.upper + tol))


def relu_bounds(pre: Bounds) -> Bounds:
    """Post-activation bounds ``[max(0, l), max(0, u)]`` of a ReLU."""
    return Bounds(np.maximum(pre.lower, 0.0), np.maximum(pre.upper, 0.0), pre.provenance)
