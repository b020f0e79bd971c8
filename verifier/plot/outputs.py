"""Pictures of output sets and per-layer bound widths."""

from __future__ import annotations

import numpy as np

from verifier.bounds import DeepPolyOptions, deeppoly_bounds, interval_bounds, output_form_bounds
from solvers import Status
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.encode import encode_network
from verifier.network import Network
from verifier.relaxations import big_m
from verifier.relaxations.krelu import KReluBlocks
from verifier.relaxations.krelu_options import KReluOptions
from verifier.report.gap import layer_widths
from verifier.report.widths import bounds_by_method
from verifier.tighten import lp_tighten as tighten_by_lp, triangle_blocks
from verifier.plot.figure import (COLORS, directions_2d, figure_axes, pyplot, sample_inputs,
                                  save_figure, support_polygon)

def _lp_support(net, bounds, blocks, D, mip: bool, time_limit: float) -> np.ndarray:
    encoded = encode_network(net, bounds, blocks)
    cols = encoded.columns[net.output_name]
    backend = HighsBackend(HighsOptions(threads=1, mip_rel_gap=1e-6))
    backend.load(encoded.model)
    out = np.full(len(D), np.inf)
    for k, d in enumerate(D):
        c = np.zeros(encoded.model.n_cols)
        c[cols] = -d
        backend.set_objective(c)
        res = backend.solve(SolveLimits(time_limit=time_limit))
        if res.status == Status.OPTIMAL and res.objective is not None:
            out[k] = -res.objective
        elif mip and res.dual_bound is not None:
            out[k] = -res.dual_bound
    return out


def output_support(net: Network, lower, upper, methods, D, lp_tighten: bool = True,
                   time_limit: float = 10.0) -> dict[str, np.ndarray]:
    """Support values ``max_{y in S_m} d . y`` of each method's output set ``S_m``."""
    ib = interval_bounds(net, lower, upper)
    dp = deeppoly_bounds(net, lower, upper)
    tight = tighten_by_lp(net, dp)[0] if lp_tighten else dp
    out = {}
    for m in methods:
        if m == "interval":
            ob = ib[net.output_name]
            out[m] = np.maximum(D, 0) @ ob.upper + np.minimum(D, 0) @ ob.lower
        elif m == "deeppoly":
            out[m] = output_form_bounds(net, D, dp, DeepPolyOptions()).upper
        elif m == "triangle":
            out[m] = _lp_support(net, tight, triangle_blocks(net, tight), D, False, time_limit)
        elif m == "krelu":
            blocks = KReluBlocks(KReluOptions(), None)(net, tight)
            out[m] = _lp_support(net, tight, blocks, D, False, time_limit)
        elif m == "milp":
            blocks = {r: [big_m(tight[net.inputs_of(r)[0]], r)] for r in net.relu_names()}
            out[m] = _lp_support(net, tight, blocks, D, True, time_limit)
        else:
            raise ValueError(f"unknown method {m!r}")
    return out


def plot_output_reach(net: Network, lower, upper,
                      methods=("interval", "deeppoly", "triangle", "krelu", "milp"),
                      n_directions: int = 48, samples: int = 4000, seed: int = 0,
                      lp_tighten: bool = True, path=None, ax=None):
    """A 2-output network: sampled reachable outputs vs each method's output set."""
    if net.n_outputs != 2:
        raise ValueError(f"plot_output_reach needs a network with 2 outputs, not "
                         f"{net.n_outputs}")
    lower, upper = np.asarray(lower, float).ravel(), np.asarray(upper, float).ravel()
    rng = np.random.default_rng(seed)
    Y = net.forward(sample_inputs(lower, upper, samples, rng))
    D = directions_2d(n_directions)
    support = output_support(net, lower, upper, methods, D, lp_tighten)
    fig, ax = figure_axes(ax, (6.5, 5.5))
    inner = Y.mean(axis=0)
    for m in methods:
        if m not in support:
            continue
        poly = support_polygon(D, support[m], inner)
        ax.plot(poly[:, 0], poly[:, 1], color=COLORS.get(m, None), lw=1.8,
                label={"milp": "milp (exact reach, convex hull)",
                       "interval": "interval (box, may leave the axes)"}.get(m, m))
    ax.scatter(Y[:, 0], Y[:, 1], s=2, color="k", alpha=0.3, label="sampled outputs")
    ax.set_xlabel("y1"), ax.set_ylabel("y2")
    ax.set_title(f"output set of a {net.n_inputs}-input network, "
                 f"{len(net.relu_names())} ReLU layers")
    ax.legend(fontsize=8, loc="best")
    # zoom on the tighter sets when interval is far out
    tight = [m for m in methods if m in support and m != "interval"]
    if tight and "interval" in support:
        polys = np.vstack([support_polygon(D, support[m], inner) for m in tight] + [Y])
        lo, hi = polys.min(axis=0), polys.max(axis=0)
        pad = 0.15 * (hi - lo)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    return save_figure(fig, path)


def plot_bound_widths(net: Network, lower, upper, lp_tighten: bool = True, path=None,
                      deadline: float | None = None, progress=None):
    """Per ReLU layer: mean pre-activation width (log scale) and unstable neurons by method
    (those that finish by ``deadline``, a ``time.monotonic()`` value; see
    :func:`~verifier.report.widths.bounds_by_method`); ``progress`` receives one line per
    step."""
    lower, upper = np.asarray(lower, float).ravel(), np.asarray(upper, float).ravel()
    by = bounds_by_method(net, lower, upper, lp=lp_tighten, deadline=deadline,
                          progress=progress)
    rows = layer_widths(net, by)
    layers = list(dict.fromkeys(r.layer for r in rows))
    methods = list(by)
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(layers))
    w = 0.8 / len(methods)
    for k, m in enumerate(methods):
        rs = {r.layer: r for r in rows if r.method == m}
        axes[0].bar(x + (k - (len(methods) - 1) / 2) * w,
                    [max(rs[L].mean_width, 1e-12) for L in layers], w,
                    color=COLORS.get(m), label=m)
        axes[1].bar(x + (k - (len(methods) - 1) / 2) * w, [rs[L].unstable for L in layers], w,
                    color=COLORS.get(m), label=m)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("mean width u - l")
    axes[1].set_ylabel("unstable neurons (l < 0 < u)")
    for ax in axes:
        ax.set_xticks(x, [f"{L}\n({net.size(L)})" for L in layers])
        ax.legend(fontsize=8)
    axes[0].set_title("pre-activation bound width per layer")
    axes[1].set_title("unstable neurons per layer")
    fig.tight_layout()
    return save_figure(fig, path)
