"""Replaying a candidate counterexample against the exact property.

A candidate becomes a witness only if, after clipping into its case's box, the float64
reference forward pass puts the output inside one of that case's unsafe polytopes (no
tolerance), and, when the network came from an ONNX file and onnxruntime is installed,
onnxruntime (float32) agrees within ``ORT_TOLERANCE`` (VNN-COMP's 1e-4).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from verifier.network import Network
from verifier.spec import Property

ORT_TOLERANCE = 1e-4


@dataclass(frozen=True, eq=False)
class Witness:
    """A replayed counterexample: input x (in the box), output y, case and disjunct."""

    x: np.ndarray
    y: np.ndarray
    case: int
    disjunct: int
    margin: float
    checked_with: tuple[str, ...]


@functools.lru_cache(maxsize=4)
def _session(path: str, stamp: tuple):
    """An onnxruntime session of the model (kept: replays of one run share it; ``stamp``,
    the file's modification time and size, keys it to the file's content), or None when
    onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnxruntime_output(path: str, x: np.ndarray) -> np.ndarray | None:
    """Output of the ONNX model at one flat input, or None if onnxruntime is unavailable."""
    info = os.stat(path)
    session = _session(str(path), (info.st_mtime_ns, info.st_size))
    if session is None:
        return None
    inp = session.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    dtype = np.float64 if "double" in inp.type else np.float32
    out = session.run(None, {inp.name: x.reshape(shape).astype(dtype)})[0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def replay(net: Network, prop: Property, x: np.ndarray, case_index: int | None = None,
           onnx_path: str | None = None) -> Witness | None:
    """Return a :class:`Witness` if ``x`` (clipped into a case box) violates the property.

    Args:
        net: the network (reference forward pass).
        prop: the property.
        x: (n_inputs,) candidate.
        case_index: try only this case (default: every case).
        onnx_path: if given and onnxruntime is installed, also replay there.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(x)):
        return None
    cases = range(len(prop.cases)) if case_index is None else [case_index]
    for k in cases:
        case = prop.cases[k]
        xc = np.clip(x, case.lower, case.upper)
        if not case.contains_input(xc):
            continue
        y = net.forward(xc)
        for d, poly in enumerate(case.disjuncts):
            margin = float(poly.margin(y))
            if margin > 0:
                continue
            checked = ("reference",)
            if onnx_path is not None and str(onnx_path).endswith(".onnx"):
                y_ort = onnxruntime_output(onnx_path, xc)
                if y_ort is not None:
                    if float(poly.margin(y_ort)) > ORT_TOLERANCE:
                        continue
                    checked = ("reference", "onnxruntime")
            return Witness(xc, y, k, d, margin, checked)
    return None
