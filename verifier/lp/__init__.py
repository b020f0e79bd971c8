"""Solving encoded relaxations: certified LP minima, sound MILP bounds, k-ReLU cut rounds."""

from verifier.lp.certify import MILP_MARGIN, certified_minimum, sound_milp_bound
from verifier.lp.cuts import CutLoop, CutPool, CutRows, KReluSeparator, minimise_with_cuts

__all__ = ["certified_minimum", "sound_milp_bound", "MILP_MARGIN", "CutLoop", "CutPool", "CutRows",
           "KReluSeparator", "minimise_with_cuts"]
