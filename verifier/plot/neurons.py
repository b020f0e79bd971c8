"""Pictures of single-neuron and two-neuron relaxations (the convex barrier, drawn)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull

from verifier.bounds import Bounds, deeppoly_bounds, relu_lines
from verifier.network import Network
from verifier.relaxations.krelu import octahedral_bounds
from verifier.relaxations.krelu_hull import (exact_hull, input_vertices,
                                             octahedral_directions, triangle_rows)
from verifier.plot.figure import (COLORS, directions_2d, figure_axes, polygon_support, pyplot,
                                  sample_inputs, save_figure, support_polygon)

def plot_single_neuron(l: float = -1.0, u: float = 1.5, lower_slope: str = "min_area",
                       path=None, ax=None):
    """ReLU over ``[l, u]`` with the triangle (its convex hull) and DeepPoly's two lines."""
    if not l < 0 < u:
        raise ValueError(f"the neuron must be unstable (l < 0 < u), got [{l}, {u}]")
    fig, ax = figure_axes(ax, (5.5, 4.2))
    a_lo, c_lo, a_up, c_up = (float(v[0]) for v in relu_lines(np.array([l]), np.array([u]),
                                                                 lower_slope))
    xs = np.linspace(l, u, 200)
    ax.fill([l, 0, u], [0, 0, u], color=COLORS["triangle"], alpha=0.25,
            label="triangle = convex hull")
    dp = np.array([[l, a_lo * l], [u, a_lo * u], [u, a_up * u + c_up], [l, a_up * l + c_up]])
    ax.fill(dp[:, 0], dp[:, 1], fill=False, hatch="//", edgecolor=COLORS["deeppoly"],
            linewidth=0, alpha=0.6)
    ax.plot(xs, a_up * xs + c_up, color=COLORS["deeppoly"], lw=1.5,
            label=f"upper line  y <= {a_up:.2f}(x - l)")
    ax.plot(xs, a_lo * xs + c_lo, color=COLORS["deeppoly"], lw=1.5, ls="--",
            label=f"DeepPoly lower line  y >= {a_lo:g} x ({lower_slope})")
    ax.plot(xs, np.maximum(xs, 0), color="k", lw=2.5, label="y = relu(x)")
    ax.axvline(l, color="0.6", lw=0.8, ls=":")
    ax.axvline(u, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("pre-activation x")
    ax.set_ylabel("post-activation y")
    ax.set_title(f"one unstable ReLU, x in [{l:g}, {u:g}]")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(l - 0.1 * (u - l), u + 0.1 * (u - l))
    return save_figure(fig, path)


def plot_two_neuron_hull(net: Network, lower: np.ndarray, upper: np.ndarray, layer: int = 0,
                         neurons: tuple[int, int] | None = None,
                         bounds: dict[str, Bounds] | None = None, samples: int = 3000,
                         n_directions: int = 90, seed: int = 0, path=None):
    """Two neurons of a real network: input set and 2-ReLU hull vs product of triangles.

    Args:
        net: the network; ``lower``/``upper``: the input box.
        layer: index of the ReLU layer (``net.relu_names()[layer]``).
        neurons: the two neurons (default: the two unstable ones with the widest bounds).
        bounds: node bounds to use (default DeepPoly on the box).

    Panels: (x1, x2) with samples, the box and the octahedron ``C x <= d`` (octahedral
    bounds by back-substitution, as k-ReLU uses); then the projections onto (x1, y1),
    (x1, y2) and (y1, y2) of the product of the two triangles (over the octahedron's box)
    and of the exact hull ``conv{(x, relu(x)) : C x <= d}`` (``exact_hull``), with sampled
    true points ``(x, relu(x))``.
    """
    lower, upper = np.asarray(lower, float).ravel(), np.asarray(upper, float).ravel()
    bounds = deeppoly_bounds(net, lower, upper) if bounds is None else bounds
    relu = net.relu_names()[layer]
    pre = net.inputs_of(relu)[0]
    pb = bounds[pre]
    i, j = _two_unstable(pb, relu, neurons)
    C = octahedral_directions(2)
    d = octahedral_bounds(net, relu, [(i, j)], bounds)[0]
    P = input_vertices(C, d)
    H, h = exact_hull(C, d)
    Ht, ht = _triangle_product(P.min(axis=0), P.max(axis=0))   # over the octahedron's box
    X = sample_inputs(lower, upper, samples, np.random.default_rng(seed))
    vals = net.forward(X, all_nodes=True)[pre][:, [i, j]]
    pts = np.hstack([vals, np.maximum(vals, 0)])          # (x1, x2, y1, y2)

    fig, axes = pyplot().subplots(1, 4, figsize=(17, 4.3))
    _input_panel(axes[0], vals, pb, i, j, P, pre)
    D = directions_2d(n_directions)
    names = ["x1", "x2", "y1", "y2"]
    for ax, dims in zip(axes[1:], [(0, 2), (0, 3), (2, 3)]):
        inner = pts[:, dims].mean(axis=0)
        for (Hm, hm, label, color) in ((Ht, ht, "product of triangles", COLORS["triangle"]),
                                       (H, h, "2-ReLU hull (exact_hull)", COLORS["hull"])):
            poly = support_polygon(D, polygon_support(Hm, hm, dims, D), inner)
            ax.fill(poly[:, 0], poly[:, 1], color=color, alpha=0.18)
            ax.plot(poly[:, 0], poly[:, 1], color=color, lw=1.8, label=label)
        ax.scatter(pts[:, dims[0]], pts[:, dims[1]], s=2, color="k", alpha=0.35,
                   label="sampled (x, relu(x))")
        ax.set_xlabel(names[dims[0]]), ax.set_ylabel(names[dims[1]])
        ax.set_title(f"projection onto ({names[dims[0]]}, {names[dims[1]]})")
    axes[1].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"two neurons of {relu}: {pre}[{i}], {pre}[{j}]", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def _two_unstable(pb: Bounds, relu: str, neurons) -> tuple[int, int]:
    """The two neurons to draw: given, or the two unstable ones with the widest bounds."""
    if neurons is None:
        unstable = pb.unstable()
        if unstable.size < 2:
            raise ValueError(f"layer {relu} has fewer than two unstable neurons here")
        order = unstable[np.argsort(-pb.width[unstable])]
        neurons = (int(order[0]), int(order[1]))
    i, j = neurons
    if not (pb.lower[i] < 0 < pb.upper[i] and pb.lower[j] < 0 < pb.upper[j]):
        raise ValueError(f"neurons {neurons} of {relu} must both be unstable")
    return int(i), int(j)


def _triangle_product(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows on ``(x1, x2, y1, y2)`` of the product of the two neurons' triangles."""
    rows, rhs = [], []
    for k in range(2):
        T, t = triangle_rows(lower[k], upper[k])
        R = np.zeros((len(T), 4))
        R[:, k], R[:, 2 + k] = T[:, 0], T[:, 1]
        rows.append(R), rhs.append(t)
    return np.vstack(rows), np.concatenate(rhs)


def _input_panel(ax, vals, pb: Bounds, i: int, j: int, P: np.ndarray, pre: str) -> None:
    """The pre-activations: samples, the interval box and the octahedron."""
    ax.scatter(vals[:, 0], vals[:, 1], s=2, color="k", alpha=0.35, label="sampled inputs")
    box = np.array([[pb.lower[i], pb.lower[j]], [pb.upper[i], pb.lower[j]],
                    [pb.upper[i], pb.upper[j]], [pb.lower[i], pb.upper[j]],
                    [pb.lower[i], pb.lower[j]]])
    ax.plot(box[:, 0], box[:, 1], color=COLORS["box"], lw=1.5, label="box (interval bounds)")
    octa = P[ConvexHull(P).vertices]
    octa = np.vstack([octa, octa[:1]])
    ax.plot(octa[:, 0], octa[:, 1], color=COLORS["octahedron"], lw=1.5,
            label="octahedron C x <= d")
    ax.axhline(0, color="0.8", lw=0.6), ax.axvline(0, color="0.8", lw=0.6)
    ax.set_xlabel(f"x1 = {pre}[{i}]"), ax.set_ylabel(f"x2 = {pre}[{j}]")
    ax.set_title("pre-activations")
    ax.legend(fontsize=7, loc="best")
