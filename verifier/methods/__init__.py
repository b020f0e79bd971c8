"""The bound methods: one module per method, one table (:data:`METHODS`).

Each method bounds one disjunct's minimum margin on one case and returns a
:class:`MethodOutcome`; the pipeline (:mod:`verifier.verify`) decides the verdict.
"""

from verifier.methods.auto import auto_plan
from verifier.methods.context import CaseContext
from verifier.methods.options import (BabOptions, MilpOptions, SplitOptions, VerifyOptions)
from verifier.methods.outcome import MethodOutcome
from verifier.methods.table import METHOD_NAMES, METHODS, Method

__all__ = ["METHODS", "METHOD_NAMES", "Method", "MethodOutcome", "CaseContext", "auto_plan",
           "VerifyOptions", "SplitOptions", "BabOptions", "MilpOptions"]
