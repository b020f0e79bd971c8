"""MILP refinement of intermediate bounds: ``min/max z_i`` exactly over the layers before.

After the LP (or alpha) tightening, the unstable neurons of the first ReLU layers get
their bounds from a big-M MILP over everything upstream (binaries only for the upstream
unstable neurons, big-M from the current bounds), one neuron at a time, each solve within
``TightenOptions.milp_time_limit``. A solve stops early once its dual bound proves the
neuron stable (``stop_dual_above=0``). Neurons are taken in the order of their triangle's
height ``-l u / (u - l)`` (the largest relaxation error first), so a short budget goes
where it matters; each layer's refined bounds re-bound the layers after it (DeepPoly,
intersected with the bounds they had) before the next layer is refined.

Soundness: each new bound is HiGHS's MIP *dual bound* made safe by
:func:`~verifier.lp.sound_milp_bound` (never an incumbent); a solve without one keeps the
previous bound. The big-M model is exact for every input of the box because every column
bound it uses is a sound bound.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor

import numpy as np

from solvers import LinearModel
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds import Bounds, DeepPolyOptions
from verifier.encode import encode_network
from verifier.lp import sound_milp_bound
from verifier.network import Network
from verifier.relaxations import big_m
from verifier.tighten.layers import apply_neuron_bounds, solve_over_workers
from verifier.tighten.options import TightenOptions


def refinement_order(pre: Bounds, unstable: np.ndarray) -> np.ndarray:
    """``unstable`` sorted by the height of their triangle, ``-l u / (u - l)``, largest
    first (the neurons whose relaxation loses most)."""
    lo, hi = pre.lower[unstable], pre.upper[unstable]
    height = -lo * hi / np.maximum(hi - lo, 1e-12)
    return unstable[np.argsort(-height, kind="stable")]


def milp_neuron_bounds(model: LinearModel, cols: np.ndarray, options: TightenOptions,
                       deadline: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Certified ``(lower, upper)`` of ``cols`` by one MILP per bound, each within
    ``options.milp_time_limit``, in one HiGHS object (what a worker process runs), and the
    seconds inside HiGHS. Entries stay ``-inf``/``+inf`` where a solve gave no dual bound
    or the deadline passed."""
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(model)
    lower = np.full(cols.size, -np.inf)
    upper = np.full(cols.size, np.inf)
    for k, col in enumerate(cols):
        for sign in (1.0, -1.0):
            seconds = options.milp_time_limit
            if deadline is not None:
                seconds = min(seconds, deadline - time.monotonic())
            if seconds <= 0:
                return lower, upper, backend.total_time
            c = np.zeros(model.n_cols)
            c[col] = sign
            backend.set_objective(c)
            result = backend.solve(SolveLimits(time_limit=seconds, stop_dual_above=0.0,
                                               deadline=deadline))
            bound = sound_milp_bound(result)
            if sign > 0:
                lower[k] = bound
            else:
                upper[k] = -bound
    return lower, upper, backend.total_time


def milp_refine(net: Network, bounds: dict[str, Bounds], options: TightenOptions,
                executor: Executor | None = None, deadline: float | None = None,
                dp_options: DeepPolyOptions = DeepPolyOptions()
                ) -> tuple[dict[str, Bounds], dict]:
    """Refine the unstable neurons of ReLU layers ``1 .. options.milp_layers`` (the first
    layer's bounds are already exact) by MILPs over the layers before each.

    Args:
        net: the network.
        bounds: sound bounds of every node (e.g. LP-tightened); not modified.
        options: ``milp_layers``, ``milp_time_limit`` per solve, ``workers``.
        executor: processes to spread a layer's neurons over (None: this process).
        deadline: ``time.monotonic()`` after which no solve starts (none runs past it).
        dp_options: DeepPoly options for re-bounding the layers downstream.

    Returns:
        (new bounds, stats: ``milps``, ``highs_time``, ``stabilised``, ``refined``).
    """
    bounds = dict(bounds)
    stats = {"milps": 0, "highs_time": 0.0, "stabilised": 0, "refined": 0}
    relus = net.relu_names()
    for index, relu in enumerate(relus[:options.milp_layers + 1]):
        if index == 0:
            continue
        if deadline is not None and time.monotonic() > deadline:
            break
        pre = net.inputs_of(relu)[0]
        unstable = bounds[pre].unstable()
        if unstable.size == 0:
            continue
        order = refinement_order(bounds[pre], unstable)
        blocks = {r: [big_m(bounds[net.inputs_of(r)[0]], r)] for r in relus[:index]}
        encoded = encode_network(net, bounds, blocks, upto=pre)
        lo, hi, seconds = solve_over_workers(milp_neuron_bounds, encoded.model,
                                             encoded.columns[pre][order], options, executor,
                                             deadline)
        stats["milps"] += int(np.isfinite(lo).sum() + np.isfinite(hi).sum())
        stats["refined"] += int(np.sum(np.isfinite(lo) | np.isfinite(hi)))
        stats["highs_time"] += seconds
        bounds = apply_neuron_bounds(net, bounds, pre, order, lo, hi, stats, dp_options,
                                     provenance="milp")
    return bounds, stats
