"""k-ReLU cut separation as data: the hull facets a point violates, as constraint blocks.

Adding *every* facet of every group's hull (~hundreds of rows per k = 3 group) makes an LP
huge; separation adds only the facets that the current LP point violates. Given the
values of the pre-activations ``x`` and ReLU outputs ``y`` of each layer at that point,
:meth:`KReluHulls.separate` returns, per layer, a :class:`ConstraintBlock` (tag
``"krelu_cut"``) of the most violated facets, over the layer's local ``x``/``y`` slots;
the encoder maps them to model rows.

A group ``G`` can only carry a violated facet if the point is *off the ReLU graph*
(``y_i > max(x_i, 0)`` for some ``i`` in ``G``) or *outside the octahedron*
(``C x_G > d``): otherwise ``(x_G, relu(x_G))`` with ``x_G in P`` lies in the hull. Only
those groups get a hull (built lazily, once per set of bounds, cached).

Soundness: every cut is a row of :func:`~verifier.relaxations.krelu_hull.fast_hull` (or
``exact_hull``) of ``{(x, relu(x)) : C x <= d}`` with ``d`` the sound octahedral bounds of
the bounds given here (:func:`~verifier.relaxations.krelu.octahedral_bounds`), so it holds
for every input of the box those bounds are valid on. Pure numpy; no solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from verifier.bounds import Bounds
from verifier.network import Network
from verifier.relaxations.block import ConstraintBlock, group_label, rows_from_triplets
from verifier.relaxations.krelu import (group_hulls, layer_groups, octahedral_bounds,
                                        upstream_lines)
from verifier.relaxations.krelu_hull import octahedral_directions
from verifier.relaxations.krelu_options import KReluOptions

__all__ = ["LayerHulls", "KReluHulls", "CutRound"]


@dataclass
class LayerHulls:
    """One ReLU layer's groups with their octahedral bounds and hulls (both lazy).

    Attributes:
        relu, pre: the ReLU node and its pre-activation node; size: its neurons.
        groups: neuron groups (:func:`~verifier.relaxations.krelu.layer_groups`).
        signature: bytes of the bounds this layer's hulls depend on (its own and every
            earlier ReLU layer's pre-activation bounds), to reuse it for other bounds.
        octa: octahedral bounds per group, once computed.
        hulls: group index -> ``(H, h)``, for the groups built so far.
    """

    relu: str
    pre: str
    size: int
    groups: list[tuple[int, ...]]
    signature: tuple[bytes, ...] = ()
    octa: list[np.ndarray] | None = None
    hulls: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


@dataclass
class CutRound:
    """What one separation round found.

    Attributes:
        blocks: cut blocks in the order their rows should be added (consecutive cuts of
            one layer share a block).
        keys: one ``(layer index, group index, facet index)`` per row, in block order.
        tested: groups whose hull was evaluated; candidates: groups that might violate;
        new_hulls: hulls built in this round.
    """

    blocks: list[ConstraintBlock]
    keys: list[tuple[int, int, int]]
    tested: int = 0
    candidates: int = 0
    new_hulls: int = 0

    @property
    def n_rows(self) -> int:
        return len(self.keys)


def upstream_signature(net: Network, bounds: dict[str, Bounds], relu: str) -> tuple[bytes, ...]:
    """Bytes of the pre-activation bounds of ``relu`` and of every ReLU before it: a layer's
    groups, octahedral bounds and hulls depend on nothing else."""
    relus = net.relu_names()
    out = []
    for name in relus[: relus.index(relu) + 1]:
        pb = bounds[net.inputs_of(name)[0]]
        out += [pb.lower.tobytes(), pb.upper.tobytes()]
    return tuple(out)


class KReluHulls:
    """Groups, octahedral bounds and lazily built hulls of the ReLU layers of one case.

    Args:
        net: the network.
        bounds: sound bounds of every node on the case's input box.
        options: group choice, hull method, cut tolerance and budgets.
        lower_slope: DeepPoly lower slope for the octahedral back-substitution.
        relus: the ReLU layers to cover (default: all).
        reuse: layers of an earlier :class:`KReluHulls` to take over when their signature
            (:func:`upstream_signature`) is unchanged.
    """

    def __init__(self, net: Network, bounds: dict[str, Bounds], options: KReluOptions,
                 lower_slope: str = "min_area", relus: list[str] | None = None,
                 reuse: list[LayerHulls] = ()):
        self.net, self.bounds, self.options, self.lower_slope = net, bounds, options, lower_slope
        self._lines = None
        old = {layer.relu: layer for layer in reuse}
        self.layers: list[LayerHulls] = []
        for relu in (net.relu_names() if relus is None else relus):
            pre = net.inputs_of(relu)[0]
            sig = upstream_signature(net, bounds, relu)
            if relu in old and old[relu].signature == sig:
                self.layers.append(old[relu])
                continue
            groups = layer_groups(bounds[pre], options)
            if groups:
                self.layers.append(LayerHulls(relu, pre, net.size(pre), groups, sig))
        self.stats = {"groups": sum(len(L.groups) for L in self.layers), "built": 0,
                      "hull_time": 0.0, "octa_time": 0.0, "cut_short": False}

    # ---------------------------------------------------------------- hulls
    def octa(self, layer: LayerHulls, deadline: float | None = None) -> list[np.ndarray]:
        """The layer's octahedral bounds per group (computed once; raises
        :class:`~verifier.errors.TimeLimitReached` past ``deadline``)."""
        if layer.octa is None:
            start = time.perf_counter()
            if self._lines is None:
                self._lines = upstream_lines(self.net, self.bounds, self.lower_slope)
            layer.octa = octahedral_bounds(self.net, layer.relu, layer.groups, self.bounds,
                                           self._lines, deadline=deadline)
            self.stats["octa_time"] += time.perf_counter() - start
        return layer.octa

    def hull(self, layer: LayerHulls, g: int, deadline: float | None,
             hard_deadline: float | None = None):
        """``(H, h)`` of group ``g`` (built once); None once ``deadline`` passed."""
        if g not in layer.hulls:
            if deadline is not None and time.monotonic() > deadline:
                self.stats["cut_short"] = True
                return None
            start = time.perf_counter()
            octa = self.octa(layer, hard_deadline)[g]
            (hull,) = group_hulls([layer.groups[g]], [octa], self.options.method)
            self.stats["hull_time"] += time.perf_counter() - start
            self.stats["built"] += 1
            layer.hulls[g] = hull
        return layer.hulls[g]

    # ---------------------------------------------------------------- separation
    def candidates(self, layer: LayerHulls, x: np.ndarray, y: np.ndarray,
                   weight: np.ndarray | None, hard_deadline: float | None = None
                   ) -> tuple[list[int], list[float]]:
        """Groups whose point may violate a hull facet (off the graph or outside the
        octahedron), with scores ``sum weight_i * gap_i`` (plus a tiny multiple of the gap);
        ``weight`` is per neuron (e.g. ``|dual|`` of the triangle's upper row)."""
        tol = self.options.cut_tol
        gap = np.maximum(y - np.maximum(x, 0.0), 0.0) / (1.0 + np.abs(x))
        weighted = (np.zeros_like(gap) if weight is None else weight) * gap + 1e-9 * gap
        octa = self.octa(layer, hard_deadline)
        out, score = [], []
        for g, group in enumerate(layer.groups):
            idx = list(group)
            off = float(gap[idx].sum()) > tol
            if not off:
                C = octahedral_directions(len(group))
                d = octa[g]
                off = bool(np.any(C @ x[idx] - d > tol * (1.0 + np.abs(d))))
            if off:
                out.append(g)
                score.append(float(weighted[idx].sum()))
        return out, score

    def _queue(self, values, weights, all_groups: bool, hard_deadline: float | None):
        """(layer, group) pairs to test, most promising first."""
        todo, score = [], []
        for li, layer in enumerate(self.layers):
            if all_groups:
                todo += [(li, g) for g in range(len(layer.groups))]
                score += [0.0] * len(layer.groups)
            else:
                groups, sc = self.candidates(layer, values[layer.pre], values[layer.relu],
                                             None if weights is None else weights.get(layer.relu),
                                             hard_deadline)
                todo += [(li, g) for g in groups]
                score += sc
        order = np.argsort(-np.asarray(score), kind="stable")
        return [todo[i] for i in order]

    def separate(self, values: dict[str, np.ndarray], weights: dict[str, np.ndarray] | None,
                 deadline: float | None, added: set, all_groups: bool = False,
                 hard_deadline: float | None = None) -> CutRound:
        """The violated facets at a point, as blocks (see :class:`CutRound`).

        Args:
            values: node name -> the point's values of that node (each layer's ``pre``
                and ``relu`` nodes are read).
            weights: relu node -> per-neuron weights for ranking candidates, or None.
            deadline: ``time.monotonic()`` after which no new hull is built.
            added: keys of cuts already in the model; skipped, and updated.
            all_groups: test every group (not only the candidates).
            hard_deadline: ``time.monotonic()`` past which octahedral bounds raise
                :class:`~verifier.errors.TimeLimitReached` (the caller's time limit).
        """
        opts = self.options
        budget = None if all_groups or opts.hulls_per_round is None else int(opts.hulls_per_round)
        builder = _CutBlocks(self.layers)
        queue = self._queue(values, weights, all_groups, hard_deadline)
        tested = new_hulls = 0
        for li, g in queue:
            layer = self.layers[li]
            if g not in layer.hulls:
                # past the budget, new hulls only while no cut has been found
                if budget is not None and new_hulls >= budget and builder.n_rows > 0:
                    continue
                new_hulls += 1
            hull = self.hull(layer, g, deadline, hard_deadline)
            if hull is None:
                continue
            tested += 1
            H, h = hull
            idx = list(layer.groups[g])
            point = np.concatenate([values[layer.pre][idx], values[layer.relu][idx]])
            viol = H @ point - h
            bad = np.flatnonzero(viol > opts.cut_tol * (1.0 + np.abs(h)))
            taken = 0
            for j in bad[np.argsort(-viol[bad], kind="stable")]:
                key = (li, g, int(j))
                if key in added:
                    continue
                added.add(key)
                builder.add(li, g, int(j), H[j], h[j], key)
                taken += 1
                if taken >= opts.cuts_per_group:
                    break
        return CutRound(builder.finish(), builder.keys, tested, len(queue), new_hulls)


class _CutBlocks:
    """Collects facet rows in order; consecutive rows of one layer become one block."""

    def __init__(self, layers: list[LayerHulls]):
        self.layers = layers
        self.blocks: list[ConstraintBlock] = []
        self.keys: list[tuple[int, int, int]] = []
        self._layer: int | None = None
        self._rows: list = []

    @property
    def n_rows(self) -> int:
        return len(self.keys)

    def add(self, li: int, g: int, j: int, row: np.ndarray, upper: float, key) -> None:
        if li != self._layer:
            self._flush()
            self._layer = li
        self._rows.append((g, j, row, upper))
        self.keys.append(key)

    def _flush(self) -> None:
        if not self._rows:
            return
        layer = self.layers[self._layer]
        rx, cx, vx, ry, cy, vy, upper, names = [], [], [], [], [], [], [], []
        for r, (g, j, row, h) in enumerate(self._rows):
            group = np.asarray(layer.groups[g], dtype=np.int64)
            k = group.size
            rx.append(np.full(k, r)), cx.append(group), vx.append(row[:k])
            ry.append(np.full(k, r)), cy.append(group), vy.append(row[k:])
            upper.append(h)
            names.append(f"krelu_cut({layer.relu},{group_label(group)})#{j}")
        self.blocks.append(_cut_block(layer.relu, layer.size, len(self._rows), rx, cx, vx,
                                      ry, cy, vy, upper, names))
        self._rows = []

    def finish(self) -> list[ConstraintBlock]:
        self._flush()
        return self.blocks


def _cut_block(relu, n, m, rx, cx, vx, ry, cy, vy, upper, names) -> ConstraintBlock:
    """A ``krelu_cut`` block of ``m`` rows ``a.x_G + b.y_G <= c`` over a layer of ``n``
    neurons, from COO pieces."""
    cat = np.concatenate
    Ax = rows_from_triplets(m, n, cat(rx), cat(cx), cat(vx))
    Ay = rows_from_triplets(m, n, cat(ry), cat(cy), cat(vy))
    Ax.eliminate_zeros()
    Ay.eliminate_zeros()
    return ConstraintBlock("krelu_cut", relu, n, Ax, Ay, np.full(m, -np.inf),
                           np.asarray(upper, dtype=np.float64), names,
                           row_kinds=(("krelu_cut", 0, m),),
                           row_neuron=np.full(m, -1, dtype=np.int64))
