"""The barrier table: per (network, eps) row, adversarial error rates as in Salman et al.'s
Table 1 (lower bounds from counterexamples, upper bounds = share of images not certified),
plus the k-ReLU column and the share of the convex barrier it crosses.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

from verifier.report.barrier import ImageRecord
from verifier.report.render import rows_to_csv, write_text
from verifier.verify.result import json_safe

#: (column, title) of the rates, in the order of the paper's table (ours first)
RATE_COLUMNS = (("test_err", "test err"), ("attack_lb", "attack (LB)"),
                ("exact_lb", "exact LB"), ("exact_ub", "exact UB"),
                ("krelu_ub", "k-ReLU (UB)"), ("lp_all_ub", "LP-ALL (UB)"),
                ("deeppoly_ub", "DeepPoly (UB)"))
#: published columns of ``salman_mlp/instances.csv`` shown next to ours
PUBLISHED = (("published_test_err", "paper test err"), ("published_pgd", "paper PGD"),
             ("published_milp_lb", "paper MILP LB"), ("published_milp_ub", "paper MILP UB"),
             ("published_lp_all", "paper LP-ALL"), ("published_lp_greedy", "paper LP-GREEDY"))


@dataclass
class BarrierRow:
    """One (network, eps) row: its image records and the published numbers.

    Attributes:
        name: a readable row name (``nor_mlp_b eps=0.02``).
        records: one :class:`ImageRecord` per image.
        published: the published values of the row (may be empty).
    """

    name: str
    records: list[ImageRecord] = field(default_factory=list)
    published: dict = field(default_factory=dict)

    def rates(self) -> dict:
        """Adversarial error rates in %, the barrier crossing, the undecided images and
        the mean seconds per image of each column."""
        rs = self.records
        n = len(rs)
        pct = (lambda k: 100.0 * k / n) if n else (lambda k: float("nan"))
        out = {"images": n,
               "test_err": pct(sum(not r.correct for r in rs)),
               "attack_lb": pct(sum(not r.correct or r.attack for r in rs)),
               "exact_lb": pct(sum(r.exact_falsified for r in rs)),
               "exact_ub": pct(sum(not r.exact_certified for r in rs)),
               "krelu_ub": pct(sum(not (r.correct and r.krelu) for r in rs)),
               "lp_all_ub": pct(sum(not (r.correct and r.lp_all) for r in rs)),
               "deeppoly_ub": pct(sum(not (r.correct and r.deeppoly) for r in rs)),
               "decided": pct(sum(r.decided for r in rs)),
               "undecided": [r.index for r in rs if not r.decided]}
        barrier = out["lp_all_ub"] - out["exact_ub"]
        out["krelu_crossing"] = ((out["lp_all_ub"] - out["krelu_ub"]) / barrier
                                 if barrier > 0 else None)
        for column in ("attack", "deeppoly", "lp_all", "krelu", "exact"):
            times = [r.seconds[column] for r in rs if column in r.seconds]
            out[f"seconds_{column}"] = statistics.mean(times) if times else None
        return out

    def ordering_violations(self) -> list[str]:
        """Images where the columns contradict each other: attack LB <= exact LB <= exact
        UB <= k-ReLU UB <= LP-ALL UB <= DeepPoly UB must hold image by image."""
        bad = []
        for r in self.records:
            checks = [(r.attack, r.exact_falsified, "attack without exact counterexample"),
                      (r.exact_falsified, not r.exact_certified, "falsified and certified"),
                      (r.krelu and r.correct, r.exact_certified, "k-ReLU but not exact"),
                      (r.lp_all and r.correct, r.krelu, "LP-ALL but not k-ReLU"),
                      (r.deeppoly and r.correct, r.lp_all, "DeepPoly but not LP-ALL")]
            bad += [f"{self.name} image {r.index}: {why}" for a, b, why in checks if a and not b]
        return bad


def rows_table(rows: list[BarrierRow]) -> list[dict]:
    """One flat dict per row (ours, then the published numbers)."""
    out = []
    for row in rows:
        rates = row.rates()
        flat = {"row": row.name, "images": rates["images"]}
        flat.update({key: rates[key] for key, _ in RATE_COLUMNS})
        flat["krelu_crossing"] = rates["krelu_crossing"]
        flat["decided"] = rates["decided"]
        flat["undecided"] = " ".join(str(i) for i in rates["undecided"])
        for column in ("deeppoly", "lp_all", "krelu", "exact"):
            flat[f"seconds_{column}"] = rates[f"seconds_{column}"]
        flat.update({key: row.published.get(key) for key, _ in PUBLISHED})
        out.append(flat)
    return out


def _cell(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(rows: list[BarrierRow]) -> str:
    """The table (rates in %), the crossing and decided shares, and the undecided images."""
    head = (["row", "images"] + [title for _, title in RATE_COLUMNS]
            + ["k-ReLU crosses", "decided", "s/img LP-ALL", "s/img k-ReLU", "s/img exact"]
            + [title for _, title in PUBLISHED])
    lines = ["| " + " | ".join(head) + " |",
             "|---|" + "---:|" * (len(head) - 1)]
    undecided = []
    for flat in rows_table(rows):
        crossing = flat["krelu_crossing"]
        cells = ([flat["row"], str(flat["images"])]
                 + [_cell(flat[key]) for key, _ in RATE_COLUMNS]
                 + ["-" if crossing is None else f"{100 * crossing:.0f} %",
                    f"{_cell(flat['decided'])} %", _cell(flat["seconds_lp_all"]),
                    _cell(flat["seconds_krelu"]), _cell(flat["seconds_exact"])]
                 + [_cell(flat[key]) for key, _ in PUBLISHED])
        lines.append("| " + " | ".join(cells) + " |")
        if flat["undecided"]:
            undecided.append(f"- {flat['row']}: undecided images {flat['undecided']}")
    return "\n".join(lines + ([""] + undecided if undecided else [])) + "\n"


def write_tables(rows: list[BarrierRow], csv_path: str | None = None,
                 json_path: str | None = None, md_path: str | None = None) -> None:
    """Write the renderings asked for."""
    if csv_path:
        write_text(csv_path, rows_to_csv(rows_table(rows)))
    if json_path:
        write_text(json_path, json.dumps(json_safe(
            {"rows": rows_table(rows),
             "records": {row.name: [r.to_dict() for r in row.records] for row in rows}}),
            indent=1))
    if md_path:
        write_text(md_path, to_markdown(rows))
