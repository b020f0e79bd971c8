"""Runtime settings of ``verify``: BLAS threads are limited while it runs, then restored."""

import numpy as np
import pytest
from helpers import random_box, random_network
from threadpoolctl import threadpool_info, threadpool_limits

from verifier.spec import halfspace_property
from verifier.verify import VerifyOptions, verify


def _blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def _instance():
    rng = np.random.default_rng(0)
    net = random_network(rng, 3, [6, 6], 2)
    lo, hi = random_box(rng, 3)
    return net, halfspace_property(lo, hi, [(np.array([[1.0, -1.0]]), np.array([5.0]))], 2)


def test_verify_limits_blas_threads_and_restores_them():
    net, prop = _instance()
    inside = []
    with threadpool_limits(2):
        before = _blas_threads()
        if not before:
            pytest.skip("no BLAS library visible to threadpoolctl")
        verify(net, prop, method="deeppoly", timeout=10,
               progress=lambda message: inside.append(_blas_threads()))
        assert _blas_threads() == before
    assert inside and all(n == 1 for seen in inside for n in seen)


def test_blas_threads_none_leaves_them_alone():
    net, prop = _instance()
    inside = []
    with threadpool_limits(2):
        before = _blas_threads()
        verify(net, prop, method="deeppoly", timeout=10,
               options=VerifyOptions(blas_threads=None),
               progress=lambda message: inside.append(_blas_threads()))
    assert inside and all(seen == before for seen in inside)


def _easy_instance():
    """A property every relaxation proves (the threshold is far below the output range)."""
    rng = np.random.default_rng(1)
    net = random_network(rng, 3, [6, 6], 2)
    lo, hi = random_box(rng, 3)
    out = net.forward(np.vstack([lo, hi]))
    b = np.array([-10.0 * (1.0 + np.abs(out).max())])
    return net, halfspace_property(lo, hi, [(np.array([[1.0, -1.0]]), b)], 2)


@pytest.mark.parametrize("method", ["triangle", "krelu", "milp"])
def test_costly_methods_try_deeppoly_first(method):
    """A disjunct DeepPoly proves is proved without the method's own setup (no LP
    tightening); with ``full_solve`` the method's own bound is computed and recorded."""
    net, prop = _easy_instance()
    quick = verify(net, prop, method=method, timeout=20)
    assert quick.verdict == "unsat"
    assert set(quick.disjuncts[0].bounds) == {"deeppoly"}
    assert "lp_tighten" not in quick.stats
    full = verify(net, prop, method=method, timeout=20, options=VerifyOptions(full_solve=True))
    assert full.verdict == "unsat"
    assert method in full.disjuncts[0].bounds
    assert full.disjuncts[0].bounds[method] >= quick.disjuncts[0].bounds["deeppoly"] - 1e-6


def test_deeppoly_stops_at_its_deadline_and_verify_reports_timeout(monkeypatch):
    """DeepPoly checks its deadline between chunks (it took 94 s on a collins_rul_cnn net
    with a 20 s limit); ``verify`` turns that into a ``timeout`` verdict."""
    import time

    from verifier.bounds import deeppoly_bounds
    from verifier.errors import TimeLimitReached
    from verifier.methods import context
    net, prop = _instance()
    case = prop.cases[0]
    with pytest.raises(TimeLimitReached):
        deeppoly_bounds(net, case.lower, case.upper, deadline=time.monotonic() - 1.0)

    def slow(*args, **kwargs):
        raise TimeLimitReached("simulated")

    monkeypatch.setattr(context, "deeppoly_bounds", slow)
    net, prop = _easy_instance()          # not falsified: DeepPoly is reached
    result = verify(net, prop, method="deeppoly", timeout=10)
    assert result.verdict == "timeout"


def test_alpha_margin_is_memoised_per_bounds_and_disjunct(monkeypatch):
    """``auto`` asks for one disjunct's alpha margin in the triangle and again in the MILP:
    the second call with the same bounds object reuses the value; other bounds or another
    disjunct compute anew."""
    import time

    from verifier.methods import CaseContext, margins
    from verifier.methods.margins import alpha_margin_lower

    net, prop = _instance()
    ctx = CaseContext(net, prop.cases[0], VerifyOptions(), time.monotonic() + 60)
    poly = prop.cases[0].disjuncts[0]
    calls = []
    real = margins.alpha_rows_lower
    monkeypatch.setattr(margins, "alpha_rows_lower",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    bounds = ctx.tightened()
    first = alpha_margin_lower(ctx, poly.A, poly.b, bounds)
    assert alpha_margin_lower(ctx, poly.A, poly.b, bounds) == first and len(calls) == 1
    alpha_margin_lower(ctx, poly.A, poly.b + 1.0, bounds)
    assert len(calls) == 2
    alpha_margin_lower(ctx, poly.A, poly.b, dict(bounds))
    assert len(calls) == 3
