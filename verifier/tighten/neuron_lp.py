"""The per-neuron LP loop: ``min z_i`` and ``min -z_i`` for each column, one HiGHS object.

Every tightening by LP (LP-ALL over triangles, over all k-ReLU facets, or with separated
k-ReLU cuts) runs this loop. The objective changes per solve; the matrix is loaded once
(reusing the basis between solves), and cut rows found for one neuron stay in the model
for the next ones. Each optimum becomes a certified bound from the duals
(:func:`~verifier.lp.certified_minimum`); where none is obtained the entry stays
``-inf``/``+inf`` and the caller keeps its previous bound.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from solvers import LinearModel
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.lp import minimise_with_cuts
from verifier.tighten.options import TightenOptions


def neuron_backend(model: LinearModel, options: TightenOptions) -> HighsBackend:
    """A HiGHS object holding ``model``, set up for per-neuron solves (presolve off with
    early stops: the objective bound works on the dual simplex iterates)."""
    backend = HighsBackend(HighsOptions(threads=1, presolve=not options.early_stop))
    backend.load(model)
    return backend


def neuron_bounds(backend: HighsBackend, cols: np.ndarray, options: TightenOptions,
                  deadline: float | None = None, separate: Callable | None = None,
                  stats: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Certified ``(lower, upper)`` of the given columns of the loaded model.

    Args:
        backend: holds the relaxation (its objective is overwritten).
        cols: (k,) model columns to bound.
        options: per-LP time limit, early stop, cut rounds per LP.
        deadline: ``time.monotonic()`` after which the remaining solves are skipped; no
            solve runs past it.
        separate: cut separation ``(result, round) -> CutRows or None`` (see
            :func:`~verifier.lp.minimise_with_cuts`); None: one solve per bound.
        stats: if given, ``lps``, ``cuts`` and ``rounds`` are added up there.

    Returns:
        (lower (k,), upper (k,)); ``-inf``/``+inf`` where no certificate was obtained.
    """
    n = backend.model.n_cols
    lower = np.full(cols.size, -np.inf)
    upper = np.full(cols.size, np.inf)
    objective_bound = 0.0 if options.early_stop else None
    stats = {} if stats is None else stats

    def limits() -> SolveLimits | None:
        """Each solve gets ``lp_time_limit``, capped by the time left to ``deadline``."""
        seconds = options.lp_time_limit
        if deadline is not None:
            seconds = min(seconds, deadline - time.monotonic())
            if seconds <= 0:
                return None
        return SolveLimits(time_limit=seconds, objective_bound=objective_bound)

    for k, col in enumerate(cols):
        for sign in (1.0, -1.0):
            if deadline is not None and time.monotonic() > deadline:
                return lower, upper
            c = np.zeros(n)
            c[col] = sign
            backend.set_objective(c)
            loop = minimise_with_cuts(backend, separate, limits,
                                      max_rounds=options.krelu_rounds_per_lp,
                                      stop_above=0.0)
            stats["lps"] = stats.get("lps", 0) + len(loop.bounds)
            stats["cuts"] = stats.get("cuts", 0) + loop.rows_added
            stats["rounds"] = stats.get("rounds", 0) + loop.rounds
            if sign > 0:
                lower[k] = loop.best
            else:
                upper[k] = -loop.best
    return lower, upper


def solve_neuron_bounds(model: LinearModel, cols: np.ndarray, options: TightenOptions,
                        deadline: float | None = None
                        ) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`neuron_bounds` in a fresh HiGHS object (what a worker process runs: HiGHS
    objects cannot be pickled, the model's arrays can).

    Returns:
        (lower (k,), upper (k,), seconds inside HiGHS).
    """
    backend = neuron_backend(model, options)
    lower, upper = neuron_bounds(backend, cols, options, deadline)
    return lower, upper, backend.total_time
