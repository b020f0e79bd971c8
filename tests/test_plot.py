"""Each picture kind is written (file exists, > 10 kB)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from helpers import random_network  # noqa: E402
from verifier.plot import (plot_bound_widths, plot_gap_bars, plot_output_reach,  # noqa: E402
                           plot_single_neuron, plot_two_neuron_hull)
from verifier.report import gap_table  # noqa: E402
from verifier.spec import linf_robustness  # noqa: E402


def _written(path):
    assert path.exists() and path.stat().st_size > 10_000, path
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.fixture(scope="module")
def net():
    return random_network(np.random.default_rng(0), 6, [16, 16], 4, scale=1.5)


def test_single_neuron(tmp_path):
    fig = plot_single_neuron(-1.0, 2.0, path=tmp_path / "n.png")
    assert fig is not None
    _written(tmp_path / "n.png")
    with pytest.raises(ValueError):
        plot_single_neuron(0.5, 1.0)


def test_two_neuron_hull(tmp_path, net):
    lo, hi = np.full(6, -1.0), np.full(6, 1.0)
    plot_two_neuron_hull(net, lo, hi, layer=1, samples=600, n_directions=32,
                         path=tmp_path / "h.png")
    _written(tmp_path / "h.png")


def test_output_reach(tmp_path):
    net2 = random_network(np.random.default_rng(3), 2, [8, 8], 2, scale=1.5)
    plot_output_reach(net2, np.array([-1.0, -1.0]), np.array([1.0, 1.0]), n_directions=16,
                      samples=800, path=tmp_path / "r.png")
    _written(tmp_path / "r.png")


def test_bound_widths(tmp_path, net):
    plot_bound_widths(net, np.full(6, -0.5), np.full(6, 0.5), path=tmp_path / "w.png")
    _written(tmp_path / "w.png")


def test_gap_bars(tmp_path, net):
    x = np.full(6, 0.5)
    label = int(np.argmax(net.forward(x[None, :])[0]))
    table = gap_table(net, linf_robustness(x, 0.2, label, 4), timeout=20)
    plot_gap_bars(table, path=tmp_path / "g.png")
    _written(tmp_path / "g.png")


def test_plot_cli(tmp_path):
    import argparse
    from verifier.cli.plot import add_parser
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers(dest="command"))
    out = tmp_path / "c.png"
    args = p.parse_args(["plot", "neuron", "--l", "-2", "--u", "1", "-o", str(out)])
    assert args.func(args) == 0
    _written(out)
