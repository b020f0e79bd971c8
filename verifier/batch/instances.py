"""Reading a VNN-COMP ``instances.csv``: one :class:`Instance` per row."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from verifier.batch.networks import (format_network_list, is_network_list,
                                     parse_network_list, resolve_networks)
from verifier.errors import InputFileError, shorten
from verifier.files import check_input_file

GROUND_TRUTH_ALIASES = {"sat": "sat", "unsat": "unsat", "violated": "sat",
                        "holds": "unsat", "unknown": "unknown", "": ""}
#: file endings of the first two columns of a data row
PATH_ENDINGS = (".onnx", ".onnx.gz", ".nnet", ".vnnlib", ".vnnlib.gz")

@dataclass(frozen=True)
class Instance:
    """One row of an instances CSV.

    Attributes:
        onnx, vnnlib: the paths as written in the CSV (the resume key); ``onnx`` may be a
            list of ``(name, path)`` pairs (several networks of a VNN-LIB 2.0 query).
        onnx_path, vnnlib_path: the same, resolved against the CSV's folder.
        timeout: the CSV's time limit (None when the column is empty/missing).
        expected: ground-truth verdict (``sat``/``unsat``/``unknown``) or ``""``.
        best_time_s: best published time, or ``""``.
        line: 1-based line in the CSV.
        problem: why the row cannot run (e.g. a timeout that is no number of seconds > 0),
            or ``""``; such a row becomes an ``error`` row without starting a process.
    """

    onnx: str
    vnnlib: str
    onnx_path: str
    vnnlib_path: str
    timeout: float | None
    expected: str = ""
    best_time_s: str = ""
    line: int = 0
    problem: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.onnx, self.vnnlib)


def is_header(row: list[str]) -> bool:
    """The row names the columns (``onnx`` and ``vnnlib`` among them)."""
    names = [c.strip().lower() for c in row]
    return "onnx" in names and "vnnlib" in names


def looks_like_header(row: list[str]) -> bool:
    """A first row that names columns but not ``onnx`` and ``vnnlib``: no field is a
    network or property path and its third field (a data row's timeout) is no number."""
    if any(c.strip().lower().endswith(PATH_ENDINGS) for c in row):
        return False
    if len(row) >= 3:
        try:
            float(row[2])
            return False
        except ValueError:
            pass
    return True


def read_instances(csv_path: str | os.PathLike) -> list[Instance]:
    """Read a VNN-COMP ``instances.csv`` (``onnx,vnnlib,timeout[,...]``, header optional).

    Paths are relative to the CSV's folder. With a header, the optional columns
    ``verdict`` (ground truth, kept as ``expected``) and ``best_time_s`` are kept.
    Duplicate (onnx, vnnlib) rows are kept once.

    A row whose timeout is not a number of seconds > 0 is kept with a ``problem`` (it
    becomes an ``error`` row); the CSV as a whole is refused only when it cannot be
    understood.

    Raises:
        InputFileError: missing/unreadable CSV (or not a regular file), a header without
            ``onnx``/``vnnlib``, a row with fewer than 2 fields, or a verdict other than
            sat/unsat/unknown/violated/holds.
    """
    path = Path(csv_path)
    check_input_file(path, "instances file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read instances file ({exc})") from None
    rows = [_row(line) for line in text.splitlines()]
    base = path.resolve().parent
    columns = ["onnx", "vnnlib", "timeout"]
    start = 0
    if rows and is_header(rows[0]):
        columns = [c.strip().lower() for c in rows[0]]
        start = 1
    elif rows and rows[0] and looks_like_header(rows[0]):
        raise InputFileError(f"{path}:1: the first row {shorten(','.join(rows[0]))!r} looks "
                             "like a header without the columns 'onnx' and 'vnnlib' (use "
                             "onnx,vnnlib,timeout[,verdict,...] or no header)")
    instances: list[Instance] = []
    seen: set[tuple[str, str]] = set()
    for index in range(start, len(rows)):
        raw = rows[index]
        if not raw or all(not c.strip() for c in raw) or raw[0].lstrip().startswith("#"):
            continue
        record = {name: (raw[i].strip() if i < len(raw) else "")
                  for i, name in enumerate(columns)}
        if not record.get("onnx") or not record.get("vnnlib"):
            raise InputFileError(f"{path}:{index + 1}: expected onnx,vnnlib,timeout; "
                                 f"got {','.join(raw)!r}")
        timeout, problem = _timeout(record.get("timeout", ""), f"{path}:{index + 1}")
        verdict = record.get("verdict", "").lower()
        if verdict not in GROUND_TRUTH_ALIASES:
            raise InputFileError(f"{path}:{index + 1}: verdict {shorten(verdict)!r} is not "
                                 "sat, unsat, unknown, violated, holds or empty")
        expected = GROUND_TRUTH_ALIASES[verdict]
        onnx_path = str(base / record["onnx"])
        if is_network_list(record["onnx"]):
            pairs = parse_network_list(record["onnx"], f"{path}:{index + 1}")
            onnx_path = format_network_list(resolve_networks(pairs, str(base)))
        inst = Instance(onnx=record["onnx"], vnnlib=record["vnnlib"],
                        onnx_path=onnx_path,
                        vnnlib_path=str(base / record["vnnlib"]), timeout=timeout,
                        expected=expected, best_time_s=record.get("best_time_s", ""),
                        line=index + 1, problem=problem)
        if inst.key in seen:
            continue
        seen.add(inst.key)
        instances.append(inst)
    return instances


def _row(line: str) -> list[str]:
    """One CSV line as fields; a first field ``[(...), ...]`` (several networks, VNN-COMP
    2026) is one field although it holds commas."""
    if is_network_list(line):
        end = line.find("]")
        if end >= 0:
            rest = line[end + 1:].lstrip()
            fields = next(csv.reader([rest[1:]]), []) if rest.startswith(",") else []
            return [line[:end + 1].strip(), *fields]
    return next(csv.reader([line]), [])


def _timeout(text: str, where: str) -> tuple[float | None, str]:
    """The timeout column: ``(None, "")`` when empty, ``(seconds, "")`` for a finite
    number > 0, else ``(None, the problem)``."""
    if not text:
        return None, ""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        return None, f"{where}: timeout {shorten(text)!r} is not a number of seconds > 0"
    return value, ""


def select_instances(instances: list[Instance], filters: list[str] | None = None,
                     limit: int | None = None) -> list[Instance]:
    """Rows whose onnx or vnnlib path contains any of ``filters``, then the first ``limit``."""
    if filters:
        instances = [i for i in instances
                     if any(f in i.onnx or f in i.vnnlib for f in filters)]
    if limit is not None:
        instances = instances[:max(limit, 0)]     # the CLI asks for a limit >= 1
    return instances
