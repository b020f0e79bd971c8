"""What every picture shares: colours, the Agg backend, saving, support polygons."""

from __future__ import annotations

import numpy as np

from verifier.errors import VerifierError
from verifier.files import output_path

COLORS = {"interval": "#9e9e9e", "deeppoly": "#1f77b4", "triangle": "#ff7f0e",
          "krelu": "#2ca02c", "milp": "#d62728", "lp": "#ff7f0e", "exact": "#d62728",
          "hull": "#2ca02c", "box": "#9e9e9e", "octahedron": "#9467bd"}


def pyplot():
    """matplotlib.pyplot on the Agg backend, imported on first use (an optional extra, so
    that the rest of the CLI works without it)."""
    try:
        import matplotlib
    except ImportError:
        raise VerifierError("pictures need matplotlib: pip install 'verifier[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    """Save ``fig`` to ``path`` (when given) whole or not at all: it is drawn to a
    temporary file in the same folder, renamed over ``path`` once complete."""
    if path is not None:
        with output_path(path) as temp:
            fig.savefig(temp, dpi=150, bbox_inches="tight")
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


def polygon_support(H: np.ndarray, h: np.ndarray, dims: tuple[int, int],
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


def figure_axes(ax, size):
    if ax is None:
        fig, ax = pyplot().subplots(figsize=size)
    else:
        fig = ax.figure
    return fig, ax


def sample_inputs(lower, upper, count, rng):
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
