"""The k-ReLU relaxation of one ReLU layer (Singh et al. 2019, "kPoly"; PRIMA 2022).

For a ReLU node with pre-activation node ``pre`` (values ``x``, outputs ``y = relu(x)``) and
groups of ``k`` unstable neurons (:func:`verifier.relaxations.groups.select_groups`):

1. :func:`octahedral_bounds` bounds ``c . x_G <= d_c`` for every group ``G`` and every
   octahedral direction ``c in {-1, 0, 1}^k \\ {0}`` (order of
   :func:`~verifier.relaxations.krelu_hull.octahedral_directions`). All directions of all
   groups form one coefficient matrix ``M`` (rows = groups x directions, columns = layer
   neurons) that is bounded by *one* DeepPoly back-substitution
   (:func:`verifier.bounds.linear_form_bounds`), intersected with the box
   ``c+ . u + c- . l`` of the layer's (possibly LP-tightened) bounds.
2. :func:`group_hulls` computes, per group, the convex hull ``H [x_G; y_G] <= h`` of
   ``{(x, relu(x)) : C x <= d}`` (:func:`~verifier.relaxations.krelu_hull.fast_hull` or
   :func:`~verifier.relaxations.krelu_hull.exact_hull`); this is the slow part, so it
   takes an optional deadline.
3. :func:`krelu_block` maps the hull rows to the layer's ``x`` / ``y`` slots as one
   :class:`ConstraintBlock` (tag ``"krelu"``, rows ``-inf <= H z <= h`` named
   ``krelu(relu2,(3,8,41))#5``).

The k-ReLU block carries *only* the multi-neuron rows: it gives no column bounds and no rows
for stable neurons. Callers combine it with the triangle block of the same layer
(``[triangle(pre, node), krelu_block(...)]``), which handles stable neurons, ``y >= 0`` and
``y <= max(u, 0)``; neurons in no group are then relaxed by the triangle alone.

Soundness: the octahedral bounds are sound upper bounds (back-substitution is rounded
outward; box bounds are sound by assumption), so ``P = {C x_G <= d}`` contains every
reachable ``x_G``, and each hull row holds on every lifted vertex of ``P`` with an outward
margin (see ``krelu_hull``). Pure numpy; no solver is imported.
"""

from __future__ import annotations

import time

import numpy as np

from verifier.bounds import Bounds, linear_form_bounds, relu_lines
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY
from verifier.network import Network
from verifier.relaxations.block import ConstraintBlock, group_label, rows_from_triplets
from verifier.relaxations.groups import select_groups
from verifier.relaxations.krelu_hull import exact_hull, fast_hull, octahedral_directions
from verifier.relaxations.krelu_options import HULL_METHODS, KReluOptions
from verifier.relaxations.single_neuron import triangle

__all__ = ["octahedral_bounds", "group_hulls", "krelu_block", "upstream_lines",
           "layer_groups", "krelu_layer_block", "KReluBlocks", "HULL_METHODS"]


def upstream_lines(net: Network, node_bounds: dict[str, Bounds],
                   lower_slope: str = "min_area") -> dict[str, tuple]:
    """``relu_lines`` of every ReLU of the net from its pre-activation bounds (for
    :func:`octahedral_bounds`)."""
    lines = {}
    for relu in net.relu_names():
        pre = node_bounds[net.inputs_of(relu)[0]]
        lines[relu] = relu_lines(pre.lower, pre.upper, lower_slope)
    return lines


def _half_directions(k: int) -> np.ndarray:
    """The first half of ``octahedral_directions(k)``; row ``i`` of the second half is
    ``-half[(3^k - 1) / 2 - 1 - i]`` (the order is antisymmetric)."""
    C = octahedral_directions(k)
    return C[: C.shape[0] // 2]


def octahedral_bounds(net: Network, relu_name: str, groups: list[tuple[int, ...]],
                      node_bounds: dict[str, Bounds], lines: dict[str, tuple] | None = None,
                      chunk: int = 2048, deadline: float | None = None) -> list[np.ndarray]:
    """Upper bounds ``d`` of ``c . x_G`` for every group ``G`` and octahedral direction ``c``.

    Args:
        net: the network.
        relu_name: the ReLU node; ``x`` is the value of its input (pre-activation) node.
        groups: tuples of neuron indices of that node (sizes may differ, e.g. a smaller
            last group).
        node_bounds: sound bounds of every node (the pre node's bounds give the box bound).
        lines: ``relu_lines`` of every upstream ReLU (default: :func:`upstream_lines` of
            ``node_bounds``).
        chunk: rows per back-substitution pass.
        deadline: ``time.monotonic()``; :class:`~verifier.errors.TimeLimitReached` is
            raised between passes once it passed.

    Returns:
        One array per group, shape ``(3^len(G) - 1,)``, aligned with
        ``octahedral_directions(len(G))``: ``C x_G <= d`` holds for every input of the box.

    Method: because the direction list is antisymmetric, only its first half enters ``M``;
    one call of :func:`linear_form_bounds` gives lower and upper bounds of those rows,
    i.e. upper bounds of all ``3^k - 1`` directions. Each is intersected with the box bound
    ``c+ . u + c- . l`` (rounded up).
    """
    pre = net.inputs_of(relu_name)[0]
    box = node_bounds[pre]
    n = net.size(pre)
    if lines is None:
        lines = upstream_lines(net, node_bounds)
    if not groups:
        return []
    # rows of M: for each group, its half directions scattered into the layer's columns;
    # the box bounds of the rows per group, over the group's neurons only (a product with
    # the dense M cost seconds on wide layers, after the deadline checks)
    blocks, offsets, box_hi, box_lo, scale = [], [0], [], [], []
    for group in groups:
        idx = np.asarray(group, dtype=np.int64)
        if idx.size == 0 or np.any(idx < 0) or np.any(idx >= n):
            raise ValueError(f"group {group} is not a nonempty set of neurons of {pre} "
                             f"(size {n})")
        half = _half_directions(idx.size)
        rows = np.zeros((half.shape[0], n))
        rows[:, idx] = half
        blocks.append(rows)
        offsets.append(offsets[-1] + half.shape[0])
        hp, hm = np.maximum(half, 0.0), np.minimum(half, 0.0)
        lo, hi = box.lower[idx], box.upper[idx]
        box_hi.append(hp @ hi + hm @ lo)
        box_lo.append(hp @ lo + hm @ hi)
        scale.append(np.abs(half) @ np.maximum(np.abs(lo), np.abs(hi)))
    M = np.vstack(blocks)
    back = linear_form_bounds(net, pre, M, node_bounds, lines, chunk, deadline)
    box_hi, box_lo, scale = np.concatenate(box_hi), np.concatenate(box_lo), np.concatenate(scale)
    pad = ROUNDING_MARGIN * scale + TINY
    upper = np.minimum(back.upper, box_hi + pad)          # bounds of +half rows
    lower = np.maximum(back.lower, box_lo - pad)          # so -lower bounds the -half rows
    out = []
    for g in range(len(groups)):
        a, b = offsets[g], offsets[g + 1]
        out.append(np.concatenate([upper[a:b], -lower[a:b][::-1]]))
    return out


def group_hulls(groups: list[tuple[int, ...]], octa_d: list[np.ndarray],
                method: str = "fast", deadline: float | None = None
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Hull rows ``(H, h)`` per group (``H @ [x_G; y_G] <= h``), in group order.

    ``method``: ``"fast"`` or ``"qhull"`` (:func:`fast_hull`, qhull),
    or ``"exact"`` (:func:`exact_hull`). With ``deadline`` (a
    ``time.monotonic()`` value) the loop stops once it is passed, so the result may cover
    only a prefix of ``groups``.
    """
    if method not in HULL_METHODS:
        raise ValueError(f"unknown hull method {method!r}; use one of {HULL_METHODS}")
    if len(groups) != len(octa_d):
        raise ValueError(f"{len(groups)} groups but {len(octa_d)} octahedral bound vectors")
    hulls = []
    for group, d in zip(groups, octa_d):
        if deadline is not None and time.monotonic() > deadline:
            break
        C = octahedral_directions(len(group))
        if method == "exact":
            hulls.append(exact_hull(C, d))
        else:
            hulls.append(fast_hull(C, d, method="qhull" if method == "fast" else method))
    return hulls


def krelu_block(pre_bounds: Bounds, node: str, groups: list[tuple[int, ...]],
                octa_d: list[np.ndarray] | None, k: int, method: str = "fast",
                hulls: list[tuple[np.ndarray, np.ndarray]] | None = None,
                deadline: float | None = None) -> ConstraintBlock:
    """The k-ReLU rows of one layer as a :class:`ConstraintBlock` (tag ``"krelu"``).

    For each group ``G`` (size <= k, every neuron unstable under ``pre_bounds``) and each row
    ``[a | b], c`` of its hull: ``a . x_G + b . y_G <= c`` (row lower ``-inf``), named
    ``krelu(node,(i,j,l))#r``. No column bounds, no rows for stable or ungrouped neurons:
    pair it with :func:`~verifier.relaxations.triangle` of the same layer.

    Args:
        pre_bounds: the layer's pre-activation bounds (checks the groups; gives ``n``).
        node: the ReLU node's name.
        groups: neuron groups (from ``select_groups``).
        octa_d: octahedral bounds per group (:func:`octahedral_bounds`); may be None when
            ``hulls`` is given.
        k: the nominal group size (groups larger than ``k`` are rejected).
        method: hull method (:func:`group_hulls`).
        hulls: precomputed ``(H, h)`` per group (a prefix of ``groups`` is allowed); skips
            the hull computation.
        deadline: passed to :func:`group_hulls`; groups left without a hull get no rows.
    """
    n = pre_bounds.size
    unstable = (pre_bounds.lower < 0) & (pre_bounds.upper > 0)
    for group in groups:
        if len(group) > k:
            raise ValueError(f"group {group} of {node} has more than k={k} neurons")
        if not np.all(unstable[list(group)]):
            raise ValueError(f"group {group} of {node} contains a stable neuron")
    if hulls is None:
        if octa_d is None:
            raise ValueError("krelu_block needs octa_d or hulls")
        hulls = group_hulls(groups, octa_d, method, deadline)
    rows_parts, xcols, ycols, xvals, yvals, uppers, names = [], [], [], [], [], [], []
    r = 0
    for group, (H, h) in zip(groups, hulls):
        g = len(group)
        idx = np.asarray(group, dtype=np.int64)
        m = H.shape[0]
        local = np.repeat(np.arange(r, r + m), g)
        rows_parts.append(local)
        xcols.append(np.tile(idx, m))
        ycols.append(np.tile(idx, m))
        xvals.append(H[:, :g].reshape(-1))
        yvals.append(H[:, g:].reshape(-1))
        uppers.append(h)
        label = group_label(group)
        names += [f"krelu({node},{label})#{j}" for j in range(m)]
        r += m
    cat = (lambda parts, dt=np.float64: np.concatenate(parts).astype(dt) if parts
           else np.zeros(0, dtype=dt))
    rows = cat(rows_parts, np.int64)
    Ax = rows_from_triplets(r, n, rows, cat(xcols, np.int64), cat(xvals))
    Ay = rows_from_triplets(r, n, rows, cat(ycols, np.int64), cat(yvals))
    Ax.eliminate_zeros()
    Ay.eliminate_zeros()
    return ConstraintBlock("krelu", node, n, Ax, Ay, np.full(r, -np.inf), cat(uppers), names,
                           row_kinds=(("krelu", 0, r),), row_neuron=np.full(r, -1, np.int64))


def layer_groups(pre: Bounds, options: KReluOptions) -> list[tuple[int, ...]]:
    """The k-ReLU groups of one layer (:func:`select_groups` with the options' k, ns, s and
    area cutoff), capped at ``options.max_groups_per_layer``."""
    groups = select_groups(pre.lower, pre.upper, options.k, options.ns, options.s,
                           options.area_cutoff)
    if options.max_groups_per_layer is not None:
        groups = groups[: options.max_groups_per_layer]
    return groups


def krelu_layer_block(net: Network, relu: str, bounds: dict[str, Bounds],
                      options: KReluOptions, lines: dict[str, tuple] | None = None,
                      deadline: float | None = None, lower_slope: str = "min_area"):
    """Every hull facet of every group of one layer, as one block (``cuts="all"``).

    Returns:
        (block, or None when the layer has no group or no hull was built in time; stats
        with ``groups`` selected, ``built`` hulls, ``rows``, ``octa_time``, ``hull_time``).
    """
    pb = bounds[net.inputs_of(relu)[0]]
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


class KReluBlocks:
    """Triangle + all-facet k-ReLU blocks per ReLU layer, built once per bounds.

    Called as ``blocks(net, bounds, upto=None)``: the ``[triangle, krelu]`` blocks of every
    ReLU layer (only those upstream of node ``upto`` when given, which is what per-neuron
    tightening encodes). A layer's k-ReLU block is cached under its pre-activation bounds'
    bytes, so repeated calls with unchanged bounds reuse the hulls. Hulls stop being built
    after ``hull_deadline`` (``time.monotonic()``); ``cut_short`` then says so.
    """

    def __init__(self, options: KReluOptions, hull_deadline: float | None,
                 lower_slope: str = "min_area"):
        self.options = options
        self.hull_deadline = hull_deadline
        self.lower_slope = lower_slope
        self.cache: dict[tuple, ConstraintBlock | None] = {}
        self.layer_stats: dict[str, dict] = {}
        self.cut_short = False

    def layer(self, net: Network, relu: str, bounds: dict[str, Bounds]):
        """The k-ReLU block of one layer (cached), or None."""
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
                self.cut_short |= stats["built"] < stats["groups"]
            self.cache[key] = block
            self.layer_stats[relu] = stats
        return self.cache[key]

    def __call__(self, net: Network, bounds: dict[str, Bounds], upto: str | None = None
                 ) -> dict[str, list[ConstraintBlock]]:
        relus = net.relu_names()
        if upto is not None:
            ancestors = set(net.upstream_order(upto))
            relus = [r for r in relus if r in ancestors]
        out = {}
        for relu in relus:
            out[relu] = [triangle(bounds[net.inputs_of(relu)[0]], relu)]
            block = self.layer(net, relu, bounds)
            if block is not None:
                out[relu].append(block)
        return out

    def summary(self) -> dict:
        """Totals over layers: groups, built hulls, rows, hull and octahedron seconds."""
        layers = dict(self.layer_stats)
        total = {key: sum(s.get(key, 0) for s in layers.values())
                 for key in ("groups", "built", "rows", "hull_time", "octa_time")}
        built = total["built"]
        return {**total, "hull_time_per_group": total["hull_time"] / built if built else 0.0,
                "cut_short": self.cut_short, "layers": layers}
