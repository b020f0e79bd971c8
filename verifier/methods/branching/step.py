"""One step of a branch and bound: bound a batch, prune, look for a counterexample, branch.

The serial engine (:func:`~verifier.methods.branching.engine.branch_and_bound`) and the
parallel one (:mod:`.parallel`, where the step runs in a worker process) share this
function, so a step means the same thing whichever process runs it. A step only reads the
search state it is given (the batch, the bounds the batch's domains already have, the best
margin known); what it finds comes back in a :class:`StepOutcome` for the caller to merge.

Soundness: ``proved_min`` is the smallest bound among the domains the step pruned and
``open_lower`` a lower bound over those it left open (their own bounds, or their
inherited ones when the step stopped early), so the caller's global bound stays the
minimum over a cover of the root.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from verifier.errors import TimeLimitReached
from verifier.methods.branching.disjunct import Disjunct, refine_candidate
from verifier.methods.branching.domains import DomainBatch
from verifier.methods.branching.protocol import EngineOptions, SearchResult
from verifier.methods.context import CaseContext
from verifier.witness import Witness


@dataclass
class StepOutcome:
    """What one step did with a batch.

    Attributes:
        status: ``"open"`` (the batch was bounded; ``children`` go back to the queue),
            ``"witness"`` (a counterexample was replayed), ``"stuck"`` (a domain cannot be
            split any further) or ``"timeout"`` (the deadline passed while bounding).
        proved_min: smallest bound among the domains the step pruned (``inf``: none).
        children: (domains, their lower bounds, their priorities), or None.
        best: the best ``(x, margin)`` known after the step (the one it was given, or a
            better point it found).
        witness: the replayed counterexample when ``status == "witness"``.
        open_lower: when the step ended early, a lower bound over the batch's domains it
            did not prune (``inf`` otherwise).
        stats: what the step adds to the search's counters (seconds per part, ...)
            and timings: to the context's timings, when it ran in another process.
    """

    status: str
    proved_min: float = np.inf
    children: tuple[DomainBatch, np.ndarray, np.ndarray] | None = None
    best: tuple = (None, np.inf)
    witness: Witness | None = None
    open_lower: float = np.inf
    stats: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def prune_level(optimum_tolerance: float | None, best_margin: float) -> float:
    """A domain whose bound exceeds this is done: 0 when deciding the sign, else the best
    margin found minus the tolerance (no point of the domain can improve on it by more)."""
    if optimum_tolerance is None:
        return 0.0
    if not np.isfinite(best_margin):
        return np.inf
    return best_margin - optimum_tolerance * (1.0 + abs(best_margin))


def expand(ctx: CaseContext, search, disjunct: Disjunct, options, batch: DomainBatch,
           batch_lower: np.ndarray, best: tuple, run_pgd: bool, stats: dict) -> StepOutcome:
    """Bound ``batch`` (``batch_lower``: the bounds its domains already have), prune the
    domains whose bound exceeds the prune level, try the open domains' best point as a
    counterexample (a short projected gradient search from their points when
    ``run_pgd``), and split the rest.

    Args:
        ctx: the case's context (its deadline stops the bounding).
        search: the :class:`~verifier.methods.branching.engine.Search`.
        disjunct: the disjunct searched.
        options: the :class:`~verifier.methods.branching.engine.EngineOptions`.
        best: the best ``(x, margin)`` known before the step.
        stats: receives the seconds of the step's parts (``seconds_bound``,
            ``seconds_falsify``, ``seconds_branch``) and the count of pruned domains
            (``proved``).
    """
    tolerance = options.optimum_tolerance
    seeking = tolerance is not None
    tick = time.perf_counter()
    try:
        bounded = search.bound(batch, batch_lower, prune_level(tolerance, best[1]))
    except TimeLimitReached:
        return StepOutcome("timeout", best=best, open_lower=float(batch_lower.min()))
    tick = _clock(stats, "bound", tick)
    if bounded.witness is not None:
        if bounded.witness.margin < best[1]:
            best = (bounded.witness.x, bounded.witness.margin)
        if not seeking:
            return StepOutcome("witness", best=best, witness=bounded.witness,
                               open_lower=float(batch_lower.min()))
    level = prune_level(tolerance, best[1])
    proved = (bounded.lower > level) | np.isposinf(bounded.lower)
    proved_min = float(bounded.lower[proved].min()) if proved.any() else np.inf
    stats["proved"] = stats.get("proved", 0) + int(proved.sum())
    open_ = np.flatnonzero(~proved)
    if not open_.size:
        return StepOutcome("open", proved_min, best=best)
    sub, lower, data = batch.take(open_), bounded.lower[open_], bounded.data.take(open_)
    x, margin, starts = search.candidates(sub, lower, data)
    best, witness = refine_candidate(ctx, disjunct, x, margin, starts, options.pgd, best,
                                     run_pgd=run_pgd, seeking=seeking)
    tick = _clock(stats, "falsify", tick)
    if witness is not None and not seeking:
        return StepOutcome("witness", proved_min, best=best, witness=witness,
                           open_lower=float(lower.min()))
    if seeking:       # the step's candidates may have lowered the bar
        done = lower > prune_level(tolerance, best[1])
        if done.any():
            proved_min = min(proved_min, float(lower[done].min()))
            stats["proved"] += int(done.sum())
            sub, lower, data = sub.take(~done), lower[~done], data.take(~done)
        if not lower.size:
            return StepOutcome("open", proved_min, best=best)
    children = search.branch(sub, lower, data)
    _clock(stats, "branch", tick)
    if children is None:
        # a domain no split can help (every ReLU fixed, the exact LP not > 0, its
        # optimum not replayable: a margin within rounding of 0): stop honestly
        return StepOutcome("stuck", proved_min, best=best, open_lower=float(lower.min()))
    return StepOutcome("open", proved_min, children, best)


def _clock(stats: dict, step: str, since: float) -> float:
    """Add the seconds since ``since`` to ``stats["seconds_<step>"]``; return now."""
    now = time.perf_counter()
    stats[f"seconds_{step}"] = stats.get(f"seconds_{step}", 0.0) + now - since
    return now


def end_flags(out: StepOutcome, stats: dict) -> dict:
    """The :class:`SearchResult` flags of a step that ended the search (``stuck`` is
    counted in ``stats``)."""
    if out.status == "stuck":
        stats["stuck"] = True
        return {}
    if out.status == "timeout":
        return {"timed_out": True}
    return {"witness": out.witness}


def finished(result: SearchResult, options: EngineOptions, best: tuple) -> SearchResult:
    """A search whose queue ran empty: when seeking the optimum, the best margin is it."""
    if options.optimum_tolerance is not None and np.isfinite(best[1]):
        result.optimum = float(best[1])
    return result
