"""The branch-and-bound engine shared by input splitting and ReLU splitting.

A search is a loop over a queue of open domains: *select* the ``batch`` most promising
ones, *bound* them all at once (the bounding function is passed in), *prune* those whose
bound is > 0, look for a counterexample among the points the bound found, and *branch*
the others into children that go back to the queue. What a domain is, how it is bounded
and how it is split belong to the :class:`Search` (``split`` and ``bab``); the loop, the
time budget, the counterexample handling and the bookkeeping of the global bound live
here, once.

Soundness: every domain in the queue carries a sound lower bound of the margin on it
(its parent's bound; ``-inf`` for the root). The domains in the queue, the batch being
bounded and the pruned domains always cover the root, so at any stop the minimum of their
bounds is a sound lower bound on the root; when the queue runs empty it is the minimum
over the pruned domains' bounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from verifier.errors import TimeLimitReached
from verifier.methods.branching.disjunct import Disjunct, refine_candidate
from verifier.methods.branching.domains import DomainBatch, OpenDomains
from verifier.methods.context import CaseContext
from verifier.witness import FalsifyOptions, Witness


@dataclass
class Bounded:
    """A bounded batch.

    Attributes:
        lower: (D,) sound lower bounds of the margin per domain (``inf``: empty domain).
        data: per-domain results the search needs to choose candidates and branch
            (leading axis D), e.g. updated intermediate bounds or minimising points.
        witness: a replayed counterexample found while bounding, if any.
    """

    lower: np.ndarray
    data: DomainBatch
    witness: Witness | None = None


class Search(Protocol):
    """What a branch-and-bound search supplies to :func:`branch_and_bound`."""

    def batch_size(self, default: int, remaining: float) -> int:
        """How many domains to bound next (``default``: the options' batch), given the
        seconds left; a search whose steps are long shrinks it to keep the limit."""

    def bound(self, batch: DomainBatch, lower: np.ndarray, level: float) -> Bounded:
        """Bound every domain of the batch (``lower``: the bounds they already have); a
        domain whose bound exceeds ``level`` is done, so costlier bounds are only worth it
        below. May raise :class:`TimeLimitReached`."""

    def candidates(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch
                   ) -> tuple[np.ndarray, float, np.ndarray]:
        """(best input among the open domains' points, its margin, starts for a short
        projected gradient search)."""

    def branch(self, batch: DomainBatch, lower: np.ndarray, data: DomainBatch
               ) -> tuple[DomainBatch, np.ndarray, np.ndarray] | None:
        """(children, their lower bounds, their priorities) of the open domains, or None
        when some domain cannot be split any further."""


@dataclass(frozen=True)
class EngineOptions:
    """Batch size, queue limit, selection rule and counterexample search of a search.

    Attributes:
        name: what the live status line calls the search (``bab``, ``split``).
        batch: domains bounded per step.
        max_open: stop (unfinished, not timed out) beyond this many open domains.
        selection: ``"sorted"`` or ``"partition"`` (:class:`OpenDomains`).
        pgd_every: a projected gradient search from the candidates every this many steps.
        pgd: the options of that search.
        optimum_tolerance: None: decide the sign of the minimum (prune at bound > 0, stop
            at a counterexample); a number ``t``: find the minimum itself, pruning a domain
            once its bound is within ``t (1 + |best|)`` of the best margin found, so that
            at the end the minimum lies in ``[lower, best margin]`` with at most that gap.
    """

    name: str
    batch: int
    max_open: int | None = None
    selection: str = "sorted"
    pgd_every: int = 1
    pgd: FalsifyOptions = field(default_factory=FalsifyOptions)
    optimum_tolerance: float | None = None


@dataclass
class SearchResult:
    """How a search ended.

    Attributes:
        lower: sound lower bound of the margin on the whole root domain.
        best_x, best_margin: the input of smallest margin seen (an upper bound on the
            minimum), or None / inf.
        witness: the replayed counterexample, if one was found.
        finished: every domain was pruned: ``lower`` is the search's final answer.
        timed_out: the deadline passed first.
        optimum: with ``optimum_tolerance``, the minimum (the best margin found) once the
            search finished; ``lower`` is then within the tolerance of it.
    """

    lower: float
    best_x: np.ndarray | None
    best_margin: float
    witness: Witness | None = None
    finished: bool = False
    timed_out: bool = False
    optimum: float | None = None


#: seconds between two live status lines
LIVE_EVERY = 1.0


def _status(name, stats, seconds, queue, proved_min, best, remaining) -> str:
    low = min(queue.min_lower(), proved_min)
    return (f"{name}: {stats['domains']} domains ({stats['domains'] / max(seconds, 1e-9):.0f}/s)"
            f", {len(queue)} open, bound {low:.4g}, best margin {best[1]:.4g}, "
            f"{max(remaining, 0):.0f}s left")


def branch_and_bound(ctx: CaseContext, search: Search, root: DomainBatch, disjunct: Disjunct,
                     options: EngineOptions, stats: dict) -> SearchResult:
    """Run a search from ``root`` until every domain is pruned, a counterexample is
    replayed, the queue grows past ``max_open``, a domain cannot be split, or the case's
    deadline passes. ``stats`` gets ``domains``, ``steps``, ``open``, ``seconds``,
    ``domains_per_second``, ``max_open`` (the most open at once) and the seconds of each
    step's parts, ``seconds_bound``, ``seconds_falsify`` (candidates and their projected
    gradient search) and ``seconds_branch`` (the search may add its own counters)."""
    queue = OpenDomains(root, selection=options.selection)
    proved_min = np.inf
    best = (None, np.inf)
    started = time.perf_counter()
    stats.update(domains=0, steps=0, open=len(queue))

    def end(lower: float, **flags) -> SearchResult:
        stats["open"] = len(queue)
        stats["seconds"] = time.perf_counter() - started
        stats["domains_per_second"] = stats["domains"] / max(stats["seconds"], 1e-9)
        return SearchResult(float(min(lower, proved_min)), best[0], best[1], **flags)

    shown = started
    while len(queue):
        stats["open"] = len(queue)
        shown = _show_live(ctx, options.name, stats, started, shown, queue, proved_min, best)
        if ctx.remaining() <= 0:
            return end(queue.min_lower(), timed_out=True)
        if options.max_open is not None and len(queue) > options.max_open:
            return end(queue.min_lower())
        batch, batch_lower = queue.pop(search.batch_size(options.batch, ctx.remaining()))
        stats["steps"] += 1
        stats["domains"] += len(batch)
        tick = time.perf_counter()
        try:
            bounded = search.bound(batch, batch_lower, _prune_level(options, best[1]))
        except TimeLimitReached:
            return end(min(queue.min_lower(), float(batch_lower.min())), timed_out=True)
        tick = _clock(stats, "bound", tick)
        seeking = options.optimum_tolerance is not None
        if bounded.witness is not None:
            if bounded.witness.margin < best[1]:
                best = (bounded.witness.x, bounded.witness.margin)
            if not seeking:
                return end(min(queue.min_lower(), float(batch_lower.min())),
                           witness=bounded.witness)
        proved = (bounded.lower > _prune_level(options, best[1])) | np.isposinf(bounded.lower)
        if proved.any():
            proved_min = min(proved_min, float(bounded.lower[proved].min()))
        open_ = np.flatnonzero(~proved)
        if not open_.size:
            continue
        sub, lower, data = batch.take(open_), bounded.lower[open_], bounded.data.take(open_)
        x, margin, starts = search.candidates(sub, lower, data)
        best, witness = refine_candidate(ctx, disjunct, x, margin, starts, options.pgd, best,
                                         run_pgd=(stats["steps"] - 1) % options.pgd_every == 0,
                                         seeking=seeking)
        tick = _clock(stats, "falsify", tick)
        if witness is not None and not seeking:
            return end(min(queue.min_lower(), float(lower.min())), witness=witness)
        if seeking:       # the step's candidates may have lowered the bar
            done = lower > _prune_level(options, best[1])
            if done.any():
                proved_min = min(proved_min, float(lower[done].min()))
                sub, lower, data = sub.take(~done), lower[~done], data.take(~done)
            if not lower.size:
                continue
        children = search.branch(sub, lower, data)
        _clock(stats, "branch", tick)
        if children is None:
            # a domain no split can help (every ReLU fixed, the exact LP not > 0, its
            # optimum not replayable: a margin within rounding of 0): stop honestly
            stats["stuck"] = True
            return end(min(queue.min_lower(), float(lower.min())))
        queue.push(*children)
        stats["max_open"] = max(stats.get("max_open", 0), len(queue))
    result = end(np.inf, finished=True)
    if options.optimum_tolerance is not None and np.isfinite(best[1]):
        result.optimum = float(best[1])
    return result


def _show_live(ctx, name, stats, started, shown, queue, proved_min, best) -> float:
    """Print the live status line when ``LIVE_EVERY`` seconds passed since ``shown``;
    return when it was last shown."""
    now = time.perf_counter()
    if ctx.live is None or now - shown < LIVE_EVERY:
        return shown
    ctx.live(_status(name, stats, now - started, queue, proved_min, best, ctx.remaining()))
    return now


def _clock(stats: dict, step: str, since: float) -> float:
    """Add the seconds since ``since`` to ``stats["seconds_<step>"]``; return now."""
    now = time.perf_counter()
    stats[f"seconds_{step}"] = stats.get(f"seconds_{step}", 0.0) + now - since
    return now


def _prune_level(options: EngineOptions, best_margin: float) -> float:
    """A domain whose bound exceeds this is done: 0 when deciding the sign, else the best
    margin found minus the tolerance (no point of the domain can improve on it by more)."""
    if options.optimum_tolerance is None:
        return 0.0
    if not np.isfinite(best_margin):
        return np.inf
    return best_margin - options.optimum_tolerance * (1.0 + abs(best_margin))
