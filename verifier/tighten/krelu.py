"""Tightening with k-ReLU cuts: LP-ALL whose LPs also get the violated hull facets.

Layer by layer, every unstable neuron ``i`` of the pre-activation node gets ``min z_i`` and
``min -z_i`` over the triangle relaxation of the upstream layers **plus** the k-ReLU hull
facets that the LP optimum violates (:class:`~verifier.lp.KReluSeparator`, up to
``TightenOptions.krelu_rounds_per_lp`` rounds per LP). Cuts stay in the model for the next
neurons and are carried over to the next layers' LPs, so later solves need fewer rounds.
An upstream layer whose bounds did not change keeps its groups, octahedral bounds and
hulls for the next layer.

Soundness: a cut is a facet of the hull of ``{(x_G, relu(x_G)) : C x_G <= d}`` with ``d``
the octahedral bounds of an upstream layer computed from sound bounds, so it holds for
every input of the box; tightening a layer never changes the bounds of the layers before
it, so carried cuts stay valid. Every bound is a certified LP minimum of the model that
holds all rows added so far.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from verifier.bounds import Bounds, DeepPolyOptions
from verifier.encode import encode_network
from verifier.lp import CutRows, KReluSeparator
from verifier.network import Network
from verifier.relaxations.krelu_options import KReluOptions
from verifier.relaxations.krelu_separation import KReluHulls
from verifier.tighten.layers import apply_neuron_bounds, layers_to_tighten, triangle_blocks
from verifier.tighten.neuron_lp import neuron_backend, neuron_bounds
from verifier.tighten.options import TightenOptions


def krelu_tighten(net: Network, bounds: dict[str, Bounds], krelu: KReluOptions,
                  options: TightenOptions = TightenOptions(), deadline: float | None = None,
                  dp_options: DeepPolyOptions = DeepPolyOptions()
                  ) -> tuple[dict[str, Bounds], dict]:
    """Tighten every ReLU layer's pre-activation bounds by LPs with separated k-ReLU cuts.

    Args:
        net: the network.
        bounds: sound bounds of every node (e.g. alpha-tightened); not modified.
        krelu: groups, hulls and cut tolerances; ``hull_time_share`` of the time to
            ``deadline`` may go into hulls.
        options: per-LP limits, early stop, rounds per LP, layers to tighten.
        deadline: ``time.monotonic()`` after which the remaining LPs are skipped.
        dp_options: DeepPoly options (lower slope of the octahedral bounds, re-bounding).

    Returns:
        (new bounds, stats: ``lps``, ``highs_time``, ``stabilised``, ``cuts``, ``rounds``,
        ``hull_time``, ``built``).
    """
    bounds = dict(bounds)
    stats = {"lps": 0, "highs_time": 0.0, "stabilised": 0, "cuts": 0, "rounds": 0,
             "hull_time": 0.0, "built": 0}
    relus = net.relu_names()
    pool: CutRows | None = None
    layers: list = []
    hull_deadline = (None if deadline is None else
                     time.monotonic() + krelu.hull_time_share * max(deadline - time.monotonic(), 0))
    for index, relu, pre in layers_to_tighten(net, options, deadline):
        unstable = bounds[pre].unstable()
        if unstable.size == 0:
            continue
        hulls = KReluHulls(net, bounds, krelu, dp_options.lower_slope, relus=relus[:index],
                           reuse=layers)
        layers = hulls.layers
        encoded = encode_network(net, bounds, triangle_blocks(net, bounds), upto=pre)
        model = encoded.model
        backend = neuron_backend(model, options)
        if pool is not None:
            pool.M = sp.csr_matrix((pool.M.data, pool.M.indices, pool.M.indptr),
                                   shape=(pool.M.shape[0], model.n_cols))
            pool.add_to(backend)
        separator = KReluSeparator(encoded, hulls)
        added: set = set()

        def separate(result, _round):
            return separator.separate(result, model.n_cols, hull_deadline, added)

        lower, upper = neuron_bounds(backend, encoded.columns[pre][unstable], options,
                                     deadline, separate if hulls.layers else None, stats)
        stats["highs_time"] += backend.total_time
        stats["hull_time"] += hulls.stats["hull_time"] + hulls.stats["octa_time"]
        stats["built"] += hulls.stats["built"]
        pool = _cut_rows_beyond(backend.model, model.n_rows)
        bounds = apply_neuron_bounds(net, bounds, pre, unstable, lower, upper, stats,
                                     dp_options)
    return bounds, stats


def _cut_rows_beyond(model, n_base_rows: int) -> CutRows | None:
    """The rows of ``model`` after its first ``n_base_rows`` (every cut, each valid on the
    whole box), to carry to the next layer's model; None when there is none."""
    if model.n_rows <= n_base_rows:
        return None
    M = model.A[n_base_rows:].tocsr()
    return CutRows(M, np.asarray(model.row_upper[n_base_rows:], dtype=np.float64),
                   list(model.row_names[n_base_rows:]), [])
