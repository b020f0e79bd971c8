"""Counterexamples: falsification (search for a violating input) and exact replay."""

from verifier.witness.falsify import (FalsifyOptions, falsify_case, falsify_disjunct,
                                      output_gradient)
from verifier.witness.replay import ORT_TOLERANCE, Witness, onnxruntime_output, replay

__all__ = ["FalsifyOptions", "falsify_case", "falsify_disjunct", "output_gradient",
           "Witness", "replay", "onnxruntime_output", "ORT_TOLERANCE"]
