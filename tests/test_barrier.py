"""The barrier report (Salman et al.'s table, decided, with k-ReLU).

Contracts: image by image, attack LB <= exact LB <= exact UB <= k-ReLU UB <= LP-ALL UB <=
DeepPoly UB, with every column computed on its own (``cascade=False``), so that an
implication between columns is checked, not assumed; the rates follow from the records;
the journal resumes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_benchmarks
from helpers import random_network
from verifier.report.barrier import BarrierOptions, ImageRecord, decide_image
from verifier.report.barrier_run import load_images, read_rows, run_row
from verifier.report.barrier_table import BarrierRow, to_markdown


def test_rates_follow_from_the_records():
    rs = [ImageRecord(0, 1, 2, False, exact_falsified=True),
          ImageRecord(1, 1, 1, True, attack=True, exact_falsified=True),
          ImageRecord(2, 1, 1, True, deeppoly=True, lp_all=True, krelu=True,
                      exact_certified=True),
          ImageRecord(3, 1, 1, True, krelu=True, exact_certified=True),
          ImageRecord(4, 1, 1, True)]
    rates = BarrierRow("r", rs).rates()
    assert rates["test_err"] == 20 and rates["attack_lb"] == 40 and rates["exact_lb"] == 40
    assert rates["exact_ub"] == 60 and rates["krelu_ub"] == 60 and rates["lp_all_ub"] == 80
    assert rates["deeppoly_ub"] == 80 and rates["undecided"] == [4] and rates["decided"] == 80
    assert rates["krelu_crossing"] == pytest.approx(1.0)
    assert not BarrierRow("r", rs).ordering_violations()
    assert BarrierRow("r", [ImageRecord(5, 1, 1, True, lp_all=True)]).ordering_violations()


@pytest.mark.parametrize("seed,hidden", [(0, [12, 12]), (1, [12, 12]), (2, [24])])
def test_columns_never_contradict_on_random_nets(seed, hidden):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 6, hidden, 3, scale=1.5)
    options = BarrierOptions(relaxation_seconds=20, exact_seconds=20, cascade=False)
    records = []
    for index in range(6):
        x = rng.uniform(0.2, 0.8, 6)
        label = int(np.argmax(net.forward(x)))
        records.append(decide_image(net, x, label, 0.05, index, options))
    row = BarrierRow("random", records)
    assert not row.ordering_violations(), row.ordering_violations()
    assert row.rates()["decided"] == 100


def test_exact_column_by_milp_agrees_with_bab(tmp_path):
    """``exact_method="milp"`` decides the same images as the default branch and bound
    (both complete; small random nets finish either way)."""
    rng = np.random.default_rng(3)
    net = random_network(rng, 6, [10], 3, scale=1.5)
    for index in range(4):
        x = rng.uniform(0.2, 0.8, 6)
        label = int(np.argmax(net.forward(x)))
        records = [decide_image(net, x, label, 0.05, index,
                                BarrierOptions(relaxation_seconds=20, exact_seconds=20,
                                               exact_method=m)) for m in ("bab", "milp")]
        assert all(r.decided for r in records)
        assert records[0].exact_certified == records[1].exact_certified
    with pytest.raises(Exception, match="exact_method"):
        BarrierOptions(exact_method="auto")


def test_salman_slice_ordering_and_resume(tmp_path):
    root = shared_benchmarks() / "salman_mlp"
    (row,) = [r for r in read_rows(str(root / "instances.csv")) if r.name == "nor_mlp_b eps=0.02"]
    assert dict(row.published)["published_lp_all"] == pytest.approx(26.41)
    images, labels = load_images(str(root / "mnist_test.npz"))
    assert images.shape == (10000, 784) and 0 <= images.min() and images.max() <= 1
    options = BarrierOptions(relaxation_seconds=30, exact_seconds=20, cascade=False)
    first = run_row(row, images, labels, [0, 1, 2], str(tmp_path), options)
    assert not first.ordering_violations(), first.ordering_violations()
    journal = tmp_path / "nor_mlp_b_eps=0.02.jsonl"
    assert len(journal.read_text().splitlines()) == 3
    again = run_row(row, images, labels, [0, 1, 2, 3], str(tmp_path), options)
    assert [r.index for r in again.records] == [0, 1, 2, 3]
    assert len(journal.read_text().splitlines()) == 4          # only image 3 was new
    assert json.loads(journal.read_text().splitlines()[0])["index"] == 0
    assert "nor_mlp_b eps=0.02" in to_markdown([again])


def test_retry_undecided_decides_only_the_undecided_again(tmp_path, monkeypatch):
    """A second pass with ``retry_undecided`` re-runs exactly the journal's undecided
    images, and their new line is the one that counts."""
    import verifier.report.barrier_run as barrier_run
    calls = []

    def fake_decide(path, index, image, label, eps, options):
        calls.append(index)
        return ImageRecord(index, label, label, True,
                           exact_certified=options.exact_seconds > 10).to_dict()

    monkeypatch.setattr(barrier_run, "_network", lambda path: type("N", (), {"n_inputs": 2}))
    monkeypatch.setattr(barrier_run, "_decide", fake_decide)
    row = barrier_run.RowSpec("net.onnx", 0.1, "toy")
    images, labels = np.zeros((3, 2)), np.array([0, 1, 2])
    journal = tmp_path / "toy.jsonl"
    journal.write_text(json.dumps(ImageRecord(0, 0, 0, True).to_dict()) + "\n")  # undecided
    run_row(row, images, labels, [0, 1, 2], str(tmp_path), BarrierOptions(exact_seconds=5))
    assert calls == [1, 2]                     # image 0 is journaled: resumed, not re-run
    calls.clear()
    again = run_row(row, images, labels, [0, 1, 2], str(tmp_path),
                    BarrierOptions(exact_seconds=60), retry_undecided=True)
    assert calls == [0, 1, 2]                  # all three were undecided at 5 s
    assert all(r.exact_certified for r in again.records)
    calls.clear()
    run_row(row, images, labels, [0, 1, 2], str(tmp_path), BarrierOptions(exact_seconds=60),
            retry_undecided=True)
    assert calls == []                         # nothing left undecided


def test_cli_with_one_network_file(tmp_path, capsys):
    from verifier.cli import main
    from verifier.data import demo_images, demo_network_path
    X, y = demo_images()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    md = tmp_path / "t.md"
    code = main(["barrier", str(demo_network_path()), "--eps", "0.05", "--data",
                 str(tmp_path / "d.npz"), "--images", "0:3", "--out", str(tmp_path / "j"),
                 "--md", str(md), "--quiet", "--exact-seconds", "20"])
    out = capsys.readouterr().out
    assert code == 0 and "eps=0.05" in out and md.read_text() == out.rstrip("\n") + "\n"
