"""k-ReLU cuts in an LP: separate at the LP point, add the rows, re-solve.

:class:`KReluSeparator` binds the hulls of a case
(:class:`~verifier.relaxations.krelu_separation.KReluHulls`) to an encoding: it reads each
layer's ``x``/``y`` values and the duals of the triangle's upper rows from an LP solution
(through the encoder's column and row maps), asks for the violated facets (constraint
blocks) and maps them to model rows. :func:`minimise_with_cuts` is the one loop that
solves, separates, appends the rows to the *same* HiGHS object (the dual simplex restarts
from the previous basis) and re-solves; it serves the margin LP of ``krelu``, the
per-neuron LPs of k-ReLU tightening and the cuts given to the MILP.

Soundness: every bound comes from :func:`~verifier.lp.certify.certified_minimum` on the
backend whose ``model`` holds all rows added so far (``add_rows`` keeps ``backend.model``
in step with HiGHS). Bounds of earlier rounds are certificates for weaker models and stay
valid; the best one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from solvers import SolveResult
from solvers.highs import HighsBackend, SolveLimits
from verifier.encode import EncodedNetwork, block_matrix
from verifier.lp.certify import certified_minimum
from verifier.relaxations.krelu_separation import KReluHulls


@dataclass
class CutRows:
    """Cut rows over a model's columns: ``M z <= upper``, with names and separation keys."""

    M: sp.csr_matrix
    upper: np.ndarray
    names: list[str]
    keys: list[tuple[int, int, int]]

    def add_to(self, backend: HighsBackend) -> None:
        backend.add_rows(self.M, np.full(len(self.upper), -np.inf), self.upper, self.names)


class KReluSeparator:
    """Violated hull facets at an LP point of one encoding, as model rows.

    Args:
        encoded: the encoding the LP was built from (its columns come first in the LP).
        hulls: the case's groups and hulls; every layer it covers must be in the encoding.
    """

    def __init__(self, encoded: EncodedNetwork, hulls: KReluHulls):
        self.encoded, self.hulls = encoded, hulls
        self.last = {"candidates": 0, "new_hulls": 0, "tested": 0}

    def _values(self, z: np.ndarray) -> dict[str, np.ndarray]:
        cols = self.encoded.columns
        out = {}
        for layer in self.hulls.layers:
            out[layer.pre], out[layer.relu] = z[cols[layer.pre]], z[cols[layer.relu]]
        return out

    def _weights(self, duals: np.ndarray | None) -> dict[str, np.ndarray] | None:
        """Per layer, ``|dual|`` of each neuron's triangle upper row (0 without one)."""
        if duals is None:
            return None
        out = {}
        for layer in self.hulls.layers:
            rows, neurons = self.encoded.rows_of(layer.relu, "tri_up")
            weight = np.zeros(layer.size)
            weight[neurons] = np.abs(duals[rows])
            out[layer.relu] = weight
        return out

    def separate(self, result: SolveResult, n_cols: int, deadline: float | None,
                 added: set, all_groups: bool = False, hard_deadline: float | None = None
                 ) -> CutRows | None:
        """The facets violated at ``result.x`` not yet in ``added`` (updated), over
        ``n_cols`` model columns; None when there is none. No hull is started after
        ``deadline``; past ``hard_deadline`` octahedral bounds raise
        :class:`~verifier.errors.TimeLimitReached`."""
        hulls = self.hulls
        found = hulls.separate(self._values(result.x), self._weights(result.row_duals),
                               deadline, added, all_groups, hard_deadline)
        self.last = {"candidates": found.candidates, "new_hulls": found.new_hulls,
                     "tested": found.tested}
        if found.n_rows == 0:
            return None
        net = hulls.net
        M = sp.vstack([block_matrix(self.encoded, block, net.inputs_of(block.node)[0], n_cols)
                       for block in found.blocks]).tocsr()
        upper = np.concatenate([block.row_upper for block in found.blocks])
        names = [name for block in found.blocks for name in block.row_names]
        return CutRows(M, upper, names, found.keys)


class CutPool:
    """The cuts found for one case, over the first ``n_base`` columns (the encoding's):
    each is valid on the whole input box, so every LP of the case may start with them."""

    def __init__(self, n_base: int):
        self.n_base = n_base
        self.rows: list[sp.csr_matrix] = []
        self.upper: list[np.ndarray] = []
        self.names: list[str] = []
        self.keys: set[tuple[int, int, int]] = set()

    @property
    def n_rows(self) -> int:
        return len(self.names)

    def remember(self, cuts: CutRows) -> None:
        """Add the cuts whose keys are not pooled yet."""
        new = [i for i, key in enumerate(cuts.keys) if key not in self.keys]
        if not new:
            return
        self.keys.update(cuts.keys[i] for i in new)
        self.rows.append(sp.csr_matrix(cuts.M)[new][:, :self.n_base])
        self.upper.append(cuts.upper[new])
        self.names += [cuts.names[i] for i in new]

    def cut_rows(self, n_cols: int) -> CutRows | None:
        """The pool over ``n_cols`` columns (None when empty)."""
        if not self.rows:
            return None
        M = sp.vstack(self.rows).tocsr()
        M = sp.csr_matrix((M.data, M.indices, M.indptr), shape=(M.shape[0], n_cols))
        return CutRows(M, np.concatenate(self.upper), list(self.names), sorted(self.keys))


@dataclass
class CutLoop:
    """What :func:`minimise_with_cuts` did.

    Attributes:
        best: the best certified lower bound over the rounds (``-inf``: none).
        result: the last solve's result.
        rounds: separation rounds that added rows; rows_added: rows they added.
        bounds, objectives: per solve, the certified bound and the LP objective.
    """

    best: float = -np.inf
    result: SolveResult | None = None
    rounds: int = 0
    rows_added: int = 0
    bounds: list[float] = field(default_factory=list)
    objectives: list[float | None] = field(default_factory=list)


def minimise_with_cuts(backend: HighsBackend,
                       separate: Callable[[SolveResult, int], CutRows | None] | None,
                       limits: Callable[[], SolveLimits | None], max_rounds: int,
                       stop_above: float | None = None, min_progress: float | None = None,
                       on_rows: Callable[[CutRows], None] | None = None) -> CutLoop:
    """Minimise the loaded objective, adding separated cuts between solves.

    Args:
        backend: holds the LP (objective set).
        separate: ``(result, round) -> CutRows or None`` (None: no more cuts); None: solve
            once.
        limits: the limits of the next solve, or None when the time is up (checked before
            every solve).
        max_rounds: re-solves after the first solve at most.
        stop_above: stop once the certified bound exceeds this (the question is answered).
        min_progress: stop when a round raised the objective by less than
            ``min_progress * (1 + |objective|)``.
        on_rows: called with every batch of rows added (e.g. to pool them).
    """
    loop = CutLoop()
    prev_obj = None
    while True:
        solve_limits = limits()
        if solve_limits is None:
            break
        bound, result = certified_minimum(backend, solve_limits)
        loop.result = result
        loop.best = max(loop.best, bound)
        loop.bounds.append(float(bound))
        obj = result.objective
        loop.objectives.append(None if obj is None else float(obj))
        if result.x is None or obj is None or separate is None:
            break
        if stop_above is not None and loop.best > stop_above:
            break
        if (min_progress is not None and prev_obj is not None
                and obj - prev_obj < min_progress * (1 + abs(prev_obj))):
            break
        if loop.rounds >= max_rounds:
            break
        cuts = separate(result, loop.rounds)
        if cuts is None:
            break
        cuts.add_to(backend)
        if on_rows is not None:
            on_rows(cuts)
        loop.rows_added += len(cuts.upper)
        prev_obj = obj
        loop.rounds += 1
    return loop
