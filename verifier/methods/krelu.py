"""``krelu``: the triangle LP plus multi-neuron k-ReLU hull rows (kPoly / PRIMA style).

Two ways to put the hull rows into the margin LP (``KReluOptions.cuts``):

* ``"separate"`` (default): the triangle LP of the case is solved, then in rounds only the
  hull facets the LP point violates are appended to the same HiGHS object and the LP is
  re-solved (:func:`~verifier.lp.minimise_with_cuts`); hulls are built lazily, at most
  ``hulls_per_round`` new ones per round, and kept per case; the cuts found for one
  disjunct start the next one (``reuse_cuts``).
* ``"all"``: every facet of every group's hull, as one relaxation block per layer.

Per case (in ``ctx.krelu``, a :class:`KReluCase`): the bounds (``ctx.tightened()``, or with
``KReluOptions.lp_tighten`` bounds tightened by LPs that carry k-ReLU rows too), the
groups and hulls, the triangle encoding and the cut pool. Hulls may use at most
``hull_time_share`` of the time remaining when they start; groups left over get no rows
(the triangle still relaxes them), and ``ctx.stats["krelu"]`` says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds import Bounds
from verifier.bounds.optimized import LayerCuts
from verifier.encode import EncodedNetwork, encode_network, with_disjunct
from verifier.lp import CutPool, KReluSeparator, minimise_with_cuts
from verifier.methods.context import CaseContext
from verifier.methods.margins import case_constraints, margin_range, relaxation_lp_margin
from verifier.methods.outcome import MethodOutcome
from verifier.methods.triangle import triangle_margin
from verifier.relaxations.krelu import KReluBlocks
from verifier.relaxations.krelu_separation import KReluHulls
from verifier.tighten import krelu_tighten, lp_tighten, triangle_blocks


@dataclass
class KReluCase:
    """The k-ReLU state of one case.

    Attributes:
        bounds: the bounds every k-ReLU row of the case is built from.
        builder: all-facet block builder (``cuts="all"``), or None.
        blocks: the case's ``{relu: [triangle, krelu]}`` blocks (``cuts="all"``), once built.
        hulls: groups and lazily built hulls (``cuts="separate"``), or None.
        encoded: the case's triangle encoding that cuts are added to.
        pool: the cuts found so far (valid on the whole box).
        hull_deadline: ``time.monotonic()`` after which no new hull is built.
    """

    bounds: dict[str, Bounds]
    builder: KReluBlocks | None = None
    blocks: dict | None = None
    hulls: KReluHulls | None = None
    encoded: EncodedNetwork | None = None
    pool: CutPool | None = None
    hull_deadline: float | None = None


def krelu_case(ctx: CaseContext) -> KReluCase:
    """The case's k-ReLU state with its bounds (computed once; see module docstring)."""
    if ctx.krelu is not None:
        return ctx.krelu
    opts = ctx.options.krelu
    if not opts.lp_tighten:
        ctx.krelu = KReluCase(ctx.tightened())
        return ctx.krelu
    # tightening with k-ReLU rows of the upstream layers replaces the triangle-only one;
    # half the remaining time at most
    tighten_deadline = time.monotonic() + 0.5 * max(ctx.remaining(), 0.0)
    builder = None
    if opts.cuts == "separate":
        start = ctx.tightened() if ctx.options.tighten.method == "alpha" else ctx.deeppoly()
        bounds, stats = ctx.timed("lp_tighten", lambda: krelu_tighten(
            ctx.net, start, opts, ctx.options.tighten, tighten_deadline, ctx.options.deeppoly))
        ctx.add_time("krelu_hulls", stats["hull_time"])
    else:
        builder = KReluBlocks(opts, time.monotonic() + opts.hull_time_share * 0.5
                              * max(ctx.remaining(), 0.0), ctx.options.deeppoly.lower_slope)
        bounds, stats = ctx.timed("lp_tighten", lambda: lp_tighten(
            ctx.net, ctx.deeppoly(), ctx.options.tighten, blocks_for=builder,
            deadline=tighten_deadline, dp_options=ctx.options.deeppoly))
    ctx.stats["krelu_lp_tighten"] = stats
    ctx.add_time("highs", stats["highs_time"])
    ctx.check_time()
    ctx.krelu = KReluCase(bounds, builder=builder)
    return ctx.krelu


def _separation_state(ctx: CaseContext) -> KReluCase:
    """The case's hulls, triangle encoding and cut pool (``cuts="separate"``), once."""
    case = krelu_case(ctx)
    if case.hulls is None:
        opts = ctx.options.krelu
        start = time.perf_counter()
        case.hulls = KReluHulls(ctx.net, case.bounds, opts, ctx.options.deeppoly.lower_slope)
        case.encoded = encode_network(ctx.net, case.bounds, triangle_blocks(ctx.net, case.bounds))
        case.pool = CutPool(case.encoded.model.n_cols)
        case.hull_deadline = time.monotonic() + opts.hull_time_share * max(ctx.remaining(), 0.0)
        ctx.add_time("krelu_setup", time.perf_counter() - start)
        ctx.stats.setdefault("krelu", []).append(case.hulls.stats)   # updated in place
    return case


def krelu_separation_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray,
                            deadline: float | None = None) -> MethodOutcome:
    """Certified lower bound of the margin under triangle + the k-ReLU hull facets found
    by separation; the rounds stop at ``deadline`` (``time.monotonic()``; default: the
    case's)."""
    ctx.check_time()
    bounds = krelu_case(ctx).bounds
    t_lo, t_hi = margin_range(ctx, A, b, bounds)
    if t_lo > 0 and not ctx.options.full_solve:
        return MethodOutcome(t_lo)
    case = _separation_state(ctx)
    ctx.check_time()
    hull_before = case.hulls.stats["hull_time"]
    stop = ctx.deadline if deadline is None else min(deadline, ctx.deadline)
    start = time.perf_counter()
    bound, x, stats, highs_time = _separate_margin(ctx, case, A, b, (t_lo, t_hi), stop)
    ctx.add_time("lp", time.perf_counter() - start)
    ctx.add_time("highs", highs_time)
    ctx.add_time("krelu_hulls", case.hulls.stats["hull_time"] - hull_before)
    ctx.stats.setdefault("krelu_cuts", []).append(stats)
    return MethodOutcome(max(bound, t_lo), x)


def _separate_margin(ctx: CaseContext, case: KReluCase, A, b, t_bounds, deadline):
    """The margin LP of one disjunct with separated cuts.

    Returns:
        (bound, x at the input columns or None, stats dict, seconds inside HiGHS).
    """
    opts, net, encoded = ctx.options.krelu, ctx.net, case.encoded
    model = with_disjunct(encoded, encoded.columns[net.output_name], A, b, t_bounds,
                          label="disjunct",
                          **case_constraints(ctx.case, encoded.columns[net.input_name]))
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(model)
    stats = {"rounds": 0, "rows_added": 0, "reused_rows": 0, "groups_tested": 0,
             "candidates": [], "new_hulls": []}
    added: set = set()
    if opts.reuse_cuts:
        added = set(case.pool.keys)
        pooled = case.pool.cut_rows(model.n_cols)
        if pooled is not None:
            pooled.add_to(backend)
            stats["reused_rows"] = len(pooled.upper)
    separator = KReluSeparator(encoded, case.hulls)

    def separate(result, round_):
        cuts = separator.separate(result, model.n_cols, min(case.hull_deadline, deadline),
                                  added, all_groups=not opts.lazy_hulls and round_ == 0,
                                  hard_deadline=ctx.deadline)
        stats["groups_tested"] += separator.last["tested"]
        stats["candidates"].append(separator.last["candidates"])
        stats["new_hulls"].append(separator.last["new_hulls"])
        return cuts

    def limits():
        remaining = deadline - time.monotonic()
        return None if remaining <= 0 else SolveLimits(time_limit=max(remaining, 0.01))

    loop = minimise_with_cuts(backend, separate, limits, opts.cut_rounds,
                              stop_above=None if ctx.options.full_solve else 0.0,
                              min_progress=opts.cut_min_progress, on_rows=case.pool.remember)
    x = None
    if loop.result is not None and loop.result.x is not None:
        x = loop.result.x[encoded.columns[net.input_name]]
    stats.update(rounds=loop.rounds, rows_added=loop.rows_added, bounds=loop.bounds,
                 objectives=loop.objectives, final_rows=backend.model.n_rows)
    return loop.best, x, stats, backend.total_time


def _all_facet_blocks(ctx: CaseContext) -> tuple[dict[str, Bounds], dict]:
    """(bounds, {relu: [triangle, krelu]}) with every hull facet of every group
    (``cuts="all"``), built once per case."""
    case = krelu_case(ctx)
    if case.blocks is None:
        opts = ctx.options.krelu
        deadline = time.monotonic() + opts.hull_time_share * max(ctx.remaining(), 0.0)
        if case.builder is None:
            case.builder = KReluBlocks(opts, deadline, ctx.options.deeppoly.lower_slope)
        else:   # the builder of the tightening: a fresh budget for the final hulls
            case.builder.hull_deadline = deadline
        start = time.perf_counter()
        case.blocks = case.builder(ctx.net, case.bounds)
        summary = case.builder.summary()
        ctx.add_time("krelu_hulls", summary["hull_time"])
        ctx.add_time("krelu_setup", time.perf_counter() - start)
        ctx.stats.setdefault("krelu", []).append(summary)
    return case.bounds, case.blocks


def krelu_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """Certified lower bound of the margin under triangle + k-ReLU rows (separated cuts,
    or every facet with ``cuts="all"``)."""
    opts = ctx.options.krelu
    if opts.cuts == "separate":
        return krelu_separation_margin(ctx, A, b)
    ctx.check_time()
    if (ctx.krelu is None or ctx.krelu.blocks is None) and opts.triangle_first \
            and not opts.lp_tighten:
        # the triangle LP is cheap next to the hulls: if it already proves, skip them
        outcome = triangle_margin(ctx, A, b)
        if outcome.bound > 0:
            return outcome
    bounds, blocks = _all_facet_blocks(ctx)
    ctx.check_time()
    return relaxation_lp_margin(ctx, A, b, blocks, "krelu", bounds)


def case_cut_rows(ctx: CaseContext, n_cols: int):
    """The case's pooled k-ReLU cuts over ``n_cols`` columns (None when there is none):
    rows over the network's node columns, which come first in every encoding of the
    case, so they can be added to its MILP as they are."""
    return _separation_state(ctx).pool.cut_rows(n_cols)


def layer_cuts(ctx: CaseContext) -> list[LayerCuts | None]:
    """The case's pooled k-ReLU cuts per ReLU layer (in the order of ``net.relu_names()``)
    as :class:`~verifier.bounds.optimized.LayerCuts` over that layer's neurons, for the
    back-substitution of sub-domains; each cut holds on the whole box, so on every
    sub-domain. None for a layer without cuts."""
    case = _separation_state(ctx)
    pool = case.pool.cut_rows(case.encoded.model.n_cols)
    relus = ctx.net.relu_names()
    if pool is None:
        return [None] * len(relus)
    n = case.encoded.model.n_cols
    layer_of, kind_of, neuron_of = np.full(n, -1), np.zeros(n, dtype=np.int8), np.zeros(n, int)
    for r, relu in enumerate(relus):
        for kind, node in ((0, ctx.net.inputs_of(relu)[0]), (1, relu)):
            cols = case.encoded.columns[node]
            layer_of[cols], kind_of[cols], neuron_of[cols] = r, kind, np.arange(cols.size)
    M = pool.M.tocsr()
    rows_by_layer: dict[int, list[int]] = {}
    for i in range(M.shape[0]):
        cols = M.indices[M.indptr[i]:M.indptr[i + 1]]
        layers = set(layer_of[cols].tolist())
        if len(layers) == 1 and -1 not in layers:
            rows_by_layer.setdefault(layers.pop(), []).append(i)
    out: list[LayerCuts | None] = []
    for r, relu in enumerate(relus):
        picked = rows_by_layer.get(r, [])
        if not picked:
            out.append(None)
            continue
        size = ctx.net.size(relu)
        H = [np.zeros((len(picked), size)), np.zeros((len(picked), size))]
        for k, i in enumerate(picked):
            sl = slice(M.indptr[i], M.indptr[i + 1])
            cols, vals = M.indices[sl], M.data[sl]
            for kind in (0, 1):
                sel = kind_of[cols] == kind
                np.add.at(H[kind][k], neuron_of[cols[sel]], vals[sel])
        out.append(LayerCuts(H[0], H[1], np.asarray(pool.upper[picked], dtype=np.float64)))
    return out