"""Optimised lower slopes (alpha), split multipliers (beta) and cut multipliers (gamma).

alpha-beta-CROWN's bound of a ReLU-split sub-domain, with MN-BaB's extension: valid
multi-neuron inequalities of the hidden layers (k-ReLU cuts) enter the back-substitution
with their own non-negative multipliers, optimised together with the slopes and the split
multipliers.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from verifier.bounds.backsub import backsub_linear, live_neurons, restrict_chain, take_columns
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


def optimized_output_bound(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                           scales: RoundingScales, pre_lower: list[np.ndarray],
                           pre_upper: list[np.ndarray], states: list[np.ndarray],
                           rows: np.ndarray, iterations: int = 20, lr_alpha: float = 0.1,
                           lr_beta: float = 0.05, start: dict | tuple | None = None,
                           deadline: float | None = None,
                           cuts: list[LayerCuts | None] | None = None, lr_gamma: float = 0.05,
                           done_above: np.ndarray | float | None = None
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
    Each evaluated bound is lowered by the back-substitution's rounding error bound
    (:attr:`~verifier.bounds.backsub.Backsub.error`: rows carried, split multipliers, cut
    shifts), plus :func:`cut_rounding` per cut multiplier, plus ``TINY``.

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
        done_above: (B,) or a number: a domain whose bound exceeds it takes no more steps
            (its bound answers the caller's question already; the others go on alone).
    Returns:
        (bound (B,), x (B, n_in): the box corner minimising the best bound's linear form,
        ``{"alpha", "beta", "gamma", "coef"}``: per ReLU layer the values that gave each
        bound, and the bound's coefficients on the layer's outputs (for branching)).
    """
    problem = _SlopeProblem(chain, box_lower, box_upper, scales, pre_lower, pre_upper,
                            states, rows, cuts)
    params = problem.initial(start)
    best, best_x, saved = problem.evaluate(params)
    best_params = {k: v.copy() for k, v in params.items()}
    best_coef = [y.copy() for y in saved[0]]
    if iterations > 0 and problem.n_relu > 0:
        rates = {"alpha": lr_alpha, "beta": lr_beta, "gamma": lr_gamma}
        _ascend(problem, params, saved, best, best_x, best_params, best_coef, iterations,
                rates, deadline, done_above)
    return best, best_x, problem.widen(best_params, best_coef)


def _ascend(problem, params, saved, best, best_x, best_params, best_coef, iterations: int,
            rates: dict, deadline: float | None, done_above) -> None:
    """Projected Adam steps from ``params``; the best bound per domain, its point,
    parameters and coefficients are kept in ``best*`` (in place). Domains whose best bound
    exceeds ``done_above`` leave the problem (:meth:`_SlopeProblem.take`)."""
    adam = _Adam()
    active = np.arange(best.size)
    x = best_x.copy()
    if done_above is not None:
        done_above = np.broadcast_to(done_above, best.shape)
    for t in range(1, iterations + 1):
        if deadline is not None and time.monotonic() > deadline:
            break
        if done_above is not None:
            live = np.flatnonzero(best[active] <= done_above[active])
            if live.size == 0:
                break
            if live.size < active.size:
                active, problem, x = active[live], problem.take(live), x[live]
                params = {k: v[live] for k, v in params.items()}
                saved = tuple([a[live] for a in part] for part in saved)
                adam.take(live)
        for name, grad in problem.gradients(x, saved).items():
            step = adam.step(name, params[name], grad, rates[name], t)
            params[name] = problem.project(name, step)
        value, x, saved = problem.evaluate(params)
        better = value > best[active]
        where = active[better]
        best[where] = value[better]
        best_x[where] = x[better]
        for name, p in params.items():
            best_params[name][where] = p[better]
        for r, y in enumerate(saved[0]):
            best_coef[r][where] = y[better]


def cut_rounding(cuts: LayerCuts, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(c,) per cut what its multiplier adds to the rounding margin: the float64 error of
    the products ``gamma H_z``, ``gamma H_y`` and ``gamma h`` (inner products of at most c
    terms) times the magnitudes ``Z >= |z_r|``, ``Y >= |y_r|`` they meet, i.e.
    ``4 gamma_{c+4} (|H_z| Z + |H_y| Y + |h|)``."""
    n_ops = cuts.count + 4
    factor = 4.0 * n_ops * UNIT_ROUNDOFF / (1.0 - n_ops * UNIT_ROUNDOFF)
    return factor * (np.abs(cuts.Hz) @ Z + np.abs(cuts.Hy) @ Y + np.abs(cuts.h))


class _Adam:
    """Projected Adam ascent steps, one moment pair per parameter name."""

    def __init__(self, b1: float = 0.9, b2: float = 0.999):
        self.b1, self.b2 = b1, b2
        self.moments: dict = {}

    def step(self, key, param, grad, lr, t):
        """``param`` moved along ``grad`` (ascent; projected by the caller)."""
        m, v = self.moments.get(key, (np.zeros_like(grad), np.zeros_like(grad)))
        m = self.b1 * m + (1 - self.b1) * grad
        v = self.b2 * v + (1 - self.b2) * grad ** 2
        self.moments[key] = (m, v)
        return param + lr * (m / (1 - self.b1 ** t)) / (np.sqrt(v / (1 - self.b2 ** t)) + 1e-12)

    def take(self, rows: np.ndarray) -> None:
        """Keep the moments of these domains (rows) only."""
        self.moments = {k: (m[rows], v[rows]) for k, (m, v) in self.moments.items()}


class _SlopeProblem:
    """The fixed data of one :func:`optimized_output_bound` call, on the neurons live in
    some domain, split, or in some cut (the others have output 0 and coefficient 0): their
    lines, split signs and cuts, the chain cut to them, and the rounding weights. The
    parameters are flat (B, total) arrays per name, one column block per ReLU layer."""

    def __init__(self, chain, box_lower, box_upper, scales, pre_lower, pre_upper, states,
                 rows, cuts=None):
        self.rows, self.box_lower, self.box_upper = rows, box_lower, box_upper
        self.last = self.n_relu = n_relu = len(chain) - 1
        self.sizes = [x.shape[1] for x in pre_lower]
        lines = [batched_relu_lines(pre_lower[r], pre_upper[r]) for r in range(n_relu)]
        cuts = list(cuts) if cuts is not None else [None] * n_relu
        self.keep = keep = live_neurons(lines, states)
        for r, c in enumerate(cuts):
            if c is not None:
                used = np.flatnonzero(np.any(c.Hz != 0, axis=0) | np.any(c.Hy != 0, axis=0))
                keep[r] = np.union1d(keep[r], used)
        self.lines = take_columns(lines, keep)
        self.unstable = [((pre_lower[r] < 0) & (pre_upper[r] > 0))[:, keep[r]]
                         for r in range(n_relu)]
        self.sign = [np.where(states[r] > 0, -1.0, np.where(states[r] < 0, 1.0, 0.0))[:, keep[r]]
                     for r in range(n_relu)]
        self.has_split = [bool(np.any(s != 0)) for s in self.sign]
        self.cut_chain = restrict_chain(chain, self.last, keep)
        self.stops = (take_columns(pre_lower, keep), take_columns(pre_upper, keep))
        self.weights = scales.weights(self.last, keep)
        self.cuts = [None if c is None or c.count == 0 else _KeptCuts(c, keep[r])
                     for r, c in enumerate(cuts)]
        self.cut_margin = [None if c is None else cut_rounding(c, scales.z[r], scales.y[r + 1])
                           for r, c in enumerate(cuts)]
        counts = {"alpha": [k.size for k in keep], "beta": [k.size for k in keep],
                  "gamma": [0 if c is None else c.count for c in cuts]}
        self.blocks = {name: np.concatenate([[0], np.cumsum(n)]).astype(int)
                       for name, n in counts.items()}
        self.unstable_flat = np.concatenate(self.unstable, axis=1)
        self.split_flat = np.concatenate(self.sign, axis=1) != 0

    def take(self, rows: np.ndarray) -> "_SlopeProblem":
        """The same problem on the domains ``rows`` only (a shallow copy)."""
        sub = copy.copy(self)
        sub.rows = self.rows[rows]
        sub.lines = [tuple(a[rows] for a in line) for line in self.lines]
        sub.unstable = [a[rows] for a in self.unstable]
        sub.sign = [a[rows] for a in self.sign]
        sub.stops = tuple([a[rows] for a in part] for part in self.stops)
        sub.unstable_flat, sub.split_flat = self.unstable_flat[rows], self.split_flat[rows]
        return sub

    def layer(self, name: str, flat: np.ndarray, r: int) -> np.ndarray:
        """Layer r's block of a flat parameter array (a view)."""
        o = self.blocks[name]
        return flat[:, o[r]:o[r + 1]]

    def initial(self, start) -> dict:
        """DeepPoly's slopes and zero multipliers, or the finite entries of ``start``."""
        if isinstance(start, tuple):
            start = {"alpha": start[0], "beta": start[1]}
        start = start or {}
        B = self.rows.shape[0]
        params = {}
        for name in ("alpha", "beta", "gamma"):
            given = start.get(name)
            blocks = []
            for r in range(self.n_relu):
                if name == "alpha":
                    default = np.where(self.unstable[r], self.lines[r][0], 0.0)
                else:
                    n = self.blocks[name][r + 1] - self.blocks[name][r]
                    default = np.zeros((B, n))
                value = default
                if given is not None and given[r] is not None:
                    g = given[r][:, self.keep[r]] if name != "gamma" else given[r]
                    if g.shape == default.shape:
                        value = np.where(np.isfinite(g), g, default)
                blocks.append(value)
            params[name] = self.project(name, np.concatenate(blocks, axis=1))
        return params

    def project(self, name: str, value: np.ndarray) -> np.ndarray:
        """Onto the valid set: alpha in [0, 1] on unstable neurons (0 elsewhere), beta >= 0
        on split neurons (0 elsewhere), gamma >= 0."""
        if name == "alpha":
            return np.where(self.unstable_flat, np.clip(value, 0.0, 1.0), 0.0)
        if name == "beta":
            return np.where(self.split_flat, np.maximum(value, 0.0), 0.0)
        return np.maximum(value, 0.0)

    def evaluate(self, params: dict):
        """(sound bound (B,), minimising box corner (B, n_in), what the gradient needs)."""
        n_relu, lines = self.n_relu, self.lines
        relaxed = [(np.where(self.unstable[r], self.layer("alpha", params["alpha"], r),
                             lines[r][0]), lines[r][1], lines[r][2]) for r in range(n_relu)]
        shifts = [self.layer("beta", params["beta"], r) * self.sign[r] if self.has_split[r]
                  else None for r in range(n_relu)]
        gamma = [None if c is None else self.layer("gamma", params["gamma"], r)
                 for r, c in enumerate(self.cuts)]
        record: dict = {}
        out = backsub_linear(self.cut_chain, self.last, self.rows[:, None, :], relaxed,
                             record=record, stops=self.stops, shifts=shifts,
                             cuts=[None if c is None else c.terms(g)
                                   for c, g in zip(self.cuts, gamma)],
                             weights=self.weights)
        y = out.coef[:, 0]
        x = np.where(y > 0, self.box_lower, self.box_upper)
        value = np.maximum(out.const[:, 0] + np.sum(y * x, axis=1), out.early[:, 0])
        margin = out.error[:, 0] + TINY
        for g, m in zip(gamma, self.cut_margin):
            if g is not None:
                margin = margin + g @ m
        # per ReLU layer: the rows' coefficients on its output, the slopes they took
        Y = [record[r][:, 0] for r in range(n_relu)]
        NEG = [Y[r] < 0 for r in range(n_relu)]
        A = [np.where(NEG[r], relaxed[r][1], relaxed[r][0]) for r in range(n_relu)]
        return value - margin, x, (Y, A, NEG)

    def gradients(self, x, saved) -> dict:
        """Flat gradients of the bound in alpha, beta and gamma by a reverse pass from the
        corner x (zero where a layer has nothing to optimise)."""
        Y, A, NEG = saved
        grads = {name: np.zeros((x.shape[0], o[-1])) for name, o in self.blocks.items()}
        g = x
        for r in range(self.n_relu):
            W, b, _ = self.cut_chain[r]
            gM = g @ W.T + b                      # the relaxed value of z_r at the corner
            if self.has_split[r]:
                self.layer("beta", grads["beta"], r)[:] = gM * self.sign[r]
            self.layer("alpha", grads["alpha"], r)[:] = np.where(
                self.unstable[r] & ~NEG[r], gM * Y[r], 0.0)
            g = gM * A[r] + np.where(NEG[r], self.lines[r][2], 0.0)   # the value of y_r
            if self.cuts[r] is not None:
                self.layer("gamma", grads["gamma"], r)[:] = self.cuts[r].slack(gM, g)
        return grads

    def widen(self, params: dict, coef: list) -> dict:
        """The flat parameters and the coefficients per ReLU layer at full size (zeros on
        the neurons left out)."""
        out = {"alpha": [], "beta": [], "gamma": [], "coef": []}
        B = self.rows.shape[0]
        for r in range(self.n_relu):
            for name, block in (("alpha", self.layer("alpha", params["alpha"], r)),
                                ("beta", self.layer("beta", params["beta"], r)),
                                ("coef", coef[r])):
                full = np.zeros((B, self.sizes[r]))
                full[:, self.keep[r]] = block
                out[name].append(full)
            out["gamma"].append(self.layer("gamma", params["gamma"], r).copy())
        return out


class _KeptCuts:
    """A layer's cuts on its kept neurons (sparse; a k-ReLU cut has at most 2k nonzeros)."""

    def __init__(self, cuts: LayerCuts, keep: np.ndarray):
        self.h = cuts.h
        self.Hz = sp.csr_matrix(cuts.Hz[:, keep])
        self.Hy = sp.csr_matrix(cuts.Hy[:, keep])
        self.HzT, self.HyT = self.Hz.T.tocsr(), self.Hy.T.tocsr()

    def terms(self, gamma: np.ndarray) -> tuple:
        """The cut terms of :func:`backsub_linear`: ``(gamma H_y, gamma H_z, -gamma h)``."""
        return (self.HyT @ gamma.T).T, (self.HzT @ gamma.T).T, -(gamma @ self.h)

    def slack(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``H_z z + H_y y - h`` per domain and cut (the gradient in gamma)."""
        return (self.Hz @ z.T + self.Hy @ y.T).T - self.h
