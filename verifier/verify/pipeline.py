"""The pipeline: falsify -> bound each disjunct by the plan's methods -> decide.

Soundness rules kept here:

* ``unsat`` only when every (case, disjunct) has a *certified* lower bound > 0 on its
  violation margin (interval/DeepPoly bounds are rounded outward; LP bounds come from a
  dual certificate; MILP bounds are dual bounds, never incumbents).
* ``sat`` only with a witness replayed by :func:`verifier.witness.replay`.
* otherwise ``unknown``, or ``timeout`` when the wall-clock budget ran out first.
* a certified bound above the margin of a real input is a contradiction: it raises
  :class:`~verifier.errors.SoundnessError`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

import numpy as np

from solvers import SolverFailure
from solvers.highs import highs_version
from verifier.errors import OptionError, SoundnessError, TimeLimitReached
from verifier.methods import METHOD_NAMES, METHODS, CaseContext, VerifyOptions, auto_plan
from verifier.methods.branching.parallel import uses_pool
from verifier.methods.branching.workers import open_pool
from verifier.methods.outcome import MethodOutcome
from verifier.network import Network
from verifier.spec import Property
from verifier.threads import blas_threads
from verifier.verify.result import DisjunctOutcome, Result
from verifier.witness import Witness, falsify_case, replay

#: the cheap bound tried first when one costlier method is asked for: every disjunct it
#: proves is proved, and the costly method's setup (tightening, hulls, MILP) is skipped.
#: Not used with ``full_solve`` (the gap report needs each method's own bound).
PRESCREEN = "deeppoly"
#: a certified bound may exceed the margin of a real input by at most this (relative):
#: the float64 forward pass that evaluated the margin is not exact
SOUNDNESS_TOLERANCE = 1e-6


def method_plan(net: Network, prop: Property, options: VerifyOptions) -> list[str]:
    """The methods run on every open disjunct, in order: ``auto``'s plan, or the method
    asked for after the cheap :data:`PRESCREEN` (unless ``full_solve``)."""
    method = options.method
    if method == "auto":
        return auto_plan(net, prop)
    if method not in METHODS:
        raise OptionError(f"unknown method {method!r}; choose from {', '.join(METHOD_NAMES)}")
    if not options.full_solve and method not in ("interval", PRESCREEN):
        return [PRESCREEN, method]
    return [method]


def verify(net: Network, prop: Property, method: str = "auto", timeout: float = 60.0,
           options: VerifyOptions | None = None, onnx_path: str | None = None,
           progress: Callable[[str], None] | None = None,
           live: Callable[[str], None] | None = None,
           partial: Callable[[Result], None] | None = None) -> Result:
    """Decide a property on a network.

    Args:
        net: the network (see :func:`verifier.network.load_network`).
        prop: the property (see :func:`verifier.spec.load_vnnlib`).
        method: a name of :data:`verifier.methods.METHOD_NAMES` (see the README's table).
        timeout: wall-clock seconds (finite, > 0).
        options: full options (``method`` and ``timeout`` given here override them).
        onnx_path: the ONNX file, to replay witnesses in onnxruntime as well (default: the
            file the network was loaded from, if it was an ONNX file).
        progress: optional callback receiving one-line progress messages.
        live: optional callback receiving a one-line status of long searches about once a
            second (domains, bound, time left), to show on a terminal.
        partial: optional callback, called once at the start with the :class:`Result`
            this run fills in (each disjunct's certified bounds as they are found), for a
            caller that may have to cut the run short and report what is known (the
            command line's watchdog). The verdict stays ``unknown`` until the end.

    Returns:
        A :class:`Result`; ``verdict`` is ``unsat`` only if proved, ``sat`` only with a
        replayed witness.

    Raises:
        OptionError: an unknown method or a timeout that is not a finite number > 0.
        SoundnessError: a certified bound contradicts a real input (a bug).
    """
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise OptionError(f"timeout must be a number of seconds, got {timeout!r}") from None
    options = replace(options or VerifyOptions(), method=method, timeout=timeout)
    onnx_path = onnx_path or getattr(net, "source_path", None)
    prop.check_fits(net.n_inputs, net.n_outputs)
    with blas_threads(options.blas_threads):   # restored on return
        return _verify(net, prop, options, onnx_path, progress or (lambda message: None), live,
                       partial)


def _verify(net: Network, prop: Property, options: VerifyOptions, onnx_path: str | None,
            say: Callable[[str], None], live: Callable[[str], None] | None,
            partial: Callable[[Result], None] | None = None) -> Result:
    plan = method_plan(net, prop, options)
    start = time.monotonic()
    deadline = start + options.timeout
    result = Result(verdict="unknown", method=options.method, property_name=prop.name,
                    options=options.to_dict(), solver_versions={"highs": highs_version()})
    for k, case in enumerate(prop.cases):
        for d in range(len(case.disjuncts)):
            result.disjuncts.append(DisjunctOutcome(k, d))
    if partial is not None:
        partial(result)
    executor = open_pool(options.workers, options.scheduler)
    contexts = [CaseContext(net, case, options, deadline, executor, result.timings,
                            result.stats, onnx_path, live) for case in prop.cases]
    try:
        witness = _falsify_all(net, prop, contexts, result, onnx_path, say)
        if witness is not None:
            return _finish(result, "sat", start, witness=witness,
                           message="counterexample found by falsification and replayed")
        for name in plan:
            witness = _run_method(name, net, prop, contexts, result, onnx_path, say)
            if witness is not None:
                return _finish(result, "sat", start, witness=witness,
                               message=f"counterexample from the {name} solution, replayed")
        if all(o.status == "proved" for o in result.disjuncts):
            return _finish(result, "unsat", start,
                           message="every unsafe disjunct proved unreachable")
        open_count = sum(o.status == "open" for o in result.disjuncts)
        return _finish(result, "unknown", start,
                       message=f"{open_count} disjunct(s) neither proved nor falsified by "
                               f"{', '.join(plan)}")
    except TimeLimitReached:
        return _finish(result, "timeout", start,
                       message=f"time limit {options.timeout:g}s reached")
    except SolverFailure as exc:
        return _finish(result, "unknown", start, message=f"solver failure: {exc}")
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def _run_method(name: str, net, prop, contexts, result: Result, onnx_path, say
                ) -> Witness | None:
    """Bound every open disjunct by one method; the first replayed witness, or None.

    Raises:
        TimeLimitReached: the case's deadline passed (also when the method says it ran
            out of time).
    """
    open_ = [o for o in result.disjuncts if o.status == "open"]
    if not open_:
        return None
    say(f"{name}: {len(open_)} open disjunct(s)")
    method = METHODS[name]
    if method.many is not None:
        open_, witness = _run_many(method, name, net, prop, contexts, open_, onnx_path)
        if witness is not None or not open_:
            return witness
    pool = contexts[0].executor
    if method.searches and uses_pool(pool) and len(open_) > 1:
        return _run_searches_at_once(name, net, prop, contexts, open_, onnx_path, pool.workers)
    for outcome in open_:
        ctx = contexts[outcome.case]
        ctx.check_time()
        poly = prop.cases[outcome.case].disjuncts[outcome.disjunct]
        found = METHODS[name].margin(ctx, poly.A, poly.b)
        _record(outcome, name, found)
        if found.timed_out:
            raise TimeLimitReached(f"{name} ran out of time")
        if found.bound > 0:
            outcome.status = "proved"
            continue
        if found.candidate is not None:
            witness = replay(net, prop, found.candidate, outcome.case, onnx_path)
            if witness is not None:
                return witness
    return None


def _run_many(method, name: str, net, prop, contexts, open_: list, onnx_path
              ) -> tuple[list, Witness | None]:
    """The open disjuncts of each case bounded at once by ``method.many`` (one search
    sharing the time between them); every outcome is recorded before a replayed witness
    is returned or a time-out raised. Returns (the disjuncts of the cases ``many`` does
    not apply to, for the one-by-one loop; the first replayed witness or None).

    Raises:
        TimeLimitReached: no witness, and some disjunct's search ran out of time.
    """
    left, timed_out = [], False
    for k in sorted({o.case for o in open_}):
        group = [o for o in open_ if o.case == k]
        ctx = contexts[k]
        ctx.check_time()
        polys = [prop.cases[k].disjuncts[o.disjunct] for o in group]
        found = method.many(ctx, [(poly.A, poly.b) for poly in polys])
        if found is None:
            left.extend(group)
            continue
        for outcome, f in zip(group, found):
            _record(outcome, name, f)
            if f.bound > 0 and not f.timed_out:
                outcome.status = "proved"
        for f in found:
            if f.bound <= 0 and f.candidate is not None:
                witness = replay(net, prop, f.candidate, k, onnx_path)
                if witness is not None:
                    return [], witness
        timed_out |= any(f.timed_out for f in found)
    if timed_out:
        raise TimeLimitReached(f"{name} ran out of time")
    return left, None


def _run_searches_at_once(name: str, net, prop, contexts, open_: list, onnx_path,
                          threads: int) -> Witness | None:
    """:func:`_run_method` for a branch and bound on a worker pool: the open disjuncts'
    searches run at once, ``threads`` coordinator threads sharing the pool's workers (a
    search of a small tree cannot keep every worker busy; several can). The first
    replayed witness stops the other searches; the outcomes are recorded in the
    disjuncts' order as in the serial loop.

    Raises:
        TimeLimitReached: no witness, and some search ran out of time.
    """
    stop = threading.Event()
    for ctx in contexts:
        ctx.stop = stop

    def search(outcome: DisjunctOutcome):
        ctx = contexts[outcome.case]
        poly = prop.cases[outcome.case].disjuncts[outcome.disjunct]
        try:
            ctx.check_time()
            found = METHODS[name].margin(ctx, poly.A, poly.b)
        except (TimeLimitReached, SolverFailure) as exc:
            return None, None, exc
        except BaseException:
            stop.set()                  # a bug: end the other searches too
            raise
        witness = None
        if found.bound <= 0 and found.candidate is not None:
            witness = replay(net, prop, found.candidate, outcome.case, onnx_path)
        if witness is not None:
            stop.set()
        return found, witness, None

    try:
        with ThreadPoolExecutor(max_workers=threads) as coordinators:
            answers = list(coordinators.map(search, open_))
    finally:
        for ctx in contexts:
            ctx.stop = None
    for outcome, (found, _, _) in zip(open_, answers):
        if found is not None:
            _record(outcome, name, found)
            if found.bound > 0 and not found.timed_out:
                outcome.status = "proved"
    for _, witness, _ in answers:
        if witness is not None:
            return witness
    for found, _, error in answers:
        if error is not None:
            raise error
        if found.timed_out:
            raise TimeLimitReached(f"{name} ran out of time")
    return None


def _record(outcome: DisjunctOutcome, name: str, found: MethodOutcome) -> None:
    """Copy a method's bound, optimum and bracket into the outcome, after checking the
    bound against the smallest margin seen at a real input."""
    bound = float(found.bound)
    real = outcome.best_margin
    if np.isfinite(real) and bound > real + SOUNDNESS_TOLERANCE * (1.0 + abs(real)):
        raise SoundnessError(f"{name} certified {bound:.12g} as a lower bound of the margin of "
                             f"case {outcome.case} disjunct {outcome.disjunct}, but an input "
                             f"of margin {real:.12g} exists")
    outcome.bounds[name] = bound
    if found.optimum is not None:
        outcome.exact = float(found.optimum)
    if found.bracket is not None:
        outcome.exact_bracket = (float(found.bracket[0]), float(found.bracket[1]))


def _falsify_all(net, prop, contexts, result, onnx_path, say) -> Witness | None:
    """Falsify every case (shared sample per case, PGD on the most promising disjuncts)."""
    start = time.perf_counter()
    outcomes = {(o.case, o.disjunct): o for o in result.disjuncts}
    share = contexts[0].options.falsify.time_share if contexts else 1.0
    until = time.monotonic() + share * max(contexts[0].remaining(), 0.0) if contexts else None
    try:
        for k, case in enumerate(prop.cases):
            contexts[k].check_time()
            for d, x, margin in falsify_case(net, case, contexts[k].options.falsify,
                                             deadline=min(contexts[k].deadline, until)):
                outcome = outcomes[(k, d)]
                outcome.best_margin = min(outcome.best_margin, margin)
                if margin <= 0:
                    witness = replay(net, prop, x, k, onnx_path)
                    if witness is not None:
                        say("falsified")
                        return witness
            contexts[k].check_time()
        return None
    finally:
        result.timings["falsify"] = time.perf_counter() - start


def _finish(result: Result, verdict: str, start: float, witness: Witness | None = None,
            message: str = "") -> Result:
    result.verdict = verdict
    result.witness = witness
    if witness is not None:
        for o in result.disjuncts:
            if o.case == witness.case and o.disjunct == witness.disjunct:
                o.status = "violated"
                o.best_margin = min(o.best_margin, witness.margin)
    result.message = message
    result.timings["total"] = time.monotonic() - start
    return result
