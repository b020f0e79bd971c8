"""Properties: a list of cases, each an input box and a disjunction of unsafe output polytopes.

The property is *violated* (answer ``sat``) when some case has a point ``x`` in its box whose
output ``y = f(x)`` satisfies ``A y <= b`` for one of the case's disjuncts. It *holds*
(``unsat``) when no such point exists. This is VNN-LIB's reading: the file asserts the unsafe
set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from verifier.errors import EmptyInputBoxError, SpecError


@dataclass(frozen=True, eq=False)
class OutputPolytope:
    """The unsafe output set ``{y : A y <= b}`` (``A_i y < b_i`` on the rows marked strict).

    Every bound method works with the closure (``<=`` everywhere): a margin bound > 0
    proves that no point of the closure, hence none of the set, is reached. Only the
    replay of a witness (:meth:`contains`) tells strict rows apart.

    Attributes:
        A: (m, n_outputs) float64 matrix (m may be 0: every output is unsafe).
        b: (m,) float64 vector.
        strict: (m,) bool, or None when no row is strict (VNN-LIB 1.0 reads ``<`` as
            ``<=``; VNN-LIB 2.0 queries keep the difference).
    """

    A: np.ndarray
    b: np.ndarray
    strict: np.ndarray | None = None

    def __post_init__(self):
        A = np.atleast_2d(np.asarray(self.A, dtype=np.float64))
        b = np.asarray(self.b, dtype=np.float64).reshape(-1)
        if A.shape[0] != b.shape[0]:
            raise SpecError(f"output polytope: A has {A.shape[0]} rows, b has {b.shape[0]}")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        if self.strict is not None:
            strict = np.asarray(self.strict, dtype=bool).reshape(-1)
            if strict.shape != b.shape:
                raise SpecError(f"output polytope: {strict.size} strictness flags for "
                                f"{b.size} rows")
            object.__setattr__(self, "strict", strict if strict.any() else None)

    def contains(self, y: np.ndarray) -> bool:
        """Whether the single output ``y`` satisfies every row exactly (strict rows
        strictly)."""
        if self.A.shape[0] == 0:
            return True
        slack = self.A @ np.asarray(y, dtype=np.float64).reshape(-1) - self.b
        if self.strict is None:
            return bool(np.all(slack <= 0))
        return bool(np.all(np.where(self.strict, slack < 0, slack <= 0)))

    def margin(self, y: np.ndarray) -> np.ndarray:
        """``max_i (A y - b)_i`` per sample: <= 0 exactly when y is in the polytope.

        Args:
            y: (n_outputs,) or (N, n_outputs).
        Returns:
            scalar or (N,) array; -inf when there are no rows.
        """
        Y = np.atleast_2d(y)
        if self.A.shape[0] == 0:
            out = np.full(Y.shape[0], -np.inf)
        else:
            out = (Y @ self.A.T - self.b).max(axis=1)
        return out[0] if np.ndim(y) == 1 else out


@dataclass(frozen=True, eq=False)
class Case:
    """One input box with the disjunction of unsafe output polytopes that goes with it.

    Attributes:
        lower / upper: (n_inputs,) the input box.
        disjuncts: the unsafe output polytopes.
        constraints: rows ``H y <= h`` (non-strict) that every point of the case also
            satisfies, over the network output (VNN-LIB 2.0 queries: linear constraints
            between inputs and equalities, read through the joint network's output).
            The unsafe set of disjunct ``d`` is ``{x in box : H f(x) <= h, A_d f(x) <=
            b_d}``. Methods that cannot use the rows bound the larger set without them
            (sound); LP and MILP methods add them as rows; replays check them. None: no
            such rows.
        input_rows: rows ``C x <= d`` (non-strict) on the input itself, a further
            restriction of the box (VNN-LIB 2.0 linear input constraints), treated like
            ``constraints``; the box contains every point that meets them. None: no such
            rows.
    """

    lower: np.ndarray
    upper: np.ndarray
    disjuncts: tuple[OutputPolytope, ...]
    constraints: OutputPolytope | None = None
    input_rows: OutputPolytope | None = None

    def __post_init__(self):
        lo = np.asarray(self.lower, dtype=np.float64).reshape(-1)
        hi = np.asarray(self.upper, dtype=np.float64).reshape(-1)
        if lo.shape != hi.shape:
            raise SpecError(f"input box: {lo.size} lower and {hi.size} upper bounds")
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
            raise SpecError("input box contains NaN")
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise EmptyInputBoxError(
                f"empty input box: lower bound {lo[i]:g} > upper bound {hi[i]:g} for X_{i}"
                + (f" and {bad.size - 1} more" if bad.size > 1 else ""))
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "disjuncts", tuple(self.disjuncts))
        if self.constraints is not None and self.constraints.A.shape[0] == 0:
            object.__setattr__(self, "constraints", None)
        if self.input_rows is not None and self.input_rows.A.shape[0] == 0:
            object.__setattr__(self, "input_rows", None)

    def admits(self, y: np.ndarray) -> bool:
        """Whether the output ``y`` satisfies the case's constraints exactly."""
        return self.constraints is None or self.constraints.contains(y)

    def contains_input(self, x: np.ndarray, tol: float = 0.0) -> bool:
        """Whether x is in the box (and meets the input rows, when ``tol == 0``)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        inside = bool(np.all(x >= self.lower - tol) and np.all(x <= self.upper + tol))
        if tol == 0 and inside and self.input_rows is not None:
            return self.input_rows.contains(x)
        return inside

    def violation_margin(self, y: np.ndarray) -> float:
        """``min`` over disjuncts of the polytope margin: <= 0 iff y is unsafe."""
        if not self.disjuncts:
            return np.inf
        return float(min(d.margin(np.asarray(y, dtype=np.float64).reshape(-1))
                         for d in self.disjuncts))


@dataclass(frozen=True, eq=False)
class Property:
    """A property: the union of its cases' unsafe sets must be unreachable.

    Attributes:
        cases: the cases (input boxes with their output disjunctions).
        n_inputs / n_outputs: variable counts X_0..X_{n-1}, Y_0..Y_{m-1}.
        name: for reports (usually the spec file name).
    """

    cases: tuple[Case, ...]
    n_inputs: int
    n_outputs: int
    name: str = "property"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "cases", tuple(self.cases))
        for k, case in enumerate(self.cases):
            if case.lower.size != self.n_inputs:
                raise SpecError(f"case {k}: box has {case.lower.size} inputs, "
                                f"property declares {self.n_inputs}")
            for d in case.disjuncts:
                if d.A.shape[1] != self.n_outputs:
                    raise SpecError(f"case {k}: output constraint has {d.A.shape[1]} columns, "
                                    f"property declares {self.n_outputs} outputs")

    def check_fits(self, n_inputs: int, n_outputs: int) -> None:
        """Raise SpecError when the variable counts differ from the network's."""
        if self.n_inputs != n_inputs or self.n_outputs != n_outputs:
            raise SpecError(f"property {self.name!r} has {self.n_inputs} inputs and "
                            f"{self.n_outputs} outputs, the network has {n_inputs} inputs and "
                            f"{n_outputs} outputs")

    def is_counterexample(self, x: np.ndarray, y: np.ndarray, tol: float = 0.0) -> bool:
        """True when x lies in some case's box and y = f(x) in one of its disjuncts.

        ``tol`` widens both tests (use 0 for an exact check).
        """
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if tol == 0:
            return any(case.contains_input(x) and case.admits(y)
                       and any(d.contains(y) for d in case.disjuncts) for case in self.cases)
        return any(case.contains_input(x, tol) and case.violation_margin(y) <= tol
                   for case in self.cases)


def linf_robustness(x0: np.ndarray, eps: float, label: int, n_outputs: int,
                    domain: tuple[float, float] | None = (0.0, 1.0),
                    name: str | None = None) -> Property:
    """L∞ robustness of a classifier around ``x0``.

    Unsafe: some ``j != label`` with ``y_label - y_j <= 0`` (one disjunct per j), over the box
    ``[x0 - eps, x0 + eps]`` clipped to ``domain``.
    """
    x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
    if not 0 <= label < n_outputs:
        raise SpecError(f"label {label} is not an output index (0..{n_outputs - 1})")
    if eps < 0:
        raise SpecError(f"eps must be >= 0, got {eps}")
    lo, hi = x0 - eps, x0 + eps
    if domain is not None:
        lo = np.clip(lo, domain[0], domain[1])
        hi = np.clip(hi, domain[0], domain[1])
    disjuncts = []
    for j in range(n_outputs):
        if j == label:
            continue
        a = np.zeros((1, n_outputs))
        a[0, label], a[0, j] = 1.0, -1.0   # y_label - y_j <= 0
        disjuncts.append(OutputPolytope(a, np.zeros(1)))
    return Property((Case(lo, hi, tuple(disjuncts)),), x0.size, n_outputs,
                    name or f"linf_eps{eps:g}_label{label}",
                    meta={"eps": eps, "label": label})


def output_at_least(lower: np.ndarray, upper: np.ndarray, index: int, threshold: float,
                    n_outputs: int, name: str | None = None) -> Property:
    """Property "``y_index >= threshold`` on the whole box"; unsafe: ``y_index < threshold``.

    The unsafe set is closed as ``y_index <= threshold`` (VNN-LIB has no strict inequality).
    """
    a = np.zeros((1, n_outputs))
    a[0, index] = 1.0
    lower = np.asarray(lower, dtype=np.float64).reshape(-1)
    return Property((Case(lower, upper, (OutputPolytope(a, [threshold]),)),), lower.size,
                    n_outputs, name or f"y{index}>={threshold:g}")


def halfspace_property(lower: np.ndarray, upper: np.ndarray,
                       polytopes: Sequence[tuple[np.ndarray, np.ndarray]], n_outputs: int,
                       name: str = "property") -> Property:
    """A single-box property from a list of ``(A, b)`` unsafe polytopes."""
    lower = np.asarray(lower, dtype=np.float64).reshape(-1)
    return Property((Case(lower, upper, tuple(OutputPolytope(A, b) for A, b in polytopes)),),
                    lower.size, n_outputs, name)
