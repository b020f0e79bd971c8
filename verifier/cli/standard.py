"""The VNN-LIB 2.0 standard's ``verify`` output: the result line, the assignment block,
serialised assignments.

``verifier verify QUERY --network NAME=FILE ... [--timeout S] [--serialise-assignments
DIR]`` prints exactly this on stdout (every log line goes to stderr):

* the first line ``sat``, ``unsat``, ``unknown`` or ``timed-out``;
* for ``sat`` (without ``--serialise-assignments``), every declared variable in declaration
  order: a header ``NAME TYPE [d1,d2]`` and one value per line in row-major order.

With ``--serialise-assignments DIR`` the assignment goes to ``DIR/NAME.pb``, one ONNX
TensorProto per variable (its declared element type; ``real`` as float64).
"""

from __future__ import annotations

import os

import numpy as np

#: the pipeline's verdicts -> the standard's result words
RESULT_WORDS = {"sat": "sat", "unsat": "unsat", "unknown": "unknown", "timeout": "timed-out",
                "error": "unknown"}
#: how the standard's examples write the real type in assignment headers
REAL_HEADER = "Real"


def parse_network_option(values: list[str] | None) -> dict[str, str]:
    """``["f=net.onnx", ...]`` -> ``{"f": "net.onnx"}``.

    Raises:
        ValueError: an item without ``=``, an empty name or file, or a name given twice.
    """
    files: dict[str, str] = {}
    for item in values or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--network {item!r}: give NAME=FILE")
        if name in files:
            raise ValueError(f"--network {name}=...: given twice")
        files[name] = path
    return files


def result_lines(query, result) -> list[str]:
    """The stdout lines of the standard's ``verify``: the result word, then (``sat``) the
    assignment in the command-line format."""
    lines = [RESULT_WORDS.get(result.verdict, "unknown")]
    if result.verdict == "sat" and result.assignment is not None:
        for var in query.variables:
            kind = REAL_HEADER if var.element_type == "real" else var.element_type
            lines.append(f"{var.name} {kind} [{','.join(str(d) for d in var.shape)}]")
            values = np.asarray(result.assignment[var.name]).reshape(-1)
            integer = var.element_type.startswith(("int", "uint", "bool"))
            lines += [str(int(v)) if integer else repr(float(v)) for v in values]
    return lines


def serialise_assignment(query, result, folder: str) -> None:
    """Write ``folder/NAME.pb`` (ONNX TensorProto) for every declared variable; the
    folder is created if missing. Files are written under a temporary name and renamed."""
    from onnx import numpy_helper

    os.makedirs(folder, exist_ok=True)
    for var in query.variables:
        dtype = np.float64 if var.element_type == "real" else np.dtype(
            {"float32": "float32", "float16": "float16", "float64": "float64"}.get(
                var.element_type, "float64"))
        value = np.asarray(result.assignment[var.name], dtype=dtype).reshape(var.shape)
        tensor = numpy_helper.from_array(value, var.name)
        path = os.path.join(folder, f"{var.name}.pb")
        partial = path + ".partial"
        with open(partial, "wb") as f:
            f.write(tensor.SerializeToString())
        os.replace(partial, path)
