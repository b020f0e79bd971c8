"""VNN-COMP result files: a verdict line, and for ``sat`` the counterexample.

The format written (and read) is the competition's::

    sat
    (
    (X_0 0.25)
    (X_1 -0.5)
    (Y_0 1.75)
    )

The first line is one of ``sat``, ``unsat``, ``unknown``, ``timeout``, ``error``. Values are
written with ``repr(float)`` so they read back bit for bit. The reader also accepts the 2021
words ``violated`` / ``holds``, the one-line ``((X_0 v) ...)`` layout and ``.gz`` files.
"""

from __future__ import annotations

import gzip
import os
import re

import numpy as np

from verifier.errors import InputFileError
from verifier.files import check_input_file, read_capped, write_text_atomic

__all__ = ["VERDICTS", "format_counterexample", "result_file_text", "write_result_file",
           "read_result_file", "RESULT_WORDS", "query_result_lines", "write_query_result_file"]

#: the pipeline's verdicts -> the VNN-LIB 2.0 standard's result words
RESULT_WORDS = {"sat": "sat", "unsat": "unsat", "unknown": "unknown", "timeout": "timed-out",
                "error": "unknown"}
#: how the standard's examples write the real type in assignment headers
REAL_HEADER = "Real"

#: Verdict words of a result file's first line.
VERDICTS = ("sat", "unsat", "unknown", "timeout", "error")

# Our verdict names (and the 2021 competition's) -> result-file words.
_VERDICT_ALIASES = {"sat": "sat", "unsat": "unsat", "unknown": "unknown",
                    "timeout": "timeout", "error": "error",
                    "violated": "sat", "holds": "unsat", "falsified": "sat",
                    "verified": "unsat"}

#: the largest result file read (decompressed)
MAX_RESULT_BYTES = 256 << 20

_ASSIGNMENT_RE = re.compile(r"\(\s*([XY])_(\d+)\s+([^\s()]+)\s*\)")


def _verdict_word(verdict: str) -> str:
    word = _VERDICT_ALIASES.get(str(verdict).strip().lower())
    if word is None:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of {', '.join(VERDICTS)}")
    return word


def format_counterexample(x: np.ndarray, y: np.ndarray | None = None) -> str:
    """The competition's counterexample block.

    Args:
        x: (n_inputs,) input (any shape; flattened in C order).
        y: (n_outputs,) output f(x), or None to write only the inputs.

    Returns:
        ``"(\\n(X_0 v)\\n...(Y_0 v)\\n...)\\n"``.
    """
    lines = ["("]
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    lines += [f"(X_{i} {float(v)!r})" for i, v in enumerate(x)]
    if y is not None:
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        lines += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(y)]
    lines.append(")")
    return "\n".join(lines) + "\n"


def result_file_text(verdict: str, x: np.ndarray | None = None,
                     y: np.ndarray | None = None) -> str:
    """The text of a VNN-COMP result file (see :func:`write_result_file`).

    Raises:
        ValueError: an unknown verdict.
    """
    word = _verdict_word(verdict)
    text = word + "\n"
    if word == "sat" and x is not None:
        text += format_counterexample(x, y)
    return text


def write_result_file(path: str | os.PathLike, verdict: str, x: np.ndarray | None = None,
                      y: np.ndarray | None = None) -> None:
    """Write a VNN-COMP result file.

    Args:
        path: the file to (over)write.
        verdict: ``"sat"``, ``"unsat"``, ``"unknown"``, ``"timeout"`` or ``"error"`` (our
            Result verdicts; ``"violated"``/``"holds"`` are accepted too).
        x: (n_inputs,) counterexample input, written only for ``sat``.
        y: (n_outputs,) its output f(x), written only for ``sat``.

    The file is written whole or not at all (a temporary file renamed over it).

    Raises:
        ValueError: an unknown verdict.
        InputFileError: the file cannot be written.
    """
    write_text_atomic(path, result_file_text(verdict, x, y))


def _gather(values: dict[int, float], kind: str, path: str) -> np.ndarray | None:
    if not values:
        return None
    n = max(values) + 1
    missing = [i for i in range(n) if i not in values]
    if missing:
        raise InputFileError(f"{path}: counterexample has no value for {kind}_{missing[0]}")
    return np.array([values[i] for i in range(n)], dtype=np.float64)


def read_result_file(path: str | os.PathLike
                     ) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """Read a VNN-COMP result file (or a bare counterexample file).

    Args:
        path: the file (``.gz`` is decompressed).

    Returns:
        ``(verdict, x, y)``: verdict one of :data:`VERDICTS`; x (n_inputs,) and
        y (n_outputs,) float64 arrays, or None when absent. A file holding only a
        counterexample (no verdict line) reads as ``"sat"``.

    Raises:
        InputFileError: missing/unreadable file (or not a regular one), larger than
            ``MAX_RESULT_BYTES`` (decompressed), unknown verdict word, malformed values.
    """
    path = os.fspath(path)
    check_input_file(path, "result file")
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            text = read_capped(f, MAX_RESULT_BYTES, path, "result file").decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read result file ({exc})") from None
    stripped = text.strip()
    if not stripped:
        raise InputFileError(f"{path}: empty result file")
    first = stripped.split("\n", 1)[0].strip()
    if first.startswith("("):
        word = "sat"
        body = stripped
    else:
        word = _VERDICT_ALIASES.get(first.lower())
        if word is None:
            raise InputFileError(f"{path}: unknown verdict {first!r} (expected one of "
                                 f"{', '.join(VERDICTS)})")
        body = stripped[len(first):]
    xs: dict[int, float] = {}
    ys: dict[int, float] = {}
    for match in _ASSIGNMENT_RE.finditer(body):
        kind, index, value = match.group(1), int(match.group(2)), match.group(3)
        try:
            number = float(value)
        except ValueError:
            raise InputFileError(f"{path}: {kind}_{index} has the non-number value "
                                 f"{value!r}") from None
        (xs if kind == "X" else ys)[index] = number
    return word, _gather(xs, "X", path), _gather(ys, "Y", path)


def query_result_lines(query, verdict: str, assignment: dict | None) -> list[str]:
    """The VNN-LIB 2.0 standard's ``verify`` output: the result word (``sat``, ``unsat``,
    ``unknown``, ``timed-out``), then for ``sat`` every declared variable of the query in
    declaration order: a header ``NAME TYPE [d1,d2]`` and one value per line (row-major,
    ``repr`` of the float, so it reads back bit for bit)."""
    lines = [RESULT_WORDS.get(verdict, "unknown")]
    if verdict == "sat" and assignment is not None:
        for var in query.variables:
            kind = REAL_HEADER if var.element_type == "real" else var.element_type
            lines.append(f"{var.name} {kind} [{','.join(str(d) for d in var.shape)}]")
            values = np.asarray(assignment[var.name]).reshape(-1)
            integer = var.element_type.startswith(("int", "uint", "bool"))
            lines += [str(int(v)) if integer else repr(float(v)) for v in values]
    return lines


def write_query_result_file(path: str | os.PathLike, lines: list[str]) -> None:
    """A result file of a VNN-LIB 2.0 instance: :func:`query_result_lines`, written whole
    or not at all."""
    write_text_atomic(path, "\n".join(lines) + "\n")
