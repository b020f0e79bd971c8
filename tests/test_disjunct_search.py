"""Several searches of one case sharing the time (``branch_and_bound_many``): every search
moves, a search that never ends does not starve the others, and each reports its own
bound; through ``verify``, a counterexample in a later disjunct is found while an earlier
one is hard, and every searched disjunct's bound is recorded."""

import time
from dataclasses import replace

import numpy as np

from helpers import random_network
from verifier import verify
from verifier.methods import BabOptions, CaseContext, VerifyOptions
from verifier.methods.branching.disjunct import Disjunct
from verifier.methods.branching.domains import DomainBatch
from verifier.methods.branching.engine import (Bounded, EngineOptions, Job,
                                               branch_and_bound_many)
from verifier.spec import linf_robustness


class DepthSearch:
    """A search whose domains are depths: bound -1 until depth ``proves_at``, then +1;
    each step is logged under ``name``."""

    def __init__(self, ctx, name: str, proves_at: int, log: list):
        self.ctx, self.name, self.proves_at, self.log = ctx, name, proves_at, log
        self.stats: dict = {}

    def batch_size(self, default, remaining):
        return default

    def note_cost(self, seconds_per_domain):
        pass

    def bound(self, batch, lower, level):
        self.log.append(self.name)
        depth = batch["depth"]
        return Bounded(np.where(depth >= self.proves_at, 1.0, -1.0), DomainBatch({"depth": depth}))

    def candidates(self, batch, lower, data):
        x = self.ctx.case.lower
        return x, 1.0, x[None, :]

    def branch(self, batch, lower, data):
        child = batch["depth"] + 1
        return (DomainBatch({"depth": np.concatenate([child, child])}),
                np.concatenate([lower, lower]), np.concatenate([lower, lower]))


def _robustness(eps: float):
    rng = np.random.default_rng(5)
    net = random_network(rng, 20, [40, 40, 40], 4)
    x0 = rng.uniform(-1, 1, 20)
    return net, linf_robustness(x0, eps, int(np.argmax(net.forward(x0))), 4)


def test_a_search_that_never_ends_does_not_starve_the_others():
    net, prop = _robustness(0.3)
    ctx = CaseContext(net, prop.cases[0], VerifyOptions(), time.monotonic() + 60)
    log: list = []
    jobs = []
    for name, proves_at in (("hard", 100), ("easy", 3)):
        search = DepthSearch(ctx, name, proves_at, log)
        poly = prop.cases[0].disjuncts[0]
        jobs.append(Job(search, DomainBatch({"depth": np.zeros(1, dtype=int)}),
                        Disjunct.of(ctx, poly.A, poly.b), search.stats))
    options = EngineOptions("toy", batch=2, max_open=64, pgd_every=10 ** 6)
    hard, easy = branch_and_bound_many(ctx, jobs, options)
    assert easy.finished and easy.lower > 0
    assert not hard.finished and hard.lower == -1.0
    # the easy search finished while the hard one was still stepping
    assert max(i for i, n in enumerate(log) if n == "easy") < max(
        i for i, n in enumerate(log) if n == "hard")
    assert jobs[1].stats["open"] == 0 and jobs[0].stats["open"] > 64


def test_a_later_disjunct_is_falsified_and_every_disjunct_reports_a_bound():
    """Falsification turned down: the branch and bound finds the reachable class although
    the first disjunct's search would take long; with a small ``max_open`` no search
    finishes unfinished disjuncts silently: each searched disjunct has a ``bab`` bound
    below its best margin."""
    net, prop = _robustness(0.6)
    options = VerifyOptions()
    options = replace(options, falsify=replace(options.falsify, random_points=1,
                                               pgd_restarts=0))
    result = verify(net, prop, method="bab", timeout=60, options=options)
    assert result.verdict == "sat" and prop.cases[0].contains_input(result.witness.x)
    net, prop = _robustness(0.4)
    result = verify(net, prop, method="bab", timeout=60,
                    options=VerifyOptions(bab=BabOptions(max_open=8)))
    searched = [o for o in result.disjuncts if "bab" in o.bounds]
    assert len(searched) == len(result.stats["bab"]) >= 2
    for o in searched:
        assert o.bounds["bab"] <= o.best_margin
        assert (o.status == "proved") == (o.bounds["bab"] > 0)
