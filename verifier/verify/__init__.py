"""The verification pipeline and its result."""

from verifier.verify.options import (BabOptions, DeepPolyOptions, FalsifyOptions, KReluOptions,
                                     MilpOptions, SplitOptions, TightenOptions, VerifyOptions)
from verifier.verify.pipeline import method_plan, verify
from verifier.verify.result import DisjunctOutcome, Result
from verifier.witness import Witness, replay

__all__ = ["verify", "method_plan", "VerifyOptions", "KReluOptions", "TightenOptions",
           "SplitOptions", "BabOptions", "MilpOptions", "FalsifyOptions", "DeepPolyOptions",
           "Result", "DisjunctOutcome", "Witness", "replay"]
