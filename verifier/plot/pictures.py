"""Pictures of the relaxations (matplotlib, Agg backend).

Every function returns the ``Figure`` and, given ``path``, also saves it there (PNG at 150
dpi unless the extension says otherwise).

* :func:`plot_single_neuron` — one ReLU over ``[l, u]``: the triangle and DeepPoly's lines;
* :func:`plot_two_neuron_hull` — two neurons of a real network: their joint pre-activation
  set (samples, box, octahedron) and projections of the product of triangles vs the exact
  2-ReLU hull (``krelu_hull.exact_hull``), with sampled true points;
* :func:`plot_output_reach` — a 2-output network: sampled outputs vs each method's output
  set (polygons from support values in many directions: DeepPoly back-substitution, LPs,
  MILPs);
* :func:`plot_bound_widths` — per-layer pre-activation widths and unstable counts by method;
* :func:`plot_gap_bars` — the gaps of a :class:`~verifier.report.GapTable` (or the mean
  gaps of a :class:`~verifier.report.GapSummary`).

Polygons of projected polytopes are drawn from their support function ``h(θ)`` in
``n_directions`` directions (halfplane intersection), so they are outer approximations that
touch the true set in every drawn direction.
"""

from __future__ import annotations

import math

import numpy as np

from verifier.bounds import Bounds, DeepPolyOptions, deeppoly_bounds, interval_bounds
from verifier.bounds import output_form_bounds, relu_lines
from verifier.errors import VerifierError
from verifier.network import Network

__all__ = ["plot_single_neuron", "plot_two_neuron_hull", "plot_output_reach",
           "plot_bound_widths", "plot_gap_bars", "support_polygon", "directions_2d"]

COLORS = {"interval": "#9e9e9e", "deeppoly": "#1f77b4", "triangle": "#ff7f0e",
          "krelu": "#2ca02c", "milp": "#d62728", "lp": "#ff7f0e", "exact": "#d62728",
          "hull": "#2ca02c", "box": "#9e9e9e", "octahedron": "#9467bd"}


def _pyplot():
    """matplotlib.pyplot on the Agg backend, imported on first use (an optional extra, so
    that the rest of the CLI works without it)."""
    try:
        import matplotlib
    except ImportError:
        raise VerifierError("pictures need matplotlib: pip install 'verifier[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    if path is not None:
        fig.savefig(str(path), dpi=150, bbox_inches="tight")
    return fig


def directions_2d(n: int) -> np.ndarray:
    """``n`` unit directions evenly spread on the circle, shape ``(n, 2)``."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def support_polygon(D: np.ndarray, h: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """Vertices (in order, closed) of ``{p : D p <= h}`` in 2-D; ``interior`` strictly inside.

    Falls back to the bounding box of the support values when the intersection fails
    (degenerate sets)."""
    from scipy.spatial import ConvexHull, HalfspaceIntersection
    D, h = np.asarray(D, float), np.asarray(h, float)
    keep = np.isfinite(h)
    D, h = D[keep], h[keep]
    try:
        hs = HalfspaceIntersection(np.hstack([D, -h[:, None]]), np.asarray(interior, float))
        pts = hs.intersections
        hull = ConvexHull(pts)
        poly = pts[hull.vertices]
    except Exception:  # degenerate: draw the box of the support values
        xs = [-h[np.argmin(D[:, 0])], h[np.argmax(D[:, 0])]]
        ys = [-h[np.argmin(D[:, 1])], h[np.argmax(D[:, 1])]]
        poly = np.array([[xs[0], ys[0]], [xs[1], ys[0]], [xs[1], ys[1]], [xs[0], ys[1]]])
    return np.vstack([poly, poly[:1]])


def _polygon_support_lp(H: np.ndarray, h: np.ndarray, dims: tuple[int, int],
                        D: np.ndarray) -> np.ndarray:
    """Support values of the projection of ``{z : H z <= h}`` onto ``dims`` (scipy LPs)."""
    from scipy.optimize import linprog
    out = np.empty(len(D))
    n = H.shape[1]
    for k, d in enumerate(D):
        c = np.zeros(n)
        c[list(dims)] = -d
        res = linprog(c, A_ub=H, b_ub=h, bounds=[(None, None)] * n, method="highs")
        out[k] = -res.fun if res.status == 0 else np.inf
    return out


# --------------------------------------------------------------------------- a) one neuron
def plot_single_neuron(l: float = -1.0, u: float = 1.5, lower_slope: str = "min_area",
                       path=None, ax=None):
    """ReLU over ``[l, u]`` with the triangle (its convex hull) and DeepPoly's two lines."""
    if not l < 0 < u:
        raise ValueError(f"the neuron must be unstable (l < 0 < u), got [{l}, {u}]")
    fig, ax = _fig_ax(ax, (5.5, 4.2))
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
    return _save(fig, path)


def _fig_ax(ax, size):
    if ax is None:
        fig, ax = _pyplot().subplots(figsize=size)
    else:
        fig = ax.figure
    return fig, ax


# --------------------------------------------------------------------------- b) two neurons
def _sample_inputs(lower, upper, count, rng):
    """Uniform points plus random box corners (corners reach further in high dimension)."""
    n = lower.size
    half = count // 2
    U = rng.uniform(lower, upper, size=(half, n))
    signs = rng.integers(0, 2, size=(count - half, n)).astype(bool)
    V = np.where(signs, upper, lower)
    # mixtures of corners and centre fill the inside
    t = rng.uniform(0, 1, size=(count - half, 1))
    centre = (lower + upper) / 2
    W = centre + np.sqrt(t) * (V - centre)
    return np.vstack([U, V, W])


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
    from scipy.spatial import ConvexHull

    from verifier.relaxations.krelu import octahedral_bounds
    from verifier.relaxations.krelu_hull import (exact_hull, input_vertices,
                                                 octahedral_directions, triangle_rows)
    lower, upper = np.asarray(lower, float).ravel(), np.asarray(upper, float).ravel()
    bounds = deeppoly_bounds(net, lower, upper) if bounds is None else bounds
    relu = net.relu_names()[layer]
    pre = net.inputs_of(relu)[0]
    pb = bounds[pre]
    if neurons is None:
        unstable = pb.unstable()
        if unstable.size < 2:
            raise ValueError(f"layer {relu} has fewer than two unstable neurons here")
        order = unstable[np.argsort(-pb.width[unstable])]
        neurons = (int(order[0]), int(order[1]))
    i, j = neurons
    if not (pb.lower[i] < 0 < pb.upper[i] and pb.lower[j] < 0 < pb.upper[j]):
        raise ValueError(f"neurons {neurons} of {relu} must both be unstable")
    C = octahedral_directions(2)
    d = octahedral_bounds(net, relu, [(i, j)], bounds)[0]
    P = input_vertices(C, d)
    l2, u2 = P.min(axis=0), P.max(axis=0)        # the octahedron's box
    H, h = exact_hull(C, d)
    # product of triangles over the octahedron's box: rows on (x1, x2, y1, y2)
    T_rows, T_rhs = [], []
    for k in range(2):
        T, t = triangle_rows(l2[k], u2[k])
        R = np.zeros((len(T), 4))
        R[:, k], R[:, 2 + k] = T[:, 0], T[:, 1]
        T_rows.append(R), T_rhs.append(t)
    Ht, ht = np.vstack(T_rows), np.concatenate(T_rhs)

    rng = np.random.default_rng(seed)
    X = _sample_inputs(lower, upper, samples, rng)
    vals = net.forward(X, all_nodes=True)[pre][:, [i, j]]
    pts = np.hstack([vals, np.maximum(vals, 0)])          # (x1, x2, y1, y2)

    fig, axes = _pyplot().subplots(1, 4, figsize=(17, 4.3))
    ax = axes[0]
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

    D = directions_2d(n_directions)
    names = ["x1", "x2", "y1", "y2"]
    for ax, dims in zip(axes[1:], [(0, 2), (0, 3), (2, 3)]):
        inner = pts[:, dims].mean(axis=0)
        for (Hm, hm, label, color, style) in (
                (Ht, ht, "product of triangles", COLORS["triangle"], "-"),
                (H, h, "2-ReLU hull (exact_hull)", COLORS["hull"], "-")):
            poly = support_polygon(D, _polygon_support_lp(Hm, hm, dims, D), inner)
            ax.fill(poly[:, 0], poly[:, 1], color=color, alpha=0.18)
            ax.plot(poly[:, 0], poly[:, 1], color=color, lw=1.8, ls=style, label=label)
        ax.scatter(pts[:, dims[0]], pts[:, dims[1]], s=2, color="k", alpha=0.35,
                   label="sampled (x, relu(x))")
        ax.set_xlabel(names[dims[0]]), ax.set_ylabel(names[dims[1]])
        ax.set_title(f"projection onto ({names[dims[0]]}, {names[dims[1]]})")
    axes[1].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"two neurons of {relu}: {pre}[{i}], {pre}[{j}]", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- c) output reach
def _lp_support(net, bounds, blocks, D, mip: bool, time_limit: float) -> np.ndarray:
    from solvers import Status
    from solvers.highs import HighsBackend, HighsOptions, SolveLimits
    from verifier.encode import encode_network
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
    from verifier.relaxations import big_m
    from verifier.verify.tighten import lp_tighten as tighten, triangle_blocks
    ib = interval_bounds(net, lower, upper)
    dp = deeppoly_bounds(net, lower, upper)
    tight = tighten(net, dp)[0] if lp_tighten else dp
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
            try:
                from verifier.verify.krelu_method import KReluBuilder
                from verifier.verify.options import KReluOptions
            except ImportError:
                continue
            blocks = KReluBuilder(KReluOptions(), None)(net, tight)
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
    Y = net.forward(_sample_inputs(lower, upper, samples, rng))
    D = directions_2d(n_directions)
    support = output_support(net, lower, upper, methods, D, lp_tighten)
    fig, ax = _fig_ax(ax, (6.5, 5.5))
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
    return _save(fig, path)


# --------------------------------------------------------------------------- d) widths, gaps
def plot_bound_widths(net: Network, lower, upper, lp_tighten: bool = True, path=None):
    """Per ReLU layer: mean pre-activation width (log scale) and unstable neurons by method."""
    from verifier.report.gap import layer_widths
    from verifier.verify.tighten import lp_tighten as tighten
    lower, upper = np.asarray(lower, float).ravel(), np.asarray(upper, float).ravel()
    by = {"interval": interval_bounds(net, lower, upper)}
    by["deeppoly"] = deeppoly_bounds(net, lower, upper, start=by["interval"])
    if lp_tighten:
        by["lp"] = tighten(net, by["deeppoly"])[0]
    rows = layer_widths(net, by)
    layers = list(dict.fromkeys(r.layer for r in rows))
    methods = list(by)
    fig, axes = _pyplot().subplots(1, 2, figsize=(11, 4))
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
    return _save(fig, path)


def plot_gap_bars(table, path=None, log: bool = True):
    """Gaps ``exact - bound`` per objective and method (whiskers: the exact value's bracket).

    ``table`` is a :class:`~verifier.report.GapTable` (one group of bars per objective) or
    a :class:`~verifier.report.GapSummary` (mean gap per method).
    """
    from verifier.report.gap import GapSummary
    if isinstance(table, GapSummary):
        agg = table.aggregate
        methods = [m for m in table.methods if m != "milp"]
        groups = ["mean over images"]
        low = {m: [agg[m]["mean_gap_low"]] for m in methods}
        high = {m: [agg[m]["mean_gap_high"]] for m in methods}
        title = f"mean gap over {agg['_all']['images']} images, eps {table.eps:g}"
    else:
        methods = [m for m in table.methods if m != "milp"]
        groups = [o.label for o in table.objectives]
        low = {m: [o.gap(m)[0] for o in table.objectives] for m in methods}
        high = {m: [o.gap(m)[1] for o in table.objectives] for m in methods}
        title = f"gap to the exact optimum: {table.name}"
    fig, ax = _pyplot().subplots(figsize=(min(12.0, 3.0 + 1.0 * len(groups)), 4.2))
    x = np.arange(len(groups))
    w = 0.8 / max(len(methods), 1)
    floor = 1e-6
    for k, m in enumerate(methods):
        lo = np.array([max(v, floor) if math.isfinite(v) else np.nan for v in low[m]])
        hi = np.array([max(v, floor) if math.isfinite(v) else np.nan for v in high[m]])
        pos = x + (k - (len(methods) - 1) / 2) * w
        ax.bar(pos, lo, w, color=COLORS.get(m), label=m)
        bracket = hi > lo * (1 + 1e-9)
        if np.any(bracket):
            ax.errorbar(pos[bracket], lo[bracket], yerr=[np.zeros(bracket.sum()),
                                                         (hi - lo)[bracket]],
                        fmt="none", ecolor="k", elinewidth=0.8, capsize=2)
    if log:
        ax.set_yscale("log")
    ax.set_xticks(x, groups, rotation=30 if len(groups) > 4 else 0, ha="right"
                  if len(groups) > 4 else "center")
    ax.set_ylabel("exact - bound" + (" (log)" if log else ""))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=len(methods))
    ax.text(0.01, 0.98, "whisker: exact value only bracketed (MILP time limit)",
            transform=ax.transAxes, fontsize=7, va="top", color="0.3")
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- CLI
def add_plot_subparser(subparsers) -> None:
    """``verifier plot {neuron,hull,reach,widths,gap} ... -o out.png``."""
    p = subparsers.add_parser(
        "plot", help="pictures: one neuron, two-neuron hull, output reach, widths, gaps",
        description="Write a picture (PNG/PDF/SVG by extension). The input box comes from "
                    "SPEC, or from --images/--labels/--index/--eps (L-inf ball around one "
                    "image), or from --box LO,HI (the same interval for every input).")
    p.add_argument("kind", choices=["neuron", "hull", "reach", "widths", "gap"])
    p.add_argument("network", nargs="?", help="network file (all kinds but neuron)")
    p.add_argument("spec", nargs="?", help="property file (VNN-LIB 1.0): case 0's box")
    p.add_argument("-o", "--output", required=True, help="out.png")
    p.add_argument("--l", type=float, default=-1.0, help="neuron: lower bound (-1)")
    p.add_argument("--u", type=float, default=1.5, help="neuron: upper bound (1.5)")
    p.add_argument("--images", help=".npy images (box = L-inf ball around --index)")
    p.add_argument("--labels", help=".npy labels (gap with --images)")
    p.add_argument("--index", type=int, default=0, help="image index (0)")
    p.add_argument("--eps", type=float, default=0.05, help="L-inf radius with --images")
    p.add_argument("--box", help="LO,HI: the same interval for every input")
    p.add_argument("--layer", type=int, default=0, help="hull: ReLU layer index (0)")
    p.add_argument("--neurons", help="hull: two neuron indices i,j (default: widest)")
    p.add_argument("--methods", default="interval,deeppoly,triangle,krelu,milp",
                   help="reach/gap: comma-separated methods")
    p.add_argument("--timeout", type=float, default=30.0, help="gap: seconds per solve")
    p.add_argument("--no-tighten", action="store_true", help="skip LP tightening")


def _box_from_args(args, net):
    from verifier.errors import VerifierError
    if args.spec:
        from verifier.spec import load_vnnlib
        prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
        return prop.cases[0].lower, prop.cases[0].upper, prop
    if args.images:
        X = np.load(args.images)
        x = np.asarray(X[args.index], dtype=np.float64).ravel()
        prop = None
        if args.labels:
            from verifier.spec import linf_robustness
            label = int(np.asarray(np.load(args.labels)).ravel()[args.index])
            prop = linf_robustness(x, args.eps, label, net.n_outputs)
        return np.clip(x - args.eps, 0, 1), np.clip(x + args.eps, 0, 1), prop
    if args.box:
        lo, hi = (float(v) for v in args.box.split(","))
        return np.full(net.n_inputs, lo), np.full(net.n_inputs, hi), None
    raise VerifierError("give SPEC, --images (with --eps) or --box LO,HI for the input box")


def run_plot_command(args) -> int:
    """Run ``verifier plot`` (returns the exit code; errors raise VerifierError)."""
    from verifier.errors import VerifierError
    if args.kind == "neuron":
        plot_single_neuron(args.l, args.u, path=args.output)
        print(f"wrote {args.output}")
        return 0
    if args.network is None:
        raise VerifierError(f"plot {args.kind} needs a network file")
    from verifier.network import load_network
    net = load_network(args.network)
    lower, upper, prop = _box_from_args(args, net)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        if args.kind == "hull":
            neurons = (None if args.neurons is None else
                       tuple(int(v) for v in args.neurons.split(",")))
            plot_two_neuron_hull(net, lower, upper, layer=args.layer, neurons=neurons,
                                 path=args.output)
        elif args.kind == "reach":
            plot_output_reach(net, lower, upper, methods=methods,
                              lp_tighten=not args.no_tighten, path=args.output)
        elif args.kind == "widths":
            plot_bound_widths(net, lower, upper, lp_tighten=not args.no_tighten,
                              path=args.output)
        else:
            if prop is None:
                raise VerifierError("plot gap needs SPEC or --images with --labels")
            from verifier.report.gap import gap_table
            from verifier.verify.options import VerifyOptions
            table = gap_table(net, prop, methods, timeout=args.timeout,
                              options=VerifyOptions(lp_tighten=not args.no_tighten))
            print(table.to_text())
            plot_gap_bars(table, path=args.output)
    except ValueError as exc:
        raise VerifierError(str(exc)) from exc
    print(f"wrote {args.output}")
    return 0
