"""`CaseContext`: what the methods share about one case (input box) of a property.

Bounds are computed lazily, once per case, and kept in named fields; so are the memoised
alpha margins and the k-ReLU state. The context also carries the case's deadline, the
timings and statistics of the run, and the ONNX file for replaying counterexamples.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from verifier.bounds import Bounds, deeppoly_bounds, interval_bounds
from verifier.errors import TimeLimitReached
from verifier.methods.options import VerifyOptions
from verifier.network import Network
from verifier.spec import Case
from verifier.tighten import milp_refine, tighten_bounds

if TYPE_CHECKING:  # pragma: no cover
    from verifier.methods.krelu import KReluCase


@dataclass
class CaseContext:
    """Per-case state shared by the bound methods.

    Attributes:
        net, case, options: what is verified, and how.
        deadline: ``time.monotonic()`` value at which the methods must stop.
        executor: the run's worker pool (per-neuron tightening, branch and bound), or
            None.
        timings: seconds per phase (shared with the :class:`~verifier.verify.Result`).
        stats: counters per method (shared with the result).
        onnx_path: the ONNX file, to replay witnesses in onnxruntime too.
        live: receives a one-line status of long searches about once a second (the CLI
            shows it on a terminal), or None.
        interval_bounds, deeppoly_bounds, tightened_bounds: the case's bounds, once
            computed (see :meth:`interval`, :meth:`deeppoly`, :meth:`tightened`).
        refined_bounds: the tightened bounds refined by MILP (:meth:`refined`).
        alpha_margins: memoised alpha margin bounds, keyed by the disjunct's rows.
        krelu: the case's k-ReLU state (:class:`~verifier.methods.krelu.KReluCase`).
        stop: an event that, once set, ends the methods as if the deadline had passed
            (the pipeline sets it when one of several concurrent searches answered).
        lock: held while the lazily computed bounds are computed (searches of several
            disjuncts of a case may run in threads at once).
    """

    net: Network
    case: Case
    options: VerifyOptions
    deadline: float
    executor: Executor | None = None
    timings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    onnx_path: str | None = None
    live: Callable[[str], None] | None = None
    interval_bounds: dict[str, Bounds] | None = None
    deeppoly_bounds: dict[str, Bounds] | None = None
    tightened_bounds: dict[str, Bounds] | None = None
    refined_bounds: dict[str, Bounds] | None = None
    alpha_margins: dict[tuple, tuple[Any, float]] = field(default_factory=dict)
    krelu: "KReluCase | None" = None
    stop: threading.Event | None = None
    lock: Any = field(default_factory=threading.RLock, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(lock=None, stop=None, executor=None, live=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()

    def portable(self) -> "CaseContext":
        """A copy for a worker process: the network, case, options, deadline and ONNX
        path, with fresh timings and stats, and no pool, live callback or cached
        bounds (the searches carry what they need)."""
        return CaseContext(self.net, self.case, self.options, self.deadline,
                           onnx_path=self.onnx_path)

    # ---------------------------------------------------------------- time
    def remaining(self) -> float:
        """Seconds left before the deadline (negative once passed or stopped)."""
        if self.stop is not None and self.stop.is_set():
            return -1.0
        return self.deadline - time.monotonic()

    def set_budget(self, seconds: float) -> None:
        """Move the deadline to ``seconds`` from now (the gap report gives every method
        its own budget on one shared context)."""
        self.deadline = time.monotonic() + seconds

    def check_time(self) -> None:
        """Raise :class:`TimeLimitReached` once the deadline passed."""
        if self.remaining() <= 0:
            raise TimeLimitReached("time limit reached")

    def timed(self, key: str, fn: Callable):
        """``fn()``, its seconds added to ``timings[key]``."""
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.add_time(key, time.perf_counter() - start)

    def add_time(self, key: str, seconds: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + seconds

    def refined(self, share: float) -> dict[str, Bounds]:
        """The tightened bounds with the unstable neurons of ReLU layers ``1 ..
        options.tighten.milp_layers`` refined by MILPs (:func:`~verifier.tighten.milp_refine`)
        within ``share`` of the remaining time; the tightened bounds themselves when
        ``milp_layers`` is 0. Computed once per case."""
        bounds = self.tightened()
        if self.options.tighten.milp_layers == 0 or share <= 0:
            return bounds
        with self.lock:
            if self.refined_bounds is None:
                self.refined_bounds = self._improved("milp_refine", milp_refine, bounds, share)
        return self.refined_bounds

    def _improved(self, key: str, improve, bounds: dict[str, Bounds],
                  share: float) -> dict[str, Bounds]:
        """``improve(net, bounds, tighten options, ...)`` (a tightening layer's function)
        within ``share`` of the remaining time, its time and HiGHS time recorded under
        ``key``."""
        deadline = time.monotonic() + share * max(self.remaining(), 0.0)
        # as many at once as the pool has workers (a Dask cluster may have more)
        workers = getattr(self.executor, "workers", self.options.workers)
        options = replace(self.options.tighten, workers=workers)
        improved, stats = self.timed(key, lambda: improve(
            self.net, bounds, options, executor=self.executor, deadline=deadline,
            dp_options=self.options.deeppoly))
        self.stats[key] = stats
        self.add_time("highs", stats["highs_time"])
        return improved

    # ---------------------------------------------------------------- bounds
    def interval(self) -> dict[str, Bounds]:
        """Interval bounds of every node on the case's box."""
        with self.lock:
            if self.interval_bounds is None:
                self.interval_bounds = self.timed("bounds", lambda: interval_bounds(
                    self.net, self.case.lower, self.case.upper))
            return self.interval_bounds

    def deeppoly(self) -> dict[str, Bounds]:
        """DeepPoly bounds of every node (raises :class:`TimeLimitReached` past the
        deadline: big convolutional layers take minutes)."""
        with self.lock:
            if self.deeppoly_bounds is None:
                self.deeppoly_bounds = self.timed("bounds", lambda: deeppoly_bounds(
                    self.net, self.case.lower, self.case.upper, self.options.deeppoly,
                    start=self.interval(), deadline=self.deadline))
            return self.deeppoly_bounds

    def tightened(self) -> dict[str, Bounds]:
        """DeepPoly bounds, tightened when ``options.lp_tighten`` asks for it (by
        ``options.tighten.method``), within half of the remaining time."""
        with self.lock:
            if self.tightened_bounds is None:
                bounds = self.deeppoly()
                if self.options.lp_tighten:
                    bounds = self._improved("lp_tighten", tighten_bounds, bounds, 0.5)
                self.tightened_bounds = bounds
            return self.tightened_bounds
