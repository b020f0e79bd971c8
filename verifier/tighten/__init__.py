"""Better intermediate bounds: alpha, LP-ALL, k-ReLU-separated LPs and MILPs, layer by layer."""

from verifier.tighten.krelu import krelu_tighten
from verifier.tighten.layers import (alpha_tighten, apply_neuron_bounds, layers_to_tighten,
                                     lp_tighten, tighten_bounds, triangle_blocks)
from verifier.tighten.milp_refine import milp_refine
from verifier.tighten.neuron_lp import neuron_bounds, solve_neuron_bounds
from verifier.tighten.options import TIGHTEN_METHODS, TightenOptions

__all__ = ["TightenOptions", "TIGHTEN_METHODS", "tighten_bounds", "lp_tighten",
           "alpha_tighten", "krelu_tighten", "milp_refine", "triangle_blocks", "layers_to_tighten",
           "apply_neuron_bounds", "neuron_bounds", "solve_neuron_bounds"]
