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
from verifier.methods.branching.protocol import (Bounded, EngineOptions, LiveStatus, Search,
                                                 SearchResult, status_line)
from verifier.methods.branching.step import end_flags, expand, finished
from verifier.methods.context import CaseContext

__all__ = ["Bounded", "EngineOptions", "Search", "SearchResult", "branch_and_bound"]


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
    if uses_pool(ctx.executor):
        return parallel_branch_and_bound(ctx, search, root, disjunct, options, stats)
    queue = OpenDomains(root, selection=options.selection)
    proved_min = np.inf
    best = (None, np.inf)
    started = time.perf_counter()
    live = LiveStatus(ctx.live)
    stats.update(domains=0, steps=0, open=len(queue))

    def end(lower: float, **flags) -> SearchResult:
        stats["open"] = len(queue)
        stats["seconds"] = time.perf_counter() - started
        stats["domains_per_second"] = stats["domains"] / max(stats["seconds"], 1e-9)
        return SearchResult(float(min(lower, proved_min)), best[0], best[1], **flags)

    while len(queue):
        stats["open"] = len(queue)
        if live.due():
            ctx.live(status_line(options.name, stats, time.perf_counter() - started,
                                 len(queue), min(queue.min_lower(), proved_min), best[1],
                                 ctx.remaining()))
        if ctx.remaining() <= 0:
            return end(queue.min_lower(), timed_out=True)
        if options.max_open is not None and len(queue) > options.max_open:
            return end(queue.min_lower())
        batch, batch_lower = queue.pop(search.batch_size(options.batch, ctx.remaining()))
        stats["steps"] += 1
        stats["domains"] += len(batch)
        before = stats.get("seconds_bound", 0.0)
        out = expand(ctx, search, disjunct, options, batch, batch_lower, best,
                     (stats["steps"] - 1) % options.pgd_every == 0, stats)
        search.note_cost((stats.get("seconds_bound", 0.0) - before) / len(batch))
        proved_min, best = min(proved_min, out.proved_min), out.best
        if out.status != "open":
            return end(min(queue.min_lower(), out.open_lower), **end_flags(out, stats))
        if out.children is not None:
            queue.push(*out.children)
            stats["max_open"] = max(stats.get("max_open", 0), len(queue))
    return finished(end(np.inf, finished=True), options, best)
