"""Branch and bound over a worker pool: one tree, many cores (or machines).

The coordinator (this process) keeps the queue of open domains, the global lower bound
and the best point; the workers run the steps
(:func:`~verifier.methods.branching.step.expand`): each takes a batch of domains and
returns the bound of what it pruned, the children of the rest and any replayed
counterexample. Up to ``workers + 1`` batches are out at once, so a worker finds its next
batch waiting while the coordinator merges the last one.

A batch stays in the coordinator's books until its step comes back; if the worker is lost
(killed, out of memory, a cluster node gone) the batch goes back to the queue with the
bounds it had, and the pool replaces the worker. A step that raises anything else is a
bug and ends the run with that error.

Soundness: as in the serial engine, the queue, the batches out and the pruned domains
cover the root at every moment, so the minimum of their bounds is a sound lower bound of
the margin on it; the verdict does not depend on the number of workers (the tree and the
time may).
"""

from __future__ import annotations

import copy
import time
from collections import Counter

import numpy as np

from solvers import SolverFailure
from verifier.methods.branching.disjunct import Disjunct
from verifier.methods.branching.domains import DomainBatch, OpenDomains
from verifier.methods.branching.protocol import (EngineOptions, LiveStatus, Search,
                                                 SearchResult, status_line)
from verifier.methods.branching.step import StepOutcome, end_flags, expand, finished
from verifier.methods.branching.workers import WorkerPool, resolve, worker_name
from verifier.methods.context import CaseContext

#: give up (a solver failure) after this many lost workers in one search
MAX_LOST = 16


def uses_pool(executor) -> bool:
    """Whether the searches of a context run their steps on ``executor``."""
    return isinstance(executor, WorkerPool)


def portable_search(search: Search) -> Search:
    """A copy of ``search`` for the workers: a portable context (no pool, no live
    callback, no cached bounds) and counters starting at 0."""
    clone = copy.copy(search)
    clone.ctx = search.ctx.portable()
    clone.stats = {k: type(v)() for k, v in search.stats.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return clone


def run_step(handle, batch: DomainBatch, lower: np.ndarray, best: tuple,
             deadline_wall: float, run_pgd: bool) -> tuple[StepOutcome, str]:
    """A worker's step: :func:`expand` on a copy of the payload's search (its own counters
    and timings, so steps running at once in one worker do not mix), with the case's
    deadline given as wall-clock time (``time.time()``: the same on every machine of a
    cluster, unlike ``time.monotonic()``); returns the outcome, with what the step added
    to the search's counters and the context's timings, and the worker's name."""
    template, disjunct, options = resolve(handle)
    search = copy.copy(template)
    search.ctx = ctx = copy.copy(template.ctx)
    search.stats, ctx.timings, ctx.stats = dict(template.stats), {}, {}
    ctx.deadline = time.monotonic() + (deadline_wall - time.time())
    out = expand(ctx, search, disjunct, options, batch, lower, best, run_pgd, search.stats)
    out.stats = {k: v for k, v in search.stats.items() if v}
    out.timings = ctx.timings
    return out, worker_name()


class _Books:
    """The coordinator's books: the queue, the batches out, the global bound and best
    point, and the counts per worker."""

    def __init__(self, root: DomainBatch, options: EngineOptions, stats: dict):
        self.queue = OpenDomains(root, selection=options.selection)
        self.out: dict = {}             # future -> (batch, lower)
        self.proved_min = np.inf
        self.best = (None, np.inf)
        self.per_worker: Counter = Counter()
        self.lost = 0
        self.stats = stats

    def open_lower(self) -> float:
        """A sound lower bound over every domain not pruned yet."""
        outs = [float(lower.min()) for _, lower in self.out.values()]
        return min([self.queue.min_lower()] + outs)

    def open_count(self) -> int:
        return len(self.queue) + sum(len(batch) for batch, _ in self.out.values())

    def merge(self, ctx: CaseContext, search: Search, batch: DomainBatch,
              out: StepOutcome, worker: str) -> None:
        """Add a step's outcome (counters, timings, bound, best point, children)."""
        stats = self.stats
        stats["steps"] += 1
        stats["domains"] += len(batch)
        self.per_worker[worker] += len(batch)
        for key, value in out.stats.items():
            stats[key] = stats.get(key, 0) + value
        for key, value in out.timings.items():
            ctx.add_time(key, value)
        search.note_cost(out.stats.get("seconds_bound", 0.0) / len(batch))
        self.proved_min = min(self.proved_min, out.proved_min)
        if out.best[1] < self.best[1]:
            self.best = out.best
        if out.status == "open" and out.children is not None:
            self.queue.push(*out.children)
            stats["max_open"] = max(stats.get("max_open", 0), self.open_count())

    def requeue(self, pool: WorkerPool, future, batch: DomainBatch, lower: np.ndarray) -> None:
        """A lost step's batch goes back to the queue with the bounds it had."""
        self.lost += 1
        self.stats["requeued"] = self.stats.get("requeued", 0) + len(batch)
        if self.lost > MAX_LOST:
            raise SolverFailure(f"{self.lost} worker processes were lost in one search; "
                                "giving up (out of memory?)")
        pool.recover(future)
        self.queue.push(batch, lower, lower)


def parallel_branch_and_bound(ctx: CaseContext, search: Search, root: DomainBatch,
                              disjunct: Disjunct, options: EngineOptions,
                              stats: dict) -> SearchResult:
    """:func:`~verifier.methods.branching.engine.branch_and_bound` with the steps run by
    the workers of ``ctx.executor`` (a :class:`WorkerPool`). ``stats`` gets the same
    entries, plus ``workers``, ``requeued`` (domains of lost steps put back) and
    ``per_worker`` (domains bounded by each worker)."""
    pool: WorkerPool = ctx.executor
    handle = pool.prepare((portable_search(search), disjunct, options))
    try:
        return _coordinate(ctx, pool, handle, search, root, disjunct, options, stats)
    finally:
        pool.release(handle)


def _coordinate(ctx, pool, handle, search, root, disjunct, options, stats) -> SearchResult:
    books = _Books(root, options, stats)
    started = time.perf_counter()
    live = LiveStatus(ctx.live)
    submitted = 0
    stats.update(domains=0, steps=0, open=len(books.queue), workers=pool.workers)

    def end(lower: float, **flags) -> SearchResult:
        for future in books.out:
            future.cancel()
        stats["open"] = books.open_count()
        stats["seconds"] = time.perf_counter() - started
        stats["domains_per_second"] = stats["domains"] / max(stats["seconds"], 1e-9)
        stats["per_worker"] = dict(books.per_worker)
        return SearchResult(float(min(lower, books.proved_min)), books.best[0],
                            books.best[1], **flags)

    while True:
        if ctx.remaining() <= 0:
            return end(books.open_lower(), timed_out=True)
        while len(books.queue) and len(books.out) <= pool.workers:
            if options.max_open is not None and books.open_count() > options.max_open:
                return end(books.open_lower())
            batch, lower = books.queue.pop(search.batch_size(options.batch, ctx.remaining()))
            run_pgd = submitted % options.pgd_every == 0
            submitted += 1
            future = pool.submit(run_step, handle, batch, lower, books.best,
                                 time.time() + ctx.remaining(), run_pgd)
            books.out[future] = (batch, lower)
        if not books.out:
            return finished(end(np.inf, finished=True), options, books.best)
        for future in pool.wait(list(books.out), timeout=max(min(ctx.remaining(), 1.0), 0.0)):
            batch, lower = books.out.pop(future)
            try:
                out, worker = future.result()
            except Exception as exc:  # noqa: BLE001 - only a lost worker is requeued
                if not pool.lost(exc):
                    raise
                books.requeue(pool, future, batch, lower)
                continue
            books.merge(ctx, search, batch, out, worker)
            if out.status != "open":
                return end(min(books.open_lower(), out.open_lower), **end_flags(out, stats))
        stats["open"] = books.open_count()
        if live.due():
            _show(ctx, options, stats, books, started)


def _show(ctx: CaseContext, options: EngineOptions, stats: dict, books: _Books,
          started: float) -> None:
    """The live line: domains, open, proved, rates overall and per worker."""
    seconds = time.perf_counter() - started
    rates = ", ".join(f"{n / max(seconds, 1e-9):.0f}" for _, n in sorted(books.per_worker.items()))
    extra = f" [{rates}/s per worker], {stats.get('proved', 0)} proved"
    ctx.live(status_line(options.name, stats, seconds, books.open_count(),
                         min(books.open_lower(), books.proved_min), books.best[1],
                         ctx.remaining(), extra))
