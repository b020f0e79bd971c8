"""onnxruntime as a second opinion on a witness: the network's output computed by the
ONNX model itself.

:class:`OnnxReference` runs one model: the flat input is split over the graph inputs
(in order), and the result is the flat concatenation of the graph outputs followed by
the requested hidden tensors (``taps``), the same layout as the imported network's
output (:func:`verifier.network.onnx_import.translate`). :class:`JointReference` does the
same for a joint network of several models (:mod:`verifier.network.joint`): it runs each
model on its slice of the joint input and picks the joint output's entries.

A reference is a picklable value (paths and names); sessions are made once per process
and file content. Calling one returns None when onnxruntime is not installed or the model
cannot be run on the input (the caller then relies on the float64 replay alone).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["OnnxReference", "JointReference"]


@functools.lru_cache(maxsize=8)
def _session(path: str, stamp: tuple, taps: tuple[str, ...]):
    """An onnxruntime session of the model with ``taps`` added to its outputs (kept:
    replays of one run share it; ``stamp``, the file's modification time and size, keys
    it to the file's content), or None when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not taps:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    import onnx
    model = onnx.load(path)
    present = {o.name for o in model.graph.output}
    for name in taps:
        if name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class OnnxReference:
    """One ONNX model run by onnxruntime.

    Attributes:
        path: the ``.onnx`` file.
        inputs: the graph inputs fed, in order (None: every input the session reports).
        taps: hidden tensors appended to the output.
    """

    path: str
    inputs: tuple[str, ...] | None = None
    taps: tuple[str, ...] = ()

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        """The flat output at the flat input ``x``, or None (no onnxruntime, or the
        input does not fit the model)."""
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        session = _session(str(self.path), (info.st_mtime_ns, info.st_size), self.taps)
        if session is None:
            return None
        by_name = {i.name: i for i in session.get_inputs()}
        names = list(by_name) if self.inputs is None else list(self.inputs)
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        feed, offset = {}, 0
        for name in names:
            inp = by_name.get(name)
            if inp is None:
                return None
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
            size = int(np.prod(shape))
            dtype = np.float64 if "double" in inp.type else np.float32
            feed[name] = x[offset:offset + size].reshape(shape).astype(dtype)
            offset += size
        if offset != x.size:
            return None
        graph_outputs = [o.name for o in session.get_outputs()]
        wanted = [n for n in graph_outputs if n not in self.taps] + list(self.taps)
        values = session.run(wanted, feed)
        return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values])


@dataclass(frozen=True)
class JointReference:
    """Several models side by side, as a joint network sees them.

    Attributes:
        parts: one reference per part.
        reads: part k's input is ``joint_input[reads[k]]``.
        picks: the joint output: ``(k, indices)`` entries of part k's output, or
            ``(-1, indices)`` entries of the joint input (as :func:`~verifier.network.joint.compose`).
    """

    parts: tuple[OnnxReference, ...]
    reads: tuple[tuple[int, ...], ...]
    picks: tuple[tuple[int, tuple[int, ...]], ...]

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        outputs = {}
        for k, part in enumerate(self.parts):
            y = part(x[list(self.reads[k])])
            if y is None:
                return None
            outputs[k] = y
        outputs[-1] = x
        try:
            return np.concatenate([outputs[k][list(idx)] for k, idx in self.picks])
        except IndexError:
            return None
