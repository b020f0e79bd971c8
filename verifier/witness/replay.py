"""Replaying a candidate counterexample against the exact property.

A candidate becomes a witness only if, after clipping into its case's box (and moving onto
its input rows, :mod:`verifier.witness.repair`), the float64
reference forward pass puts the output inside one of that case's unsafe polytopes (no
tolerance; strict rows strictly), and, when the network came from an ONNX file (or a
reference of several, :mod:`verifier.network.onnx_reference`) and onnxruntime is installed,
onnxruntime (float32) agrees within ``ORT_TOLERANCE`` (VNN-COMP's 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from verifier.network import Network
from verifier.spec import Property
from verifier.network.onnx_reference import OnnxReference
from verifier.witness.repair import onto_input_rows

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


def onnxruntime_output(path: str, x: np.ndarray) -> np.ndarray | None:
    """Output of the ONNX model at one flat input (its graph outputs concatenated), or
    None if onnxruntime is unavailable or the input does not fit."""
    return OnnxReference(str(path))(x)


def as_reference(onnx: str | Callable | None) -> Callable | None:
    """A reference ``x -> output`` from an ONNX file path (only ``.onnx`` files are run),
    a reference already, or None."""
    if onnx is None or callable(onnx):
        return onnx
    return OnnxReference(str(onnx)) if str(onnx).endswith(".onnx") else None


def replay(net: Network, prop: Property, x: np.ndarray, case_index: int | None = None,
           onnx_path: str | Callable | None = None) -> Witness | None:
    """Return a :class:`Witness` if ``x`` (clipped into a case box) violates the property.

    Args:
        net: the network (reference forward pass).
        prop: the property.
        x: (n_inputs,) candidate.
        case_index: try only this case (default: every case).
        onnx_path: an ONNX file or a reference ``x -> output``
            (:mod:`verifier.network.onnx_reference`); if given and onnxruntime is installed,
            also replay there.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(x)):
        return None
    reference = as_reference(onnx_path)
    cases = range(len(prop.cases)) if case_index is None else [case_index]
    for k in cases:
        case = prop.cases[k]
        xc = np.clip(x, case.lower, case.upper)
        xc = onto_input_rows(case, xc)
        if xc is None or not case.contains_input(xc):
            continue
        y = net.forward(xc)
        if not case.admits(y):
            continue
        for d, poly in enumerate(case.disjuncts):
            if not poly.contains(y):
                continue
            margin = float(poly.margin(y))
            checked = ("reference",)
            if reference is not None:
                y_ort = reference(xc)
                if y_ort is not None:
                    if float(poly.margin(y_ort)) > ORT_TOLERANCE or (
                            case.constraints is not None
                            and float(case.constraints.margin(y_ort)) > ORT_TOLERANCE):
                        continue
                    checked = ("reference", "onnxruntime")
            return Witness(xc, y, k, d, margin, checked)
    return None
