"""``split`` on any DAG: input-splitting branch and bound with batched DAG bounds.

The same search as :class:`~verifier.methods.split.InputSplit` (pieces of the input box,
candidates from their centres, the corners of the weakest and the vertices their bounds
pick, halving by gradient-weighted width), but each batch of pieces is bounded by
:func:`~verifier.bounds.dag_batched.dag_box_bounds`: DeepPoly with every piece's own
ReLU lines, through residual Adds, branches and several networks side by side (joint
graphs of VNN-LIB 2.0 queries), every node's bounds intersected with the root box's.

Soundness: each piece's bound is a DeepPoly bound on the piece, rounded outward by the
root box's magnitude vectors (valid on every piece); the engine keeps the minimum over
the pruned pieces.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from verifier.bounds.chain import dense_chain

from verifier.bounds.dag_backsub import node_scales
from verifier.bounds.dag_batched import dag_box_bounds
from verifier.bounds.relu_lines import relu_lines
from verifier.methods.branching.disjunct import Disjunct
from verifier.methods.branching.domains import DomainBatch
from verifier.methods.branching.engine import Bounded, EngineOptions, branch_and_bound
from verifier.methods.context import CaseContext
from verifier.methods.options import SplitOptions
from verifier.methods.outcome import MethodOutcome
from verifier.errors import NetworkError
from verifier.methods.split import (CORNER_INPUTS, InputSplit, optimum_tolerance,
                                    search_outcome, split_margin)

__all__ = ["DagInputSplit", "dag_split_margin", "split_any_margin"]


def split_any_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """``split``: the chain engine on a chain of affine + ReLU layers ending in an affine
    layer (forward bounds, inherited bounds), the DAG engine on any other graph."""
    try:
        chain = dense_chain(ctx.net)
    except NetworkError:
        return dag_split_margin(ctx, A, b)
    return dag_split_margin(ctx, A, b) if chain[-1][2] else split_margin(ctx, A, b)


class DagInputSplit(InputSplit):
    """:class:`~verifier.methods.split.InputSplit` over any DAG (module docstring)."""

    def __init__(self, ctx: CaseContext, disjunct: Disjunct, options: SplitOptions,
                 stats: dict):
        self.ctx, self.disjunct, self.options, self.stats = ctx, disjunct, options, stats
        self.root = ctx.deeppoly()
        net = ctx.net
        lines = {r: relu_lines(self.root[net.inputs_of(r)[0]].lower,
                               self.root[net.inputs_of(r)[0]].upper)
                 for r in net.relu_names()}
        self.scales = node_scales(net, self.root, lines)
        case = ctx.case
        self.free = case.upper > case.lower
        n_free = int(self.free.sum())
        self.corner_bits = None
        if n_free <= CORNER_INPUTS:
            grid = np.array(np.meshgrid(*[[0.0, 1.0]] * n_free)).reshape(n_free, -1).T
            self.corner_bits = np.zeros((grid.shape[0], self.free.size))
            self.corner_bits[:, self.free] = grid
        self._centre = None
        self.seconds_per_box: float | None = None
        stats.setdefault("leaf_milps", 0)

    def bound(self, batch: DomainBatch, lower: np.ndarray, level: float = 0.0) -> Bounded:
        """Batched DAG DeepPoly on every piece; the vertex of each piece's weakest row."""
        d = self.disjunct
        found = dag_box_bounds(self.ctx.net, batch["lower"], batch["upper"], d.C,
                               self.root, self.scales, deadline=self.ctx.deadline)
        bounds = found.lower - d.c0
        row = np.argmax(bounds, axis=1)
        vertex = found.corner[np.arange(len(row)), row]
        return Bounded(bounds.max(axis=1), DomainBatch({"vertex": vertex}))


def dag_split_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """Input-splitting branch and bound over the case's box on any DAG."""
    options = ctx.options.split
    stats: dict = {"graph": "dag"}
    ctx.stats.setdefault("split", []).append(stats)
    search = DagInputSplit(ctx, Disjunct.of(ctx, A, b), options, stats)
    pgd = replace(ctx.options.falsify, random_points=0, pgd_restarts=8, pgd_steps=20,
                  seed=ctx.options.seed + 1)
    root = DomainBatch({"lower": ctx.case.lower[None, :].copy(),
                        "upper": ctx.case.upper[None, :].copy()})
    engine = EngineOptions("split", batch=options.batch, selection="partition", pgd_every=1,
                           pgd=pgd, optimum_tolerance=optimum_tolerance(ctx))
    result = branch_and_bound(ctx, search, root, search.disjunct, engine, stats)
    return search_outcome(result)
