"""The convex barrier as a picture: per row, every column's adversarial error rate."""

from __future__ import annotations

import numpy as np

from verifier.plot.figure import COLORS, pyplot, save_figure
from verifier.report.barrier_table import RATE_COLUMNS

#: bar colours of the barrier columns
BARRIER_COLORS = {"test_err": "#bdbdbd", "attack_lb": "#7f7f7f", "exact_lb": COLORS["milp"],
                  "exact_ub": COLORS["milp"], "krelu_ub": COLORS["krelu"],
                  "lp_all_ub": COLORS["triangle"], "deeppoly_ub": COLORS["deeppoly"]}


#: the paper's values drawn as marks: (published key, the column it sits on, marker)
PAPER_MARKS = (("published_milp_lb", "exact_lb", "|"), ("published_milp_ub", "exact_ub", "|"),
               ("published_lp_all", "lp_all_ub", "x"))


def plot_barrier(rows, path=None, columns: int = 3):
    """One panel per row: horizontal bars of the rates (%), lower bounds hatched; the
    paper's MILP bracket and LP-ALL drawn as marks when known, inside the axes (the axis
    reaches past the largest bar or mark). The distance from the exact UB bar to the
    LP-ALL bar is the convex barrier; the k-ReLU bar shows how much of it the
    multi-neuron relaxation crosses. One legend below the panels says what bars, hatching
    and marks mean."""
    n = len(rows)
    cols = min(columns, n)
    nrows = int(np.ceil(n / cols))
    fig, axes = pyplot().subplots(nrows, cols, figsize=(5.2 * cols, 3.0 * nrows + 0.6),
                                  squeeze=False)
    for ax, row in zip(axes.ravel(), rows):
        _panel(ax, row)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.legend(handles=_legend_handles(), loc="lower center", ncol=4, fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.6 / (3.0 * nrows + 0.6), 1, 1))
    return save_figure(fig, path)


def _panel(ax, row) -> None:
    rates = row.rates()
    keys = [k for k, _ in RATE_COLUMNS]
    values = [rates[k] for k in keys]
    ypos = np.arange(len(keys))[::-1]
    bars = ax.barh(ypos, values, color=[BARRIER_COLORS[k] for k in keys])
    for bar, key in zip(bars, keys):
        if key.endswith("_lb"):
            bar.set_hatch("//")
    marks = []
    for name, column, marker in PAPER_MARKS:
        value = row.published.get(name)
        if value is not None:
            marks.append(value)
            ax.plot([value], [ypos[keys.index(column)]], marker=marker, color="k",
                    markersize=10, linestyle="none", clip_on=False)
    ax.set_yticks(ypos, [title for _, title in RATE_COLUMNS], fontsize=8)
    crossing = rates["krelu_crossing"]
    title = f"{row.name} ({rates['images']} images)"
    if crossing is not None:
        title += f"\nk-ReLU crosses {100 * crossing:.0f} % of the barrier"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("adversarial error (%)", fontsize=8)
    top = max([v for v in values + marks if v is not None and np.isfinite(v)] + [1.0]) * 1.1
    ax.set_xlim(-0.02 * top, top)


def _legend_handles() -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    return [Patch(facecolor="white", edgecolor="k", hatch="//",
                  label="lower bound (counterexamples found)"),
            Patch(facecolor="0.6", edgecolor="k", label="upper bound (images not certified)"),
            Line2D([], [], marker="|", color="k", linestyle="none", markersize=10,
                   label="paper: MILP lower / upper bound"),
            Line2D([], [], marker="x", color="k", linestyle="none", markersize=8,
                   label="paper: LP-ALL")]
