"""k-ReLU by cut separation: triangle LP plus only the hull facets the LP point violates.

Adding *all* facets of every group's hull (~280 rows per k = 3 group) makes the margin LP
huge. Here, per disjunct:

1. the triangle LP of the case (encoded once per case) is loaded into one HiGHS object,
   together with the cuts other disjuncts of the case already found (``reuse_cuts``);
2. in rounds: at the LP point ``z``, for every group ``G`` of every layer, the group's
   ``(x_G, y_G)`` is tested. A group can only carry a violated hull facet if the point is
   *off the ReLU graph* (``y_i > max(x_i, 0)`` for some ``i`` in ``G``) or *outside the
   octahedron* (``C x_G > d``): otherwise ``(x_G, relu(x_G))`` with ``x_G in P`` lies in
   the hull. Only those groups get a hull (computed lazily, once per case, cached; hulls
   cost ~10 ms per k = 3 group, evaluating facets costs microseconds). The
   ``cuts_per_group`` most violated facets with violation ``> cut_tol * (1 + |h|)`` are
   appended with :meth:`HighsBackend.add_rows` to the *same* HiGHS object (the dual
   simplex restarts from the previous basis) and the LP is re-solved;
3. it stops when no facet is violated, when the objective moved by less than
   ``min_progress * (1 + |obj|)``, after ``max_rounds`` rounds, at the hull / case deadline,
   or (unless ``full_solve``) as soon as the certified bound is > 0.

Soundness: every cut is a row of :func:`~verifier.relaxations.krelu_hull.fast_hull` (or
``exact_hull``) of ``{(x, relu(x)) : C x <= d}`` with ``d`` the sound octahedral bounds of
the *same* case bounds, and each such row is checked against all lifted vertices by
construction. Every bound returned comes from :func:`certified_minimum` on the backend
whose ``model`` includes all rows added so far (``add_rows`` keeps ``backend.model`` in
step with HiGHS). Bounds of earlier rounds are certificates for weaker models and remain
valid; the maximum is returned.

With every facet of every group added (:mod:`verifier.verify.krelu_method`, ``cuts="all"``)
the LP is the full k-ReLU LP, so this bound is >= the triangle bound and <= the full one
(up to solver tolerance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds import Bounds
from verifier.encode import encode_network, with_disjunct
from verifier.network import Network
from verifier.relaxations.groups import select_groups
from verifier.relaxations.krelu import group_hulls, octahedral_bounds, upstream_lines
from verifier.relaxations.krelu_hull import octahedral_directions
from verifier.verify.lp import certified_minimum
from verifier.verify.tighten import apply_neuron_bounds, layers_to_tighten, triangle_blocks

__all__ = ["SeparationSettings", "CaseCuts", "separate_margin"]


def layer_groups(pre: Bounds, options) -> list[tuple[int, ...]]:
    """The k-ReLU groups of one layer (``select_groups`` with the options' k, ns, s, area
    cutoff), capped at ``options.max_groups_per_layer``."""
    groups = select_groups(pre.lower, pre.upper, options.k, options.ns, options.s,
                           options.area_cutoff)
    if options.max_groups_per_layer is not None:
        groups = groups[: options.max_groups_per_layer]
    return groups


@dataclass(frozen=True)
class SeparationSettings:
    """Knobs of the separation loop (read from ``KReluOptions`` by ``krelu_method``).

    Attributes:
        max_rounds: LP re-solves after the first one.
        cuts_per_group: most violated facets added per group and round.
        cut_tol: a facet ``a.x + b.y <= c`` (max-abs 1) is violated when
            ``a.x + b.y - c > cut_tol * (1 + |c|)``.
        min_progress: stop when a round raised the LP objective by less than
            ``min_progress * (1 + |objective|)``.
        reuse_cuts: start each disjunct of a case with the cuts found for earlier ones.
        lazy_hulls: compute hulls only for groups whose LP point is off the ReLU graph or
            outside the octahedron (False: every group's hull before the first round).
        hulls_per_round: at most this many *new* hulls per round (None: no limit); the
            candidate groups are taken by score ``sum_i |dual of tri_up_i| * gap_i`` (gap
            ``y_i - relu(x_i)``, relative), so the groups whose triangle upper rows the
            LP leans on come first. Groups whose hull is built are always tested.
    """

    max_rounds: int = 30
    cuts_per_group: int = 3
    cut_tol: float = 1e-6
    min_progress: float = 1e-4
    reuse_cuts: bool = True
    lazy_hulls: bool = True
    hulls_per_round: int | None = 200


@dataclass
class _Layer:
    relu: str
    xcols: np.ndarray                    # model columns of the pre-activation node
    ycols: np.ndarray                    # model columns of the ReLU node
    groups: list[tuple[int, ...]]
    up_rows: np.ndarray                  # model row of tri_up per neuron (-1: none)
    octa: list[np.ndarray] | None = None  # octahedral bounds per group (lazy)
    hulls: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class CaseCuts:
    """Per-case state: the triangle encoding, groups, lazily built hulls, the cut pool."""

    def __init__(self, net: Network, bounds: dict[str, Bounds], options, hull_method: str,
                 lower_slope: str = "min_area"):
        self.net, self.bounds = net, bounds
        self.hull_method = hull_method
        self.lower_slope = lower_slope
        self.encoded = encode_network(net, bounds, triangle_blocks(net, bounds))
        self._lines = None
        self.layers: list[_Layer] = []
        up_rows: dict[str, dict[int, int]] = {}
        for r, name in enumerate(self.encoded.model.row_names or []):
            if name.startswith("tri_up["):
                node, _, i = name[len("tri_up["):-1].rpartition(",")
                up_rows.setdefault(node, {})[int(i)] = r
        for relu in net.relu_names():
            pre = net.inputs_of(relu)[0]
            groups = layer_groups(bounds[pre], options)
            if groups:
                rows = np.full(net.size(relu), -1, dtype=np.int64)
                for i, r in up_rows.get(relu, {}).items():
                    rows[i] = r
                self.layers.append(_Layer(relu, self.encoded.columns[pre],
                                          self.encoded.columns[relu], groups, rows))
        # cut pool (rows over the encoded columns, without the margin column)
        self.pool_rows: list[sp.csr_matrix] = []
        self.pool_upper: list[np.ndarray] = []
        self.pool_names: list[str] = []
        self.pool_keys: set[tuple[int, int, int]] = set()
        self.last = {"candidates": 0, "new_hulls": 0}
        self.stats = {"groups": sum(len(L.groups) for L in self.layers), "built": 0,
                      "hull_time": 0.0, "octa_time": 0.0, "cut_short": False,
                      "pool_rows": 0}

    # ---------------------------------------------------------------- hulls
    def _octa(self, layer: _Layer) -> list[np.ndarray]:
        if layer.octa is None:
            start = time.perf_counter()
            if self._lines is None:
                self._lines = upstream_lines(self.net, self.bounds, self.lower_slope)
            layer.octa = octahedral_bounds(self.net, layer.relu, layer.groups, self.bounds,
                                           self._lines)
            self.stats["octa_time"] += time.perf_counter() - start
        return layer.octa

    def _hull(self, layer: _Layer, g: int, deadline: float | None):
        if g not in layer.hulls:
            if deadline is not None and time.monotonic() > deadline:
                self.stats["cut_short"] = True
                return None
            start = time.perf_counter()
            (hull,) = group_hulls([layer.groups[g]], [self._octa(layer)[g]], self.hull_method)
            self.stats["hull_time"] += time.perf_counter() - start
            self.stats["built"] += 1
            layer.hulls[g] = hull
        return layer.hulls[g]

    # ---------------------------------------------------------------- separation
    def candidates(self, layer: _Layer, z: np.ndarray, duals: np.ndarray | None,
                   tol: float) -> tuple[list[int], list[float]]:
        """Groups whose point may violate a hull facet (off the graph or outside P), with
        their scores (``sum |dual of tri_up| * gap``, plus a tiny multiple of the gap)."""
        x, y = z[layer.xcols], z[layer.ycols]
        gap = np.maximum(y - np.maximum(x, 0.0), 0.0) / (1.0 + np.abs(x))
        weight = np.zeros_like(gap)
        if duals is not None:
            has = layer.up_rows >= 0
            weight[has] = np.abs(duals[layer.up_rows[has]])
        weighted = weight * gap + 1e-9 * gap
        octa = self._octa(layer)
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

    def separate(self, z: np.ndarray, duals: np.ndarray | None, n_cols: int,
                 settings: SeparationSettings, deadline: float | None, added: set,
                 all_groups: bool = False):
        """Violated facets at ``z`` not yet in ``added`` (keys ``(layer, group, row)``,
        updated) as (CSR over ``n_cols`` columns, upper, names, keys, groups tested)."""
        tol = settings.cut_tol
        rows, cols, vals, upper, names, keys = [], [], [], [], [], []
        tested = 0
        r = 0
        todo, score = [], []
        for li, layer in enumerate(self.layers):
            if all_groups:
                todo += [(li, g) for g in range(len(layer.groups))]
                score += [0.0] * len(layer.groups)
            else:
                groups, sc = self.candidates(layer, z, duals, tol)
                todo += [(li, g) for g in groups]
                score += sc
        order = np.argsort(-np.asarray(score), kind="stable")
        budget = (None if all_groups or settings.hulls_per_round is None
                  else int(settings.hulls_per_round))
        new_hulls = 0
        for pos in order:
            li, g = todo[pos]
            layer = self.layers[li]
            if g not in layer.hulls:
                # past the budget, new hulls only while no cut has been found
                if budget is not None and new_hulls >= budget and r > 0:
                    continue
                new_hulls += 1
            hull = self._hull(layer, g, deadline)
            if hull is None:
                continue
            tested += 1
            H, h = hull
            group = layer.groups[g]
            k = len(group)
            idx = list(group)
            point = np.concatenate([z[layer.xcols[idx]], z[layer.ycols[idx]]])
            viol = H @ point - h
            bad = np.flatnonzero(viol > tol * (1.0 + np.abs(h)))
            if bad.size == 0:
                continue
            bad = bad[np.argsort(-viol[bad], kind="stable")]
            taken = 0
            for j in bad:
                key = (li, g, int(j))
                if key in added:
                    continue
                added.add(key)
                keys.append(key)
                rows.append(np.full(2 * k, r))
                cols.append(np.concatenate([layer.xcols[idx], layer.ycols[idx]]))
                vals.append(H[j])
                upper.append(h[j])
                label = ",".join(str(i) for i in group)
                names.append(f"krelu_cut[{layer.relu},({label})]#{int(j)}")
                r += 1
                taken += 1
                if taken >= settings.cuts_per_group:
                    break
        self.last = {"candidates": len(todo), "new_hulls": new_hulls}
        if r == 0:
            return None, np.zeros(0), [], [], tested
        M = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(r, n_cols))
        M.eliminate_zeros()
        return M, np.asarray(upper, dtype=np.float64), names, keys, tested

    def remember(self, M: sp.csr_matrix, upper: np.ndarray, names: list[str],
                 keys: list[tuple[int, int, int]]) -> None:
        """Add the cuts not yet pooled to the case's pool."""
        new = [i for i, key in enumerate(keys) if key not in self.pool_keys]
        if not new:
            return
        self.pool_keys.update(keys[i] for i in new)
        n0 = self.encoded.model.n_cols
        self.pool_rows.append(sp.csr_matrix(M)[new][:, :n0])
        self.pool_upper.append(upper[new])
        self.pool_names += [names[i] for i in new]
        self.stats["pool_rows"] = len(self.pool_names)

    def pool(self, n_cols: int):
        if not self.pool_rows:
            return None
        M = sp.vstack(self.pool_rows).tocsr()
        M = sp.csr_matrix((M.data, M.indices, M.indptr), shape=(M.shape[0], n_cols))
        return M, np.concatenate(self.pool_upper), list(self.pool_names)


def separate_margin(case: CaseCuts, A: np.ndarray, b: np.ndarray,
                    t_bounds: tuple[float, float], settings: SeparationSettings,
                    deadline: float, hull_deadline: float | None, stop_when_proved: bool,
                    output_col: str, input_col: str):
    """Certified lower bound of ``min max_i (A_i y - b_i)`` over triangle + separated
    k-ReLU cuts.

    Returns:
        (bound, x at the input columns or None, stats dict, seconds inside HiGHS).
    """
    encoded = case.encoded
    model = with_disjunct(encoded, encoded.columns[output_col], A, b, t_bounds,
                          label="margin")
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(model)
    n_cols = model.n_cols
    stats = {"rounds": 0, "rows_added": 0, "reused_rows": 0, "groups_tested": 0,
             "objectives": [], "bounds": []}
    added: set = set()
    if settings.reuse_cuts:
        added = set(case.pool_keys)
        pooled = case.pool(n_cols)
        if pooled is not None:
            backend.add_rows(pooled[0], np.full(len(pooled[1]), -np.inf), pooled[1],
                             pooled[2])
            stats["reused_rows"] = len(pooled[1])
    best, x_in, prev_obj = -np.inf, None, None
    rounds = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        bound, result = certified_minimum(backend, SolveLimits(time_limit=max(remaining, 0.01)))
        best = max(best, bound)
        stats["bounds"].append(float(bound))
        obj = result.objective
        stats["objectives"].append(None if obj is None else float(obj))
        if result.x is None or obj is None:
            break
        x_in = result.x[encoded.columns[input_col]]
        if stop_when_proved and best > 0:
            break
        if prev_obj is not None and obj - prev_obj < settings.min_progress * (1 + abs(prev_obj)):
            break
        if rounds >= settings.max_rounds:
            break
        M, upper, names, keys, tested = case.separate(
            result.x, result.row_duals, n_cols, settings, hull_deadline, added,
            all_groups=not settings.lazy_hulls and rounds == 0)
        stats["groups_tested"] += tested
        stats.setdefault("candidates", []).append(case.last["candidates"])
        stats.setdefault("new_hulls", []).append(case.last["new_hulls"])
        if M is None:
            break
        backend.add_rows(M, np.full(len(upper), -np.inf), upper, names)
        case.remember(M, upper, names, keys)
        stats["rows_added"] += len(upper)
        prev_obj = obj
        rounds += 1
    stats["rounds"] = rounds
    stats["final_rows"] = backend.model.n_rows
    return best, x_in, stats, backend.total_time


def _upstream_signature(net: Network, bounds: dict[str, Bounds], relus: list[str],
                        relu: str) -> tuple[bytes, ...]:
    """Bytes of the pre-activation bounds of ``relu`` and of every ReLU before it: a layer's
    groups, octahedral bounds and hulls depend on nothing else."""
    out = []
    for name in relus[: relus.index(relu) + 1]:
        pb = bounds[net.inputs_of(name)[0]]
        out += [pb.lower.tobytes(), pb.upper.tobytes()]
    return tuple(out)


def separated_lp_tighten(net: Network, bounds: dict[str, Bounds], options, tighten,
                         settings: SeparationSettings, deadline: float | None,
                         dp_options, hull_method: str = "fast",
                         lower_slope: str = "min_area", rounds_per_lp: int = 2,
                         hull_share: float = 0.5):
    """LP tightening ("LP-ALL") with k-ReLU cuts of the upstream layers, found by separation.

    Layer by layer, every unstable neuron ``i`` of the pre-activation node gets ``min z_i``
    and ``min -z_i`` over the triangle relaxation of the upstream layers **plus** the k-ReLU
    hull facets that the LP optimum violates: after each solve, up to ``rounds_per_lp``
    times, the violated facets (:meth:`CaseCuts.separate`, upstream layers only) are
    appended to the same HiGHS object and the LP is re-solved. Cuts stay in the model for
    the next neurons and are carried over to the next layers' LPs, so later solves need
    fewer rounds. The neurons of a layer are solved in this process (the cut pool is
    shared); ``tighten.early_stop`` stops a solve once the neuron is proved stable.

    Soundness: a cut is a facet of the hull of ``{(x_G, relu(x_G)) : C x_G <= d}`` with ``d``
    the octahedral bounds of a finished layer computed from sound bounds, so it holds for
    every input of the box; the bounds of the layers it touches never change afterwards.
    Every bound is :func:`certified_minimum` of the model that holds all rows added so far.

    Returns:
        (new bounds, stats: ``lps``, ``highs_time``, ``stabilised``, ``cuts``, ``rounds``,
        ``hull_time``, ``built``).
    """
    bounds = dict(bounds)
    stats = {"lps": 0, "highs_time": 0.0, "stabilised": 0, "cuts": 0, "rounds": 0,
             "hull_time": 0.0, "built": 0}
    relus = net.relu_names()
    pool_M, pool_upper, pool_names = None, np.zeros(0), []
    built: dict[str, tuple[tuple, _Layer]] = {}   # relu -> (upstream signature, layer)
    hull_deadline = (None if deadline is None
                     else time.monotonic() + hull_share * max(deadline - time.monotonic(), 0))
    for index, relu, pre in layers_to_tighten(net, tighten, deadline):
        unstable = bounds[pre].unstable()
        if unstable.size == 0:
            continue
        case = CaseCuts(net, bounds, options, hull_method, lower_slope)
        case.layers = [L for L in case.layers if relus.index(L.relu) < index]
        # an upstream layer whose bounds (and those before it) did not change keeps its
        # groups, octahedral bounds and hulls from the previous layer's case
        for j, layer in enumerate(case.layers):
            sig = _upstream_signature(net, bounds, relus, layer.relu)
            old = built.get(layer.relu)
            if (old is not None and old[0] == sig
                    and np.array_equal(old[1].xcols, layer.xcols)
                    and np.array_equal(old[1].ycols, layer.ycols)
                    and np.array_equal(old[1].up_rows, layer.up_rows)):
                case.layers[j] = old[1]
            else:
                built[layer.relu] = (sig, layer)
        encoded = encode_network(net, bounds, triangle_blocks(net, bounds), upto=pre)
        model = encoded.model
        n_base_rows = model.n_rows
        backend = HighsBackend(HighsOptions(threads=1, presolve=not tighten.early_stop))
        backend.load(model)
        if pool_M is not None:
            M = sp.csr_matrix((pool_M.data, pool_M.indices, pool_M.indptr),
                              shape=(pool_M.shape[0], model.n_cols))
            backend.add_rows(M, np.full(len(pool_upper), -np.inf), pool_upper, pool_names)
        added: set = set()
        cols = encoded.columns[pre][unstable]
        lower = np.full(cols.size, -np.inf)
        upper = np.full(cols.size, np.inf)
        for k, col in enumerate(cols):
            for sign in (1.0, -1.0):
                if deadline is not None and time.monotonic() > deadline:
                    break
                c = np.zeros(model.n_cols)
                c[col] = sign
                backend.set_objective(c)
                best = -np.inf
                for rnd in range(rounds_per_lp + 1):
                    limits = SolveLimits(time_limit=tighten.lp_time_limit,
                                         objective_bound=0.0 if tighten.early_stop else None)
                    bound, result = certified_minimum(backend, limits)
                    stats["lps"] += 1
                    best = max(best, bound)
                    if best > 0 or result.x is None or rnd == rounds_per_lp or not case.layers:
                        break
                    M, ub, names, keys, _ = case.separate(
                        result.x, result.row_duals, model.n_cols, settings, hull_deadline,
                        added)
                    if M is None:
                        break
                    backend.add_rows(M, np.full(len(ub), -np.inf), ub, names)
                    stats["cuts"] += len(ub)
                    stats["rounds"] += 1
                if sign > 0:
                    lower[k] = best
                else:
                    upper[k] = -best
        stats["highs_time"] += backend.total_time
        stats["hull_time"] += case.stats["hull_time"] + case.stats["octa_time"]
        stats["built"] += case.stats["built"]
        # carry every cut row (valid on the whole box) to the next layers' models
        full = backend.model
        if full.n_rows > n_base_rows:
            pool_M = full.A[n_base_rows:].tocsr()
            pool_upper = np.asarray(full.row_upper[n_base_rows:], dtype=np.float64)
            pool_names = list(full.row_names[n_base_rows:])
        bounds = apply_neuron_bounds(net, bounds, pre, unstable, lower, upper, stats,
                                     dp_options)
    return bounds, stats
