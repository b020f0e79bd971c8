"""The options of a run, re-exported where users look for them (defined by the layers
that read them: :mod:`verifier.methods.options`, :mod:`verifier.tighten`,
:mod:`verifier.relaxations.krelu_options`, :mod:`verifier.witness`)."""

from verifier.bounds import DeepPolyOptions
from verifier.methods.options import BabOptions, MilpOptions, SplitOptions, VerifyOptions
from verifier.relaxations.krelu_options import KReluOptions
from verifier.tighten import TightenOptions
from verifier.witness import FalsifyOptions

__all__ = ["VerifyOptions", "KReluOptions", "TightenOptions", "SplitOptions", "BabOptions",
           "MilpOptions", "FalsifyOptions", "DeepPolyOptions"]
