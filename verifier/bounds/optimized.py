"""Optimised lower slopes (alpha), split multipliers (beta) and cut multipliers (gamma).

alpha-beta-CROWN's bound of a ReLU-split sub-domain, with MN-BaB's extension: valid
multi-neuron inequalities of the hidden layers (k-ReLU cuts) enter the back-substitution
with their own non-negative multipliers, optimised together with the slopes and the split
multipliers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from verifier.bounds.backsub import (backsub_linear, live_neurons, restrict_chain, take_columns,
                                     widen_records)
from verifier.bounds.chain import batched_relu_lines
from verifier.bounds.rounding import TINY, UNIT_ROUNDOFF, RoundingScales


@dataclass(frozen=True)
class LayerCuts:
    """Valid inequalities ``H_z z_r + H_y y_r <= h`` of one ReLU layer (every row holds for
    every input of the box), e.g. k-ReLU hull facets.

    Attributes:
        Hz, Hy: (c, n_r) dense coefficients on the pre-activations and the outputs.
        h: (c,) right-hand sides.
    """

    Hz: np.ndarray
    Hy: np.ndarray
    h: np.ndarray

    @property
    def count(self) -> int:
        return int(self.h.size)

    @cached_property
    def sparse(self) -> tuple:
        """``(H_z, H_y, H_z^T, H_y^T)`` as CSR matrices (a k-ReLU cut has at most 2k
        nonzeros), built once for every sub-domain batch that uses these cuts."""
        return (sp.csr_matrix(self.Hz), sp.csr_matrix(self.Hy), sp.csr_matrix(self.Hz.T),
                sp.csr_matrix(self.Hy.T))


def optimized_output_bound(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                           scales: RoundingScales, pre_lower: list[np.ndarray],
                           pre_upper: list[np.ndarray], states: list[np.ndarray],
                           rows: np.ndarray, iterations: int = 20, lr_alpha: float = 0.1,
                           lr_beta: float = 0.05, start: dict | tuple | None = None,
                           deadline: float | None = None,
                           cuts: list[LayerCuts | None] | None = None, lr_gamma: float = 0.05
                           ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Lower bounds of ``rows_d @ f(x)`` on B ReLU-split sub-domains with optimised lower
    slopes (alpha), split multipliers (beta) and cut multipliers (gamma).

    Back-substitution of each domain's row through the domain's ReLU lines, where

    * an unstable ReLU uses ``y >= alpha_i z`` (any ``alpha_i`` in [0, 1] is valid) when its
      coefficient is positive, the triangle's upper line when negative;
    * a split ReLU is linear (its bounds already say ``l >= 0`` or ``u <= 0``), and its
      constraint ``s_i z_i <= 0`` (``s = -1`` active, ``+1`` inactive) enters the objective
      with a multiplier ``beta_i >= 0``: ``f >= f + beta_i s_i z_i`` on the sub-domain;
    * a cut ``H_z z_r + H_y y_r <= h`` (valid on the whole box, so on every sub-domain)
      enters with a multiplier ``gamma >= 0``: ``f >= f + gamma (H_z z_r + H_y y_r - h)``.

    At every layer the back-substitution may also stop and concretise over the bounds of
    the ReLU outputs there (as :func:`backsub_early`); the best value counts. Any
    (alpha, beta, gamma) gives a sound bound; they are improved by projected Adam steps
    along the gradient of the bound, computed by a reverse pass from the minimising box
    corner (the gradient in a multiplier is its constraint's relaxed value there). The
    best bound per domain over the iterations is returned.

    Soundness: the intermediate bounds ``pre_lower/pre_upper`` must be valid on each
    sub-domain (those of :func:`split_domain_bounds`), and every cut valid on the box.
    Each evaluated bound is lowered by ``scales.relative`` times the back-substitution's
    error weight (:attr:`~verifier.bounds.backsub.Backsub.error`: rows carried, split
    multipliers, cut shifts), plus :func:`cut_rounding` per cut multiplier, plus ``TINY``.

    Args:
        rows: (B, n_out) one objective row per domain.
        states: per ReLU layer (B, n_r) split states (+1 active, -1 inactive, 0 free).
        start: optional warm start ``{"alpha", "beta", "gamma"}`` (or ``(alpha, beta)``),
            per ReLU layer (B, n_r) or (B, c_r) each, e.g. the parent domain's values. NaN
            entries take the default (DeepPoly's slope, 0); the others are projected onto
            [0, 1] and [0, inf). Entries of stable or unsplit neurons are ignored.
        deadline: ``time.monotonic()`` after which no more steps are taken (the best
            bound so far is returned: any multipliers are sound).
        cuts: per ReLU layer a :class:`LayerCuts` or None.
    Returns:
        (bound (B,), x (B, n_in): the box corner minimising the best bound's linear form,
        ``{"alpha", "beta", "gamma", "coef"}``: per ReLU layer the values that gave each
        bound, and the bound's coefficients on the layer's outputs (for branching)).
    """
    problem = _SlopeProblem(chain, box_lower, box_upper, scales, pre_lower, pre_upper,
                            states, rows, cuts)
    params = problem.initial(start)
    best, best_x, saved = problem.evaluate(params)
    best_params = {k: [a.copy() for a in v] for k, v in params.items()}
    best_params["coef"] = [y.copy() for y in saved[0]]
    if iterations <= 0 or problem.n_relu == 0:
        return best, best_x, best_params
    adam = _Adam()
    rates = {"alpha": lr_alpha, "beta": lr_beta, "gamma": lr_gamma}
    x = best_x
    for t in range(1, iterations + 1):
        if deadline is not None and time.monotonic() > deadline:
            break
        grads = problem.gradients(x, saved)
        for name, per_layer in grads.items():
            for r, grad in enumerate(per_layer):
                if grad is not None:
                    step = adam.step((name, r), params[name][r], grad, rates[name], t, 0.0,
                                     1.0 if name == "alpha" else np.inf)
                    params[name][r] = problem.project(name, r, step)
        value, x, saved = problem.evaluate(params)
        better = value > best
        best = np.where(better, value, best)
        best_x[better] = x[better]
        for name, per_layer in params.items():
            for r, p in enumerate(per_layer):
                best_params[name][r][better] = p[better]
        for r, y in enumerate(saved[0]):
            best_params["coef"][r][better] = y[better]
    return best, best_x, best_params


def cut_rounding(cuts: LayerCuts, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(c,) per cut what its multiplier adds to the rounding margin: the float64 error of
    the products ``gamma H_z``, ``gamma H_y`` and ``gamma h`` (inner products of at most c
    terms) times the magnitudes ``Z >= |z_r|``, ``Y >= |y_r|`` they meet, i.e.
    ``4 gamma_{c+4} (|H_z| Z + |H_y| Y + |h|)``."""
    n_ops = cuts.count + 4
    factor = 4.0 * n_ops * UNIT_ROUNDOFF / (1.0 - n_ops * UNIT_ROUNDOFF)
    return factor * (np.abs(cuts.Hz) @ Z + np.abs(cuts.Hy) @ Y + np.abs(cuts.h))


class _Adam:
    """Projected Adam ascent steps, one moment pair per parameter key."""

    def __init__(self, b1: float = 0.9, b2: float = 0.999):
        self.b1, self.b2 = b1, b2
        self.moments: dict = {}

    def step(self, key, param, grad, lr, t, low, high):
        """``param`` moved along ``grad`` (ascent) and clipped to ``[low, high]``."""
        m, v = self.moments.get(key, (np.zeros_like(grad), np.zeros_like(grad)))
        m = self.b1 * m + (1 - self.b1) * grad
        v = self.b2 * v + (1 - self.b2) * grad ** 2
        self.moments[key] = (m, v)
        step = lr * (m / (1 - self.b1 ** t)) / (np.sqrt(v / (1 - self.b2 ** t)) + 1e-12)
        return np.clip(param + step, low, high)


class _SlopeProblem:
    """The fixed data of one :func:`optimized_output_bound` call: lines, split signs, cuts,
    the cut chain of the live neurons, and the rounding margin without multipliers."""

    def __init__(self, chain, box_lower, box_upper, scales, pre_lower, pre_upper, states,
                 rows, cuts=None):
        self.chain, self.rows, self.scales = chain, rows, scales
        self.box_lower, self.box_upper = box_lower, box_upper
        self.last = len(chain) - 1
        self.n_relu = n_relu = self.last
        self.B = rows.shape[0]
        self.lines = [batched_relu_lines(pre_lower[r], pre_upper[r]) for r in range(n_relu)]
        self.unstable = [(pre_lower[r] < 0) & (pre_upper[r] > 0) for r in range(n_relu)]
        self.sign = [np.where(states[r] > 0, -1.0, np.where(states[r] < 0, 1.0, 0.0))
                     for r in range(n_relu)]
        self.has_split = [np.any(self.sign[r] != 0) for r in range(n_relu)]
        self.cuts = list(cuts) if cuts is not None else [None] * n_relu
        self.cut_margin = [None if c is None else cut_rounding(c, scales.z[r], scales.y[r + 1])
                           for r, c in enumerate(self.cuts)]
        # the back-substitution carries only the neurons live in some domain, split, or
        # in some cut
        self.keep = live_neurons(self.lines, states)
        for r, c in enumerate(self.cuts):
            if c is not None:
                used = np.flatnonzero(np.any(c.Hz != 0, axis=0) | np.any(c.Hy != 0, axis=0))
                self.keep[r] = np.union1d(self.keep[r], used)
        self.cut_chain = restrict_chain(chain, self.last, self.keep)
        self.weights = scales.weights(self.last, self.keep)
        self.cut_stops = (take_columns(pre_lower, self.keep), take_columns(pre_upper, self.keep))
        self.sizes = [x.shape[1] for x in pre_lower]

    def initial(self, start) -> dict:
        """DeepPoly's slopes and zero multipliers, or the finite entries of ``start``."""
        if isinstance(start, tuple):
            start = {"alpha": start[0], "beta": start[1]}
        start = start or {}
        params = {"alpha": [], "beta": [], "gamma": []}
        for r in range(self.n_relu):
            alpha = np.where(self.unstable[r], self.lines[r][0], 0.0)
            beta = np.zeros_like(self.sign[r])
            count = 0 if self.cuts[r] is None else self.cuts[r].count
            gamma = np.zeros((self.B, count))
            for name, default in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
                given = start.get(name)
                value = default
                if given is not None and given[r] is not None and given[r].shape == default.shape:
                    value = np.where(np.isfinite(given[r]), given[r], default)
                params[name].append(self.project(name, r, value))
        return params

    def project(self, name: str, r: int, value: np.ndarray) -> np.ndarray:
        """Onto the valid set: alpha in [0, 1] on unstable neurons (0 elsewhere), beta >= 0
        on split neurons (0 elsewhere), gamma >= 0."""
        if name == "alpha":
            return np.where(self.unstable[r], np.clip(value, 0.0, 1.0), 0.0)
        if name == "beta":
            return np.where(self.sign[r] != 0, np.maximum(value, 0.0), 0.0)
        return np.maximum(value, 0.0)

    def _cut_terms(self, gamma):
        """Per ReLU layer the cut terms of :func:`backsub_linear` on the kept neurons."""
        terms = []
        for r, c in enumerate(self.cuts):
            if c is None or c.count == 0:
                terms.append(None)
                continue
            keep = self.keep[r]
            _, _, HzT, HyT = c.sparse
            terms.append(((HyT @ gamma[r].T).T[:, keep], (HzT @ gamma[r].T).T[:, keep],
                          -(gamma[r] @ c.h)))
        return terms

    def evaluate(self, params: dict):
        """(sound bound (B,), minimising box corner (B, n_in), what the gradient needs)."""
        alpha, beta, gamma = params["alpha"], params["beta"], params["gamma"]
        n_relu, lines, unstable = self.n_relu, self.lines, self.unstable
        relaxed = [(np.where(unstable[r], alpha[r], lines[r][0]), lines[r][1], lines[r][2])
                   for r in range(n_relu)]
        record: dict = {}
        out = backsub_linear(
            self.cut_chain, self.last, self.rows[:, None, :], take_columns(relaxed, self.keep),
            record=record, stops=self.cut_stops,
            shifts=take_columns([beta[r] * self.sign[r] for r in range(n_relu)], self.keep),
            cuts=self._cut_terms(gamma), weights=self.weights)
        record = widen_records(record, self.keep, self.sizes)
        const, y, early = out.const[:, 0], out.coef[:, 0], out.early[:, 0]
        x = np.where(y > 0, self.box_lower, self.box_upper)
        value = np.maximum(const + np.sum(y * x, axis=1), early)
        margin = self.scales.relative * out.error[:, 0] + TINY
        margin = margin + sum(gamma[r] @ self.cut_margin[r] for r in range(n_relu)
                              if self.cuts[r] is not None)
        # per ReLU layer: the rows' coefficients on its output, the slopes they took
        Y = [record[r][:, 0] for r in range(n_relu)]
        NEG = [Y[r] < 0 for r in range(n_relu)]
        A = [np.where(NEG[r], relaxed[r][1], relaxed[r][0]) for r in range(n_relu)]
        return value - margin, x, (Y, A, NEG)

    def gradients(self, x, saved) -> dict:
        """Gradients of the bound in alpha, beta and gamma by a reverse pass from the
        corner x (None where a layer has nothing to optimise)."""
        Y, A, NEG = saved
        g = x
        grads = {"alpha": [None] * self.n_relu, "beta": [None] * self.n_relu,
                 "gamma": [None] * self.n_relu}
        for r in range(self.n_relu):
            W, b, _ = self.chain[r]
            gM = g @ W.T + b                      # the relaxed value of z_r at the corner
            if self.has_split[r]:
                grads["beta"][r] = gM * self.sign[r]
            grads["alpha"][r] = np.where(self.unstable[r] & ~NEG[r], gM * Y[r], 0.0)
            g = gM * A[r] + np.where(NEG[r], self.lines[r][2], 0.0)   # the value of y_r
            c = self.cuts[r]
            if c is not None and c.count:
                Hz, Hy, _, _ = c.sparse
                grads["gamma"][r] = (Hz @ gM.T + Hy @ g.T).T - c.h
        return grads
