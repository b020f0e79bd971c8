"""The branch-and-bound engine shared by input splitting and ReLU splitting.

A search is a loop over a queue of open domains: *select* the ``batch`` most promising
ones, *bound* them all at once (the bounding function is passed in), *prune* those whose
bound is > 0, look for a counterexample among the points the bound found, and *branch*
the others into children that go back to the queue (one such step is
:func:`~verifier.methods.branching.step.expand`). What a domain is, how it is bounded
and how it is split belong to the :class:`Search` (``split`` and ``bab``); the loop, the
time budget, the counterexample handling and the bookkeeping of the global bound live
here, once. With a worker pool in the context the steps run in worker processes
(:mod:`.parallel`); the verdict is the same, the tree may differ.

Soundness: every domain in the queue carries a sound lower bound of the margin on it
(its parent's bound; ``-inf`` for the root). The domains in the queue, the batch being
bounded and the pruned domains always cover the root, so at any stop the minimum of their
bounds is a sound lower bound on the root; when the queue runs empty it is the minimum
over the pruned domains' bounds.
"""

from __future__ import annotations

import time

import numpy as np

from verifier.methods.branching.disjunct import Disjunct
from verifier.methods.branching.domains import DomainBatch, OpenDomains
from verifier.methods.branching.parallel import parallel_branch_and_bound, uses_pool
from verifier.methods.branching.protocol import (Bounded, Chooser, EngineOptions, Job,
                                                 LiveStatus, Search, SearchResult, status_line)
from verifier.methods.branching.step import end_flags, expand, finished
from verifier.methods.context import CaseContext

__all__ = ["Bounded", "EngineOptions", "Job", "Search", "SearchResult", "branch_and_bound",
           "branch_and_bound_many"]


def branch_and_bound(ctx: CaseContext, search: Search, root: DomainBatch, disjunct: Disjunct,
                     options: EngineOptions, stats: dict) -> SearchResult:
    """Run a search from ``root`` until every domain is pruned, a counterexample is
    replayed, the queue grows past ``max_open``, a domain cannot be split, or the case's
    deadline passes. ``stats`` gets ``domains``, ``steps``, ``open``, ``seconds``,
    ``domains_per_second``, ``max_open`` (the most open at once) and the seconds of each
    step's parts, ``seconds_bound``, ``seconds_falsify`` (candidates and their projected
    gradient search) and ``seconds_branch`` (the search may add its own counters). With a
    pool of more than one worker in ``ctx.executor`` the steps run there
    (:func:`~verifier.methods.branching.parallel.parallel_branch_and_bound`)."""
    return branch_and_bound_many(ctx, [Job(search, root, disjunct, stats)], options)[0]


def branch_and_bound_many(ctx: CaseContext, jobs: list[Job], options: EngineOptions
                          ) -> list[SearchResult]:
    """Several searches of one case (e.g. its disjuncts) sharing the time: each step goes
    to the search with the lowest bound (the weakest, which decides the case), every
    ``FAIR_EVERY``-th to the one that bounded fewest domains (:class:`Chooser`), so every
    search moves, a counterexample in any of them can be found, and each reports its own
    bound. A search ends on its own (pruned, stuck, past ``max_open``); a replayed
    counterexample ends all (the others report their bounds so far); so does the deadline
    (``timed_out``). The results are in the jobs' order."""
    if uses_pool(ctx.executor):
        return parallel_branch_and_bound(ctx, jobs, options)
    runs = [_SerialRun(ctx, job, options) for job in jobs]
    results: list = [None] * len(runs)
    chooser = Chooser()
    live = LiveStatus(ctx.live)
    started = time.perf_counter()
    while True:
        open_ = [i for i, r in enumerate(results) if r is None]
        if not open_:
            return results
        if ctx.remaining() <= 0:
            for i in open_:
                results[i] = runs[i].end(runs[i].queue.min_lower(), timed_out=True)
            return results
        lowers = [runs[i].lower() for i in open_]
        if live.due():
            ctx.live(_status(options, runs, open_, lowers, started, ctx.remaining()))
        i = open_[chooser.pick(lowers, [runs[i].stats["domains"] for i in open_])]
        results[i] = runs[i].step()
        if results[i] is not None and results[i].witness is not None:
            for j in open_:
                if results[j] is None:
                    results[j] = runs[j].end(runs[j].queue.min_lower())
            return results


class _SerialRun:
    """One search of the serial engine: its queue, the smallest bound it pruned, its best
    point and counters; :meth:`step` runs one step."""

    def __init__(self, ctx: CaseContext, job: Job, options: EngineOptions):
        self.ctx, self.search, self.disjunct, self.options = ctx, job.search, job.disjunct, options
        self.stats = stats = job.stats
        self.queue = OpenDomains(job.root, selection=options.selection)
        self.proved_min = np.inf
        self.best = (None, np.inf)
        self.seconds = 0.0
        stats.update(domains=0, steps=0, open=len(self.queue))

    def lower(self) -> float:
        """A sound lower bound of the margin over the root, now."""
        return float(min(self.queue.min_lower(), self.proved_min))

    def end(self, lower: float, **flags) -> SearchResult:
        stats = self.stats
        stats["open"] = len(self.queue)
        stats["seconds"] = self.seconds
        stats["domains_per_second"] = stats["domains"] / max(self.seconds, 1e-9)
        return SearchResult(float(min(lower, self.proved_min)), self.best[0], self.best[1],
                            **flags)

    def step(self) -> SearchResult | None:
        """One step; the search's result when it ended, else None."""
        started = time.perf_counter()
        try:
            return self._step()
        finally:
            self.seconds += time.perf_counter() - started

    def _step(self) -> SearchResult | None:
        ctx, search, options, stats, queue = (self.ctx, self.search, self.options, self.stats,
                                              self.queue)
        if not len(queue):
            return finished(self.end(np.inf, finished=True), options, self.best)
        if options.max_open is not None and len(queue) > options.max_open:
            return self.end(queue.min_lower())
        batch, batch_lower = queue.pop(search.batch_size(options.batch, ctx.remaining()))
        stats["steps"] += 1
        stats["domains"] += len(batch)
        before = stats.get("seconds_bound", 0.0)
        out = expand(ctx, search, self.disjunct, options, batch, batch_lower, self.best,
                     (stats["steps"] - 1) % options.pgd_every == 0, stats)
        search.note_cost((stats.get("seconds_bound", 0.0) - before) / len(batch))
        self.proved_min, self.best = min(self.proved_min, out.proved_min), out.best
        if out.status != "open":
            return self.end(min(queue.min_lower(), out.open_lower), **end_flags(out, stats))
        if out.children is not None:
            queue.push(*out.children)
            stats["max_open"] = max(stats.get("max_open", 0), len(queue))
        stats["open"] = len(queue)
        if not len(queue):
            return finished(self.end(np.inf, finished=True), options, self.best)
        return None


def _status(options, runs, open_: list, lowers: list, started: float,
            remaining: float) -> str:
    """The live line of the searches still open: their domains and open ones in all, the
    lowest bound and the best margin, and how many searches are open."""
    total = {"domains": sum(r.stats["domains"] for r in runs)}
    extra = f" [{len(open_)} of {len(runs)} searches open]" if len(runs) > 1 else ""
    return status_line(options.name, total, time.perf_counter() - started,
                       sum(len(runs[i].queue) for i in open_), min(lowers),
                       min(r.best[1] for r in runs), remaining, extra)
