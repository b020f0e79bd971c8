"""The convex barrier as a picture: per row, every column's adversarial error rate."""

from __future__ import annotations

import numpy as np

from verifier.plot.figure import COLORS, pyplot, save_figure
from verifier.report.barrier_table import RATE_COLUMNS

#: bar colours of the barrier columns
BARRIER_COLORS = {"test_err": "#bdbdbd", "attack_lb": "#7f7f7f", "exact_lb": COLORS["milp"],
                  "exact_ub": COLORS["milp"], "krelu_ub": COLORS["krelu"],
                  "lp_all_ub": COLORS["triangle"], "deeppoly_ub": COLORS["deeppoly"]}


def plot_barrier(rows, path=None, columns: int = 3):
    """One panel per row: horizontal bars of the rates (%), lower bounds hatched; the
    paper's MILP bracket and LP-ALL drawn as marks when known. The distance from the
    exact UB bar to the LP-ALL bar is the convex barrier; the k-ReLU bar shows how much of
    it the multi-neuron relaxation crosses."""
    n = len(rows)
    cols = min(columns, n)
    nrows = int(np.ceil(n / cols))
    fig, axes = pyplot().subplots(nrows, cols, figsize=(5.2 * cols, 3.0 * nrows),
                                  squeeze=False)
    for ax, row in zip(axes.ravel(), rows):
        rates = row.rates()
        keys = [k for k, _ in RATE_COLUMNS]
        values = [rates[k] for k in keys]
        ypos = np.arange(len(keys))[::-1]
        bars = ax.barh(ypos, values, color=[BARRIER_COLORS[k] for k in keys])
        for bar, key in zip(bars, keys):
            if key.endswith("_lb"):
                bar.set_hatch("//")
        for name, marker in (("published_milp_lb", "|"), ("published_milp_ub", "|"),
                             ("published_lp_all", "x")):
            value = row.published.get(name)
            if value is not None:
                y = ypos[keys.index({"published_milp_lb": "exact_lb",
                                     "published_milp_ub": "exact_ub",
                                     "published_lp_all": "lp_all_ub"}[name])]
                ax.plot([value], [y], marker=marker, color="k", markersize=10)
        ax.set_yticks(ypos, [title for _, title in RATE_COLUMNS], fontsize=8)
        crossing = rates["krelu_crossing"]
        title = f"{row.name} ({rates['images']} images)"
        if crossing is not None:
            title += f"\nk-ReLU crosses {100 * crossing:.0f} % of the barrier"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("adversarial error (%)", fontsize=8)
        ax.set_xlim(0, max(max(values), 1.0) * 1.1)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path)
