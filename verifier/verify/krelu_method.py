"""The ``krelu`` bound method: triangle + k-ReLU (kPoly / PRIMA-style) rows in one LP.

Two ways to put the hull rows into the margin LP (``KReluOptions.cuts`` when that field
exists, else ``"separate"``):

* ``"separate"`` (default, :mod:`verifier.verify.krelu_cuts`): the triangle LP is solved,
  then in rounds only the hull facets the LP point violates are appended to the same
  HiGHS object (warm start) and the LP re-solved; hulls are computed lazily, only for
  groups whose LP point is off the ReLU graph or outside the octahedron, at most
  ``hulls_per_round`` new ones per round in order of ``|dual of tri_up| * gap``, and
  cached per case; the cuts found for one disjunct start the next one. The first round
  is the triangle LP, so ``triangle_first`` is implied. Measured on ERAN 6x100
  (eps 0.026): the full-facet LP (140k-420k rows) timed out in 120 s on the first
  disjunct, the separated LP (<= 14k rows) finished all nine with margins 27-42 % closer
  to zero than the triangle's.
* ``"all"``: every facet of every group's hull (~280 rows per k = 3 group).

Per case (cached in ``ctx._cache`` so every disjunct of the case reuses it):

1. bounds: ``ctx.tightened()`` (DeepPoly, tightened against the triangle when
   ``VerifyOptions.lp_tighten``: alpha by default, per-neuron LPs with
   ``TightenOptions.method == "lp"``); or, when ``KReluOptions.lp_tighten`` is set, DeepPoly
   bounds (alpha-tightened first with ``TightenOptions.method == "alpha"``)
   LP-tightened layer by layer with triangle + k-ReLU rows of the upstream layers
   (separated cuts with ``cuts="separate"``:
   :func:`~verifier.verify.krelu_cuts.separated_lp_tighten`; every facet with ``"all"``);
2. per ReLU layer: groups from :func:`select_groups` (at most ``max_groups_per_layer``),
   octahedral bounds of all groups by one back-substitution, hull rows per group;
3. the margin LP with ``[triangle, krelu]`` blocks per layer
   (:func:`relaxation_lp_margin`).

Time: hull computation costs ~10-40 ms per k = 3 group. The hulls of a case may use at most
``hull_time_share`` (default 0.5) of the time remaining when they start; groups left over
get no rows (the triangle still relaxes them), and ``ctx.stats["krelu"]`` records how many
groups were selected and built, the hull seconds and whether the budget cut them short;
with separation ``ctx.stats["krelu_cuts"]`` has per disjunct the rounds, rows added,
rows reused, candidate groups and new hulls per round, and the objective per round.

Options read from ``ctx.options.krelu`` (:class:`KReluOptions`): ``k``, ``ns``, ``s``,
``method``, ``max_groups_per_layer``, ``hull_time_share``, ``lp_tighten``, ``area_cutoff``
and ``triangle_first`` (``"all"`` mode: solve the triangle LP first and skip the hulls of
a case while its disjuncts are proved by it; with ``lp_tighten`` the triangle step is
skipped); when present also ``cuts``, ``cut_rounds``, ``cuts_per_group``, ``cut_tol``,
``cut_min_progress``, ``reuse_cuts``, ``lazy_hulls``, ``hulls_per_round``
(:func:`separation_settings`).
"""

from __future__ import annotations

import time

import numpy as np

from verifier.bounds import Bounds
from verifier.network import Network
from verifier.relaxations import triangle
from verifier.relaxations.groups import select_groups
from verifier.relaxations.krelu import (group_hulls, krelu_block, octahedral_bounds,
                                        upstream_lines)
from verifier.verify.krelu_cuts import (CaseCuts, SeparationSettings, layer_groups,
                                        separate_margin, separated_lp_tighten)
from verifier.verify.pipeline import (CaseContext, margin_range, register_method,
                                      relaxation_lp_margin, triangle_margin)
from verifier.verify.tighten import lp_tighten

__all__ = ["krelu_margin", "krelu_separation_margin", "krelu_layer_block", "KReluBuilder",
           "separation_settings", "cut_mode", "CUT_MODES"]

# "separate": triangle LP + violated hull facets in rounds; "all": every facet of every hull
CUT_MODES = ("separate", "all")

def krelu_layer_block(net: Network, relu: str, bounds: dict[str, Bounds], options,
                      lines: dict[str, tuple] | None = None, deadline: float | None = None,
                      lower_slope: str = "min_area"):
    """Groups, octahedral bounds and hull rows of one layer.

    Returns:
        (block or None when the layer has no group, stats dict with ``groups`` selected,
        ``built`` hulls, ``rows``, ``octa_time`` and ``hull_time``).
    """
    pre = net.inputs_of(relu)[0]
    pb = bounds[pre]
    groups = layer_groups(pb, options)
    stats = {"groups": len(groups), "built": 0, "rows": 0, "octa_time": 0.0,
             "hull_time": 0.0}
    if not groups:
        return None, stats
    start = time.perf_counter()
    if lines is None:
        lines = upstream_lines(net, bounds, lower_slope)
    octa = octahedral_bounds(net, relu, groups, bounds, lines)
    stats["octa_time"] = time.perf_counter() - start
    start = time.perf_counter()
    hulls = group_hulls(groups, octa, options.method, deadline)
    stats["hull_time"] = time.perf_counter() - start
    stats["built"] = len(hulls)
    if not hulls:
        return None, stats
    block = krelu_block(pb, relu, groups[: len(hulls)], None, options.k, hulls=hulls)
    stats["rows"] = block.n_rows
    return block, stats


class KReluBuilder:
    """Builds (and caches) triangle + k-ReLU blocks for the layers of one case.

    Called as ``blocks_for(net, bounds)``; returns a mapping that builds a layer's blocks
    only when the encoder asks for them (``lp_tighten`` encodes only the layers upstream
    of the one being tightened). A layer's k-ReLU block is cached under its pre-activation
    bounds' bytes, so repeated calls with unchanged bounds reuse the hulls.
    """

    def __init__(self, options, hull_deadline: float | None, lower_slope: str = "min_area"):
        self.options = options
        self.hull_deadline = hull_deadline
        self.lower_slope = lower_slope
        self.cache: dict[tuple, object] = {}
        self.layer_stats: dict[str, dict] = {}
        self.cut_short = False

    def block(self, net: Network, relu: str, bounds: dict[str, Bounds]):
        pb = bounds[net.inputs_of(relu)[0]]
        key = (relu, pb.lower.tobytes(), pb.upper.tobytes())
        if key not in self.cache:
            if self.hull_deadline is not None and time.monotonic() > self.hull_deadline:
                self.cut_short = True
                block, stats = None, {"groups": 0, "built": 0, "rows": 0, "octa_time": 0.0,
                                      "hull_time": 0.0, "skipped": True}
            else:
                block, stats = krelu_layer_block(net, relu, bounds, self.options,
                                                 deadline=self.hull_deadline,
                                                 lower_slope=self.lower_slope)
                if stats["built"] < stats["groups"]:
                    self.cut_short = True
            self.cache[key] = block
            self.layer_stats[relu] = stats
        return self.cache[key]

    def __call__(self, net: Network, bounds: dict[str, Bounds]):
        return _LazyBlocks(self, net, bounds)

    def summary(self) -> dict:
        layers = dict(self.layer_stats)
        total = lambda key: sum(s.get(key, 0) for s in layers.values())  # noqa: E731
        built = total("built")
        hull_time = total("hull_time")
        return {"groups": total("groups"), "built": built, "rows": total("rows"),
                "hull_time": hull_time, "octa_time": total("octa_time"),
                "hull_time_per_group": hull_time / built if built else 0.0,
                "cut_short": self.cut_short, "layers": layers}


class _LazyBlocks(dict):
    """``{relu: [triangle, krelu]}`` computed on first access (only ``get`` / ``[]``)."""

    def __init__(self, builder: KReluBuilder, net: Network, bounds: dict[str, Bounds]):
        super().__init__()
        self._builder, self._net, self._bounds = builder, net, bounds
        self._relus = set(net.relu_names())

    def _build(self, relu: str) -> list:
        if not dict.__contains__(self, relu):
            pre = self._bounds[self._net.inputs_of(relu)[0]]
            blocks = [triangle(pre, relu)]
            kb = self._builder.block(self._net, relu, self._bounds)
            if kb is not None:
                blocks.append(kb)
            dict.__setitem__(self, relu, blocks)
        return dict.__getitem__(self, relu)

    def __getitem__(self, relu):
        if relu not in self._relus:
            raise KeyError(relu)
        return self._build(relu)

    def get(self, relu, default=None):
        return self._build(relu) if relu in self._relus else default

    def __contains__(self, relu):
        return relu in self._relus


def _case_bounds(ctx: CaseContext):
    """(bounds, builder or None) of the case: ``ctx.tightened()``, or with
    ``KReluOptions.lp_tighten`` DeepPoly bounds LP-tightened with triangle + k-ReLU rows of
    upstream layers (then the builder that made those rows is returned). Cached."""
    if "krelu_bounds" in ctx._cache:
        return ctx._cache["krelu_bounds"], ctx._cache.get("krelu_builder")
    opts = ctx.options.krelu
    share = float(opts.hull_time_share)
    slope = ctx.options.deeppoly.lower_slope
    builder = None
    if opts.lp_tighten and cut_mode(opts) == "separate":
        # LP tightening with triangle + separated k-ReLU cuts of upstream layers (replaces
        # the triangle-only tightening of ctx.tightened()); half the remaining time at most
        # with alpha tightening (about a second) its bounds are the cheaper, tighter start
        start = ctx.tightened() if ctx.options.tighten.method == "alpha" else ctx.deeppoly()
        tighten_deadline = time.monotonic() + 0.5 * max(ctx.remaining(), 0.0)
        bounds, tstats = ctx.timed("lp_tighten", lambda: separated_lp_tighten(
            ctx.net, start, opts, ctx.options.tighten, separation_settings(opts),
            tighten_deadline, ctx.options.deeppoly, opts.method, slope,
            hull_share=share))
        ctx.stats["krelu_lp_tighten"] = tstats
        ctx.timings["highs"] = ctx.timings.get("highs", 0.0) + tstats["highs_time"]
        ctx.timings["krelu_hulls"] = (ctx.timings.get("krelu_hulls", 0.0)
                                      + tstats["hull_time"])
    elif opts.lp_tighten:
        # LP tightening with triangle + k-ReLU rows of upstream layers (replaces the
        # triangle-only tightening of ctx.tightened()); half the remaining time at most.
        tighten_deadline = time.monotonic() + 0.5 * max(ctx.remaining(), 0.0)
        builder = KReluBuilder(opts, time.monotonic() + share * 0.5 * max(ctx.remaining(), 0.0),
                               slope)
        bounds = ctx.deeppoly()
        tighten_opts = ctx.options.tighten
        bounds, tstats = ctx.timed("lp_tighten", lambda: lp_tighten(
            ctx.net, bounds, tighten_opts, blocks_for=builder, executor=None,
            deadline=tighten_deadline, dp_options=ctx.options.deeppoly))
        ctx.stats["krelu_lp_tighten"] = tstats
        ctx.timings["highs"] = ctx.timings.get("highs", 0.0) + tstats["highs_time"]
    else:
        bounds = ctx.tightened()
    ctx.check_time()
    ctx._cache["krelu_bounds"] = bounds
    ctx._cache["krelu_builder"] = builder
    return bounds, builder


def _case_setup(ctx: CaseContext):
    """(bounds, {relu: [triangle, krelu]}) of the case with all hull facets of every group
    (``cuts="all"``), computed once and cached."""
    if "krelu_blocks" in ctx._cache:
        return ctx._cache["krelu_bounds"], ctx._cache["krelu_blocks"]
    opts = ctx.options.krelu
    share = float(opts.hull_time_share)
    slope = ctx.options.deeppoly.lower_slope
    start = time.perf_counter()
    bounds, builder = _case_bounds(ctx)
    if builder is not None:
        # the final blocks need hulls at the final bounds: fresh budget for them
        builder.hull_deadline = time.monotonic() + share * max(ctx.remaining(), 0.0)
    else:
        builder = KReluBuilder(opts, time.monotonic() + share * max(ctx.remaining(), 0.0),
                               slope)
    blocks = {}
    lazy = builder(ctx.net, bounds)
    for relu in ctx.net.relu_names():
        blocks[relu] = lazy[relu]
    summary = builder.summary()
    ctx.timings["krelu_hulls"] = ctx.timings.get("krelu_hulls", 0.0) + summary["hull_time"]
    ctx.timings["krelu_setup"] = (ctx.timings.get("krelu_setup", 0.0)
                                  + time.perf_counter() - start)
    ctx.stats.setdefault("krelu", []).append(summary)
    ctx._cache["krelu_blocks"] = blocks
    return bounds, blocks


def separation_settings(opts) -> SeparationSettings:
    """The separation knobs of :class:`KReluOptions` as :class:`SeparationSettings`."""
    return SeparationSettings(
        max_rounds=int(opts.cut_rounds), cuts_per_group=int(opts.cuts_per_group),
        cut_tol=float(opts.cut_tol), min_progress=float(opts.cut_min_progress),
        reuse_cuts=bool(opts.reuse_cuts), lazy_hulls=bool(opts.lazy_hulls),
        hulls_per_round=opts.hulls_per_round)


def cut_mode(opts) -> str:
    """``KReluOptions.cuts``: ``"separate"`` (default) or ``"all"``."""
    mode = opts.cuts
    if mode not in CUT_MODES:
        raise ValueError(f"unknown k-ReLU cut mode {mode!r}; use one of {CUT_MODES}")
    return mode


def _separation_case(ctx: CaseContext) -> CaseCuts:
    if "krelu_cuts" not in ctx._cache:
        opts = ctx.options.krelu
        bounds, _ = _case_bounds(ctx)
        start = time.perf_counter()
        case = CaseCuts(ctx.net, bounds, opts, opts.method,
                        ctx.options.deeppoly.lower_slope)
        case.hull_deadline = (time.monotonic()
                              + float(opts.hull_time_share) * max(ctx.remaining(), 0.0))
        ctx.timings["krelu_setup"] = (ctx.timings.get("krelu_setup", 0.0)
                                      + time.perf_counter() - start)
        ctx.stats.setdefault("krelu", []).append(case.stats)   # updated in place
        ctx._cache["krelu_cuts"] = case
    return ctx._cache["krelu_cuts"]


def krelu_separation_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray,
                            deadline: float | None = None):
    """Certified lower bound of ``max_i (A_i y - b_i)`` under triangle + the k-ReLU hull
    facets found by separation (:mod:`verifier.verify.krelu_cuts`); the rounds stop at
    ``deadline`` (``time.monotonic()``; default: the case's)."""
    ctx.check_time()
    bounds, _ = _case_bounds(ctx)
    t_lo, t_hi = margin_range(ctx, A, b, bounds)
    if t_lo > 0 and not ctx.options.full_solve:
        return t_lo, None
    case = _separation_case(ctx)
    ctx.check_time()
    hull_before = case.stats["hull_time"]
    start = time.perf_counter()
    bound, x, stats, highs_time = separate_margin(
        case, A, b, (t_lo, t_hi), separation_settings(ctx.options.krelu),
        ctx.deadline if deadline is None else min(deadline, ctx.deadline),
        case.hull_deadline, not ctx.options.full_solve, ctx.net.output_name,
        ctx.net.input_name)
    ctx.timings["lp"] = ctx.timings.get("lp", 0.0) + time.perf_counter() - start
    ctx.timings["highs"] = ctx.timings.get("highs", 0.0) + highs_time
    ctx.timings["krelu_hulls"] = (ctx.timings.get("krelu_hulls", 0.0)
                                  + case.stats["hull_time"] - hull_before)
    ctx.stats.setdefault("krelu_cuts", []).append(stats)
    return max(bound, t_lo), x


def krelu_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray):
    """Certified lower bound of ``max_i (A_i y - b_i)`` under triangle + k-ReLU rows
    (separated cuts, or every facet with ``cuts="all"``)."""
    if cut_mode(ctx.options.krelu) == "separate":
        return krelu_separation_margin(ctx, A, b)
    ctx.check_time()
    if ("krelu_blocks" not in ctx._cache and ctx.options.krelu.triangle_first
            and not ctx.options.krelu.lp_tighten):
        # the triangle LP is cheap next to the hulls: if it already proves, skip them
        bound, x = triangle_margin(ctx, A, b)
        if bound > 0:
            return bound, x
    bounds, blocks = _case_setup(ctx)
    ctx.check_time()
    return relaxation_lp_margin(ctx, A, b, lambda net, bnds: blocks, "krelu", bounds=bounds)


register_method("krelu", krelu_margin, in_auto=False)
