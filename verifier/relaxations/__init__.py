"""Relaxations: pure functions from pre-activation bounds to constraint blocks."""

from verifier.relaxations.block import ConstraintBlock
from verifier.relaxations.single_neuron import big_m, deeppoly_lines, triangle

__all__ = ["ConstraintBlock", "triangle", "deeppoly_lines", "big_m"]
