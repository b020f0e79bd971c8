"""The convex barrier, measured per image: attack, DeepPoly, LP-ALL, k-ReLU and exact.

Salman et al. (NeurIPS 2019) compared the optimal single-neuron relaxation of a network
(LP-ALL: every intermediate bound by LP, then the LP over per-neuron triangles) with the
exact MILP on MNIST MLPs, as adversarial error rates. This module decides one image of one
(network, eps) row with every column of their Table 1 plus a multi-neuron one:

* ``attack``: a counterexample found by our falsification (sampling and projected
  gradient) and replayed: a lower bound on the adversarial error;
* ``deeppoly``: certified by DeepPoly/CROWN back-substitution (the LP-GREEDY analogue);
* ``lp_all``: certified by the triangle LP over LP-tightened bounds (LP-ALL);
* ``krelu``: certified by the triangle LP plus separated k-ReLU cuts over the same bounds;
* ``exact``: decided by a complete method within a budget: ReLU-split branch and bound,
  each sub-domain bounded with the k-ReLU cuts the ``krelu`` column found (MN-BaB style),
  or the big-M MILP (``BarrierOptions.exact_method``).

All columns of one image share one case context (:class:`~verifier.methods.CaseContext`):
the LP-ALL bounds are computed once and serve LP-ALL, k-ReLU and the branch and bound's
root. A disjunct (adversarial label) proved by a weaker method is proved for the stronger
ones too (same bounds, more constraints), so each method only works on what the weaker one
left open. The exact side counts every proof and every replayed counterexample of any
column: ``exact_certified`` means some method proved every label, ``exact_falsified`` that
a replayed counterexample exists.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from verifier.errors import OptionError, TimeLimitReached
from verifier.methods import METHODS, BabOptions, CaseContext, VerifyOptions
from verifier.network import Network
from verifier.spec import linf_robustness
from verifier.tighten import TightenOptions
from verifier.witness import falsify_case, replay

#: the relaxations, weakest first, and the method that computes each
RELAXATION_METHODS = (("deeppoly", "deeppoly"), ("lp_all", "triangle"), ("krelu", "krelu"))


@dataclass(frozen=True)
class BarrierOptions:
    """Budgets of one image.

    Attributes:
        relaxation_seconds: per relaxation column (LP-ALL includes its tightening).
        exact_seconds: the branch and bound's budget for the whole image.
        cascade: each column works only on the labels the weaker one left open (what a
            weaker method proves, the stronger ones prove too); False: every column bounds
            every label itself (to check that implication).
        exact_method: the exact column's complete method, ``"bab"`` or ``"milp"``.
        verify: the options every method runs with (LP-ALL tightening, and the branch and
            bound with the k-ReLU cuts of the root in every sub-domain, by default).
    """

    relaxation_seconds: float = 120.0
    exact_seconds: float = 60.0
    cascade: bool = True
    exact_method: str = "bab"
    verify: VerifyOptions = field(default_factory=lambda: VerifyOptions(
        tighten=TightenOptions(method="lp"), bab=BabOptions(cuts=True)))

    def __post_init__(self):
        if self.exact_method not in ("bab", "milp"):
            raise OptionError(f"exact_method must be bab or milp, got {self.exact_method!r}")


@dataclass
class ImageRecord:
    """What every column says about one image.

    Attributes:
        index, label, predicted: the image and the network's clean prediction.
        correct: predicted == label (misclassified images count as adversarial errors in
            every column, as in the paper).
        attack: a replayed counterexample was found by falsification.
        deeppoly, lp_all, krelu: certified by that relaxation.
        exact_certified / exact_falsified: proved robust / a replayed counterexample exists
            (by any column); neither: undecided within the budget.
        margin: per column, the smallest certified lower bound over the labels it bounded
            (with ``cascade``, those the weaker columns left open).
        seconds: per column, the time spent.
    """

    index: int
    label: int
    predicted: int
    correct: bool
    attack: bool = False
    deeppoly: bool = False
    lp_all: bool = False
    krelu: bool = False
    exact_certified: bool = False
    exact_falsified: bool = False
    margin: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        return not self.correct or self.exact_certified or self.exact_falsified

    def to_dict(self) -> dict:
        return asdict(self)


def decide_image(net: Network, image: np.ndarray, label: int, eps: float, index: int = 0,
                 options: BarrierOptions = BarrierOptions()) -> ImageRecord:
    """Every column of the barrier table for one image (see module docstring)."""
    x = np.asarray(image, dtype=np.float64).reshape(-1)
    predicted = int(np.argmax(net.forward(x[None, :])[0]))
    record = ImageRecord(index, int(label), predicted, predicted == int(label))
    if not record.correct:
        record.exact_falsified = True           # the clean image is already an error
        return record
    prop = linf_robustness(x, eps, int(label), net.n_outputs, name=f"image{index}")
    case = prop.cases[0]
    ctx = CaseContext(net, case, options.verify, time.monotonic() + options.relaxation_seconds)
    start = time.perf_counter()
    if _attack(net, prop, ctx):
        record.attack = record.exact_falsified = True
        record.seconds["attack"] = time.perf_counter() - start
        return record
    record.seconds["attack"] = time.perf_counter() - start
    everything = list(range(len(case.disjuncts)))
    open_ = everything
    label_bound: dict[int, float] = {}
    for column, method in RELAXATION_METHODS:
        left = _bound_column(ctx, prop, column, method, open_ if options.cascade
                             else everything, record, options.relaxation_seconds, label_bound)
        setattr(record, column, not left)
        open_ = [d for d in open_ if d in left]
    if not open_:
        record.exact_certified = True
        return record
    # the label of the lowest bound first: a counterexample, if any, is found soonest
    open_.sort(key=lambda d: label_bound.get(d, -np.inf))
    _exact(ctx, prop, open_, record, options.exact_seconds, options.exact_method)
    return record


def _attack(net: Network, prop, ctx: CaseContext) -> bool:
    """Falsification: True when a counterexample replays."""
    case = prop.cases[0]
    for d, x, margin in falsify_case(net, case, ctx.options.falsify):
        if margin <= 0 and replay(net, prop, x, 0) is not None:
            return True
    return False


def _bound_column(ctx: CaseContext, prop, column: str, method: str, open_: list[int],
                  record: ImageRecord, seconds: float, label_bound: dict) -> list[int]:
    """Bound the open labels by one method; the labels it leaves open. ``label_bound``
    gets each label's bound (the last column's that bounded it)."""
    start = time.perf_counter()
    ctx.set_budget(seconds)
    left, margins = [], []
    try:
        for d in open_:
            poly = prop.cases[0].disjuncts[d]
            found = METHODS[method].margin(ctx, poly.A, poly.b)
            margins.append(float(found.bound))
            label_bound[d] = float(found.bound)
            if found.bound <= 0 or found.timed_out:
                left.append(d)
    except TimeLimitReached:
        left = list(open_)       # unfinished: nothing this column claims counts
    record.seconds[column] = time.perf_counter() - start
    record.margin[column] = min(margins) if margins else float("inf")
    return left


def _exact(ctx: CaseContext, prop, open_: list[int], record: ImageRecord,
           seconds: float, method: str) -> None:
    """The complete ``method`` on the labels the relaxations left open, within ``seconds``."""
    start = time.perf_counter()
    ctx.set_budget(seconds)
    proved = 0
    try:
        for d in open_:
            poly = prop.cases[0].disjuncts[d]
            found = METHODS[method].margin(ctx, poly.A, poly.b)
            if found.candidate is not None and replay(ctx.net, prop, found.candidate,
                                                      0) is not None:
                record.exact_falsified = True
                break
            if found.bound > 0 and not found.timed_out:
                proved += 1
            else:
                break            # one open label leaves the image undecided
    except TimeLimitReached:
        pass
    record.exact_certified = proved == len(open_)
    record.seconds["exact"] = time.perf_counter() - start
