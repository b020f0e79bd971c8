"""The tables of ``bench/run.py``: one row per (instance group, method), from runs or from
``verifier batch`` result files."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from bench_suites import Instance, Run

VERDICT_COLUMNS = ("unsat", "sat", "unknown", "timeout", "error")


def batch_group(onnx_path: Path) -> str:
    """``acasxu`` or ``<benchmark> <network suffix>`` for a batch row's network path."""
    if onnx_path.name.upper().startswith("ACASXU"):
        return "acasxu"
    parts = onnx_path.parts
    bench = parts[parts.index("onnx") - 1] if "onnx" in parts[1:] else ""
    if not bench and onnx_path.name.startswith("mnist-net"):
        bench = "mnistfc"
    suffix = onnx_path.stem.split("_")[-1]
    return f"{bench} {suffix}".strip()


def spec_label(vnnlib: Path) -> str:
    """The spec's path below its ``vnnlib`` folder without the suffix (``2021/prop_1_0.03``:
    mnistfc has specs of the same name for several years), else its stem."""
    parts = vnnlib.with_suffix("").parts
    if "vnnlib" in parts[:-1]:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("vnnlib") + 1:])
    return vnnlib.stem


def runs_from_batch(paths: list[str]) -> list[Run]:
    """Runs read from ``verifier batch --out`` CSVs; a later file's row replaces an earlier
    one for the same (onnx, vnnlib) (e.g. a re-run at the full competition limit).

    The group is ``<benchmark folder> <network suffix>`` (``acasxu``, ``mnistfc 256x2``).
    """
    by_key: dict[tuple[str, str], dict] = {}
    for path in paths:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                by_key[(row["onnx"], row["vnnlib"])] = row
    runs = []
    for (onnx, vnnlib), row in by_key.items():
        onnx_path = Path(onnx)
        group = batch_group(onnx_path)
        truth = row.get("expected", "")
        inst = Instance(group, f"{onnx_path.stem} {spec_label(Path(vnnlib))}", onnx_path,
                        make_property=lambda net: None,
                        truth=truth if truth in ("sat", "unsat") else "",
                        timeout=float(row.get("timeout") or 0.0),
                        best_time=float(row["best_time_s"]) if row.get("best_time_s")
                        else None)
        seconds = row.get("time_s") or row.get("wall_s") or "0"
        runs.append(Run(inst, row.get("method", "auto"), row["verdict"], float(seconds),
                        message=row.get("message", "")))
    runs.sort(key=lambda r: (r.instance.group, r.instance.name))
    return runs


def summarise(runs: list[Run], suite: str) -> tuple[list[str], list[list[str]]]:
    header = ["group", "method", "instances", *VERDICT_COLUMNS, "wrong", "total s",
              "median s", "highs %", "domains/s"]
    if suite == "exact":
        header += ["best median s", "solved", "known verdict", "solved of known",
                   "our total s (solved)", "best total s (solved)", "faster than best"]
    if suite in ("eran-prima", "lp-core"):
        header += ["certified", "s/instance"]
    keys: list[tuple[str, str]] = []
    for r in runs:
        if (r.instance.group, r.method) not in keys:
            keys.append((r.instance.group, r.method))
    rows = []
    for group, method in keys:
        sel = [r for r in runs if r.instance.group == group and r.method == method]
        counts = {v: sum(r.verdict == v for r in sel) for v in VERDICT_COLUMNS}
        times = [r.seconds for r in sel]
        total = sum(times)
        highs = sum(r.highs_seconds for r in sel)
        has_truth = any(r.instance.truth for r in sel)
        row = [group, method, str(len(sel)), *(str(counts[v]) for v in VERDICT_COLUMNS),
               str(sum(r.wrong for r in sel)) if has_truth else "-",
               f"{total:.1f}", f"{statistics.median(times):.2f}" if times else "-",
               f"{100 * highs / total:.0f}" if total > 0 else "-", _domains_per_second(sel)]
        if suite == "exact":
            best = [r.instance.best_time for r in sel if r.instance.best_time is not None]
            solved = [r for r in sel if r.verdict in ("sat", "unsat") and not r.wrong]
            faster = sum(r.instance.best_time is not None and r.seconds <= r.instance.best_time
                         for r in solved)
            known = [r for r in sel if r.instance.truth in ("sat", "unsat")]
            solved_known = [r for r in solved if r.instance.truth in ("sat", "unsat")]
            best_solved = sum(r.instance.best_time for r in solved
                              if r.instance.best_time is not None)
            row += [f"{statistics.median(best):.2f}" if best else "-", str(len(solved)),
                    str(len(known)), str(len(solved_known)),
                    f"{sum(r.seconds for r in solved):.1f}", f"{best_solved:.1f}",
                    str(faster)]
        if suite in ("eran-prima", "lp-core"):
            row += [str(counts["unsat"]), f"{total / len(sel):.2f}" if sel else "-"]
        rows.append(row)
    return header, rows


def _domains_per_second(runs: list[Run]) -> str:
    """Sub-domains (or input pieces) bounded per second of branch-and-bound search, over
    the runs that searched; ``-`` when none did."""
    seconds = sum(r.search_seconds for r in runs)
    return f"{sum(r.domains for r in runs) / seconds:.0f}" if seconds > 0 else "-"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, padded so that it also reads well in a terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i >= 2 else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def conflicts(runs: list[Run]) -> list[str]:
    """Instances where one method said sat and another unsat (one of them is unsound)."""
    by_instance: dict[int, dict[str, str]] = {}
    names: dict[int, Instance] = {}
    for r in runs:
        by_instance.setdefault(id(r.instance), {})[r.method] = r.verdict
        names[id(r.instance)] = r.instance
    out = []
    for key, verdicts in by_instance.items():
        values = set(verdicts.values())
        if "sat" in values and "unsat" in values:
            inst = names[key]
            out.append(f"{inst.group} | {inst.name}: " +
                       ", ".join(f"{m}={v}" for m, v in verdicts.items()))
    return out


def write_outputs(out_dir: Path, suite: str, header, rows, runs: list[Run], text: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{suite}.md").write_text(text + "\n")
    with open(out_dir / f"{suite}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    with open(out_dir / f"{suite}_instances.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["group", "instance", "method", "verdict", "truth", "wrong", "seconds",
                         "highs_seconds", "timeout", "best_time_s", "message"])
        for r in runs:
            writer.writerow([r.instance.group, r.instance.name, r.method, r.verdict,
                             r.instance.truth, int(r.wrong), f"{r.seconds:.3f}",
                             f"{r.highs_seconds:.3f}", r.instance.timeout,
                             "" if r.instance.best_time is None else r.instance.best_time,
                             r.message])
