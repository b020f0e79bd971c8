"""Optimised lower slopes (alpha) and split multipliers (beta), as alpha-beta-CROWN does."""

from __future__ import annotations

import time

import numpy as np

from verifier.bounds.backsub import (backsub_linear, live_neurons, restrict_chain, take_columns,
                                     widen_records)
from verifier.bounds.chain import batched_relu_lines
from verifier.bounds.rounding import ROUNDING_MARGIN, TINY


def optimized_output_bound(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                           scales: list[np.ndarray], pre_lower: list[np.ndarray],
                           pre_upper: list[np.ndarray], states: list[np.ndarray],
                           rows: np.ndarray, iterations: int = 20, lr_alpha: float = 0.1,
                           lr_beta: float = 0.05, start: tuple[list, list] | None = None,
                           deadline: float | None = None
                           ) -> tuple[np.ndarray, np.ndarray, tuple[list, list]]:
    """Lower bounds of ``rows_d @ f(x)`` on B ReLU-split sub-domains with optimised lower
    slopes (alpha) and split multipliers (beta), as alpha-beta-CROWN does.

    Back-substitution of each domain's row through the domain's ReLU lines, where

    * an unstable ReLU uses ``y >= alpha_i z`` (any ``alpha_i`` in [0, 1] is valid) when its
      coefficient is positive, the triangle's upper line when negative;
    * a split ReLU is linear (its bounds already say ``l >= 0`` or ``u <= 0``), and its
      constraint ``s_i z_i <= 0`` (``s = -1`` active, ``+1`` inactive) enters the objective
      with a multiplier ``beta_i >= 0``: ``f >= f + beta_i s_i z_i`` on the sub-domain.

    At every layer the back-substitution may also stop and concretise over the bounds of
    the ReLU outputs there (as :func:`backsub_early`); the best value counts. Any
    (alpha, beta) gives a sound bound; they are improved by projected Adam steps along
    the gradient of the bound at the input, computed by a reverse pass (the gradient for
    ``beta_i`` is ``s_i`` times the relaxed value of ``z_i`` at the minimising box
    corner). The best bound per domain over the iterations is returned.

    Soundness: the intermediate bounds ``pre_lower/pre_upper`` must be valid on each
    sub-domain (those of :func:`split_domain_bounds`). Each evaluated bound is lowered by
    ``ROUNDING_MARGIN * (|row| @ T_last + sum_r beta_r @ T_r) + TINY`` (``T`` from
    :func:`magnitude_scales`: the multipliers add rows of magnitude ``beta_i T_r[i]``).

    Args:
        rows: (B, n_out) one objective row per domain.
        states: per ReLU layer (B, n_r) split states (+1 active, -1 inactive, 0 free).
        start: optional ``(alpha, beta)``, per ReLU layer (B, n_r) each, to start from
            (warm start, e.g. the parent domain's optimised values). NaN entries take the
            default (DeepPoly's slope, beta 0); the others are projected onto [0, 1] and
            [0, inf). Entries of stable or unsplit neurons are ignored.
        deadline: ``time.monotonic()`` after which no more steps are taken (the best
            bound so far is returned: any slopes are sound).
    Returns:
        (bound (B,), x (B, n_in): the box corner minimising the best bound's linear form,
        (alpha, beta): per ReLU layer (B, n_r) the values that gave each domain's bound).
    """
    problem = _SlopeProblem(chain, box_lower, box_upper, scales, pre_lower, pre_upper,
                            states, rows)
    alpha, beta = problem.initial(start)
    best, best_x, saved = problem.evaluate(alpha, beta)
    best_params = ([a.copy() for a in alpha], [b_.copy() for b_ in beta])
    if iterations <= 0 or problem.n_relu == 0:
        return best, best_x, best_params
    adam = _Adam()
    x, saved = best_x, saved
    for t in range(1, iterations + 1):
        if deadline is not None and time.monotonic() > deadline:
            break
        grads_alpha, grads_beta = problem.gradients(x, saved)
        for r in range(problem.n_relu):
            alpha[r] = adam.step(("a", r), alpha[r], grads_alpha[r], lr_alpha, t, 0.0, 1.0)
            alpha[r] = np.where(problem.unstable[r], alpha[r], 0.0)
            if problem.has_split[r]:
                beta[r] = adam.step(("b", r), beta[r], grads_beta[r], lr_beta, t, 0.0, np.inf)
                beta[r] = np.where(problem.sign[r] != 0, beta[r], 0.0)
        value, x, saved = problem.evaluate(alpha, beta)
        better = value > best
        best = np.where(better, value, best)
        best_x[better] = x[better]
        for r in range(problem.n_relu):
            best_params[0][r][better] = alpha[r][better]
            best_params[1][r][better] = beta[r][better]
    return best, best_x, best_params


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
    """The fixed data of one :func:`optimized_output_bound` call: lines, split signs, the
    cut chain of the live neurons, and the rounding margin without multipliers."""

    def __init__(self, chain, box_lower, box_upper, scales, pre_lower, pre_upper, states,
                 rows):
        self.chain, self.rows, self.scales = chain, rows, scales
        self.box_lower, self.box_upper = box_lower, box_upper
        self.last = len(chain) - 1
        self.n_relu = self.last
        n_relu = self.n_relu
        self.lines = [batched_relu_lines(pre_lower[r], pre_upper[r]) for r in range(n_relu)]
        self.unstable = [(pre_lower[r] < 0) & (pre_upper[r] > 0) for r in range(n_relu)]
        self.sign = [np.where(states[r] > 0, -1.0, np.where(states[r] < 0, 1.0, 0.0))
                     for r in range(n_relu)]
        self.has_split = [np.any(self.sign[r] != 0) for r in range(n_relu)]
        self.base_margin = ROUNDING_MARGIN * (np.abs(rows) @ scales[self.last]) + TINY
        # the back-substitution carries only the neurons live in some domain (or split)
        self.keep = live_neurons(self.lines, states)
        self.cut_chain = restrict_chain(chain, self.last, self.keep)
        self.cut_stops = (take_columns(pre_lower, self.keep), take_columns(pre_upper, self.keep))
        self.sizes = [x.shape[1] for x in pre_lower]

    def initial(self, start):
        """DeepPoly's slopes and zero multipliers, or the finite entries of ``start``."""
        n_relu = self.n_relu
        alpha = [np.where(self.unstable[r], self.lines[r][0], 0.0) for r in range(n_relu)]
        beta = [np.zeros_like(self.sign[r]) for r in range(n_relu)]
        if start is not None:
            for r in range(n_relu):
                a0, b0 = start[0][r], start[1][r]
                alpha[r] = np.where(self.unstable[r] & np.isfinite(a0), np.clip(a0, 0.0, 1.0),
                                    alpha[r])
                beta[r] = np.where((self.sign[r] != 0) & np.isfinite(b0), np.maximum(b0, 0.0),
                                   0.0)
        return alpha, beta

    def evaluate(self, alpha, beta):
        """(sound bound (B,), minimising box corner (B, n_in), what the gradient needs)."""
        n_relu, lines, unstable = self.n_relu, self.lines, self.unstable
        relaxed = [(np.where(unstable[r], alpha[r], lines[r][0]), lines[r][1], lines[r][2])
                   for r in range(n_relu)]
        record: dict = {}
        const, coef, early = backsub_linear(
            self.cut_chain, self.last, self.rows[:, None, :], take_columns(relaxed, self.keep),
            record=record, stops=self.cut_stops,
            shifts=take_columns([beta[r] * self.sign[r] for r in range(n_relu)], self.keep))
        record = widen_records(record, self.keep, self.sizes)
        const, y, early = const[:, 0], coef[:, 0], early[:, 0]
        x = np.where(y > 0, self.box_lower, self.box_upper)
        value = np.maximum(const + np.sum(y * x, axis=1), early)
        margin = self.base_margin + ROUNDING_MARGIN * sum(
            np.sum(beta[r] * self.scales[r], axis=1) for r in range(n_relu))
        # per ReLU layer: the rows' coefficients on its output, the slopes they took
        Y = [record[r][:, 0] for r in range(n_relu)]
        NEG = [Y[r] < 0 for r in range(n_relu)]
        A = [np.where(NEG[r], relaxed[r][1], relaxed[r][0]) for r in range(n_relu)]
        return value - margin, x, (Y, A, NEG)

    def gradients(self, x, saved):
        """Gradients of the bound in alpha and beta by a reverse pass from the corner x."""
        Y, A, NEG = saved
        g = x
        grads_alpha, grads_beta = [None] * self.n_relu, [None] * self.n_relu
        for r in range(self.n_relu):
            W, b, _ = self.chain[r]
            gM = g @ W.T + b                      # d/d (coefficient on z_r)
            grads_beta[r] = gM * self.sign[r]
            grads_alpha[r] = np.where(self.unstable[r] & ~NEG[r], gM * Y[r], 0.0)
            g = gM * A[r] + np.where(NEG[r], self.lines[r][2], 0.0)
        return grads_alpha, grads_beta
