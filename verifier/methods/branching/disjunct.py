"""The disjunct a search works on, and its counterexample handling.

A search minimises the margin ``m(x) = max_i (A_i f(x) - b_i)`` of one disjunct over the
case's box. Bounds use the rows of ``A`` and their convex combinations; a point whose
margin is <= 0 counts only after it is replayed exactly against the disjunct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verifier.methods.context import CaseContext
from verifier.methods.margins import single_disjunct
from verifier.spec import Property
from verifier.witness import FalsifyOptions, Witness, falsify_disjunct, replay

#: at most this many pairs of rows are mixed by :func:`convex_combinations`
MAX_ROW_PAIRS = 64


def convex_combinations(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``lambda @ A`` (and ``lambda @ b``) for the unit vectors, every pair average and
    the uniform weights: ``max_i (A_i y - b_i) >= lambda @ (A y - b)`` for each, so the
    best of their lower bounds bounds the margin; mixtures catch conjunctions that no single
    row refutes (ACAS Xu property 2)."""
    m = A.shape[0]
    weights = [np.eye(m)]
    if m > 1:
        pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
        if len(pairs) <= MAX_ROW_PAIRS:
            mix = np.zeros((len(pairs), m))
            for r, (i, j) in enumerate(pairs):
                mix[r, [i, j]] = 0.5
            weights.append(mix)
        weights.append(np.full((1, m), 1.0 / m))
    L = np.vstack(weights)
    return L @ A, L @ b


@dataclass(frozen=True, eq=False)
class Disjunct:
    """One disjunct ``A y <= b`` of a case, as a search needs it.

    Attributes:
        A, b: the rows; C, c0: their convex combinations (:func:`convex_combinations`).
        single: the disjunct over the case's box as a property (for replay).
    """

    A: np.ndarray
    b: np.ndarray
    C: np.ndarray
    c0: np.ndarray
    single: Property

    @classmethod
    def of(cls, ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> "Disjunct":
        C, c0 = convex_combinations(A, b)
        return cls(A, b, C, c0, single_disjunct(ctx, A, b))

    def margins(self, net, X: np.ndarray) -> np.ndarray:
        """(N,) margins at the inputs X (N, n_in)."""
        return (net.forward(X) @ self.A.T - self.b).max(axis=1)


def refine_candidate(ctx: CaseContext, disjunct: Disjunct, candidate: np.ndarray,
                     candidate_margin: float, starts: np.ndarray, pgd_options: FalsifyOptions,
                     best: tuple, run_pgd: bool = True, seeking: bool = False
                     ) -> tuple[tuple, Witness | None]:
    """One search step's counterexample handling.

    Unless the candidate already violates (margin <= 0), a short projected gradient
    search from ``starts`` may improve it (when ``run_pgd``); the best ``(x, margin)`` so
    far is updated; a candidate with margin <= 0 is replayed exactly against the disjunct.
    When ``seeking`` the minimum itself, the gradient search runs whatever the margin and
    nothing is replayed (the search goes on).

    Returns:
        (best (x, margin), the replayed :class:`Witness` or None).
    """
    if run_pgd and (candidate_margin > 0 or seeking):
        x, m = falsify_disjunct(ctx.net, ctx.case, disjunct.A, disjunct.b, pgd_options,
                                extra_starts=starts, deadline=ctx.deadline)
        if m < candidate_margin:
            candidate, candidate_margin = x, m
    if candidate_margin < best[1]:
        best = (candidate.copy(), candidate_margin)
    if candidate_margin <= 0 and not seeking:
        witness = replay(ctx.net, disjunct.single, candidate, 0, ctx.onnx_path)
        if witness is not None:
            return best, witness
    return best, None
