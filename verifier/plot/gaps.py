"""The gap picture: each method's distance ``exact - bound`` to the exact optimum.

Gaps span many orders of magnitude, and some are exactly zero (the method is tight) or
missing (the method gave no finite bound). The picture shows each as what it is: a log
axis only when the positive gaps span more than a decade, reaching down to the
smallest of them (no floor that would draw a tiny gap as a larger one); a zero gap as a
``0`` label (a log axis cannot draw it); a missing one as ``n/a``.
"""

from __future__ import annotations

import math

import numpy as np

from verifier.plot.figure import COLORS, pyplot, save_figure
from verifier.report.gap_images import GapSummary

#: positive gaps spanning more than this ratio get a log axis
LOG_RATIO = 10.0


def gap_values(table) -> tuple[list[str], list[str], dict, dict, str]:
    """``(groups, methods, low, high, title)``: per method one (low, high) gap per group
    (equal when the exact optimum is known; ``inf`` when the method gave no bound)."""
    methods = [m for m in table.methods if m != "milp"]
    if isinstance(table, GapSummary):
        agg = table.aggregate
        low = {m: [agg[m]["mean_gap_low"]] for m in methods}
        high = {m: [agg[m]["mean_gap_high"]] for m in methods}
        return (["mean over images"], methods, low, high,
                f"mean gap over {agg['_all']['images']} images, eps {table.eps:g}")
    low = {m: [o.gap(m)[0] for o in table.objectives] for m in methods}
    high = {m: [o.gap(m)[1] for o in table.objectives] for m in methods}
    return ([o.label for o in table.objectives], methods, low, high,
            f"gap to the exact optimum: {table.name}")


def _positive(values) -> np.ndarray:
    flat = np.asarray([v for vs in values for v in vs], dtype=float)
    return flat[np.isfinite(flat) & (flat > 0)]


def plot_gap_bars(table, path=None, log: bool = True):
    """Gaps ``exact - bound`` per objective and method (whiskers: the exact value's bracket).

    ``table`` is a :class:`~verifier.report.GapTable` (one group of bars per objective) or
    a :class:`~verifier.report.GapSummary` (mean gap per method). ``log``: a log axis when
    the positive gaps span more than :data:`LOG_RATIO` (else linear). A gap <= 0 is drawn
    as a ``0`` label, a method without a finite bound as ``n/a``.
    """
    groups, methods, low, high, title = gap_values(table)
    positive = _positive(list(low.values()) + list(high.values()))
    use_log = bool(log and positive.size and positive.max() / positive.min() > LOG_RATIO)
    fig, ax = pyplot().subplots(figsize=(min(12.0, 3.0 + 1.0 * len(groups)), 4.2))
    x = np.arange(len(groups))
    w = 0.8 / max(len(methods), 1)
    bottom = positive.min() / 3 if use_log else 0.0
    for k, m in enumerate(methods):
        pos = x + (k - (len(methods) - 1) / 2) * w
        lo = np.array([max(v, 0.0) for v in low[m]], dtype=float)
        hi = np.array([max(v, 0.0) for v in high[m]], dtype=float)
        shown = np.isfinite(lo) & (lo > 0)
        ax.bar(pos[shown], lo[shown] - bottom, w, bottom=bottom, color=COLORS.get(m))
        bracket = np.isfinite(hi) & (hi > lo * (1 + 1e-9)) & (hi > 0)
        if np.any(bracket):
            start = np.where(lo[bracket] > 0, lo[bracket], bottom)
            ax.errorbar(pos[bracket], start, yerr=[np.zeros(bracket.sum()),
                                                   hi[bracket] - start],
                        fmt="none", ecolor="k", elinewidth=0.8, capsize=2)
        _mark_unshown(ax, pos, lo, bottom)
    _finish_axes(ax, x, groups, methods, title, use_log, positive, bottom)
    fig.tight_layout()
    return save_figure(fig, path)


def _mark_unshown(ax, pos, lo, bottom) -> None:
    """``0`` over a zero gap, ``n/a`` where a method gave no finite bound."""
    for p, v in zip(pos, lo):
        if v == 0 or not math.isfinite(v):
            ax.annotate("0" if v == 0 else "n/a", (p, bottom), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7,
                        color="0.2")


def _finish_axes(ax, x, groups, methods, title, use_log, positive, bottom) -> None:
    if use_log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=bottom, top=positive.max() * 3)
    elif positive.size:
        ax.set_ylim(0, positive.max() * 1.15)
    else:
        ax.set_ylim(0, 1)
        title += "\nevery gap is 0: each bound equals the exact optimum"
    ax.set_xlim(-0.5, len(groups) - 0.5)
    ax.set_xticks(x, groups, rotation=30 if len(groups) > 4 else 0, ha="right"
                  if len(groups) > 4 else "center")
    ax.set_ylabel("exact - bound" + (" (log)" if use_log else ""))
    ax.set_xlabel("whisker: exact value only bracketed (MILP time limit); 0: no gap "
                  "(the bound is exact); n/a: no finite bound", fontsize=7, color="0.3")
    ax.set_title(title, fontsize=10)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=COLORS.get(m), label=m) for m in methods], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
