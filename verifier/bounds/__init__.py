"""Pre-activation bounds per node: interval and DeepPoly/CROWN back-substitution."""

from verifier.bounds.deeppoly import (DeepPolyOptions, deeppoly_bounds, linear_form_bounds,
                                      output_form_bounds)
from verifier.bounds.interval import interval_bounds
from verifier.bounds.relu_lines import relu_lines
from verifier.bounds.types import Bounds, relu_bounds

__all__ = ["Bounds", "relu_bounds", "interval_bounds", "deeppoly_bounds", "DeepPolyOptions",
           "linear_form_bounds", "output_form_bounds", "relu_lines"]
