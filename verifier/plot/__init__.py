"""Pictures of the relaxations (matplotlib, Agg backend).

Every function returns the ``Figure`` and, given ``path``, also saves it there (PNG at 150
dpi unless the extension says otherwise).

* :func:`plot_single_neuron` — one ReLU over ``[l, u]``: the triangle and DeepPoly's lines;
* :func:`plot_two_neuron_hull` — two neurons of a real network: their joint pre-activation
  set (samples, box, octahedron) and projections of the product of triangles vs the exact
  2-ReLU hull (``krelu_hull.exact_hull``), with sampled true points;
* :func:`plot_output_reach` — a network with exactly 2 outputs: sampled outputs vs each method's output
  set (polygons from support values in many directions: DeepPoly back-substitution, LPs,
  MILPs);
* :func:`plot_bound_widths` — per-layer pre-activation widths and unstable counts by method;
* :func:`plot_gap_bars` — the gaps of a :class:`~verifier.report.GapTable` (or the mean
  gaps of a :class:`~verifier.report.GapSummary`); tiny and zero gaps drawn as what
  they are (:mod:`verifier.plot.gaps`).

Polygons of projected polytopes are drawn from their support function ``h(θ)`` in
``n_directions`` directions (halfplane intersection), so they are outer approximations that
touch the true set in every drawn direction.
"""

from verifier.plot.gaps import plot_gap_bars
from verifier.plot.neurons import plot_single_neuron, plot_two_neuron_hull
from verifier.plot.outputs import output_support, plot_bound_widths, plot_output_reach

__all__ = ["plot_single_neuron", "plot_two_neuron_hull", "plot_output_reach",
           "plot_bound_widths", "plot_gap_bars", "output_support"]
