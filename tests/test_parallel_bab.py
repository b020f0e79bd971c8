"""Branch and bound over worker processes: the verdict never depends on the workers.

* ``bab`` and ``split`` with 1, 2 and 4 workers give the same verdict (and a replayed
  witness where there is one) on random networks, and the parallel search bounds every
  domain it pops exactly once (no domain lost, none counted twice);
* a worker killed in the middle of a run loses no domain: its batch goes back to the queue
  and the run ends with the serial verdict;
* the same on a Dask LocalCluster (when dask is installed);
* the benchmark sample rows get the same verdict with 1, 2 and 4 workers.
"""

import csv
import multiprocessing
import os
import signal

import numpy as np
import pytest

from conftest import shared_benchmarks
from helpers import random_box, random_network
from verifier import load_network, load_vnnlib, verify
from verifier.methods import VerifyOptions
from verifier.methods.branching import protocol
from verifier.spec import halfspace_property


def margin_property(seed: int, n_in: int, widths: list[int], radius: float, below: float):
    """A random network and the property ``y0 - y1 >= b``, ``b`` set ``below`` times the
    sampled range under the sampled minimum (unsat when the sample found the minimum's
    neighbourhood; sat for ``below < 0``)."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_in, widths, 2)
    lo, hi = random_box(rng, n_in, radius=radius)
    outputs = net.forward(rng.uniform(lo, hi, size=(20000, n_in))) @ np.array([1.0, -1.0])
    b = np.array([outputs.min() - below * (outputs.max() - outputs.min())])
    return net, halfspace_property(lo, hi, [(np.array([[1.0, -1.0]]), b)], 2)


@pytest.mark.parametrize("method", ["bab", "split"])
@pytest.mark.parametrize("seed,below", [(2, 0.2), (1, 0.2)])
def test_verdict_does_not_depend_on_workers(method, seed, below):
    net, prop = margin_property(seed, 12, [30, 30, 30], 0.2, below)
    verdicts, domains = [], []
    for workers in (1, 2, 4):
        result = verify(net, prop, method=method, timeout=60,
                        options=VerifyOptions(workers=workers))
        verdicts.append(result.verdict)
        searches = result.stats.get(method, [])
        domains.append(sum(s.get("domains", 0) for s in searches))
        for s in searches:
            if workers > 1:
                assert s["workers"] == workers
                assert sum(s["per_worker"].values()) == s["domains"]
            if result.verdict == "unsat":       # every domain popped was bounded
                assert s["open"] == 0
        if result.verdict == "sat":
            case = prop.cases[result.witness.case]
            assert case.contains_input(result.witness.x)
            assert result.witness.margin <= 0
    assert verdicts[0] in ("sat", "unsat")
    assert verdicts == [verdicts[0]] * 3, (verdicts, domains)


def test_a_sat_property_is_found_by_the_workers():
    """A counterexample that only the search finds (falsification turned down) comes back
    from a worker, replayed."""
    from dataclasses import replace
    net, prop = margin_property(0, 12, [30, 30, 30], 0.2, -0.001)
    options = VerifyOptions(workers=2)
    options = replace(options, falsify=replace(options.falsify, random_points=1,
                                               pgd_restarts=0, pgd_steps=0))
    result = verify(net, prop, method="bab", timeout=60, options=options)
    assert result.verdict == "sat"
    assert prop.cases[0].contains_input(result.witness.x)


def test_a_killed_worker_loses_no_domain(monkeypatch):
    """SIGKILL one worker process at the 20th status line: its batch is requeued, the
    pool replaced, and the run proves what the serial run proves."""
    net, prop = margin_property(2, 12, [30, 30, 30], 0.2, 0.1)
    serial = verify(net, prop, method="bab", timeout=60)
    assert serial.verdict == "unsat"
    monkeypatch.setattr(protocol, "LIVE_EVERY", 0.0)
    killed = []

    def live(line):
        if not killed and "domains" in line and int(line.split()[1]) > 200:
            pid = multiprocessing.active_children()[0].pid
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    result = verify(net, prop, method="bab", timeout=60, options=VerifyOptions(workers=2),
                    live=live)
    assert killed, "the search ended before a worker could be killed"
    stats = result.stats["bab"][0]
    assert result.verdict == "unsat", result.message
    assert stats["requeued"] > 0
    assert stats["open"] == 0


def test_dask_local_cluster_gives_the_serial_verdict():
    pytest.importorskip("dask.distributed")
    net, prop = margin_property(2, 12, [30, 30, 30], 0.2, 0.2)
    serial = verify(net, prop, method="bab", timeout=60)
    result = verify(net, prop, method="bab", timeout=120,
                    options=VerifyOptions(workers=2, scheduler="local"))
    assert result.verdict == serial.verdict == "unsat"
    assert result.stats["bab"][0]["workers"] == 2


def test_sample_rows_same_verdict_for_1_2_4_workers():
    """The mnistfc and ACAS Xu rows of the benchmark sample (test_benchmark_verdicts) that
    are decided within the time limit (mnistfc row 1 takes a minute), with 1, 2 and 4
    workers: each gets the published verdict."""
    rows = []
    for bench, ids in (("mnistfc", [0, 94, 95]), ("acasxu", [0, 46, 47, 95, 140])):
        root = shared_benchmarks() / bench
        table = list(csv.DictReader(open(root / "instances.csv")))
        rows += [(root, table[i]) for i in ids]
    for root, row in rows:
        onnx = str(root / row["onnx"])
        net = load_network(onnx)
        prop = load_vnnlib(str(root / row["vnnlib"]), net.n_inputs, net.n_outputs)
        verdicts = [verify(net, prop, timeout=30, onnx_path=onnx,
                           options=VerifyOptions(workers=w)).verdict for w in (1, 2, 4)]
        assert verdicts == [row["verdict"]] * 3, (row["onnx"], row["vnnlib"], verdicts)


@pytest.mark.parametrize("eps,weak_falsifier", [(0.3, False), (0.4, False), (0.6, True)])
def test_disjuncts_searched_at_once_give_the_serial_verdict(eps, weak_falsifier):
    """A robustness property has one disjunct per other class; with a pool their searches
    run at once (sharing the workers), and the verdict is the serial one. At the largest
    radius (falsification turned down) a search finds a reachable class: its witness
    stops the other searches."""
    from dataclasses import replace
    from verifier.spec import linf_robustness
    rng = np.random.default_rng(5)
    net = random_network(rng, 20, [40, 40, 40], 4)
    x0 = rng.uniform(-1, 1, 20)
    label = int(np.argmax(net.forward(x0)))
    prop = linf_robustness(x0, eps, label, 4)
    options = VerifyOptions()
    if weak_falsifier:
        options = replace(options, falsify=replace(options.falsify, random_points=1,
                                                   pgd_restarts=0))
    parallel = verify(net, prop, method="bab", timeout=60,
                      options=replace(options, workers=2))
    if not weak_falsifier:   # (serially the first disjunct's search takes 10 s there)
        assert verify(net, prop, method="bab", timeout=60, options=options).verdict == "unsat"
    assert parallel.verdict == ("sat" if weak_falsifier else "unsat"), parallel.message
    if parallel.verdict == "sat":
        assert "bab" in parallel.message
        assert prop.cases[0].contains_input(parallel.witness.x)
    else:
        assert all(o.status == "proved" for o in parallel.disjuncts)


PARENT = os.getpid()


def _solve_or_die(model, cols, options, deadline):
    """A per-neuron 'solver' whose worker process dies on the first pick of neurons."""
    if os.getpid() != PARENT and cols[0] == 0:
        os._exit(1)
    return -cols.astype(float), cols.astype(float), 0.0


def test_tightening_survives_a_lost_worker():
    """The per-neuron tightening shares the pool: a worker that dies there costs its
    neurons a solve in this process, not the run; the pool works again afterwards."""
    from verifier.methods.branching.workers import LocalPool
    from verifier.tighten.layers import solve_over_workers
    from verifier.tighten.options import TightenOptions
    pool = LocalPool(2)
    try:
        cols = np.arange(10)
        lower, upper, _ = solve_over_workers(_solve_or_die, None, cols,
                                             TightenOptions(workers=2), pool, None)
        assert np.array_equal(lower, -cols) and np.array_equal(upper, cols)
        assert pool.submit(abs, -3).result() == 3
    finally:
        pool.shutdown()


def _malloc_trim_setting():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_dask_workers_start_without_the_malloc_trim_setting():
    """Dask's default MALLOC_TRIM_THRESHOLD_ made every step 2.5x slower (glibc reads it
    at process start): the LocalCluster's workers start without it."""
    pytest.importorskip("dask.distributed")
    from verifier.methods.branching.workers import DaskPool
    pool = DaskPool(1, "local")
    try:
        assert set(pool.client.run(_malloc_trim_setting).values()) == {None}
    finally:
        pool.shutdown()
