"""Options of a verification run: frozen records passed down, never read from globals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from verifier.bounds import DeepPolyOptions
from verifier.errors import OptionError
from verifier.relaxations.krelu_options import KReluOptions
from verifier.tighten import TightenOptions
from verifier.witness import FalsifyOptions

SPLIT_RULES = ("mixed", "widest", "smear")
#: ``SplitOptions.intermediate`` choices
INTERMEDIATE_BOUNDS = ("hybrid", "forward", "backward")


@dataclass(frozen=True)
class SplitOptions:
    """Input splitting (``split``).

    Attributes:
        batch: pieces bounded per step.
        rule: the input each open piece is halved along: ``"mixed"`` (largest
            ``width_i * (|g_i| + mean_j |g_j|)``, ``g`` the gradient of the violated row at
            the piece's centre), ``"widest"`` (largest width) or ``"smear"`` (largest
            ``width_i * |g_i|``, Neurify's).
        leaf_unstable: pieces with at most this many unstable ReLUs are solved exactly
            by a small MILP.
        leaf_per_step: at most this many such MILPs per step (0, the default: none; on
            ACAS Xu a leaf MILP costs as much as a thousand pieces, see bench/README.md).
        leaf_time_limit: seconds per leaf MILP.
        order: which open pieces come first: lowest ``"bound"`` or lowest margin at the
            parent's ``"centre"``.
        intermediate: how a piece's ReLU layers are bounded: ``"hybrid"`` (forward linear
            forms in the input, then back-substitution for the neurons they leave
            unstable; as tight as ``"backward"``, cheaper on small pieces), ``"forward"``
            (forward forms only: cheapest, loosest) or ``"backward"`` (DeepPoly
            back-substitution from every neuron).
    """

    batch: int = 256
    rule: str = "mixed"
    leaf_unstable: int = 12
    leaf_per_step: int = 0
    leaf_time_limit: float = 10.0
    order: str = "bound"
    intermediate: str = "hybrid"

    def __post_init__(self):
        if self.rule not in SPLIT_RULES:
            raise OptionError(f"unknown split rule {self.rule!r}; use one of {SPLIT_RULES}")
        if self.order not in ("bound", "centre"):
            raise OptionError(f"unknown split order {self.order!r}; use bound or centre")
        if self.intermediate not in INTERMEDIATE_BOUNDS:
            raise OptionError(f"unknown split intermediate bounds {self.intermediate!r}; "
                              f"use one of {INTERMEDIATE_BOUNDS}")
        if self.batch < 1:
            raise OptionError(f"split batch must be >= 1, got {self.batch}")


@dataclass(frozen=True)
class BabOptions:
    """Branch and bound over ReLU splits (``bab``).

    Attributes:
        batch: sub-domains bounded per step.
        max_open: a search gives up (answers ``unknown`` with the bracket) beyond this many
            open sub-domains; None: as many as ``open_memory`` holds.
        open_memory: bytes the open sub-domains of a case's searches may take in all
            (their bounds, split states and warm starts; the queue may hold up to twice
            that in spare room), when ``max_open`` is None.
        rebound: recompute the later layers' bounds through the fixed ReLUs (False: keep
            the root's intermediate bounds, as beta-CROWN does).
        alpha_beta_iterations: projected gradient steps on the slopes and split
            multipliers per domain (0: no optimised bound).
        dual_iterations: with ``alpha_beta_iterations == 0``, batched dual ascent steps on
            the split LP; > 0 also means the exact split LP runs only at leaves.
        warm_start: start each domain's alpha-beta steps from its parent's values.
        pgd_every: run a short projected gradient search every this many steps.
        cuts: bound every sub-domain with the root's k-ReLU cuts too (MN-BaB): the
            disjunct's separated cuts (``KReluOptions``) enter the back-substitution with
            optimised multipliers.
        cut_share: with ``cuts``, the share of the remaining time the root's separation
            LP may use.
        cut_iterations, cut_lr: with ``cuts``, the gradient steps per domain (the cut
            multipliers are many, and need more steps than the slopes alone) and the step
            size of the cut multipliers.
        refine_share: the share of the remaining time the root's MILP refinement of
            intermediate bounds may use (``TightenOptions.milp_layers`` layers, each MILP
            within ``milp_time_limit``; once per case); 0: the tightened bounds as they are.
        single_rebound: re-bound the later layers with the step to the input in float32
            (its rounding error bounded and subtracted; the output bound stays float64).
    """

    batch: int = 64
    max_open: int | None = None
    open_memory: float = 2e9
    rebound: bool = True
    alpha_beta_iterations: int = 20
    dual_iterations: int = 60
    warm_start: bool = True
    pgd_every: int = 8
    cuts: bool = False
    cut_share: float = 0.25
    cut_iterations: int = 50
    cut_lr: float = 0.05
    refine_share: float = 0.0
    single_rebound: bool = True

    def __post_init__(self):
        if self.batch < 1 or (self.max_open is not None and self.max_open < 1) \
                or self.pgd_every < 1:
            raise OptionError("bab batch, max_open and pgd_every must be >= 1")
        for name in ("cut_share", "refine_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OptionError(f"bab {name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class MilpOptions:
    """The big-M MILP (``milp``).

    Attributes:
        mip_rel_gap: relative gap at which HiGHS stops.
        cut_share: with ``KReluOptions.milp_cuts``, the share of the remaining time the
            k-ReLU separation LP may use before the MILP starts.
    """

    mip_rel_gap: float = 1e-6
    cut_share: float = 0.25


@dataclass(frozen=True)
class VerifyOptions:
    """Everything that steers one verification run.

    Attributes:
        method: a name of :data:`~verifier.methods.METHODS` or ``"auto"``.
        timeout: wall-clock seconds for the whole property (finite, > 0).
        lp_tighten: tighten pre-activation bounds before the LP/MILP-based methods
            (``tighten.method``: alpha or LP).
        workers: worker processes: a branch and bound's sub-domains and the per-neuron
            tightening's LPs are shared among them (1: everything in this process).
        scheduler: None (local processes), ``"local"`` (a Dask LocalCluster of
            ``workers`` processes) or a Dask scheduler's address ``tcp://host:port``.
        falsify, deeppoly, tighten, krelu, split, bab, milp: options of those steps.
        seed: seed of every random choice.
        full_solve: solve each LP/MILP to its optimum even when a cheaper bound already
            answers the question (gap measurements; slower); the branch and bounds then
            search the minimum itself, to ``optimum_tolerance``.
        optimum_tolerance: with ``full_solve``, ``split`` and ``bab`` stop when the bound
            is within ``optimum_tolerance (1 + |best margin|)`` of the best margin found.
        blas_threads: BLAS threads while ``verify`` runs (the previous setting is restored
            on return); None leaves BLAS alone.
    """

    method: str = "auto"
    timeout: float = 60.0
    lp_tighten: bool = True
    workers: int = 1
    scheduler: str | None = None
    falsify: FalsifyOptions = field(default_factory=FalsifyOptions)
    deeppoly: DeepPolyOptions = field(default_factory=DeepPolyOptions)
    tighten: TightenOptions = field(default_factory=TightenOptions)
    krelu: KReluOptions = field(default_factory=KReluOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    bab: BabOptions = field(default_factory=BabOptions)
    milp: MilpOptions = field(default_factory=MilpOptions)
    seed: int = 0
    full_solve: bool = False
    optimum_tolerance: float = 1e-4
    blas_threads: int | None = 1

    def __post_init__(self):
        if not (isinstance(self.timeout, (int, float)) and math.isfinite(self.timeout)
                and self.timeout > 0):
            raise OptionError(f"timeout must be a finite number of seconds > 0, "
                              f"got {self.timeout!r}")
        if self.workers < 1:
            raise OptionError(f"workers must be >= 1, got {self.workers}")
        if self.scheduler is not None and not (self.scheduler == "local"
                                               or self.scheduler.startswith("tcp://")):
            raise OptionError(f"scheduler must be 'local' or tcp://host:port, "
                              f"got {self.scheduler!r}")

    def to_dict(self) -> dict:
        return asdict(self)
