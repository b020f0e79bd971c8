"""``bab``: complete branch and bound over ReLU splits (high-dimensional inputs).

A *sub-domain* is the input box with some ReLUs fixed active (``z >= 0``) or inactive
(``z <= 0``). Each is bounded by batched DeepPoly that **recomputes the later layers'
bounds** through the fixed ReLUs (:func:`~verifier.bounds.split_domains.split_domain_bounds`),
which is what makes a split pay off (Bunel et al., JMLR 2020), then, where that does not
prove it, by optimised lower slopes and split multipliers (alpha-beta-CROWN,
:func:`~verifier.bounds.optimized.optimized_output_bound`), or by a batched dual ascent on
the split constraints written in input space (:func:`~verifier.bounds.dual_ascent.box_rows_dual_bound`).
At a leaf (every ReLU fixed) the split LP is exact and solved by HiGHS (certified from its
duals), which keeps the search complete.

* Start: the tightest bounds of the case at the root (``ctx.tightened()``); the open
  disjuncts of a case are searched at once, sharing the time (:func:`bab_margins`).
* Branch: the unstable ReLU whose triangle loses most in the bound (the intercept of its
  upper line times the magnitude of its coefficient in the bound; BaBSR's score).
* Prune: a bound > 0 proves the sub-domain; an empty one (some ``l > u``, or a split row
  ``0 <= h < 0``) is proved too. A sub-domain keeps its parent's bound when its own is
  lower.
* Falsify: the minimising point of each bound is evaluated; a margin <= 0 is replayed.

Soundness: every bound comes from one of the functions above (each lowered by its
rounding margin, derived a posteriori from the rows the back-substitution carried:
:class:`~verifier.bounds.rounding.RoundingScales`; any slopes and multipliers are valid)
or from a certified LP minimum plus the same margins; the engine returns the minimum over
the pruned sub-domains, which bounds the margin on their union, the whole box.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from solvers import LinearModel
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds.chain import affine_names, relu_chain, rounding_scales
from verifier.bounds.dual_ascent import box_rows_dual_bound
from verifier.bounds.optimized import optimized_output_bound
from verifier.bounds.rounding import DIFFERENCE_ROUNDING, difference_lower
from verifier.bounds.split_domains import split_domain_bounds
from verifier.errors import NetworkError
from verifier.lp import certified_minimum
from verifier.methods.branching.disjunct import Disjunct
from verifier.methods.branching.domains import DomainBatch
from verifier.methods.branching.engine import Bounded, EngineOptions, Job, branch_and_bound_many
from verifier.methods.context import CaseContext
from verifier.methods.krelu import krelu_separation_margin, layer_cuts
from verifier.methods.milp import milp_margin
from verifier.methods.options import BabOptions
from verifier.methods.outcome import MethodOutcome
from verifier.methods.split import PGD_STARTS, optimum_tolerance, search_outcome

#: weight of the lower line's possible loss in the branching score (rarely attained)
LOWER_LINE_WEIGHT = 0.25


def branch_scores(coef: list[np.ndarray], lower: list[np.ndarray], upper: list[np.ndarray]
                  ) -> list[np.ndarray]:
    """Per ReLU layer, (D, n_r) scores of splitting each neuron (-1 for stable ones).

    ``coef[r]`` (D, n_r) is the coefficient of each ReLU output in the domain's bound. A
    coefficient ``c < 0`` on an unstable ReLU uses the triangle's upper line, losing up to
    ``|c| * (-l u / (u - l))``; ``c > 0`` uses the lower line, losing up to
    ``c * min(u, -l)``, counted at ``LOWER_LINE_WEIGHT``.
    """
    scores = []
    for c, l, u in zip(coef, lower, upper):
        unstable = (l < 0) & (u > 0)
        width = np.where(unstable, u - l, 1.0)
        intercept = np.where(unstable, -l * u / width, 0.0)
        score = np.maximum(-c, 0) * intercept + LOWER_LINE_WEIGHT * np.maximum(c, 0) * np.where(
            unstable, np.minimum(u, -l), 0.0)
        scores.append(np.where(unstable, score + 1e-12 * width, -1.0))
    return scores


def split_lp_bound(coef: np.ndarray, const: float, G: np.ndarray, h: np.ndarray,
                   lower: np.ndarray, upper: np.ndarray, time_limit: float):
    """Certified ``min const + coef @ x`` over the box and ``G x <= h``; (bound, x or None).

    An infeasible LP (certified by its dual ray) gives ``+inf``: the sub-domain is empty;
    so does a row ``0 <= h`` with ``h < 0`` (a split the box's linear bound already
    contradicts: the margin in ``h`` is added, so the row is infeasible in exact arithmetic).
    """
    if np.any(np.all(G == 0.0, axis=1) & (h < 0)):
        return np.inf, None
    keep = np.flatnonzero(np.any(G != 0.0, axis=1))
    model = LinearModel(c=coef, A=sp.csr_matrix(G[keep]), row_lower=np.full(keep.size, -np.inf),
                        row_upper=h[keep], col_lower=lower, col_upper=upper)
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(model)
    bound, result = certified_minimum(backend, SolveLimits(time_limit=max(time_limit, 0.01)))
    if not np.isfinite(bound):
        return bound, None
    return difference_lower(const, -bound), result.x


class ReluSplit:
    """The :class:`~verifier.methods.branching.engine.Search` of ReLU splitting.

    Domain fields, per ReLU layer ``r`` (lists): ``lo``, ``hi`` (D, n_r) pre-activation
    bounds valid on the domain; ``state`` (D, n_r) int8 (+1 active, -1 inactive, 0 free);
    ``alpha``, ``beta`` (D, n_r) float32 warm starts (NaN: none); ``gamma`` (D, c_r) the
    cut multipliers' warm starts; and ``first`` (D,), the layer of the domain's last split
    (later layers are re-bounded). ``cuts``: per ReLU layer the root's k-ReLU cuts
    (:class:`~verifier.bounds.optimized.LayerCuts`) or None.
    """

    def __init__(self, ctx: CaseContext, chain, disjunct: Disjunct, scales, options: BabOptions,
                 stats: dict, cuts: list | None = None):
        self.ctx, self.chain, self.disjunct, self.scales = ctx, chain, disjunct, scales
        self.options, self.stats, self.cuts = options, stats, cuts
        self.relu_layers = len(chain) - 1
        stats.setdefault("lps", 0)

    def batch_size(self, default: int, remaining: float) -> int:
        return default

    def note_cost(self, seconds_per_domain: float) -> None:
        pass

    def bound(self, batch: DomainBatch, lower: np.ndarray, level: float = 0.0) -> Bounded:
        ctx, d, opts, case = self.ctx, self.disjunct, self.options, self.ctx.case
        lo, hi, state = batch["lo"], batch["hi"], batch["state"]
        first = int(batch["first"].min()) if opts.rebound else self.relu_layers - 1
        value, on_relu, (const, coef), (G, h) = ctx.timed("bab_bounds", lambda: (
            split_domain_bounds(self.chain, case.lower, case.upper, self.scales, lo, hi, first,
                                d.C, states=state, single=opts.single_rebound,
                                deadline=ctx.deadline)))
        bound_rows = difference_lower(value, d.c0)
        row = np.argmax(bound_rows, axis=1)
        D = row.size
        bound = bound_rows[np.arange(D), row]
        empty = np.zeros(D, dtype=bool)
        for r in range(self.relu_layers):
            empty |= np.any(lo[r] > hi[r], axis=1)
        # a split row 0 <= h < 0: the split contradicts the domain's bounds (h includes
        # the rounding margin)
        empty |= np.any(np.all(G == 0.0, axis=2) & (h < 0), axis=1)
        bound = np.where(empty, np.inf, bound)
        lin_coef = coef[np.arange(D), row]
        points = np.where(lin_coef > 0, case.lower, case.upper)
        coefs = [on_relu[r][np.arange(D), row] for r in range(self.relu_layers)]
        if opts.alpha_beta_iterations > 0:
            self._alpha_beta(batch, row, bound, points, level)
        elif opts.dual_iterations > 0:
            self._dual_ascent(row, bound, points, lin_coef, const, G, h, level)
        self._leaf_lps(batch, row, bound, points, lin_coef, const, G, h, level)
        # the parent's bound holds on the child too (a child's own bound can come out
        # lower: other lines, slopes optimised from another start)
        bound = np.maximum(bound, lower)
        return Bounded(bound, DomainBatch({"row": row, "points": points, "coef": coefs}))

    def _alpha_beta(self, batch, row, bound, points, level) -> None:
        """Optimised slopes and split multipliers on each domain at or below ``level``, on
        its best row; updates ``bound``, ``points`` and the batch's warm starts in place."""
        todo = np.flatnonzero(bound <= level)
        if not todo.size:
            return
        ctx, d, case, opts = self.ctx, self.disjunct, self.ctx.case, self.options
        sub = batch.take(todo)
        start = ({k: sub[k] for k in ("alpha", "beta", "gamma")} if opts.warm_start
                 else None)
        opt, xs, found = ctx.timed("bab_alpha_beta", lambda: optimized_output_bound(
            self.chain, case.lower, case.upper, self.scales, sub["lo"], sub["hi"],
            sub["state"], d.C[row[todo]],
            opts.alpha_beta_iterations if self.cuts is None else opts.cut_iterations,
            start=start, deadline=ctx.deadline, cuts=self.cuts, lr_gamma=opts.cut_lr,
            done_above=level + d.c0[row[todo]] + 1e-9 * (1.0 + np.abs(d.c0[row[todo]]))))
        for name in ("alpha", "beta", "gamma"):
            for r in range(self.relu_layers):
                batch[name][r][todo] = found[name][r]
        opt = difference_lower(opt, d.c0[row[todo]])
        better = opt > bound[todo]
        bound[todo[better]] = opt[better]
        points[todo[better]] = xs[better]

    def _dual_ascent(self, row, bound, points, lin_coef, const, G, h, level) -> None:
        """The split LP's dual, approximately and for all domains at or below ``level``."""
        has_rows = np.any(G != 0.0, axis=(1, 2))
        todo = np.flatnonzero((bound <= level) & has_rows)
        if not todo.size:
            return
        d, case = self.disjunct, self.ctx.case
        shift = const[todo, row[todo]] - d.c0[row[todo]]
        dual, xs = self.ctx.timed("bab_dual", lambda: box_rows_dual_bound(
            lin_coef[todo], shift, G[todo], h[todo], case.lower, case.upper,
            self.options.dual_iterations))
        # const - c0 rounded down, as for the box bound
        dual = dual - DIFFERENCE_ROUNDING * (np.abs(const[todo, row[todo]])
                                             + np.abs(d.c0[row[todo]]))
        better = dual > bound[todo]
        bound[todo[better]] = dual[better]
        points[todo[better]] = xs[better]

    def _leaf_lps(self, batch, row, bound, points, lin_coef, const, G, h, level) -> None:
        """The exact split LP where the bounds above leave a domain with splits at or below
        ``level`` (only at leaves, every ReLU fixed, when ``dual_iterations > 0``:
        completeness)."""
        ctx, d, case = self.ctx, self.disjunct, self.ctx.case
        todo = (bound <= level) & np.any(G != 0.0, axis=(1, 2))
        if self.options.dual_iterations > 0:
            free = np.zeros(row.size, dtype=bool)
            for r in range(self.relu_layers):
                free |= np.any((batch["lo"][r] < 0) & (batch["hi"][r] > 0), axis=1)
            todo &= ~free
        for i in np.flatnonzero(todo):
            ctx.check_time()
            shift = float(difference_lower(const[i, row[i]], d.c0[row[i]]))
            lp_bound, x = ctx.timed("bab_lp", lambda: split_lp_bound(
                lin_coef[i], shift, G[i], h[i], case.lower, case.upper, ctx.remaining()))
            self.stats["lps"] += 1
            bound[i] = max(bound[i], lp_bound)
            if x is not None:
                points[i] = np.clip(x, case.lower, case.upper)

    def candidates(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch):
        """Each open domain's minimiser of its bound (LP optimum or box corner)."""
        return best_points(self.ctx.net, self.disjunct, data["points"])

    def branch(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch):
        """:func:`split_best_relu`; children re-bound from the split's layer on."""
        return split_best_relu(batch, lower, data["coef"], layer_field="first")


def best_points(net, disjunct: Disjunct, points: np.ndarray):
    """The candidates of a ReLU-split search from each open domain's minimising point
    ``points`` (D, n_in): (the best point, its margin, the starts of a gradient search)."""
    margins = disjunct.margins(net, points)
    k = int(np.argmin(margins))
    return points[k], float(margins[k]), points[np.argsort(margins)[:PGD_STARTS]]


def split_best_relu(batch: DomainBatch, lower: np.ndarray, coef: list[np.ndarray],
                    layer_field: str | None = None):
    """Split every domain of ``batch`` (fields ``lo``, ``hi``, ``state``: lists per ReLU
    layer) on its best-scoring unstable ReLU (:func:`branch_scores` of ``coef``): children
    ``[active; inactive]`` with the parents' bounds ``lower`` as bounds and priorities;
    ``layer_field`` gets the split's layer. None when some domain has no unstable ReLU."""
    lo, hi, state = batch["lo"], batch["hi"], batch["state"]
    scores = branch_scores(coef, lo, hi)
    flat = np.concatenate(scores, axis=1)
    choice = np.argmax(flat, axis=1)
    if not np.all(flat[np.arange(choice.size), choice] >= 0):
        return None
    sizes = np.cumsum([0] + [sc.shape[1] for sc in scores])
    layer = np.searchsorted(sizes, choice, side="right") - 1
    neuron = choice - sizes[layer]
    active_lo, inactive_hi = [x.copy() for x in lo], [x.copy() for x in hi]
    active_state, inactive_state = [x.copy() for x in state], [x.copy() for x in state]
    for r in range(len(lo)):
        sel = np.flatnonzero(layer == r)
        active_lo[r][sel, neuron[sel]] = 0.0
        inactive_hi[r][sel, neuron[sel]] = 0.0
        active_state[r][sel, neuron[sel]] = 1
        inactive_state[r][sel, neuron[sel]] = -1
    marks = {} if layer_field is None else {layer_field: layer}
    active = batch.replace(lo=active_lo, state=active_state, **marks)
    inactive = batch.replace(hi=inactive_hi, state=inactive_state, **marks)
    return (DomainBatch.concat([active, inactive]), np.concatenate([lower, lower]),
            np.concatenate([lower, lower]))


def bab_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """Branch and bound over ReLU splits (``VerifyOptions.bab``) of one disjunct; networks
    that are not a chain of affine + ReLU layers (with at least one ReLU layer) go to the
    MILP."""
    found = bab_margins(ctx, [(A, b)])
    return milp_margin(ctx, A, b) if found is None else found[0]


def bab_margins(ctx: CaseContext, polys: list[tuple[np.ndarray, np.ndarray]]
                ) -> list[MethodOutcome] | None:
    """Branch and bound over ReLU splits of several disjuncts ``(A, b)`` of the case at
    once: one search each from the same root, sharing the time
    (:func:`~verifier.methods.branching.engine.branch_and_bound_many`: the weakest first,
    every search moving). None when the network is not a chain of affine + ReLU layers
    (the caller goes to the MILP)."""
    net, case = ctx.net, ctx.case
    try:
        chain = relu_chain(net)
    except NetworkError:
        return None
    if len(chain) < 2:
        return None
    names = affine_names(net)
    opts = ctx.options.bab
    root = ctx.refined(opts.refine_share)
    ctx.check_time()
    outcomes: list = [None] * len(polys)
    cuts = None
    if opts.cuts:
        with ctx.lock:          # the case's k-ReLU state is shared by its disjuncts
            end = time.monotonic() + opts.cut_share * max(ctx.remaining(), 0.0)
            for i, (A, b) in enumerate(polys):
                share = (end - time.monotonic()) / (len(polys) - i)
                outcomes[i], cuts = _root_cuts(ctx, A, b, time.monotonic() + max(share, 0.0))
    layers = range(len(chain) - 1)
    pre = [(root[names[r]].lower, root[names[r]].upper) for r in layers]
    scales = rounding_scales(chain, case.lower, case.upper, pre)
    jobs, which = [], []
    for i, (A, b) in enumerate(polys):
        if outcomes[i] is not None:
            continue
        stats: dict = {}
        ctx.stats.setdefault("bab", []).append(stats)   # one entry per disjunct searched
        disjunct = Disjunct.of(ctx, A, b)
        jobs.append(Job(ReluSplit(ctx, chain, disjunct, scales, opts, stats, cuts),
                        _root_domain(pre, cuts), disjunct, stats))
        which.append(i)
    engine = EngineOptions("bab", batch=opts.batch, max_open=_max_open(opts, jobs),
                           selection="sorted", pgd_every=opts.pgd_every,
                           pgd=ctx.options.falsify, optimum_tolerance=optimum_tolerance(ctx))
    for i, result in zip(which, branch_and_bound_many(ctx, jobs, engine)):
        outcomes[i] = search_outcome(result)
    return outcomes


def _max_open(opts: BabOptions, jobs: list) -> int | None:
    """``opts.max_open``, or as many open sub-domains per search as ``opts.open_memory``
    holds for all the searches (at least 1,000)."""
    if opts.max_open is not None or not jobs:
        return opts.max_open
    root = jobs[0].root
    per_domain = sum(sum(a.nbytes for a in v) if isinstance(v, list) else v.nbytes
                     for v in root.fields.values()) / len(root)
    return max(1000, int(opts.open_memory / (per_domain * len(jobs))))


def _root_domain(pre: list, cuts: list | None) -> DomainBatch:
    """The root sub-domain: the case's bounds, nothing split, no warm starts."""
    layers = range(len(pre))
    return DomainBatch({
        "lo": [pre[r][0][None, :].copy() for r in layers],
        "hi": [pre[r][1][None, :].copy() for r in layers],
        "state": [np.zeros((1, pre[r][0].size), dtype=np.int8) for r in layers],
        # warm starts of the alpha-beta bound, inherited by children (float32: half the
        # memory; any value is sound)
        "alpha": [np.full((1, pre[r][0].size), np.nan, dtype=np.float32) for r in layers],
        "beta": [np.full((1, pre[r][0].size), np.nan, dtype=np.float32) for r in layers],
        "gamma": [np.full((1, 0 if cuts is None or cuts[r] is None else cuts[r].count), np.nan,
                          dtype=np.float32) for r in layers],
        "first": np.array([-1])})


def _root_cuts(ctx: CaseContext, A: np.ndarray, b: np.ndarray, deadline: float):
    """The root's k-ReLU cuts for the sub-domains (MN-BaB): the disjunct's separation LP
    runs until ``deadline`` at most and adds its cuts to the case's pool. Returns (the
    LP's outcome when it already proves the disjunct, else None; the pooled cuts per ReLU
    layer)."""
    outcome = krelu_separation_margin(ctx, A, b, deadline=deadline)
    ctx.check_time()
    if outcome.bound > 0 and not ctx.options.full_solve:
        return MethodOutcome(outcome.bound, bracket=(outcome.bound, np.inf)), layer_cuts(ctx)
    return None, layer_cuts(ctx)
