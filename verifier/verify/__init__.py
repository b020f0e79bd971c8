"""The verification pipeline and its result."""

from verifier.verify.options import KReluOptions, VerifyOptions
from verifier.verify.pipeline import verify
from verifier.verify.replay import Witness, replay
from verifier.verify.result import DisjunctOutcome, Result
from verifier.verify.tighten import TightenOptions

__all__ = ["verify", "VerifyOptions", "KReluOptions", "TightenOptions", "Result",
           "DisjunctOutcome", "Witness", "replay"]
