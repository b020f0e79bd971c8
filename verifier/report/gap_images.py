"""Gap tables over many images (L-inf robustness) and their aggregate per method."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from verifier.errors import OptionError, SpecError, shorten
from verifier.methods import VerifyOptions
from verifier.network import Network
from verifier.report.gap import DEFAULT_METHODS, available_methods, gap_table
from verifier.report.gap_table import GapTable
from verifier.report.render import (align_table, format_number, mean_value, rows_to_csv,
                                    write_text)
from verifier.spec import linf_robustness
from verifier.verify.result import json_safe


@dataclass
class GapSummary:
    """Gap tables over a set of images and their aggregate per method.

    ``aggregate[m]``: ``mean_bound`` (over all objectives), ``mean_gap_low`` /
    ``mean_gap_high`` (mean of ``exact - bound``; equal when every exact value is known),
    ``certified`` (images whose every objective has bound > 0), ``objectives``.
    """

    eps: float
    methods: list[str]
    images: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    tables: list[GapTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def aggregate(self) -> dict[str, dict]:
        out = {}
        objs = [o for t in self.tables for o in t.objectives]
        for m in self.methods:
            bounds = [o.bounds.get(m, -math.inf) for o in objs]
            gaps = [o.gap(m) for o in objs] if m != "milp" else [
                (o.exact_lower - o.bounds.get(m, -math.inf),
                 o.exact_upper - o.bounds.get(m, -math.inf)) for o in objs]
            certified = sum(all(o.bounds.get(m, -math.inf) > 0 for o in t.objectives)
                            for t in self.tables)
            out[m] = {"mean_bound": mean_value(bounds), "mean_gap_low": mean_value([g[0] for g in gaps]),
                      "mean_gap_high": mean_value([g[1] for g in gaps]), "certified": certified,
                      "objectives": len(objs)}
        shares = [o.krelu_share() for o in objs]
        shares = [s for s in shares if s is not None]
        exact_known = sum(o.exact is not None for o in objs)
        out["_all"] = {"images": len(self.tables), "objectives": len(objs),
                       "exact_known": exact_known,
                       "exact_certified": sum(all(o.exact_lower > 0 for o in t.objectives)
                                              for t in self.tables),
                       "falsified": sum(any(o.exact_upper <= 0 for o in t.objectives)
                                        for t in self.tables),
                       "mean_krelu_share": mean_value(shares) if shares else None}
        return out

    def aggregate_rows(self) -> list[dict]:
        agg = self.aggregate
        return [{"method": m, **agg[m]} for m in self.methods]

    def to_text(self) -> str:
        agg = self.aggregate
        a = agg["_all"]
        head = ["method", "mean bound", "mean gap", "certified"]
        body = []
        for m in self.methods:
            r = agg[m]
            gap = (format_number(r["mean_gap_low"]) if r["mean_gap_low"] == r["mean_gap_high"]
                   else f"[{format_number(r['mean_gap_low'])}, {format_number(r['mean_gap_high'])}]")
            body.append([m, format_number(r["mean_bound"]), gap, f"{r['certified']}/{a['images']}"])
        lines = [f"eps {self.eps:g}: {a['images']} images ({len(self.skipped)} misclassified "
                 f"skipped), {a['objectives']} objectives, exact optimum known for "
                 f"{a['exact_known']}", align_table(head, body)]
        share = a["mean_krelu_share"]
        if share is not None:
            lines.append(f"mean share of the triangle gap closed by krelu: {100 * share:.1f}%"
                         + ("" if a["exact_known"] == a["objectives"] else
                            " (against the upper end of the exact bracket where the MILP "
                            "did not finish: a lower estimate)"))
        lines.append(f"images proved by the exact bracket: {a['exact_certified']}, with a "
                     f"counterexample: {a['falsified']}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    __str__ = to_text

    def to_dict(self) -> dict:
        return json_safe({"eps": self.eps, "methods": self.methods, "images": self.images,
                       "skipped": self.skipped, "aggregate": self.aggregate,
                       "notes": self.notes, "tables": [t.to_dict() for t in self.tables]})

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        return rows_to_csv(self.aggregate_rows())

    def objectives_csv(self) -> str:
        rows = []
        for img, t in zip(self.images, self.tables):
            rows += [{"image": img, **r} for r in t.objective_rows()]
        return rows_to_csv(rows)

    def to_markdown(self) -> str:
        agg = self.aggregate
        out = [f"### eps {self.eps:g}, {agg['_all']['images']} images", "",
               "| method | mean bound | mean gap (low) | mean gap (high) | certified |",
               "|---|---:|---:|---:|---:|"]
        for m in self.methods:
            r = agg[m]
            out.append(f"| {m} | {format_number(r['mean_bound'])} | {format_number(r['mean_gap_low'])} | "
                       f"{format_number(r['mean_gap_high'])} | {r['certified']} |")
        return "\n".join(out) + "\n"

    def write(self, csv_path=None, json_path=None, md_path=None) -> None:
        if csv_path:
            write_text(csv_path, self.to_csv())
            stem = csv_path[:-4] if csv_path.endswith(".csv") else csv_path
            write_text(stem + "_objectives.csv", self.objectives_csv())
        if json_path:
            write_text(json_path, self.to_json())
        if md_path:
            write_text(md_path, self.to_markdown())


def gap_over_images(net: Network, images: np.ndarray, labels: np.ndarray, eps: float,
                    indices: Iterable[int] | None = None,
                    methods: Sequence[str] = DEFAULT_METHODS, timeout: float = 60.0,
                    options: VerifyOptions | None = None, domain=(0.0, 1.0),
                    progress=None) -> GapSummary:
    """Gap tables of L∞ robustness at ``eps`` around each image; misclassified skipped."""
    images = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    labels = np.asarray(labels).reshape(-1).astype(int)
    if images.shape[1] != net.n_inputs:
        raise SpecError(f"images have {images.shape[1]} values each, the network takes "
                        f"{net.n_inputs}")
    wrong = np.flatnonzero((labels < 0) | (labels >= net.n_outputs))
    if wrong.size:
        raise SpecError(f"label {labels[wrong[0]]} of image {wrong[0]} is not an output of the "
                        f"network (0..{net.n_outputs - 1}); {wrong.size} such label(s)")
    indices = range(len(images)) if indices is None else list(indices)
    kept, notes = available_methods(methods)
    summary = GapSummary(eps=float(eps), methods=kept, notes=notes)
    say = progress or (lambda message: None)
    for i in indices:
        x, label = images[i], int(labels[i])
        if int(np.argmax(net.forward(x[None, :])[0])) != label:
            summary.skipped.append(i)
            say(f"image {i}: misclassified, skipped")
            continue
        prop = linf_robustness(x, eps, label, net.n_outputs, domain=domain,
                               name=f"image{i}_eps{eps:g}")
        table = gap_table(net, prop, kept, timeout=timeout, options=options, progress=say)
        summary.images.append(i)
        summary.tables.append(table)
        say(f"image {i}: done ({table.seconds:.1f}s)")
    return summary


def parse_index(text: str | None, n: int, option: str = "--index") -> list[int]:
    """``"0:10"`` / ``"3"`` / ``"1,4,7"`` / None (all) -> indices below ``n`` (a range is
    cut at ``n``); errors name ``option``.

    Raises:
        OptionError: not a number, a range or a list, or an index outside ``0..n-1``.
    """
    if text is None or text == "":
        return list(range(n))
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            indices = list(range(int(a or 0), min(int(b) if b else n, n)))
        else:
            indices = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise OptionError(f"{option} {shorten(text)!r}: use a number, a range like 0:10 or "
                          "a list like 1,4,7") from None
    bad = [i for i in indices if not 0 <= i < n]
    if bad or not indices:
        raise OptionError(f"{option} {shorten(text)!r}: {len(bad) or 'no'} index(es) outside "
                          f"0..{n - 1} (there are {n} images)")
    return indices
