"""Single-neuron relaxations of a ReLU layer: triangle, DeepPoly's two lines, big-M.

All take the layer's pre-activation bounds ``pre`` (sound, ``l <= x <= u``) and return one
:class:`ConstraintBlock`. Stable neurons are handled the same way by all of them: active
(``l >= 0``) gives the row ``y - x = 0``; inactive (``u <= 0``) fixes ``y`` to 0 by its
column bounds. Only unstable neurons (``l < 0 < u``) differ.
"""

from __future__ import annotations

import numpy as np

from verifier.bounds import Bounds, relu_lines
from verifier.relaxations.block import ConstraintBlock, neuron_names, rows_from_triplets


def _stable_parts(pre: Bounds):
    active = np.flatnonzero(pre.lower >= 0)
    unstable = pre.unstable()
    y_lower = np.zeros(pre.size)
    y_upper = np.maximum(pre.upper, 0.0)
    return active, unstable, y_lower, y_upper


def _block(tag, node, n, pieces, y_lower, y_upper, w=None):
    """Stack row pieces ``(kind, idx, ax, ay, aw, lo, hi)`` into one block: one row per
    neuron in ``idx``, named ``kind[node,i]``, with coefficient ``ax`` on ``x_i``, ``ay`` on
    ``y_i`` and, when ``aw = (w_cols, w_vals)``, ``w_vals`` on the new column ``w_cols``."""
    rows_x, cols_x, vals_x, rows_y, cols_y, vals_y = [], [], [], [], [], []
    rows_w, cols_w, vals_w = [], [], []
    lower, upper, names, kinds, neurons = [], [], [], [], []
    r = 0
    for prefix, idx, ax, ay, aw, lo, hi in pieces:
        m = idx.size
        if m == 0:
            continue
        local = np.arange(r, r + m)
        rows_x.append(local), cols_x.append(idx), vals_x.append(np.broadcast_to(ax, m))
        rows_y.append(local), cols_y.append(idx), vals_y.append(np.broadcast_to(ay, m))
        if aw is not None:
            w_cols, w_vals = aw
            rows_w.append(local), cols_w.append(w_cols), vals_w.append(np.broadcast_to(w_vals, m))
        lower.append(np.broadcast_to(lo, m)), upper.append(np.broadcast_to(hi, m))
        names += neuron_names(prefix, node, idx)
        kinds.append((prefix, r, r + m))
        neurons.append(idx)
        r += m
    cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0))
    Ax = rows_from_triplets(r, n, cat(rows_x), cat(cols_x), cat(vals_x))
    Ay = rows_from_triplets(r, n, cat(rows_y), cat(cols_y), cat(vals_y))
    kw = {}
    if w is not None:
        k = w["lower"].size
        kw = dict(Aw=rows_from_triplets(r, k, cat(rows_w), cat(cols_w), cat(vals_w)),
                  w_lower=w["lower"], w_upper=w["upper"], w_integrality=w["integrality"],
                  w_names=w["names"], w_neuron=w["neurons"])
    return ConstraintBlock(tag, node, n, Ax, Ay, cat(lower), cat(upper), names,
                           row_kinds=tuple(kinds), row_neuron=cat(neurons).astype(np.int64),
                           y_lower=y_lower, y_upper=y_upper, **kw)


def triangle(pre: Bounds, node: str) -> ConstraintBlock:
    """The triangle (planet) relaxation, the convex hull of one ReLU over ``[l, u]``.

    For unstable neurons: ``y >= 0`` (column bound), ``y >= x`` (``tri_lo``),
    ``y <= u (x - l) / (u - l)`` (``tri_up``, written ``y - a x <= c`` with
    ``a = u/(u-l)``, ``c = -a l`` rounded up so the float line stays above the ReLU).
    """
    active, unstable, y_lower, y_upper = _stable_parts(pre)
    _, _, a_up, c_up = relu_lines(pre.lower, pre.upper)
    inf = np.inf
    pieces = [
        ("relu_eq", active, -1.0, 1.0, None, 0.0, 0.0),
        ("tri_lo", unstable, -1.0, 1.0, None, 0.0, inf),
        ("tri_up", unstable, -a_up[unstable], 1.0, None, -inf, c_up[unstable]),
    ]
    return _block("triangle", node, pre.size, pieces, y_lower, y_upper)


def deeppoly_lines(pre: Bounds, node: str, lower_slope: str = "min_area") -> ConstraintBlock:
    """DeepPoly's relaxation as rows: ``y >= a_lo x`` and the triangle's upper line.

    ``a_lo`` is the min-area choice (1 if ``u > -l`` else 0) by default; with ``a_lo = 0``
    the lower row is just the column bound ``y >= 0``.
    """
    active, unstable, y_lower, y_upper = _stable_parts(pre)
    a_lo, _, a_up, c_up = relu_lines(pre.lower, pre.upper, lower_slope)
    with_lower = unstable[a_lo[unstable] > 0]
    inf = np.inf
    pieces = [
        ("relu_eq", active, -1.0, 1.0, None, 0.0, 0.0),
        ("dp_lo", with_lower, -a_lo[with_lower], 1.0, None, 0.0, inf),
        ("dp_up", unstable, -a_up[unstable], 1.0, None, -inf, c_up[unstable]),
    ]
    return _block("deeppoly", node, pre.size, pieces, y_lower, y_upper)


def big_m(pre: Bounds, node: str) -> ConstraintBlock:
    """Exact big-M encoding of unstable ReLUs with one binary ``a`` each.

    ``y >= x`` (``bm_lo``), ``y <= x - l (1 - a)`` (``bm_act``: ``y - x - l a <= -l``),
    ``y <= u a`` (``bm_inact``: ``y - u a <= 0``), ``y >= 0``, ``a in {0, 1}``. With ``a = 1``
    it forces ``y = x >= 0``; with ``a = 0`` it forces ``y = 0 >= x``. Sound and exact
    whenever ``l <= x <= u`` holds for all inputs of interest.
    """
    active, unstable, y_lower, y_upper = _stable_parts(pre)
    k = unstable.size
    w_idx = np.arange(k)
    inf = np.inf
    l, u = pre.lower[unstable], pre.upper[unstable]
    pieces = [
        ("relu_eq", active, -1.0, 1.0, None, 0.0, 0.0),
        ("bm_lo", unstable, -1.0, 1.0, None, 0.0, inf),
        ("bm_act", unstable, -1.0, 1.0, (w_idx, -l), -inf, -l),
        ("bm_inact", unstable, 0.0, 1.0, (w_idx, -u), -inf, 0.0),
    ]
    w = {"lower": np.zeros(k), "upper": np.ones(k), "integrality": np.ones(k, dtype=bool),
         "names": neuron_names("a", node, unstable), "neurons": unstable.astype(np.int64)}
    return _block("bigm", node, pre.size, pieces, y_lower, y_upper, w)


# The single-neuron relaxations by name: what ``verifier export`` and the LP methods pick from.
SINGLE_NEURON_RELAXATIONS = {"triangle": triangle, "deeppoly": deeppoly_lines, "bigm": big_m}
