"""``bab`` on any DAG: ReLU-split branch and bound with batched DAG bounds.

The same search as the chain's :class:`~verifier.methods.bab.ReluSplit` (a sub-domain is
the input box with some ReLUs fixed active or inactive; branch on the unstable ReLU whose
triangle loses most in the bound, BaBSR's score), bounded by
:func:`~verifier.bounds.dag_batched.dag_box_bounds`: DeepPoly with each sub-domain's
split neurons clamped to their signs and every later bound recomputed through residual
Adds, branches and several networks side by side (joint graphs of VNN-LIB 2.0 queries).
A sub-domain keeps its parent's bounds of every ReLU input (intersected with the new
ones) and its parent's bound when its own comes out lower. Where DeepPoly leaves a
sub-domain open on a small graph (``LP_EVERY_DOMAIN``), and at every leaf (no ReLU left
unstable), the triangle LP over the sub-domain's bounds decides, certified from its duals;
at a leaf it is exact (every ReLU is linear, its input's column bounds carry the split
signs, the case's linear input rows are rows of it), which keeps the search complete.

Soundness: each bound is a DeepPoly bound valid on its sub-domain (clamping a split
neuron's bounds to its sign restricts the inputs to the sub-domain; the linear bound is
then minimised over the whole box, a superset), rounded outward by the root box's
magnitude vectors; a sub-domain whose clamped bounds cross is empty. The active and
inactive children of a split cover their parent, so the engine's minimum over the
pruned sub-domains bounds the margin on the box.
"""

from __future__ import annotations

import numpy as np

from solvers.highs import HighsOptions
from verifier.bounds.chain import relu_chain
from verifier.bounds.dag_backsub import node_scales
from verifier.bounds.dag_batched import dag_box_bounds
from verifier.bounds.relu_lines import relu_lines
from verifier.bounds.types import Bounds
from verifier.errors import NetworkError
from verifier.methods.bab import bab_margin, best_points, split_best_relu
from verifier.methods.branching.disjunct import Disjunct
from verifier.methods.branching.domains import DomainBatch
from verifier.methods.branching.engine import Bounded, EngineOptions, branch_and_bound
from verifier.methods.context import CaseContext
from verifier.methods.margins import relaxation_lp_margin
from verifier.methods.milp import milp_margin
from verifier.methods.outcome import MethodOutcome
from verifier.methods.split import optimum_tolerance, search_outcome
from verifier.relaxations import triangle

#: graphs with at most this many ReLUs get the triangle LP over every sub-domain that
#: DeepPoly leaves open (it has the split signs as column bounds: much tighter, milliseconds
#: on such graphs), larger ones only at leaves (bench/README.md, "Pruned pairs")
LP_EVERY_DOMAIN = 2000

__all__ = ["DagReluSplit", "bab_any_margin", "dag_bab_margin"]


def bab_any_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """``bab``: the chain engine (alpha-beta, cuts, MILP refinement) on a chain of affine +
    ReLU layers, the DAG engine on any other graph with ReLUs, the MILP on a graph
    without ReLUs (a linear program)."""
    try:
        relu_chain(ctx.net)
    except NetworkError:
        if not list(ctx.net.relu_names()):
            return milp_margin(ctx, A, b)
        return dag_bab_margin(ctx, A, b)
    return bab_margin(ctx, A, b)


class DagReluSplit:
    """The :class:`~verifier.methods.branching.engine.Search` of ReLU splitting on a DAG.

    Domain fields, per ReLU node (lists in ``net.relu_names()`` order): ``lo``, ``hi``
    (D, n_r) bounds of its input valid on the domain and ``state`` (D, n_r) int8 (+1
    active, -1 inactive, 0 free).
    """

    def __init__(self, ctx: CaseContext, disjunct: Disjunct, stats: dict):
        self.ctx, self.disjunct, self.stats = ctx, disjunct, stats
        net = ctx.net
        self.root = ctx.tightened()
        self.relus = list(net.relu_names())
        self.pres = [net.inputs_of(r)[0] for r in self.relus]
        lines = {r: relu_lines(self.root[p].lower, self.root[p].upper)
                 for r, p in zip(self.relus, self.pres)}
        self.scales = node_scales(net, self.root, lines)
        self.neurons = sum(self.root[p].size for p in self.pres)
        self.seconds_per_domain: float | None = None
        stats.setdefault("lps", 0)

    def root_domain(self) -> DomainBatch:
        return DomainBatch({
            "lo": [self.root[p].lower[None, :].copy() for p in self.pres],
            "hi": [self.root[p].upper[None, :].copy() for p in self.pres],
            "state": [np.zeros((1, self.root[p].size), dtype=np.int8) for p in self.pres]})

    def batch_size(self, default: int, remaining: float) -> int:
        """``default``, fewer where one step would take more than a tenth of the time
        left (a wide convolutional graph takes seconds per sub-domain)."""
        if self.seconds_per_domain is None:
            return 1
        fits = int(0.1 * max(remaining, 0.0) / max(self.seconds_per_domain, 1e-9))
        return max(1, min(default, fits))

    def note_cost(self, seconds_per_domain: float) -> None:
        self.seconds_per_domain = seconds_per_domain

    def bound(self, batch: DomainBatch, lower: np.ndarray, level: float = 0.0) -> Bounded:
        """Batched DAG DeepPoly on every sub-domain (never below its parent's bound); the
        triangle LP where that leaves it open, at leaves (exact there) or on every
        sub-domain of a graph of at most ``LP_EVERY_DOMAIN`` ReLUs."""
        ctx, d, case, net = self.ctx, self.disjunct, self.ctx.case, self.ctx.net
        D = len(batch)
        found = ctx.timed("bab_bounds", lambda: dag_box_bounds(
            net, np.repeat(case.lower[None, :], D, axis=0),
            np.repeat(case.upper[None, :], D, axis=0), d.C, self.root, self.scales,
            deadline=ctx.deadline, states=dict(zip(self.relus, batch["state"])),
            known={p: (lo, hi) for p, lo, hi in zip(self.pres, batch["lo"], batch["hi"])},
            keep_nodes=True))
        rows = found.lower - d.c0
        row = np.argmax(rows, axis=1)
        picked = np.arange(D)
        bound = np.maximum(rows[picked, row], lower)     # the parent's bound holds here too
        points = found.corner[picked, row]
        for p, lo, hi in zip(self.pres, batch["lo"], batch["hi"]):   # children inherit
            lo[:], hi[:] = found.nodes[p]
        coef = [found.relu_rows[r][picked, row] for r in self.relus]
        lp_everywhere = self.neurons <= LP_EVERY_DOMAIN
        for i in np.flatnonzero(((found.unstable == 0) | lp_everywhere) & (bound <= level)):
            ctx.check_time()
            nodes = {name: Bounds(lo[i], hi[i]) for name, (lo, hi) in found.nodes.items()}
            outcome = ctx.timed("bab_lp", lambda: _leaf_lp(ctx, d, nodes))
            self.stats["lps"] += 1
            bound[i] = max(bound[i], outcome.bound)
            if outcome.candidate is not None:
                points[i] = np.clip(outcome.candidate, case.lower, case.upper)
        return Bounded(bound, DomainBatch({"points": points, "coef": coef}))

    def candidates(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch):
        """Each open domain's minimiser of its bound (LP optimum or box corner)."""
        return best_points(self.ctx.net, self.disjunct, data["points"])

    def branch(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch):
        """:func:`~verifier.methods.bab.split_best_relu` (lists per ReLU node)."""
        return split_best_relu(batch, lower, data["coef"])


def _leaf_lp(ctx: CaseContext, d: Disjunct, nodes: dict[str, Bounds]) -> MethodOutcome:
    """The certified triangle LP of the disjunct over one leaf's bounds (exact there);
    presolve off, so that an empty leaf's infeasibility comes with a dual ray."""
    net = ctx.net
    blocks = {r: [triangle(nodes[net.inputs_of(r)[0]], r)] for r in net.relu_names()}
    return relaxation_lp_margin(ctx, d.A, d.b, blocks, "bab_leaf", nodes,
                                HighsOptions(threads=1, presolve=False))


def dag_bab_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """ReLU-split branch and bound over the case's box on any DAG."""
    opts = ctx.options.bab
    stats: dict = {"graph": "dag"}
    ctx.stats.setdefault("bab", []).append(stats)
    disjunct = Disjunct.of(ctx, A, b)
    search = DagReluSplit(ctx, disjunct, stats)
    ctx.check_time()
    engine = EngineOptions("bab", batch=opts.batch, max_open=opts.max_open, selection="sorted",
                           pgd_every=opts.pgd_every, pgd=ctx.options.falsify,
                           optimum_tolerance=optimum_tolerance(ctx))
    return search_outcome(branch_and_bound(ctx, search, search.root_domain(), disjunct,
                                           engine, stats))
