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
from verifier.methods.branching.domains import DomainBatch, OpenDomains
from verifier.methods.branching.protocol import (Chooser, EngineOptions, Job, LiveStatus,
                                                 Search, SearchResult, status_line)
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
    """The coordinator's books of one search: the queue, the batches out, the global bound
    and best point, and the counts per worker."""

    def __init__(self, job: Job, handle, options: EngineOptions):
        self.job, self.handle = job, handle
        self.queue = OpenDomains(job.root, selection=options.selection)
        self.out: dict = {}             # future -> (batch, lower)
        self.proved_min = np.inf
        self.best = (None, np.inf)
        self.per_worker: Counter = Counter()
        self.lost = 0
        self.stats = job.stats
        self.submitted = 0
        self.result: SearchResult | None = None
        self.stats.update(domains=0, steps=0, open=len(self.queue))

    def open_lower(self) -> float:
        """A sound lower bound over every domain not pruned yet."""
        outs = [float(lower.min()) for _, lower in self.out.values()]
        return min([self.queue.min_lower()] + outs)

    def lower(self) -> float:
        return float(min(self.open_lower(), self.proved_min))

    def open_count(self) -> int:
        return len(self.queue) + sum(len(batch) for batch, _ in self.out.values())

    def merge(self, ctx: CaseContext, batch: DomainBatch, out: StepOutcome,
              worker: str) -> None:
        """Add a step's outcome (counters, timings, bound, best point, children)."""
        stats = self.stats
        stats["steps"] += 1
        stats["domains"] += len(batch)
        self.per_worker[worker] += len(batch)
        for key, value in out.stats.items():
            stats[key] = stats.get(key, 0) + value
        for key, value in out.timings.items():
            ctx.add_time(key, value)
        self.job.search.note_cost(out.stats.get("seconds_bound", 0.0) / len(batch))
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

    def end(self, lower: float, started: float, **flags) -> SearchResult:
        """Close the search's books (its batches out are cancelled) with a result."""
        for future in self.out:
            future.cancel()
        stats = self.stats
        stats["open"] = self.open_count()
        stats["seconds"] = time.perf_counter() - started
        stats["domains_per_second"] = stats["domains"] / max(stats["seconds"], 1e-9)
        stats["per_worker"] = dict(self.per_worker)
        self.out = {}
        self.result = SearchResult(float(min(lower, self.proved_min)), self.best[0],
                                   self.best[1], **flags)
        return self.result


def parallel_branch_and_bound(ctx: CaseContext, jobs: list[Job], options: EngineOptions
                              ) -> list[SearchResult]:
    """:func:`~verifier.methods.branching.engine.branch_and_bound_many` with the steps run
    by the workers of ``ctx.executor`` (a :class:`WorkerPool`): the searches share the
    workers, each batch taken from the search :class:`Chooser` picks. Each ``stats`` gets
    the same entries as in the serial engine, plus ``workers``, ``requeued`` (domains of
    lost steps put back) and ``per_worker`` (domains bounded by each worker)."""
    pool: WorkerPool = ctx.executor
    handles = [pool.prepare((portable_search(job.search), job.disjunct, options))
               for job in jobs]
    try:
        books = [_Books(job, handle, options) for job, handle in zip(jobs, handles)]
        for b in books:
            b.stats["workers"] = pool.workers
        _coordinate(ctx, pool, books, options)
        return [b.result for b in books]
    finally:
        for handle in handles:
            pool.release(handle)


def _coordinate(ctx, pool, books: list[_Books], options: EngineOptions) -> None:
    """Keep ``workers + 1`` batches out, from the searches :class:`Chooser` picks, until
    every search has its result (``books[i].result``)."""
    started = time.perf_counter()
    live = LiveStatus(ctx.live)
    chooser = Chooser()
    owner: dict = {}                    # future -> the books it belongs to
    while True:
        open_ = [b for b in books if b.result is None]
        if not open_:
            return
        if ctx.remaining() <= 0:
            for b in open_:
                b.end(b.open_lower(), started, timed_out=True)
            return
        _submit(ctx, pool, open_, options, chooser, owner, started)
        if not any(b.out for b in open_):
            continue
        futures = [f for b in open_ for f in b.out]
        for future in pool.wait(futures, timeout=max(min(ctx.remaining(), 1.0), 0.0)):
            b = owner.pop(future)
            if b.result is not None or future not in b.out:
                continue
            batch, lower = b.out.pop(future)
            try:
                out, worker = future.result()
            except Exception as exc:  # noqa: BLE001 - only a lost worker is requeued
                if not pool.lost(exc):
                    raise
                b.requeue(pool, future, batch, lower)
                continue
            b.merge(ctx, batch, out, worker)
            if out.status != "open":
                b.end(min(b.open_lower(), out.open_lower), started,
                      **end_flags(out, b.stats))
                if out.status == "witness":
                    for other in books:
                        if other.result is None:
                            other.end(other.open_lower(), started)
                    return
            elif not b.open_count():
                finished(b.end(np.inf, started, finished=True), options, b.best)
        for b in open_:
            b.stats["open"] = b.open_count()
        if live.due():
            _show(ctx, options, books, started)


def _submit(ctx, pool, open_: list[_Books], options, chooser: Chooser, owner: dict,
            started: float) -> None:
    """Submit batches while fewer than ``workers + 1`` are out; a search past
    ``max_open`` ends (unfinished), one with nothing queued or out is finished."""
    while sum(len(b.out) for b in open_) <= pool.workers:
        ready = [b for b in open_ if b.result is None and len(b.queue)]
        for b in ready:
            if options.max_open is not None and b.open_count() > options.max_open:
                b.end(b.open_lower(), started)
        ready = [b for b in ready if b.result is None]
        for b in open_:
            if b.result is None and not b.open_count():
                finished(b.end(np.inf, started, finished=True), options, b.best)
        if not ready:
            return
        b = ready[chooser.pick([x.lower() for x in ready], [x.stats["domains"] for x in ready])]
        batch, lower = b.queue.pop(b.job.search.batch_size(options.batch, ctx.remaining()))
        run_pgd = b.submitted % options.pgd_every == 0
        b.submitted += 1
        future = pool.submit(run_step, b.handle, batch, lower, b.best,
                             time.time() + ctx.remaining(), run_pgd)
        b.out[future] = (batch, lower)
        owner[future] = b


def _show(ctx: CaseContext, options: EngineOptions, books: list[_Books],
          started: float) -> None:
    """The live line: domains, open, proved, rates overall and per worker."""
    seconds = time.perf_counter() - started
    per_worker: Counter = Counter()
    for b in books:
        per_worker.update(b.per_worker)
    rates = ", ".join(f"{n / max(seconds, 1e-9):.0f}" for _, n in sorted(per_worker.items()))
    open_ = [b for b in books if b.result is None] or books
    extra = (f" [{rates}/s per worker], {sum(b.stats.get('proved', 0) for b in books)} proved"
             + (f", {len(open_)} of {len(books)} searches open" if len(books) > 1 else ""))
    total = {"domains": sum(b.stats["domains"] for b in books)}
    ctx.live(status_line(options.name, total, seconds, sum(b.open_count() for b in open_),
                         min(b.lower() for b in open_), min(b.best[1] for b in books),
                         ctx.remaining(), extra))
