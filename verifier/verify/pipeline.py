"""The pipeline: falsify -> bounds -> relax -> encode -> solve -> decide.

Soundness rules kept here:

* ``unsat`` only when every (case, disjunct) has a *certified* lower bound > 0 on its
  violation margin (interval/DeepPoly bounds are rounded outward; LP bounds come from a
  dual certificate; MILP bounds are dual bounds, never incumbents).
* ``sat`` only with a witness replayed by :func:`verifier.verify.replay.replay`.
* otherwise ``unknown``, or ``timeout`` when the wall-clock budget ran out first.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from solvers.highs import HighsBackend, HighsOptions, SolveLimits, highs_version
from verifier.bounds import Bounds, deeppoly_bounds, interval_bounds, output_form_bounds
from verifier.bounds.alpha import alpha_rows_lower
from verifier.bounds.batched import relu_chain
from verifier.bounds.interval import ROUNDING_MARGIN, TINY
from verifier.encode import encode_network, with_disjunct
from verifier.errors import NetworkError, TimeLimitReached, VerifierError
from verifier.network import Network
from verifier.spec import Case, Property
from verifier.verify.falsify import falsify_case
from verifier.verify.lp import certified_minimum
from verifier.verify.options import VerifyOptions
from verifier.verify.replay import Witness, replay
from verifier.verify.result import DisjunctOutcome, Result
from verifier.verify.tighten import tighten_bounds, triangle_blocks


class _Timeout(Exception):
    pass


@dataclass
class CaseContext:
    """Per-case state shared by the bound methods (bounds are computed lazily, once)."""

    net: Network
    case: Case
    options: VerifyOptions
    deadline: float
    executor: Executor | None
    timings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    onnx_path: str | None = None
    _cache: dict = field(default_factory=dict)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_time(self) -> None:
        if self.remaining() <= 0:
            raise _Timeout()

    def timed(self, key: str, fn: Callable):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    def interval(self) -> dict[str, Bounds]:
        if "interval" not in self._cache:
            self._cache["interval"] = self.timed("bounds", lambda: interval_bounds(
                self.net, self.case.lower, self.case.upper))
        return self._cache["interval"]

    def deeppoly(self) -> dict[str, Bounds]:
        if "deeppoly" not in self._cache:
            try:
                self._cache["deeppoly"] = self.timed("bounds", lambda: deeppoly_bounds(
                    self.net, self.case.lower, self.case.upper, self.options.deeppoly,
                    start=self.interval(), deadline=self.deadline))
            except TimeLimitReached:
                raise _Timeout() from None
        return self._cache["deeppoly"]

    def tightened(self) -> dict[str, Bounds]:
        """DeepPoly bounds, tightened when the options ask for it (time permitting): by
        per-neuron LPs, or by optimised back-substitution (``TightenOptions.method``)."""
        if "tightened" not in self._cache:
            bounds = self.deeppoly()
            if self.options.lp_tighten:
                # leave at least half of the remaining time for the final LPs
                deadline = time.monotonic() + 0.5 * max(self.remaining(), 0.0)
                tighten_opts = replace(self.options.tighten, workers=self.options.workers)
                bounds, stats = self.timed("lp_tighten", lambda: tighten_bounds(
                    self.net, bounds, tighten_opts, executor=self.executor,
                    deadline=deadline, dp_options=self.options.deeppoly))
                self.stats["lp_tighten"] = stats
                self.timings["highs"] = self.timings.get("highs", 0.0) + stats["highs_time"]
            self._cache["tightened"] = bounds
        return self._cache["tightened"]


# ------------------------------------------------------------------ bound methods
def _rows_lower_from_box(A: np.ndarray, b: np.ndarray, box: Bounds) -> np.ndarray:
    Ap, An = np.maximum(A, 0), np.minimum(A, 0)
    lo = Ap @ box.lower + An @ box.upper - b
    scale = np.abs(A) @ np.maximum(np.abs(box.lower), np.abs(box.upper)) + np.abs(b)
    return lo - ROUNDING_MARGIN * scale - TINY


def interval_margin(ctx: CaseContext, A, b) -> tuple[float, np.ndarray | None]:
    """Certified lower bound of ``max_i (A_i y - b_i)`` from interval output bounds."""
    out = ctx.interval()[ctx.net.output_name]
    return float(_rows_lower_from_box(A, b, out).max()), None


def deeppoly_margin(ctx: CaseContext, A, b) -> tuple[float, np.ndarray | None]:
    """Same from DeepPoly back-substitution of the rows of A (max over rows is valid)."""
    forms = ctx.timed("bounds", lambda: output_form_bounds(ctx.net, A, ctx.deeppoly(),
                                                          ctx.options.deeppoly))
    lo = forms.lower - b - ROUNDING_MARGIN * np.abs(b)
    return float(lo.max()), None


def margin_range(ctx: CaseContext, A, b, bounds: dict[str, Bounds]) -> tuple[float, float]:
    """Sound [lower, upper] of the margin ``max_i (A_i y - b_i)`` over the case.

    DeepPoly back-substitution of the rows over ``bounds``; with
    ``TightenOptions.method == "alpha"`` (and not ``full_solve``) a lower bound that does
    not prove the disjunct is raised by :func:`alpha_margin_lower`, so the LPs that
    follow are skipped whenever optimised slopes already prove it."""
    forms = output_form_bounds(ctx.net, A, bounds, ctx.options.deeppoly)
    t_lo = float((forms.lower - b).max()) - 1e-9
    if t_lo <= 0 and ctx.options.tighten.method == "alpha" and not ctx.options.full_solve:
        t_lo = max(t_lo, alpha_margin_lower(ctx, A, b, bounds))
    return t_lo, float((forms.upper - b).max()) + 1e-9


def alpha_margin_lower(ctx: CaseContext, A, b, bounds: dict[str, Bounds]) -> float:
    """Sound lower bound of the margin by optimised back-substitution of the rows of A
    (:func:`~verifier.bounds.alpha.alpha_rows_lower`) over ``bounds``; ``-inf`` for
    networks that are not a chain of affine + ReLU layers. With the same bounds it
    approaches the triangle LP's optimum (never exceeds it), at the cost of a few
    back-substitutions. Memoised per (bounds, A, b) in ``ctx``: ``auto`` asks for the same
    disjunct's range in the triangle and again in the MILP. A memoised value stays sound
    even if ``bounds`` were changed in place later: it was certified over sound bounds of
    the same case, so it bounds the same margin over the same input box."""
    A, b = np.asarray(A, dtype=np.float64), np.asarray(b, dtype=np.float64)
    key = ("alpha_margin", A.shape, A.tobytes(), b.tobytes())
    memo = ctx._cache.get(key)
    if memo is not None and memo[0] is bounds:     # the entry keeps `bounds` alive: no id reuse
        return memo[1]
    value = _alpha_margin_lower(ctx, A, b, bounds)
    ctx._cache[key] = (bounds, value)
    return value


def _alpha_margin_lower(ctx: CaseContext, A, b, bounds: dict[str, Bounds]) -> float:
    net = ctx.net
    try:
        chain = relu_chain(net)
    except NetworkError:
        return -np.inf
    pres = [bounds[net.inputs_of(r)[0]] for r in net.relu_names()]
    box = bounds[net.input_name]
    tighten = ctx.options.tighten
    lower = ctx.timed("bounds", lambda: alpha_rows_lower(
        chain, box.lower, box.upper, [p.lower for p in pres], [p.upper for p in pres], A,
        iterations=tighten.alpha_iterations, lr=tighten.alpha_lr))
    return float((lower - b - ROUNDING_MARGIN * (np.abs(lower) + np.abs(b)) - TINY).max())


def relaxation_lp_margin(ctx: CaseContext, A, b, blocks_for: Callable, tag: str,
                         bounds: dict[str, Bounds] | None = None):
    """Certified LP lower bound of the margin under the given relaxation of every ReLU."""
    bounds = ctx.tightened() if bounds is None else bounds
    ctx.check_time()
    t_lo, t_hi = margin_range(ctx, A, b, bounds)
    if t_lo > 0 and not ctx.options.full_solve:
        return t_lo, None
    encoded = ctx.timed("encode", lambda: encode_network(ctx.net, bounds,
                                                         blocks_for(ctx.net, bounds)))
    model = with_disjunct(encoded, encoded.columns[ctx.net.output_name], A, b,
                          (t_lo, t_hi), label="margin")
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(model)
    bound, result = ctx.timed("lp", lambda: certified_minimum(
        backend, SolveLimits(time_limit=max(ctx.remaining(), 0.01))))
    ctx.timings["highs"] = ctx.timings.get("highs", 0.0) + backend.total_time
    ctx.stats.setdefault(f"{tag}_lp", []).append(model.summary())
    x = None
    if result.x is not None:
        x = result.x[encoded.columns[ctx.net.input_name]]
    return max(bound, t_lo), x


def triangle_margin(ctx: CaseContext, A, b):
    return relaxation_lp_margin(ctx, A, b, triangle_blocks, "triangle")


BOUND_METHODS: dict[str, Callable] = {
    "interval": interval_margin,
    "deeppoly": deeppoly_margin,
    "triangle": triangle_margin,
}
AUTO_CHAIN = ["interval", "deeppoly", "triangle"]


def register_method(name: str, fn: Callable, in_auto: bool = False) -> None:
    """Plug a bound method in (used by the k-ReLU and exact modules)."""
    BOUND_METHODS[name] = fn
    if in_auto and name not in AUTO_CHAIN:
        AUTO_CHAIN.append(name)


# ------------------------------------------------------------------ the pipeline
def _chain(method: str) -> list[str]:
    _load_plugins()
    if method == "auto":
        return list(AUTO_CHAIN)
    if method == "auto-branch":
        # the exact step is a branch and bound (input splitting for few free inputs, ReLU
        # splitting for chains of affine + ReLU layers) whose root bound is as strong as the
        # triangle LP at a fraction of its cost (mnistfc 256x6: 9 triangle LPs took 250 s)
        return [m for m in AUTO_CHAIN if m != "triangle"]
    if method not in BOUND_METHODS:
        raise VerifierError(f"unknown method {method!r}; choose from "
                            f"{', '.join(sorted(set(BOUND_METHODS) | {'auto'}))}")
    return [method]


# Cheap bound tried first when a single LP/MILP-based method is asked for: every disjunct
# it proves is proved (its bound is sound), and the costly method's setup (LP tightening,
# hulls, MILP) is skipped. Measured on ERAN 6x100 image 0 (DeepPoly proves it): triangle
# 17.5 s -> 0.2 s. Not used with ``full_solve`` (the gap report needs each method's own
# bound).
PRESCREEN = "deeppoly"


def _with_prescreen(chain: list[str]) -> list[str]:
    """``[PRESCREEN, method]`` for a single method costlier than the prescreen, else
    ``chain`` unchanged."""
    if len(chain) == 1 and chain[0] not in ("interval", PRESCREEN):
        return [PRESCREEN] + chain
    return chain


LOW_DIMENSION = 12   # at most this many free inputs: "auto" splits the input box


def _few_free_inputs(prop: Property) -> bool:
    return all(int(np.sum(c.upper > c.lower)) <= LOW_DIMENSION for c in prop.cases)


def _branches(net: Network, prop: Property) -> bool:
    """True when ``auto``'s exact step is a branch and bound: input splitting (few free
    inputs) or ReLU splitting (``bab`` registered and the network sequential)."""
    _load_plugins()
    return _few_free_inputs(prop) or ("bab" in BOUND_METHODS and net.is_sequential())


def registered_methods() -> list[str]:
    """Every method name ``verify`` accepts (optional plug-ins loaded), ``auto`` included."""
    _load_plugins()
    return sorted(BOUND_METHODS) + ["auto"]


def _load_plugins() -> None:
    """Import optional method modules (they call :func:`register_method`)."""
    import importlib
    for module in ("verifier.verify.exact", "verifier.verify.bab",
                   "verifier.verify.krelu_method"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def verify(net: Network, prop: Property, method: str = "auto", timeout: float = 60.0,
           options: VerifyOptions | None = None, onnx_path: str | None = None,
           progress: Callable[[str], None] | None = None) -> Result:
    """Decide a property on a network.

    Args:
        net: the network (see :func:`verifier.network.load_network`).
        prop: the property (see :func:`verifier.spec.load_vnnlib`).
        method: ``interval``, ``deeppoly``, ``triangle``, ``krelu``, ``milp``, ``split``,
            ``exact`` or ``auto`` (see the README's table).
        timeout: wall-clock seconds.
        options: full options (``method`` and ``timeout`` given here override them).
        onnx_path: the ONNX file, to replay witnesses in onnxruntime as well (default: the
            file the network was loaded from, if it was an ONNX file).
        progress: optional callback receiving one-line progress messages.

    Returns:
        A :class:`Result`; ``verdict`` is ``unsat`` only if proved, ``sat`` only with a
        replayed witness.
    """
    options = replace(options or VerifyOptions(), method=method, timeout=float(timeout))
    onnx_path = onnx_path or getattr(net, "source_path", None)
    prop.check_fits(net.n_inputs, net.n_outputs)
    if options.blas_threads is None:
        return _verify(net, prop, options, onnx_path, progress)
    with threadpool_limits(options.blas_threads):   # restored on return
        return _verify(net, prop, options, onnx_path, progress)


def _verify(net: Network, prop: Property, options: VerifyOptions, onnx_path: str | None,
            progress: Callable[[str], None] | None) -> Result:
    method = options.method
    chain = _chain("auto-branch" if method == "auto" and _branches(net, prop)
                   else options.method)
    if not options.full_solve:
        chain = _with_prescreen(chain)
    start = time.monotonic()
    deadline = start + options.timeout
    result = Result(verdict="unknown", method=options.method, property_name=prop.name,
                    options=options.to_dict(), solver_versions={"highs": highs_version()})
    for k, case in enumerate(prop.cases):
        for d in range(len(case.disjuncts)):
            result.disjuncts.append(DisjunctOutcome(k, d))
    say = progress or (lambda message: None)
    executor = (ProcessPoolExecutor(max_workers=options.workers)
                if options.workers > 1 else None)
    contexts = [CaseContext(net, case, options, deadline, executor, result.timings,
                            result.stats, onnx_path) for case in prop.cases]
    try:
        witness = _falsify_all(net, prop, contexts, result, onnx_path, say)
        if witness is not None:
            return _finish(result, "sat", start, witness=witness,
                           message="counterexample found by falsification and replayed")
        for name in chain:
            open_ = [o for o in result.disjuncts if o.status == "open"]
            if not open_:
                break
            say(f"{name}: {len(open_)} open disjunct(s)")
            for outcome in open_:
                ctx = contexts[outcome.case]
                ctx.check_time()
                poly = prop.cases[outcome.case].disjuncts[outcome.disjunct]
                bound, x = BOUND_METHODS[name](ctx, poly.A, poly.b)
                outcome.bounds[name] = float(bound)
                extra = _record_exact(ctx, outcome, name)
                if bound > 0:
                    outcome.status = "proved"
                    continue
                candidate = extra if extra is not None else x
                if candidate is not None:
                    witness = replay(net, prop, candidate, outcome.case, onnx_path)
                    if witness is not None:
                        return _finish(result, "sat", start, witness=witness,
                                       message=f"counterexample from the {name} solution, "
                                               "replayed")
        if all(o.status == "proved" for o in result.disjuncts):
            return _finish(result, "unsat", start,
                           message="every unsafe disjunct proved unreachable")
        open_count = sum(o.status == "open" for o in result.disjuncts)
        return _finish(result, "unknown", start,
                       message=f"{open_count} disjunct(s) neither proved nor falsified by "
                               f"{', '.join(chain)}")
    except _Timeout:
        return _finish(result, "timeout", start, message=f"time limit {options.timeout:g}s "
                                                         "reached")
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def _record_exact(ctx: CaseContext, outcome: DisjunctOutcome, name: str):
    """Copy an exact method's optimum/bracket into the outcome; return its candidate point."""
    exact = ctx.stats.pop("_last_exact", None)
    if exact is None:
        return None
    outcome.exact = exact.get("optimum")
    outcome.exact_bracket = exact.get("bracket")
    return exact.get("x")


def _falsify_all(net, prop, contexts, result, onnx_path, say) -> Witness | None:
    """Falsify every case (shared sample per case, PGD on the most promising disjuncts)."""
    start = time.perf_counter()
    outcomes = {(o.case, o.disjunct): o for o in result.disjuncts}
    try:
        for k, case in enumerate(prop.cases):
            contexts[k].check_time()
            for d, x, margin in falsify_case(net, case, contexts[k].options.falsify):
                outcome = outcomes[(k, d)]
                outcome.best_margin = min(outcome.best_margin, margin)
                if margin <= 0:
                    witness = replay(net, prop, x, k, onnx_path)
                    if witness is not None:
                        say("falsified")
                        return witness
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
