"""Tightening layer by layer: LP-ALL and optimised back-substitution (alpha).

For each ReLU layer in topological order, every unstable neuron ``i`` of its pre-activation
node gets a better lower and upper bound over a relaxation of everything upstream; the
result is intersected with the previous bounds, and the layers after it are re-bounded by
DeepPoly with the tightened ones, so each layer's new bounds feed the next.

* ``lp``: two LPs per unstable neuron over the layers' relaxation blocks (triangles by
  default), built once per layer from arrays (:mod:`verifier.tighten.neuron_lp`); neurons
  of a layer can be spread over worker processes, each with its own HiGHS object.
* ``alpha``: the same triangle relaxation approached by gradient steps on the lower
  slopes, for all neurons of a layer at once (alpha-CROWN); looser when the steps stop
  before the LP optimum, never unsound.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from typing import Callable

import numpy as np

from verifier.bounds import Bounds, DeepPolyOptions, deeppoly_bounds
from verifier.bounds.alpha import alpha_layer_bounds
from verifier.bounds.chain import relu_chain
from verifier.bounds.dag_alpha import alpha_rows_lower_dag
from verifier.encode import encode_network
from verifier.errors import NetworkError
from verifier.network import Network
from verifier.relaxations import ConstraintBlock, triangle
from verifier.tighten.neuron_lp import solve_neuron_bounds
from verifier.tighten.options import TightenOptions

#: ``(net, bounds, upto) -> {relu: [blocks]}``: the relaxation of the layers upstream of
#: node ``upto`` (all layers when None)
BlocksFor = Callable[..., dict[str, list[ConstraintBlock]]]


def triangle_blocks(net: Network, bounds: dict[str, Bounds], upto: str | None = None
                    ) -> dict[str, list[ConstraintBlock]]:
    """Triangle blocks for every ReLU (the default relaxation of upstream layers)."""
    return {r: [triangle(bounds[net.inputs_of(r)[0]], r)] for r in net.relu_names()}


def layers_to_tighten(net: Network, options: TightenOptions, deadline: float | None):
    """Yield ``(index, relu, pre-activation node)`` of the ReLU layers to tighten, in order;
    stops at ``options.max_layers`` or once ``deadline`` (checked before each layer) passed."""
    for index, relu in enumerate(net.relu_names()):
        if options.max_layers is not None and index >= options.max_layers:
            return
        if deadline is not None and time.monotonic() > deadline:
            return
        yield index, relu, net.inputs_of(relu)[0]


def apply_neuron_bounds(net: Network, bounds: dict[str, Bounds], pre: str, unstable: np.ndarray,
                        lower: np.ndarray, upper: np.ndarray, stats: dict,
                        dp_options: DeepPolyOptions, provenance: str = "lp"
                        ) -> dict[str, Bounds]:
    """Intersect ``bounds[pre]`` at ``unstable`` with certified ``(lower, upper)`` (entries
    -inf/+inf keep the old bound), count the neurons proved stable in ``stats["stabilised"]``,
    and re-bound everything downstream by DeepPoly from the tightened bounds."""
    old = bounds[pre]
    new_lo, new_hi = old.lower.copy(), old.upper.copy()
    new_lo[unstable] = np.maximum(new_lo[unstable], lower)
    new_hi[unstable] = np.minimum(new_hi[unstable], upper)
    stats["stabilised"] = stats.get("stabilised", 0) + int(
        np.sum((new_lo[unstable] >= 0) | (new_hi[unstable] <= 0)))
    bounds = dict(bounds)
    bounds[pre] = Bounds(new_lo, new_hi, provenance)
    box = bounds[net.input_name]
    return deeppoly_bounds(net, box.lower, box.upper, dp_options, start=bounds)


def solve_over_workers(solve, model, cols: np.ndarray, options: TightenOptions, executor,
                       deadline) -> tuple[np.ndarray, np.ndarray, float]:
    """``solve(model, cols, options, deadline) -> (lower, upper, highs seconds)`` on the
    neurons ``cols``, in this process or dealt round-robin over ``options.workers``
    processes (each starts with the first columns: order ``cols`` by priority); the
    bounds come back in the order of ``cols``. The neurons of a worker the pool lost
    (:class:`~verifier.methods.branching.workers.WorkerPool`) are solved in this process."""
    workers = 1 if executor is None else max(1, min(options.workers, cols.size))
    if workers == 1:
        return solve(model, cols, options, deadline)
    picks = [np.arange(i, cols.size, workers) for i in range(workers)]
    futures = [executor.submit(solve, model, cols[p], options, deadline) for p in picks]
    lower, upper, seconds = np.full(cols.size, -np.inf), np.full(cols.size, np.inf), 0.0
    for p, future in zip(picks, futures):
        try:
            lo, hi, t = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker's neurons are solved here
            lost = getattr(executor, "lost", None)
            if lost is None or not lost(exc):
                raise
            executor.recover(future)
            lo, hi, t = solve(model, cols[p], options, deadline)
        lower[p], upper[p], seconds = lo, hi, seconds + t
    return lower, upper, seconds


def lp_tighten(net: Network, bounds: dict[str, Bounds], options: TightenOptions = TightenOptions(),
               blocks_for: BlocksFor = triangle_blocks, executor: Executor | None = None,
               deadline: float | None = None, dp_options: DeepPolyOptions = DeepPolyOptions(),
               progress: Callable[[str], None] | None = None,
               ) -> tuple[dict[str, Bounds], dict]:
    """Tighten the pre-activation bounds of every ReLU layer by two LPs per unstable neuron.

    Args:
        net: the network.
        bounds: sound bounds of every node (e.g. DeepPoly); not modified.
        options: see :class:`TightenOptions`.
        blocks_for: relaxation of upstream layers, ``(net, bounds, upto) -> {relu: blocks}``.
        executor: a concurrent.futures executor to spread neurons over (None: serial).
        deadline: ``time.monotonic()`` value after which remaining LPs are skipped.
        progress: receives one line per layer tightened (and one if the deadline stopped
            the loop), or None.

    Returns:
        (new bounds dict, stats with ``lps``, ``highs_time`` and ``stabilised``).
    """
    bounds = dict(bounds)
    stats = {"lps": 0, "highs_time": 0.0, "stabilised": 0}
    say = progress or (lambda message: None)
    layers = len(net.relu_names())
    for index, relu, pre in layers_to_tighten(net, options, deadline):
        unstable = bounds[pre].unstable()
        if unstable.size == 0:
            continue
        encoded = encode_network(net, bounds, blocks_for(net, bounds, upto=pre), upto=pre)
        cols = encoded.columns[pre][unstable]
        lo, hi, seconds = solve_over_workers(solve_neuron_bounds, encoded.model, cols,
                                             options, executor, deadline)
        stats["lps"] += 2 * unstable.size
        stats["highs_time"] += seconds
        bounds = apply_neuron_bounds(net, bounds, pre, unstable, lo, hi, stats, dp_options)
        say(f"lp: layer {index + 1}/{layers} ({pre}): {unstable.size} unstable neurons, "
            f"{stats['stabilised']} stabilised so far")
    if deadline is not None and time.monotonic() > deadline:
        say("lp: time limit reached; the neurons not tightened by then keep the bounds "
            "they had")
    return bounds, stats


def alpha_tighten(net: Network, bounds: dict[str, Bounds],
                  options: TightenOptions = TightenOptions(), deadline: float | None = None,
                  dp_options: DeepPolyOptions = DeepPolyOptions()
                  ) -> tuple[dict[str, Bounds], dict]:
    """Tighten every ReLU layer's pre-activation bounds by optimised back-substitution.

    Layer by layer (as :func:`lp_tighten`): the unstable neurons of a layer get
    :func:`~verifier.bounds.alpha.alpha_layer_bounds` over the current bounds of the layers
    before it. The first layer is skipped (its interval bounds are exact).

    Raises:
        NetworkError: the network is not a chain of affine layers each followed by a ReLU
            (but the last); :func:`tighten_bounds` then uses :func:`alpha_tighten_dag`.

    Returns:
        (new bounds dict, stats with ``lps`` = 0, ``highs_time`` = 0, ``stabilised`` and
        ``alpha_rows``: bounds computed).
    """
    chain = relu_chain(net)
    pres = [net.inputs_of(relu)[0] for relu in net.relu_names()]
    box = bounds[net.input_name]
    bounds = dict(bounds)
    stats = {"lps": 0, "highs_time": 0.0, "stabilised": 0, "alpha_rows": 0}
    for index, _, pre in layers_to_tighten(net, options, deadline):
        unstable = bounds[pre].unstable()
        if index == 0 or unstable.size == 0:
            continue
        lo, hi = alpha_layer_bounds(
            chain, box.lower, box.upper, [bounds[p].lower for p in pres[:index]],
            [bounds[p].upper for p in pres[:index]], index, unstable,
            iterations=options.alpha_iterations, lr=options.alpha_lr, deadline=deadline)
        stats["alpha_rows"] += 2 * unstable.size
        bounds = apply_neuron_bounds(net, bounds, pre, unstable, lo, hi, stats, dp_options,
                                     provenance="alpha")
    return bounds, stats


def alpha_tighten_dag(net: Network, bounds: dict[str, Bounds],
                      options: TightenOptions = TightenOptions(), deadline: float | None = None,
                      dp_options: DeepPolyOptions = DeepPolyOptions()
                      ) -> tuple[dict[str, Bounds], dict]:
    """:func:`alpha_tighten` on any DAG: the unstable neurons of each ReLU layer's
    pre-activation get optimised-slope bounds over the current bounds of everything
    upstream (:func:`~verifier.bounds.dag_alpha.alpha_rows_lower_dag`), layer by layer."""
    bounds = dict(bounds)
    stats = {"lps": 0, "highs_time": 0.0, "stabilised": 0, "alpha_rows": 0}
    for index, _, pre in layers_to_tighten(net, options, deadline):
        unstable = bounds[pre].unstable()
        if index == 0 or unstable.size == 0:
            continue
        rows = np.zeros((2 * unstable.size, net.size(pre)))
        rows[np.arange(unstable.size), unstable] = 1.0
        rows[unstable.size + np.arange(unstable.size), unstable] = -1.0
        low = alpha_rows_lower_dag(net, pre, rows, bounds, iterations=options.alpha_iterations,
                                   lr=options.alpha_lr, deadline=deadline)
        stats["alpha_rows"] += rows.shape[0]
        bounds = apply_neuron_bounds(net, bounds, pre, unstable, low[:unstable.size],
                                     -low[unstable.size:], stats, dp_options,
                                     provenance="alpha")
    return bounds, stats


def tighten_bounds(net: Network, bounds: dict[str, Bounds],
                   options: TightenOptions = TightenOptions(), executor: Executor | None = None,
                   deadline: float | None = None,
                   dp_options: DeepPolyOptions = DeepPolyOptions()
                   ) -> tuple[dict[str, Bounds], dict]:
    """Triangle tightening of every ReLU layer by ``options.method``: :func:`lp_tighten`
    or :func:`alpha_tighten` (graphs that are not chains: :func:`alpha_tighten_dag`)."""
    if options.method == "alpha":
        try:
            return alpha_tighten(net, bounds, options, deadline, dp_options)
        except NetworkError:
            return alpha_tighten_dag(net, bounds, options, deadline, dp_options)
    return lp_tighten(net, bounds, options, executor=executor, deadline=deadline,
                      dp_options=dp_options)
