"""``split``: branch and bound over the input box, many pieces per step.

For networks with few inputs (ACAS Xu, control policies) the input box is split into
pieces, thousands bounded per step. By default (``SplitOptions.intermediate="hybrid"``) a
piece's ReLU layers are bounded by forward linear forms in the input, the neurons these
leave unstable again by back-substitution, both intersected with the bounds of the
piece's parent (:func:`~verifier.bounds.forward.forward_output_lower`); the output rows
are back-substituted through the resulting lines. Pieces whose bound is > 0 are proved;
optionally (``leaf_per_step``) pieces with few unstable ReLUs are solved by a small MILP.
The centres of the open pieces, the vertices where their bounds' linear forms are
smallest and the corners of the weakest few are evaluated, and a point of margin <= 0 is
replayed as a counterexample. Each open piece is halved along one input
(``SplitOptions.rule``; by default the largest ``width_i * (|g_i| + mean_j |g_j|)``, ``g``
the gradient of the violated row at the centre).

Soundness: a piece's bound is a DeepPoly bound rounded outward by the chain's margin
(:func:`~verifier.bounds.rounding.chain_relative_margin`) times magnitude scales of the
whole box (valid for every piece inside it), or a leaf MILP's dual bound made safe; the
bounds a piece inherits hold on its parent, hence on it, and are stored as float32
rounded outward; the engine keeps the minimum over the proved pieces
(:mod:`.branching.engine`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from verifier.bounds.batched import batched_output_lower
from verifier.bounds.chain import dense_chain, magnitude_scales
from verifier.bounds.forward import forward_output_lower
from verifier.bounds.rounding import chain_relative_margin
from verifier.errors import NetworkError
from verifier.methods.branching.disjunct import Disjunct
from verifier.methods.branching.domains import DomainBatch
from verifier.methods.branching.engine import (Bounded, EngineOptions, SearchResult,
                                               branch_and_bound)
from verifier.methods.context import CaseContext
from verifier.methods.milp import milp_margin, piece_milp_margin
from verifier.methods.options import SplitOptions
from verifier.methods.outcome import MethodOutcome
from verifier.witness import output_gradient, replay

#: at most this many free inputs: the corners of the weakest open pieces are evaluated
CORNER_INPUTS = 6
#: that many of the open pieces (lowest bounds) per step
CORNER_PIECES = 16
#: candidates the short projected gradient search starts from
PGD_STARTS = 8
#: above this many inputs the first step bounds one piece, to learn what a piece costs
LARGE_INPUT = 100
#: above this many inputs pieces are bounded by back-substitution only
FORWARD_INPUTS = 32


class InputSplit:
    """The :class:`~verifier.methods.branching.engine.Search` of input splitting.

    Domains are boxes (fields ``lower``, ``upper``: (D, n_in)).
    """

    def __init__(self, ctx: CaseContext, chain, disjunct: Disjunct, options: SplitOptions,
                 stats: dict):
        self.ctx, self.chain, self.disjunct, self.options, self.stats = (
            ctx, chain, disjunct, options, stats)
        case = ctx.case
        self.scales = magnitude_scales(chain, case.lower, case.upper)
        self.relative_margin = chain_relative_margin(chain)
        self.intermediate = intermediate_bounds(ctx.net.n_inputs, options)
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

    def batch_size(self, default: int, remaining: float) -> int:
        """At most as many pieces as fit in half the time left, from the last step's
        seconds per piece (big networks take seconds per piece)."""
        if self.seconds_per_box is None:
            return 1 if self.ctx.net.n_inputs > LARGE_INPUT else default
        return max(1, min(default, int(0.5 * remaining / max(self.seconds_per_box, 1e-9))))

    def note_cost(self, seconds_per_domain: float) -> None:
        self.seconds_per_box = seconds_per_domain

    def bound(self, batch: DomainBatch, lower: np.ndarray, level: float = 0.0) -> Bounded:
        """Batched DeepPoly on every piece, then exact MILPs on a few small ones at or
        below ``level``."""
        lo, hi = batch["lower"], batch["upper"]
        d = self.disjunct
        opts = self.options
        if self.intermediate != "backward":
            known = None
            if "pre_lo" in batch.fields:     # the parent's bounds (float32, rounded outward)
                known = list(zip(batch["pre_lo"], batch["pre_hi"]))
            piece = forward_output_lower(
                self.chain, lo, hi, d.C, self.scales, known=known,
                relative_margin=self.relative_margin,
                refine=self.intermediate == "hybrid", deadline=self.ctx.deadline)
            forms, unstable = piece.bounds, piece.unstable
            row = np.argmax(forms - d.c0, axis=1)
            data = DomainBatch({"vertex": piece.minimizers[np.arange(len(lo)), row],
                                "pre_lo": [outward32(p[0], -np.inf) for p in piece.pre],
                                "pre_hi": [outward32(p[1], np.inf) for p in piece.pre]})
        else:
            forms, unstable = batched_output_lower(self.chain, lo, hi, d.C, self.scales,
                                                   unstable_counts=True,
                                                   deadline=self.ctx.deadline,
                                                   relative_margin=self.relative_margin)
            data = DomainBatch({})
        bound = (forms - d.c0).max(axis=1)
        leaves = np.flatnonzero((bound <= level) & (unstable <= opts.leaf_unstable))
        for i in leaves[:opts.leaf_per_step]:
            self.ctx.check_time()
            leaf_bound, leaf_x, highs = piece_milp_margin(
                self.ctx.net, lo[i], hi[i], d.A, d.b, self.ctx.options.deeppoly,
                min(self.ctx.remaining(), opts.leaf_time_limit), self.ctx.deadline)
            self.ctx.add_time("highs", highs)
            self.stats["leaf_milps"] += 1
            if leaf_x is not None:
                witness = replay(self.ctx.net, d.single, leaf_x, 0, self.ctx.onnx_path)
                if witness is not None:
                    return Bounded(bound, data, witness)
            if leaf_bound > level:
                bound[i] = leaf_bound
        return Bounded(bound, data)

    def _evaluate_centres(self, lo: np.ndarray, hi: np.ndarray):
        """The pieces' centres, every node's value there, the rows' violations and the
        margins; kept for :meth:`branch`."""
        net, d = self.ctx.net, self.disjunct
        centre = (lo + hi) / 2
        values = net.forward(centre, all_nodes=True)
        viol = values[net.output_name] @ d.A.T - d.b
        self._centre = (centre, values, viol, viol.max(axis=1))
        return self._centre

    def candidates(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch):
        """The open pieces' centres, the vertices where their bounds' linear forms are
        smallest, and (for few free inputs) the corners of the ``CORNER_PIECES`` pieces
        of lowest bound; PGD starts from the best of them."""
        lo, hi = batch["lower"], batch["upper"]
        net, d = self.ctx.net, self.disjunct
        centre, values, viol, margin = self._evaluate_centres(lo, hi)
        extra = [data["vertex"]] if "vertex" in data.fields else []
        if self.corner_bits is not None:
            # violations often sit on the box boundary: every corner of the weakest pieces
            weak = np.argsort(lower)[:CORNER_PIECES]
            corners = (lo[weak, None, :]
                       + self.corner_bits[None, :, :] * (hi - lo)[weak, None, :])
            extra.append(corners.reshape(-1, lo.shape[1]))
        points, point_margin = centre, margin
        if extra:                    # one forward pass for the vertices and corners
            extra = np.vstack(extra)
            points = np.vstack([centre, extra])
            point_margin = np.concatenate([margin, d.margins(net, extra)])
        order = np.argsort(point_margin)
        k = int(order[0])
        return points[k], float(point_margin[k]), points[order[:PGD_STARTS]]

    def branch(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch):
        """Halve every open piece along the input its rule picks; children
        ``[upper halves; lower halves]``."""
        lo, hi = batch["lower"], batch["upper"]
        if self._centre[0].shape[0] != lo.shape[0]:   # the engine pruned some after candidates
            self._evaluate_centres(lo, hi)
        centre, values, viol, margin = self._centre
        free, rule = self.free, self.options.rule
        if rule == "widest":
            score = np.where(free, hi - lo, -1.0)
        else:
            rows = self.disjunct.A[np.argmax(viol, axis=1)]
            grad = np.abs(output_gradient(self.ctx.net, centre, rows, values))
            if rule == "mixed" and free.any():
                grad = grad + grad[:, free].mean(axis=1, keepdims=True)
            score = np.where(free, (hi - lo) * (grad + 1e-9), -1.0)
        dim = np.argmax(score, axis=1)
        rows = np.arange(lo.shape[0])
        mid = centre[rows, dim]
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[rows, dim] = mid
        right_lo[rows, dim] = mid
        children = DomainBatch({"lower": np.vstack([right_lo, lo]),
                                "upper": np.vstack([hi, left_hi])})
        if "pre_lo" in data.fields:
            children = children.replace(
                pre_lo=[np.vstack([a, a]) for a in data["pre_lo"]],
                pre_hi=[np.vstack([a, a]) for a in data["pre_hi"]])
        key = margin if self.options.order == "centre" else lower
        return children, np.concatenate([lower, lower]), np.concatenate([key, key])


def intermediate_bounds(n_inputs: int, options: SplitOptions) -> str:
    """``options.intermediate``, but ``"backward"`` above ``FORWARD_INPUTS`` inputs (a
    forward form has a coefficient per input, per neuron and per piece)."""
    return options.intermediate if n_inputs <= FORWARD_INPUTS else "backward"


def outward32(bound: np.ndarray, direction: float) -> np.ndarray:
    """``bound`` as float32, rounded toward ``direction`` (-inf: never above the float64
    value, +inf: never below): half the memory for the bounds pieces carry."""
    return np.nextafter(bound.astype(np.float32), np.float32(direction))


def optimum_tolerance(ctx: CaseContext) -> float | None:
    """The engine's tolerance: search the minimum itself only with ``full_solve``."""
    return ctx.options.optimum_tolerance if ctx.options.full_solve else None


def search_outcome(result: SearchResult) -> MethodOutcome:
    """A search's result as a method outcome: its bound, the witness or best point, the
    bracket of the exact minimum, and the minimum when it was searched and found."""
    if result.optimum is not None:
        return MethodOutcome(result.lower, result.best_x, optimum=result.optimum,
                             bracket=(result.lower, result.optimum))
    if result.witness is not None:
        return MethodOutcome(result.lower, result.witness.x,
                             bracket=(result.lower, result.witness.margin),
                             witness_found=True)
    return MethodOutcome(result.lower, result.best_x, bracket=(result.lower, result.best_margin),
                         timed_out=result.timed_out)


def split_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """Input-splitting branch and bound over the case's box (networks that are not a
    chain of affine and ReLU layers ending in an affine layer go to
    :func:`~verifier.methods.milp.milp_margin`)."""
    try:
        chain = dense_chain(ctx.net)
    except NetworkError:
        return milp_margin(ctx, A, b)
    if chain[-1][2]:              # a ReLU on the output: not what batched bounds take
        return milp_margin(ctx, A, b)
    options = ctx.options.split
    stats: dict = {}
    ctx.stats.setdefault("split", []).append(stats)
    search = InputSplit(ctx, chain, Disjunct.of(ctx, A, b), options, stats)
    pgd = replace(ctx.options.falsify, random_points=0, pgd_restarts=8, pgd_steps=20,
                  seed=ctx.options.seed + 1)
    root = DomainBatch({"lower": ctx.case.lower[None, :].copy(),
                        "upper": ctx.case.upper[None, :].copy()})
    if search.intermediate != "backward":      # no bounds known yet: the parents' to come
        widths = [W.shape[0] for W, _, relu in chain if relu]
        root = root.replace(pre_lo=[np.full((1, n), -np.inf, np.float32) for n in widths],
                            pre_hi=[np.full((1, n), np.inf, np.float32) for n in widths])
    engine = EngineOptions("split", batch=options.batch, selection="partition", pgd_every=1,
                           pgd=pgd, optimum_tolerance=optimum_tolerance(ctx))
    result = branch_and_bound(ctx, search, root, search.disjunct, engine, stats)
    return search_outcome(result)
