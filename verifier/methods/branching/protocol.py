"""What a branch-and-bound search is made of, shared by the serial and parallel engines.

A :class:`Search` supplies what a domain is, how it is bounded and how it is split; the
engines (:mod:`.engine` in one process, :mod:`.parallel` over worker processes) supply
the loop. The options, the result and the live status line are the same for both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from verifier.methods.branching.domains import DomainBatch
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
    """What a branch-and-bound search supplies to the engines.

    Attributes:
        ctx: the case's :class:`~verifier.methods.context.CaseContext`.
        stats: the search's counters (the engine adds its own to the same dict).

    A search is copied to worker processes (with a portable copy of ``ctx`` and fresh
    ``stats``) by the parallel engine, so it keeps no state a step depends on besides
    what the domains carry; :meth:`note_cost` tells it what the steps cost.
    """

    ctx: Any
    stats: dict

    def note_cost(self, seconds_per_domain: float) -> None:
        """The last step's bounding seconds per domain (for :meth:`batch_size`)."""

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


@dataclass
class Job:
    """One search of a run of several (:func:`~verifier.methods.branching.engine.
    branch_and_bound_many`): what it searches, from which root domains, for which
    disjunct, and the dict its counters go to."""

    search: Search
    root: DomainBatch
    disjunct: Any
    stats: dict


#: every this many picks, :class:`Chooser` takes the search that bounded fewest domains
FAIR_EVERY = 4


class Chooser:
    """Which of several searches of a case steps next: the one with the lowest bound
    (the weakest: the case is decided only when it is), except every ``FAIR_EVERY``-th
    pick, which goes to the one that bounded fewest domains (every search moves)."""

    def __init__(self):
        self.picks = 0

    def pick(self, lowers: list[float], bounded: list[int]) -> int:
        """Index (into the lists) of the search to step next."""
        self.picks += 1
        if self.picks % FAIR_EVERY == 0:
            return int(np.argmin(bounded))
        return int(np.argmin(lowers))


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


def status_line(name: str, stats: dict, seconds: float, open_count: int, lower: float,
                best_margin: float, remaining: float, extra: str = "") -> str:
    """The live status line of a search: domains bounded (and per second), open, the
    global bound, the best margin, ``extra`` (per-worker rates) and the seconds left."""
    rate = stats["domains"] / max(seconds, 1e-9)
    return (f"{name}: {stats['domains']} domains ({rate:.0f}/s){extra}, {open_count} open, "
            f"bound {lower:.4g}, best margin {best_margin:.4g}, {max(remaining, 0):.0f}s left")


class LiveStatus:
    """Shows a status line through ``live`` at most every ``LIVE_EVERY`` seconds."""

    def __init__(self, live):
        self.live = live
        self.shown = time.perf_counter()

    def due(self) -> bool:
        """Whether a line is due now (then it counts as shown)."""
        now = time.perf_counter()
        if self.live is None or now - self.shown < LIVE_EVERY:
            return False
        self.shown = now
        return True
