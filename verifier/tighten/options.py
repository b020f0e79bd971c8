"""`TightenOptions`: how intermediate (pre-activation) bounds are tightened."""

from __future__ import annotations

from dataclasses import dataclass

from verifier.catalog import TIGHTEN_METHODS
from verifier.errors import OptionError

__all__ = ["TIGHTEN_METHODS", "TightenOptions"]


@dataclass(frozen=True)
class TightenOptions:
    """Options of the tightening of every ReLU layer's pre-activation bounds.

    Attributes:
        method: ``"alpha"`` (optimised back-substitution for all neurons of a layer at
            once, :func:`~verifier.tighten.alpha_tighten`; chains of affine + ReLU layers,
            other nets fall back to ``"lp"``) or ``"lp"`` (two LPs per unstable neuron over
            the triangle relaxation, LP-ALL, :func:`~verifier.tighten.lp_tighten`).
        early_stop: stop each LP once the neuron is proved stable (dual simplex objective
            bound 0, presolve off); the certified bound at that point is still valid.
        lp_time_limit: seconds per LP.
        max_layers: tighten at most this many ReLU layers (None: all).
        workers: processes for the neurons of a layer (1: in this process).
        alpha_iterations, alpha_lr: gradient steps and step size of ``"alpha"``.
        krelu_rounds_per_lp: with k-ReLU cuts, separation rounds per neuron LP.
        milp_layers: after the tightening, refine the unstable neurons of ReLU layers
            ``1 .. milp_layers`` by big-M MILPs over the layers before each
            (:func:`~verifier.tighten.milp_refine`); 0: off.
        milp_time_limit: seconds per refinement MILP (one bound of one neuron).
    """

    method: str = "alpha"
    early_stop: bool = True
    lp_time_limit: float = 5.0
    max_layers: int | None = None
    workers: int = 1
    alpha_iterations: int = 30
    alpha_lr: float = 0.1
    krelu_rounds_per_lp: int = 2
    milp_layers: int = 0
    milp_time_limit: float = 1.0

    def __post_init__(self):
        if self.method not in TIGHTEN_METHODS:
            raise OptionError(f"unknown tightening method {self.method!r}; "
                              f"use one of {TIGHTEN_METHODS}")
        if self.workers < 1:
            raise OptionError(f"tightening workers must be >= 1, got {self.workers}")
        if self.milp_layers < 0 or not self.milp_time_limit > 0:
            raise OptionError("milp_layers must be >= 0 and milp_time_limit > 0, got "
                              f"{self.milp_layers}, {self.milp_time_limit}")
        if not self.lp_time_limit > 0:
            raise OptionError(f"lp_time_limit must be > 0, got {self.lp_time_limit}")
