"""`KReluOptions`: every knob of the multi-neuron relaxation, in one frozen record.

The same record travels from the command line to the rows added to HiGHS: group choice
(:func:`~verifier.relaxations.groups.select_groups`), hulls, cut separation
(:mod:`verifier.relaxations.krelu_separation`), k-ReLU tightening and the ``krelu`` and
``milp`` methods each read the fields they need.
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.errors import OptionError

CUT_MODES = ("separate", "all")
HULL_METHODS = ("fast", "exact", "qhull")


@dataclass(frozen=True)
class KReluOptions:
    """Multi-neuron (k-ReLU) relaxation parameters.

    Attributes:
        k, ns, s: group size, chunk size and maximal overlap of two groups (PRIMA's
            sparse cover; :func:`~verifier.relaxations.groups.select_groups`).
        area_cutoff: drop neurons whose triangle area ``-l u`` is below this (None: none).
        max_groups_per_layer: keep at most this many groups per layer (None: all).
        method: hull computation, ``"fast"`` (qhull) or ``"exact"``.
        hull_time_share: share of the remaining time the hulls of a case may use; groups
            left without a hull are relaxed by the triangle alone.
        cuts: ``"separate"``: triangle LP plus the hull facets the LP point violates, in
            rounds; ``"all"``: every facet of every hull in one LP.
        cut_rounds: LP re-solves after the first one (``separate``).
        cuts_per_group: most violated facets added per group and round.
        cut_tol: a facet ``a.x + b.y <= c`` (max-abs 1) is violated when
            ``a.x + b.y - c > cut_tol * (1 + |c|)``.
        cut_min_progress: stop when a round raised the LP objective by less than
            ``cut_min_progress * (1 + |objective|)``.
        reuse_cuts: start each disjunct of a case with the cuts found for earlier ones.
        lazy_hulls: build hulls only for groups whose LP point is off the ReLU graph or
            outside the octahedron (False: every group's hull before the first round).
        hulls_per_round: at most this many new hulls per round (None: no limit); the
            candidates are ranked by ``sum_i |dual of tri_up_i| * gap_i``.
        triangle_first: ``"all"`` mode: solve the triangle LP first and build hulls only
            when it does not prove the disjunct.
        lp_tighten: also separate k-ReLU cuts in the per-neuron LP tightening of every
            layer (:func:`verifier.tighten.krelu_tighten`).
        milp_cuts: ``milp``: add the disjunct's separated cuts to its MILP first.
    """

    k: int = 3
    ns: int = 100
    s: int = 1
    area_cutoff: float | None = None
    max_groups_per_layer: int | None = None
    method: str = "fast"
    hull_time_share: float = 0.5
    cuts: str = "separate"
    cut_rounds: int = 30
    cuts_per_group: int = 3
    cut_tol: float = 1e-6
    cut_min_progress: float = 1e-4
    reuse_cuts: bool = True
    lazy_hulls: bool = True
    hulls_per_round: int | None = 200
    triangle_first: bool = True
    lp_tighten: bool = False
    milp_cuts: bool = False

    def __post_init__(self):
        if self.k < 1:
            raise OptionError(f"k-ReLU group size k must be >= 1, got {self.k}")
        if self.ns < self.k:
            raise OptionError(f"k-ReLU chunk size ns={self.ns} must be >= k={self.k}")
        if self.s < 0:
            raise OptionError(f"k-ReLU overlap s must be >= 0, got {self.s}")
        if self.cuts not in CUT_MODES:
            raise OptionError(f"unknown k-ReLU cut mode {self.cuts!r}; use one of {CUT_MODES}")
        if self.method not in HULL_METHODS:
            raise OptionError(f"unknown hull method {self.method!r}; use one of {HULL_METHODS}")
        if not 0.0 <= self.hull_time_share <= 1.0:
            raise OptionError(f"hull_time_share must be in [0, 1], got {self.hull_time_share}")
