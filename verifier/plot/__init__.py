"""Pictures of relaxations, output sets, bound widths and gaps (matplotlib, Agg)."""

from verifier.plot.pictures import (plot_bound_widths, plot_gap_bars, plot_output_reach,
                                    plot_single_neuron, plot_two_neuron_hull)
from verifier.plot.pictures import add_plot_subparser, run_plot_command

__all__ = ["plot_single_neuron", "plot_two_neuron_hull", "plot_output_reach",
           "plot_bound_widths", "plot_gap_bars", "add_plot_subparser", "run_plot_command"]
