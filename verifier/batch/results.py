"""The results CSV (appended row by row, resumable), progress and the summary."""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
import sys
import time
from pathlib import Path

from verifier.batch.instances import Instance
from verifier.batch.isolate import one_line
from verifier.errors import InputFileError, VerifierError

#: Columns of the output CSV, in order.
OUTPUT_COLUMNS = ["onnx", "vnnlib", "verdict", "expected", "time_s", "wall_s", "best_time_s",
                  "timeout", "certified_margin", "method", "message"]



def format_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ""
    return str(value)


def check_output_state(out_path: Path, resume: bool, overwrite: bool) -> bool:
    """Whether the results CSV exists (non-empty); an error if it does and neither
    ``resume`` nor ``overwrite`` says what to do with it (checked before any work)."""
    exists = out_path.exists() and out_path.stat().st_size > 0
    if exists and not (resume or overwrite):
        raise VerifierError(f"{out_path} exists; pass --resume to continue it or "
                            "--overwrite to start again")
    return exists


def prepare_output(out_path: Path, resume: bool, overwrite: bool) -> dict[tuple[str, str], dict]:
    """Open the results CSV for appending; return the rows already there (by key).

    A torn last line (the batch was killed mid-write) is cut off, so its instance reruns.
    Without ``resume`` an existing non-empty file is an error unless ``overwrite``.
    """
    done: dict[tuple[str, str], dict] = {}
    exists = check_output_state(out_path, resume, overwrite)
    if exists and not resume:
        out_path.unlink()
        exists = False
    if exists:
        data = out_path.read_bytes()
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with open(out_path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
            data = data[:cut]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        if rows:
            if rows[0] != OUTPUT_COLUMNS:
                raise InputFileError(f"{out_path}: not a results file of this tool (header "
                                     f"{','.join(rows[0])!r}); use another --out")
            for row in rows[1:]:
                if len(row) != len(OUTPUT_COLUMNS):
                    continue
                record = dict(zip(OUTPUT_COLUMNS, row))
                done[(record["onnx"], record["vnnlib"])] = record
        else:
            exists = False
    if not exists:                  # its folder was checked to exist (never created)
        with open(out_path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerow(OUTPUT_COLUMNS)
            fh.flush()
            os.fsync(fh.fileno())
    return done


class ResultWriter:
    """Appends one row per finished instance; each row is flushed and fsync'ed."""

    def __init__(self, path: Path):
        self._fh = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh, lineterminator="\n")

    def write(self, record: dict) -> None:
        self._writer.writerow([format_cell(record.get(c)) for c in OUTPUT_COLUMNS])
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def output_record(inst: Instance, out: dict, method: str, timeout: float) -> dict:
    return {"onnx": inst.onnx, "vnnlib": inst.vnnlib, "verdict": out.get("verdict", "error"),
            "expected": inst.expected, "time_s": out.get("time_s"), "wall_s": out.get("wall_s"),
            "best_time_s": inst.best_time_s, "timeout": float(timeout),
            "certified_margin": out.get("certified_margin"), "method": method,
            "message": one_line(out.get("message", ""))}


def format_duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """One status line on stderr: done/total, verdict tallies, elapsed and ETA."""

    def __init__(self, total: int, already: int, stream=None):
        self.total = total
        self.done = already
        self.already = already
        self.tally: dict[str, int] = {}
        self.start = time.monotonic()
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, verdict: str, label: str = "") -> None:
        self.done += 1
        self.tally[verdict] = self.tally.get(verdict, 0) + 1
        elapsed = time.monotonic() - self.start
        new = self.done - self.already
        left = self.total - self.done
        eta = elapsed / new * left if new else float("nan")
        tallies = " ".join(f"{k} {v}" for k, v in sorted(self.tally.items()))
        line = (f"[{self.done}/{self.total}] {tallies} | elapsed {format_duration(elapsed)} "
                f"ETA {format_duration(eta) if math.isfinite(eta) else '?'}")
        if label and not self.tty:
            line += f" | {label}: {verdict}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if left == 0 else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()


def finite_float(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def summarize(records: list[dict]) -> dict:
    """Counts per verdict and, with ground truth, correct / WRONG / unknown / timeouts.

    Returns:
        ``{"total", "verdicts", "has_truth", "correct", "wrong" (list of records),
        "unknown", "timeout", "error", "no_truth", "time_total", "time_median" (time
        inside the instance processes), "wall_total", "wall_median" (their wall time,
        start-up included), "best_total", "best_median", "timed_pairs"}``.
    """
    verdicts: dict[str, int] = {}
    for r in records:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    truth = [r for r in records if r.get("expected") in ("sat", "unsat")]
    summary = {"total": len(records), "verdicts": verdicts, "has_truth": bool(truth),
               "correct": sum(r["verdict"] == r["expected"] for r in truth),
               "wrong": [r for r in truth if r["verdict"] in ("sat", "unsat")
                         and r["verdict"] != r["expected"]],
               "unknown": sum(r["verdict"] == "unknown" for r in truth),
               "timeout": sum(r["verdict"] == "timeout" for r in truth),
               "error": sum(r["verdict"] == "error" for r in truth),
               "no_truth": len(records) - len(truth)}
    times = [t for t in (finite_float(r.get("time_s")) for r in records) if t is not None]
    summary["time_total"] = sum(times)
    summary["time_median"] = statistics.median(times) if times else None
    walls = [t for t in (finite_float(r.get("wall_s")) for r in records) if t is not None]
    summary["wall_total"] = sum(walls)
    summary["wall_median"] = statistics.median(walls) if walls else None
    pairs = [(finite_float(r.get("time_s")), finite_float(r.get("best_time_s"))) for r in records
             if r["verdict"] == r.get("expected") and r["verdict"] in ("sat", "unsat")]
    pairs = [(t, b) for t, b in pairs if t is not None and b is not None]
    summary["timed_pairs"] = len(pairs)
    summary["our_total_solved"] = sum(t for t, _ in pairs)
    summary["best_total"] = sum(b for _, b in pairs)
    summary["our_median_solved"] = statistics.median([t for t, _ in pairs]) if pairs else None
    summary["best_median"] = statistics.median([b for _, b in pairs]) if pairs else None
    return summary


def time_lines(summary: dict) -> list[str]:
    """The time line of the summary: wall time of the instance processes (start-up
    included), the part of it spent after start-up, and this run's elapsed time."""
    if summary.get("wall_median") is None and summary["time_median"] is None:
        return []
    if summary.get("wall_median") is None:       # rows written by an older version
        return [f"  time: total {summary['time_total']:.1f}s, median "
                f"{summary['time_median']:.2f}s per instance (start-up not included)"]
    line = (f"  time: total {summary['wall_total']:.1f}s of wall time, median "
            f"{summary['wall_median']:.2f}s per instance (process start-up included; "
            f"{summary['time_total']:.1f}s after start-up)")
    if summary.get("elapsed") is not None:
        line += f"; this run took {format_duration(summary['elapsed'])}"
    return [line]


def format_summary(summary: dict) -> str:
    lines = [f"summary: {summary['total']} instance(s): "
             + ", ".join(f"{k} {v}" for k, v in sorted(summary["verdicts"].items()))]
    if summary["has_truth"]:
        judged = summary["total"] - summary["no_truth"]
        lines.append(f"  against ground truth ({judged} with sat/unsat): correct "
                     f"{summary['correct']}, WRONG {len(summary['wrong'])}, unknown "
                     f"{summary['unknown']}, timeout {summary['timeout']}, error "
                     f"{summary['error']}" + (f"; {summary['no_truth']} without ground truth"
                                              if summary["no_truth"] else ""))
        if summary["wrong"]:
            lines.append(f"  !!! {len(summary['wrong'])} WRONG VERDICT(S) — a soundness bug "
                         "or a wrong ground truth; check these first:")
            for r in summary["wrong"]:
                lines.append(f"  !!! WRONG: {r['onnx']} {r['vnnlib']}: ours {r['verdict']}, "
                             f"expected {r['expected']} ({r.get('message', '')})")
    lines += time_lines(summary)
    if summary["timed_pairs"]:
        ratio = (summary["our_total_solved"] / summary["best_total"]
                 if summary["best_total"] > 0 else float("inf"))
        lines.append(f"  on the {summary['timed_pairs']} correctly solved: ours total "
                     f"{summary['our_total_solved']:.3g}s after start-up (median "
                     f"{summary['our_median_solved']:.3g}s) vs best_time_s total "
                     f"{summary['best_total']:.3g}s (median {summary['best_median']:.3g}s)"
                     + (f", {ratio:.1f}x" if math.isfinite(ratio) else ""))
    return "\n".join(lines)
