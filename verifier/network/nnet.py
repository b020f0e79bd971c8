"""Reader for the ACAS Xu ``.nnet`` text format.

Layout: ``//`` header comments; ``n_layers, n_inputs, n_outputs, max_layer_size``; the
layer sizes (n_layers + 1 values, input first); a symmetric flag (unused); the input
minimums; the input maximums; the means (n_inputs + 1 values, the last for the output);
the ranges (likewise); then per layer the weight rows (one line per output neuron) and the
biases (one line per output neuron). Values are separated by commas.

The network returned works on NORMALISED inputs and gives RAW outputs, like the ONNX
versions of ACAS Xu: the normalisation is not folded in. Use :func:`nnet_normalisation`
to get (mins, maxs, means, ranges) and normalise ``(clip(x, min, max) - mean) / range``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from verifier.errors import InputFileError
from verifier.network.graph import GraphBuilder, Network

__all__ = ["read_nnet", "nnet_normalisation", "NnetFile", "parse_nnet"]


@dataclass(frozen=True)
class NnetFile:
    """The content of a .nnet file.

    Attributes:
        layer_sizes: (n_layers + 1,) sizes, input first.
        weights: per layer an (out, in) float64 array.
        biases: per layer an (out,) float64 array.
        mins, maxs: (n_inputs,) input bounds in raw units.
        means, ranges: (n_inputs + 1,) normalisation; the last entry is for the outputs.
    """

    layer_sizes: tuple[int, ...]
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    mins: np.ndarray
    maxs: np.ndarray
    means: np.ndarray
    ranges: np.ndarray


def _numbers(line: str) -> list[str]:
    return [t for t in line.replace(",", " ").split() if t]


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-empty, non-comment line."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read ({exc})") from None
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("//"):
            lines.append((number, stripped))
    return lines


def _floats(path: Path, number: int, line: str, count: int, what: str) -> np.ndarray:
    tokens = _numbers(line)
    try:
        values = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        raise InputFileError(f"{path}:{number}: {what}: not a list of numbers") from None
    if values.size < count:
        raise InputFileError(f"{path}:{number}: {what}: expected {count} values, "
                             f"found {values.size}")
    if not np.all(np.isfinite(values[:count])):
        raise InputFileError(f"{path}:{number}: {what}: NaN or inf")
    return values[:count]


def parse_nnet(path) -> NnetFile:
    """Parse a .nnet file.

    Raises:
        InputFileError: missing file, malformed or truncated content (with the line).
    """
    path = Path(path)
    lines = _data_lines(path)
    if len(lines) < 7:
        raise InputFileError(f"{path}: not a .nnet file (too few lines)")
    number, line = lines[0]
    head = _floats(path, number, line, 3, "sizes line")
    n_layers = int(head[0])
    sizes = tuple(int(s) for s in _floats(path, lines[1][0], lines[1][1], n_layers + 1,
                                          "layer sizes"))
    if n_layers < 1 or int(head[1]) != sizes[0] or int(head[2]) != sizes[-1]:
        raise InputFileError(f"{path}:{number}: sizes line {line!r} does not match the "
                             f"layer sizes {sizes}")
    n_in = sizes[0]
    mins = _floats(path, *lines[3], n_in, "input minimums")
    maxs = _floats(path, *lines[4], n_in, "input maximums")
    means = _floats(path, *lines[5], n_in + 1, "means")
    ranges = _floats(path, *lines[6], n_in + 1, "ranges")
    cursor = 7
    weights, biases = [], []
    for k in range(n_layers):
        n_prev, n_out = sizes[k], sizes[k + 1]
        need = 2 * n_out
        if cursor + need > len(lines):
            raise InputFileError(f"{path}: truncated in layer {k + 1} (expected {n_out} weight "
                                 f"rows and {n_out} biases)")
        rows = [_floats(path, *lines[cursor + r], n_prev, f"layer {k + 1} weights")
                for r in range(n_out)]
        cursor += n_out
        bias = [_floats(path, *lines[cursor + r], 1, f"layer {k + 1} bias")[0]
                for r in range(n_out)]
        cursor += n_out
        weights.append(np.vstack(rows))
        biases.append(np.asarray(bias, dtype=np.float64))
    return NnetFile(sizes, tuple(weights), tuple(biases), mins, maxs, means, ranges)


def read_nnet(path) -> Network:
    """Read a .nnet file as a :class:`Network` over normalised inputs with raw outputs.

    Returns:
        Network ``n_inputs -> n_outputs`` with ReLU after every hidden layer, none after
        the last.
    """
    content = parse_nnet(path)
    builder = GraphBuilder(content.layer_sizes[0])
    last = len(content.weights) - 1
    for k, (W, b) in enumerate(zip(content.weights, content.biases)):
        builder.affine(W, b)
        if k < last:
            builder.relu()
    return builder.build()


def nnet_normalisation(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Input normalisation data of a .nnet file.

    Returns:
        (mins (n_in,), maxs (n_in,), means (n_in + 1,), ranges (n_in + 1,)); a raw input x
        maps to ``(clip(x, mins, maxs) - means[:-1]) / ranges[:-1]``, and a raw network
        output y to ``y * ranges[-1] + means[-1]`` in physical units.
    """
    content = parse_nnet(path)
    return content.mins, content.maxs, content.means, content.ranges
