"""Options of the pipeline: frozen dataclasses passed down, never read from globals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from verifier.bounds import DeepPolyOptions
from verifier.verify.falsify import FalsifyOptions
from verifier.verify.tighten import TightenOptions

@dataclass(frozen=True)
class KReluOptions:
    """Multi-neuron relaxation parameters (see ``verifier.relaxations.groups``)."""

    k: int = 3
    ns: int = 100
    s: int = 1
    method: str = "fast"        # hull computation: "fast" or "exact"
    max_groups_per_layer: int | None = None
    hull_time_share: float = 0.5    # share of the remaining time hulls may use
    lp_tighten: bool = False        # use k-ReLU rows in layer-by-layer LP tightening too
    triangle_first: bool = True     # solve the triangle LP first; build hulls only if needed
    area_cutoff: float | None = None
    cuts: str = "separate"          # "separate": violated hull facets in rounds; "all": every facet
    cut_rounds: int = 30
    cuts_per_group: int = 3
    cut_tol: float = 1e-6
    cut_min_progress: float = 1e-4
    reuse_cuts: bool = True         # cuts found for one label seed the next labels' LPs
    lazy_hulls: bool = True         # build hulls only for groups the LP point can violate
    hulls_per_round: int | None = 200
    milp_cuts: bool = False         # add the separated k-ReLU cuts of the disjunct to its MILP


@dataclass(frozen=True)
class VerifyOptions:
    """Everything that steers one verification run.

    Attributes:
        method: ``interval``, ``deeppoly``, ``triangle``, ``krelu``, ``milp`` or ``auto``
            (falsify, then each method in that order until the question is answered).
        timeout: wall-clock seconds for the whole property.
        lp_tighten: LP-tighten pre-activation bounds before triangle/krelu/milp.
        workers: processes for per-neuron LP tightening.
        falsify / deeppoly / tighten / krelu: options of those steps.
        seed: seed of every random choice.
        full_solve: solve each LP/MILP to its optimum even when a cheaper bound already
            answers the question (for gap measurements; slower).
        blas_threads: BLAS threads while ``verify`` runs (threadpoolctl; the previous
            setting is restored on return). Default 1: the products here are small, and
            on a 2-core machine OpenBLAS threads made ``auto`` 4-6x slower on mnistfc.
            None leaves BLAS alone.
    """

    method: str = "auto"
    timeout: float = 60.0
    lp_tighten: bool = True
    workers: int = 1
    falsify: FalsifyOptions = field(default_factory=FalsifyOptions)
    deeppoly: DeepPolyOptions = field(default_factory=DeepPolyOptions)
    tighten: TightenOptions = field(default_factory=TightenOptions)
    krelu: KReluOptions = field(default_factory=KReluOptions)
    seed: int = 0
    full_solve: bool = False
    blas_threads: int | None = 1

    def to_dict(self) -> dict:
        return asdict(self)
