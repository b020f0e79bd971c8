"""ONNX import: a table of op translators building the constraint graph.

Every tensor is a C-order flat vector; the importer tracks each tensor's full ONNX shape
(the batch dimension of the graph input, symbolic or 1, is fixed to 1 while translating
and dropped from the shapes stored in the :class:`Network`). A tensor is either a
constant (a numpy array, folded eagerly) or a :class:`Tensor`, a graph node plus its
logical shape. Shape-only ops (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout)
make no node: they only relabel the shape of the same flat vector. Linear ops become
``Affine`` nodes (scipy.sparse CSR where the map is sparse: Conv, Transpose, Pad,
AveragePool, elementwise scaling), ``Relu`` and two-operand ``Add`` map to their records.

Unsupported ops are found by scanning every node before any translation work.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Callable, Union

import numpy as np
import onnx
import scipy.sparse as sp
from onnx import numpy_helper

from verifier.errors import InputFileError, NetworkError, UnsupportedOpError
from verifier.network.graph import GraphBuilder, Network

__all__ = ["import_onnx", "load_onnx_model", "TRANSLATORS", "SUPPORTED_OPS", "unsupported_hint",
           "Tensor"]


@dataclass(frozen=True)
class Tensor:
    """A computed tensor: the graph node holding its flat value and its full ONNX shape."""

    node: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(prod(self.shape))


Value = Union[np.ndarray, Tensor]

NONLINEAR_OPS = frozenset({
    "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Softplus", "Softsign", "Elu",
    "Selu", "Gelu", "Erf", "HardSigmoid", "HardSwish", "Sqrt", "Pow", "Sin", "Cos", "Mish",
    "Reciprocal", "Celu", "ThresholdedRelu"})


# ====================================================================== loading
def load_onnx_model(path_or_model) -> tuple[onnx.ModelProto, str]:
    """Read an ONNX model from a path (or pass a ModelProto through).

    Returns:
        (model, source) where source names the file (or ``"<model>"``).

    Raises:
        InputFileError: missing file or not an ONNX model.
    """
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, (path_or_model.graph.name or "<model>")
    path = Path(path_or_model)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, UnicodeDecodeError, ...
        raise InputFileError(f"{path}: not an ONNX model ({_one_line(exc)})") from None
    if not model.graph.node and not model.graph.input and not model.graph.output:
        raise InputFileError(f"{path}: not an ONNX model (no graph found in the file)")
    return model, str(path)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(exc).__name__)


# ====================================================================== context
class _Context:
    """Translation state: constants and computed tensors by ONNX name, the builder."""

    def __init__(self, builder: GraphBuilder, values: dict[str, Value], opset: int,
                 batched: bool):
        self.builder = builder
        self.values = values
        self.opset = opset
        self.batched = batched
        self.node_name = ""
        self.op_type = ""

    # ------------------------------------------------------------- errors
    def error(self, message: str) -> NetworkError:
        return NetworkError(f"node {self.node_name!r} ({self.op_type}): {message}")

    def unsupported(self, hint: str) -> UnsupportedOpError:
        return UnsupportedOpError(self.op_type, self.node_name, hint)

    # ------------------------------------------------------------- inputs
    def has_input(self, node: onnx.NodeProto, i: int) -> bool:
        return len(node.input) > i and node.input[i] != ""

    def value(self, node: onnx.NodeProto, i: int) -> Value:
        name = node.input[i]
        if name not in self.values:
            raise self.error(f"input {name!r} is not produced by any earlier node")
        return self.values[name]

    def const(self, node: onnx.NodeProto, i: int, what: str = "operand") -> np.ndarray:
        """Input i as a constant array; raises when it depends on the network input."""
        v = self.value(node, i)
        if isinstance(v, Tensor):
            raise self.error(f"{what} {node.input[i]!r} must be a constant")
        return v

    def weight(self, node: onnx.NodeProto, i: int, what: str = "weight") -> np.ndarray:
        """Input i as a finite float64 constant."""
        w = np.asarray(self.const(node, i, what), dtype=np.float64)
        if not np.all(np.isfinite(w)):
            raise self.error(f"{what} {node.input[i]!r} contains NaN or inf")
        return w

    def ints(self, node: onnx.NodeProto, i: int) -> list[int]:
        return [int(v) for v in np.asarray(self.const(node, i, "shape/axes")).reshape(-1)]

    # ------------------------------------------------------------- graph ops
    def logical(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape without the batch dimension (for records and reports)."""
        if self.batched and len(shape) > 1 and shape[0] == 1:
            return tuple(shape[1:])
        return tuple(shape)

    def affine(self, x: Tensor, W, b, shape: tuple[int, ...]) -> Tensor:
        """Append ``z = W x + b``; W (prod(shape), x.size), b (prod(shape),)."""
        b = np.broadcast_to(np.asarray(b, dtype=np.float64), (W.shape[0],))
        data = W.data if sp.issparse(W) else W
        if not (np.all(np.isfinite(data)) and np.all(np.isfinite(b))):
            raise self.error("weights contain NaN or inf")
        if W.shape != (int(prod(shape)), x.size):
            raise self.error(f"internal shape error: map {W.shape} for {x.shape} -> {shape}")
        name = self.builder.affine(W, b, source=x.node, shape=self.logical(shape))
        self._tag(name)
        return Tensor(name, tuple(shape))

    def relu(self, x: Tensor) -> Tensor:
        name = self.builder.relu(source=x.node, shape=self.logical(x.shape))
        self._tag(name)
        return Tensor(name, x.shape)

    def add(self, left: Tensor, right: Tensor) -> Tensor:
        name = self.builder.add(left.node, right.node, shape=self.logical(left.shape))
        self._tag(name)
        return Tensor(name, left.shape)

    def _tag(self, name: str) -> None:
        self.builder.graph.nodes[name]["onnx_node"] = self.node_name


# ====================================================================== linear maps
def _selection(index: np.ndarray, in_size: int) -> sp.csr_matrix:
    """CSR matrix S with ``(S x)[i] = x[index[i]]``; index (out,) of ints."""
    n = index.size
    return sp.csr_matrix((np.ones(n), (np.arange(n), index.reshape(-1))), shape=(n, in_size))


def _broadcast_map(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> sp.csr_matrix | None:
    """Selection matrix broadcasting a flat tensor of ``shape`` to ``out_shape`` (None: same)."""
    if tuple(shape) == tuple(out_shape):
        return None
    size = int(prod(shape))
    index = np.broadcast_to(np.arange(size).reshape(shape), out_shape)
    return _selection(np.ascontiguousarray(index).reshape(-1), size)


def _permutation_map(shape: tuple[int, ...], perm: list[int]) -> tuple[sp.csr_matrix, tuple]:
    """Transpose as a selection matrix; returns (P (size, size), permuted shape)."""
    size = int(prod(shape))
    index = np.arange(size).reshape(shape).transpose(perm)
    return _selection(np.ascontiguousarray(index).reshape(-1), size), tuple(index.shape)


def _kron_identity(left: int, W: np.ndarray, right: int):
    """``I_left (x) W (x) I_right`` (dense W when both identities are trivial)."""
    if left == 1 and right == 1:
        return W
    M = sp.csr_matrix(W)
    if right > 1:
        M = sp.kron(M, sp.identity(right, format="csr"), format="csr")
    if left > 1:
        M = sp.kron(sp.identity(left, format="csr"), M, format="csr")
    return M.tocsr()


def _matmul_right(ctx: _Context, xs: tuple, W: np.ndarray):
    """Map of ``x @ W`` for computed x (shape xs) and constant W (1-D or 2-D).

    Returns:
        (matrix (out_size, prod(xs)), out_shape).
    """
    if W.ndim not in (1, 2):
        raise ctx.unsupported("only 1-D or 2-D constant MatMul operands are supported")
    if not xs:
        raise ctx.error("MatMul of a scalar")
    K = W.shape[0]
    if xs[-1] != K:
        raise ctx.error(f"input shape {xs} does not match weight shape {W.shape}")
    lead = xs[:-1]
    if W.ndim == 1:
        return _kron_identity(int(prod(lead)), W[None, :], 1), tuple(lead)
    return _kron_identity(int(prod(lead)), W.T, 1), tuple(lead) + (W.shape[1],)


def _matmul_left(ctx: _Context, W: np.ndarray, xs: tuple):
    """Map of ``W @ x`` for constant W (1-D or 2-D) and computed x (shape xs)."""
    if W.ndim not in (1, 2):
        raise ctx.unsupported("only 1-D or 2-D constant MatMul operands are supported")
    W2 = W[None, :] if W.ndim == 1 else W
    K = W2.shape[1]
    if len(xs) == 1:
        if xs[0] != K:
            raise ctx.error(f"weight shape {W.shape} does not match input shape {xs}")
        return W2, ((W2.shape[0],) if W.ndim == 2 else ())
    if xs[-2] != K:
        raise ctx.error(f"weight shape {W.shape} does not match input shape {xs}")
    lead, N = xs[:-2], xs[-1]
    out = tuple(lead) + ((W2.shape[0], N) if W.ndim == 2 else (N,))
    return _kron_identity(int(prod(lead)), W2, N), out


def _elementwise(ctx: _Context, x: Tensor, scale=None, offset=None) -> Tensor:
    """``y = scale * x + offset`` with numpy broadcasting; no node when it is the identity."""
    shapes = [x.shape] + [np.shape(a) for a in (scale, offset) if a is not None]
    try:
        out_shape = tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ctx.error(f"shapes {shapes} cannot be broadcast together") from None
    size = int(prod(out_shape))
    s = (np.ones(size) if scale is None else
         np.broadcast_to(np.asarray(scale, dtype=np.float64), out_shape).reshape(-1))
    o = (np.zeros(size) if offset is None else
         np.broadcast_to(np.asarray(offset, dtype=np.float64), out_shape).reshape(-1))
    B = _broadcast_map(x.shape, out_shape)
    if B is None and np.all(s == 1.0) and np.all(o == 0.0):
        return Tensor(x.node, out_shape)
    D = sp.diags(s, format="csr")
    return ctx.affine(x, D if B is None else (D @ B).tocsr(), o, out_shape)


# ====================================================================== shape helpers
def _reshape_shape(ctx: _Context, shape: tuple, target: list[int], allowzero: int) -> tuple:
    """ONNX Reshape semantics: 0 copies the input dim (unless allowzero), -1 is inferred."""
    out = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(shape):
                raise ctx.error(f"0 at position {i} but input has rank {len(shape)}")
            out.append(shape[i])
        else:
            out.append(d)
    if out.count(-1) > 1:
        raise ctx.error(f"more than one -1 in shape {target}")
    size = int(prod(shape))
    if -1 in out:
        known = int(prod(d for d in out if d != -1))
        if known == 0 or size % known:
            raise ctx.error(f"cannot reshape {shape} to {target}")
        out[out.index(-1)] = size // known
    if int(prod(out)) != size:
        raise ctx.error(f"cannot reshape {shape} ({size} values) to {target}")
    return tuple(int(d) for d in out)


def _norm_axes(ctx: _Context, axes, rank: int) -> list[int]:
    out = []
    for a in axes:
        a = int(a) + rank if int(a) < 0 else int(a)
        if not 0 <= a < rank:
            raise ctx.error(f"axis {a} out of range for rank {rank}")
        out.append(a)
    return out


def _flatten_shape(ctx: _Context, node, shape: tuple) -> tuple:
    axis = _attr(node, "axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise ctx.error(f"axis {axis} out of range for shape {shape}")
    return (int(prod(shape[:axis])), int(prod(shape[axis:])))


def _squeeze_axes(ctx: _Context, node) -> list[int] | None:
    if ctx.has_input(node, 1):
        return ctx.ints(node, 1)
    axes = _attr(node, "axes", None)
    return None if axes is None else list(axes)


def _squeeze_shape(ctx: _Context, node, shape: tuple) -> tuple:
    axes = _squeeze_axes(ctx, node)
    if axes is None:
        return tuple(d for d in shape if d != 1)
    axes = _norm_axes(ctx, axes, len(shape))
    if any(shape[a] != 1 for a in axes):
        raise ctx.error(f"cannot squeeze axes {axes} of shape {shape}")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _unsqueeze_shape(ctx: _Context, node, shape: tuple) -> tuple:
    axes = _squeeze_axes(ctx, node)
    if axes is None:
        raise ctx.error("Unsqueeze needs axes")
    rank = len(shape) + len(axes)
    axes = sorted(_norm_axes(ctx, axes, rank))
    out = list(shape)
    for a in axes:
        out.insert(a, 1)
    return tuple(out)


def _reshape_target(ctx: _Context, node, shape: tuple) -> tuple:
    if ctx.has_input(node, 1):
        target = ctx.ints(node, 1)
    else:  # opset < 5
        target = list(_attr(node, "shape", []))
    return _reshape_shape(ctx, shape, target, _attr(node, "allowzero", 0))


def _transpose_perm(node, rank: int) -> list[int]:
    perm = _attr(node, "perm", None)
    return list(range(rank))[::-1] if perm is None else [int(p) for p in perm]


SHAPE_FUNCTIONS: dict[str, Callable] = {
    "Flatten": _flatten_shape,
    "Reshape": _reshape_target,
    "Squeeze": _squeeze_shape,
    "Unsqueeze": _unsqueeze_shape,
    "Identity": lambda ctx, node, shape: tuple(shape),
    "Dropout": lambda ctx, node, shape: tuple(shape),
}


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode()
            return value
    return default


# ====================================================================== translators
def _shape_only(ctx: _Context, node) -> Value:
    """Flatten/Reshape/Squeeze/Unsqueeze/Identity/Dropout: relabel the shape, no node."""
    x = ctx.value(node, 0)
    shape_of = SHAPE_FUNCTIONS[node.op_type]
    if isinstance(x, Tensor):
        return Tensor(x.node, shape_of(ctx, node, x.shape))
    return np.asarray(x).reshape(shape_of(ctx, node, np.shape(x)))


def _constant(ctx: _Context, node) -> Value:
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.asarray(onnx.helper.get_attribute_value(a))
    raise ctx.unsupported("only Constant with value/value_float(s)/value_int(s) is supported")


def _relu(ctx: _Context, node) -> Value:
    x = ctx.value(node, 0)
    return ctx.relu(x) if isinstance(x, Tensor) else np.maximum(x, 0)


def _add_sub(ctx: _Context, node) -> Value:
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    sign = -1.0 if node.op_type == "Sub" else 1.0
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return a + b if sign > 0 else a - b
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        return _elementwise(ctx, a, offset=sign * ctx.weight(node, 1, "operand"))
    if not isinstance(a, Tensor):
        return _elementwise(ctx, b, scale=sign, offset=ctx.weight(node, 0, "operand"))
    try:
        out_shape = tuple(int(d) for d in np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise ctx.error(f"operand shapes {a.shape} and {b.shape} differ") from None
    left = _elementwise(ctx, a, offset=np.zeros(out_shape))
    right = _elementwise(ctx, b, scale=sign, offset=np.zeros(out_shape))
    return ctx.add(left, right)


def _mul_div(ctx: _Context, node) -> Value:
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    divide = node.op_type == "Div"
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return a / b if divide else a * b
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        raise ctx.unsupported("a product of two computed tensors is not piecewise-linear; "
                              "only multiplication/division by constants is supported")
    if divide and not isinstance(b, Tensor):
        c = ctx.weight(node, 1, "divisor")
        if np.any(c == 0):
            raise ctx.error(f"divisor {node.input[1]!r} contains zeros")
        return _elementwise(ctx, a, scale=1.0 / c)
    if divide:
        raise ctx.unsupported("division by a computed tensor is not piecewise-linear")
    x, c = (a, ctx.weight(node, 1)) if isinstance(a, Tensor) else (b, ctx.weight(node, 0))
    return _elementwise(ctx, x, scale=c)


def _matmul(ctx: _Context, node) -> Value:
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return np.matmul(a, b)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        raise ctx.unsupported("a product of two computed tensors is not piecewise-linear")
    if isinstance(a, Tensor):
        W, out = _matmul_right(ctx, a.shape, ctx.weight(node, 1))
        return ctx.affine(a, W, 0.0, out)
    W, out = _matmul_left(ctx, ctx.weight(node, 0), b.shape)
    return ctx.affine(b, W, 0.0, out)


def _gemm(ctx: _Context, node) -> Value:
    """``Y = alpha * A' B' + beta * C`` with A' = A or A^T, B' = B or B^T."""
    alpha, beta = float(_attr(node, "alpha", 1.0)), float(_attr(node, "beta", 1.0))
    trans_a, trans_b = int(_attr(node, "transA", 0)), int(_attr(node, "transB", 0))
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    bias = ctx.weight(node, 2, "bias") if ctx.has_input(node, 2) else None
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        y = alpha * (a.T if trans_a else a) @ (b.T if trans_b else b)
        return y + beta * bias if bias is not None else y
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        raise ctx.unsupported("a product of two computed tensors is not piecewise-linear")
    x = a if isinstance(a, Tensor) else b
    if len(x.shape) != 2:
        raise ctx.error(f"Gemm operand {x.shape} is not 2-D")
    trans_x = trans_a if x is a else trans_b
    pre = None
    xs = x.shape
    if trans_x:
        pre, xs = _permutation_map(x.shape, [1, 0])
    if x is a:
        Bm = ctx.weight(node, 1)
        if Bm.ndim != 2:
            raise ctx.error(f"weight {node.input[1]!r} has shape {Bm.shape}, expected 2-D")
        W, out = _matmul_right(ctx, xs, alpha * (Bm.T if trans_b else Bm))
    else:
        Am = ctx.weight(node, 0)
        if Am.ndim != 2:
            raise ctx.error(f"weight {node.input[0]!r} has shape {Am.shape}, expected 2-D")
        W, out = _matmul_left(ctx, alpha * (Am.T if trans_a else Am), xs)
    if pre is not None:
        W = (sp.csr_matrix(W) @ pre).tocsr()
    offset = 0.0
    if bias is not None:
        try:
            offset = beta * np.broadcast_to(bias, out).reshape(-1)
        except ValueError:
            raise ctx.error(f"bias shape {bias.shape} does not broadcast to {out}") from None
    return ctx.affine(x, W, offset, out)


def _transpose(ctx: _Context, node) -> Value:
    x = ctx.value(node, 0)
    if not isinstance(x, Tensor):
        return np.transpose(x, _transpose_perm(node, np.ndim(x)))
    perm = _transpose_perm(node, len(x.shape))
    if sorted(perm) != list(range(len(x.shape))):
        raise ctx.error(f"perm {perm} does not fit shape {x.shape}")
    P, out = _permutation_map(x.shape, perm)
    moved = [p for p in perm if x.shape[p] != 1]
    if moved == sorted(moved):
        return Tensor(x.node, out)  # only unit axes move: the flat vector is unchanged
    return ctx.affine(x, P, 0.0, out)


def _batch_norm(ctx: _Context, node) -> Value:
    """Inference BatchNormalization folded to ``y = s x + o`` per channel (axis 1)."""
    if int(_attr(node, "training_mode", 0)):
        raise ctx.unsupported("BatchNormalization in training mode is not supported")
    x = ctx.value(node, 0)
    scale, bias, mean, var = (ctx.weight(node, i, w) for i, w in
                              enumerate(("scale", "bias", "mean", "var"), start=1))
    eps = float(_attr(node, "epsilon", 1e-5))
    s = scale / np.sqrt(var + eps)
    o = bias - mean * s
    rank = len(x.shape) if isinstance(x, Tensor) else np.ndim(x)
    if rank < 2 or any(np.size(v) != (x.shape if isinstance(x, Tensor) else np.shape(x))[1]
                       for v in (scale, bias, mean, var)):
        raise ctx.error("scale/bias/mean/var must have one value per channel (axis 1)")
    channel = (-1,) + (1,) * (rank - 2)
    s, o = s.reshape(channel), o.reshape(channel)
    if not isinstance(x, Tensor):
        return x * s + o
    return _elementwise(ctx, x, scale=s, offset=o)


# ---------------------------------------------------------------------- windows
def _window(in_spatial, kernel, strides, dilations, pads_begin, out_spatial):
    """Input positions read by each output position of a sliding window.

    Returns:
        (flat, valid): both (P, Q) with P = prod(out_spatial), Q = prod(kernel); flat is the
        C-order index into the spatial input, valid is False where the window reads padding.
    """
    d = len(in_spatial)
    col = (slice(None), None, None)
    o = np.indices(out_spatial).reshape(d, -1)[:, :, None]
    k = np.indices(kernel).reshape(d, -1)[:, None, :]
    pos = (o * np.asarray(strides)[col] - np.asarray(pads_begin)[col]
           + k * np.asarray(dilations)[col])
    valid = np.all((pos >= 0) & (pos < np.asarray(in_spatial)[col]), axis=0)
    flat = np.ravel_multi_index(tuple(np.where(valid, pos, 0)), tuple(in_spatial))
    return flat, valid


def _window_geometry(ctx: _Context, node, in_spatial, kernel):
    """Strides, dilations, pads (begin, end) and output spatial shape of Conv/AveragePool."""
    d = len(in_spatial)
    strides = list(_attr(node, "strides", [1] * d))
    dilations = list(_attr(node, "dilations", [1] * d))
    auto_pad = _attr(node, "auto_pad", "NOTSET")
    extent = [(k - 1) * dl + 1 for k, dl in zip(kernel, dilations)]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-s // st) for s, st in zip(in_spatial, strides)]
        total = [max(0, (o - 1) * st + e - s)
                 for o, st, e, s in zip(out, strides, extent, in_spatial)]
        small = [t // 2 for t in total]
        begin = small if auto_pad == "SAME_UPPER" else [t - h for t, h in zip(total, small)]
        end = [t - b for t, b in zip(total, begin)]
    elif auto_pad in ("NOTSET", "VALID"):
        pads = list(_attr(node, "pads", [0] * (2 * d))) if auto_pad == "NOTSET" else [0] * 2 * d
        begin, end = pads[:d], pads[d:]
        out = [(s + b + e - x) // st + 1
               for s, b, e, x, st in zip(in_spatial, begin, end, extent, strides)]
    else:
        raise ctx.unsupported(f"auto_pad={auto_pad!r} is not supported")
    if len(strides) != d or len(dilations) != d or len(begin) != d:
        raise ctx.error(f"strides/dilations/pads do not fit {d} spatial dims")
    if any(o <= 0 for o in out):
        raise ctx.error(f"window {kernel} does not fit the input {tuple(in_spatial)}")
    return strides, dilations, begin, end, out


def _conv(ctx: _Context, node) -> Value:
    """Conv lowered to one CSR matrix: rows (M, *out), columns (C, *in), batch 1."""
    x = ctx.value(node, 0)
    if not isinstance(x, Tensor):
        raise ctx.unsupported("Conv of a constant input is not supported")
    W = ctx.weight(node, 1)
    if len(x.shape) < 3 or x.shape[0] != 1 or W.ndim != len(x.shape):
        raise ctx.error(f"input shape {x.shape} and weight shape {W.shape} do not fit "
                        "(expected N=1, C, spatial...)")
    group = int(_attr(node, "group", 1))
    C, in_spatial = x.shape[1], tuple(x.shape[2:])
    M, Cg, kernel = W.shape[0], W.shape[1], tuple(W.shape[2:])
    if tuple(_attr(node, "kernel_shape", kernel)) != kernel or Cg * group != C or M % group:
        raise ctx.error(f"weight {W.shape} with group={group} does not fit input {x.shape}")
    strides, dilations, begin, _, out = _window_geometry(ctx, node, in_spatial, kernel)
    flat, valid = _window(in_spatial, kernel, strides, dilations, begin, out)
    P, Q, S = flat.shape[0], flat.shape[1], int(prod(in_spatial))
    m = np.arange(M)
    channels = (m // (M // group))[:, None] * Cg + np.arange(Cg)[None, :]      # (M, Cg)
    full = (M, P, Cg, Q)
    rows = np.broadcast_to((m[:, None] * P + np.arange(P)[None, :])[:, :, None, None], full)
    cols = np.broadcast_to(channels[:, None, :, None] * S + flat[None, :, None, :], full)
    vals = np.broadcast_to(W.reshape(M, Cg, Q)[:, None, :, :], full)
    keep = np.broadcast_to(valid[None, :, None, :], full) & (vals != 0)
    A = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(M * P, C * S))
    bias = ctx.weight(node, 2, "bias") if ctx.has_input(node, 2) else np.zeros(M)
    if bias.size != M:
        raise ctx.error(f"bias has {bias.size} values for {M} output channels")
    return ctx.affine(x, A, np.repeat(bias.reshape(-1), P), (1, M) + tuple(out))


def _average_pool(ctx: _Context, node) -> Value:
    """AveragePool as one CSR matrix (per channel window means)."""
    x = ctx.value(node, 0)
    if not isinstance(x, Tensor):
        raise ctx.unsupported("AveragePool of a constant input is not supported")
    if len(x.shape) < 3 or x.shape[0] != 1:
        raise ctx.error(f"input shape {x.shape} is not (1, C, spatial...)")
    C, in_spatial = x.shape[1], tuple(x.shape[2:])
    kernel = tuple(_attr(node, "kernel_shape", ()))
    if len(kernel) != len(in_spatial):
        raise ctx.error(f"kernel_shape {kernel} does not fit input {x.shape}")
    strides, dilations, begin, end, out = _window_geometry(ctx, node, in_spatial, kernel)
    if int(_attr(node, "ceil_mode", 0)):
        ceil_out = [-(-(s + b + e - ((k - 1) * dl + 1)) // st) + 1 for s, b, e, k, dl, st in
                    zip(in_spatial, begin, end, kernel, dilations, strides)]
        if ceil_out != out:
            raise ctx.unsupported("AveragePool with ceil_mode=1 changing the output size")
    flat, valid = _window(in_spatial, kernel, strides, dilations, begin, out)
    P, Q, S = flat.shape[0], flat.shape[1], int(prod(in_spatial))
    if int(_attr(node, "count_include_pad", 0)):
        count = np.full(P, float(Q))
    else:
        count = valid.sum(axis=1).astype(np.float64)
    full = (C, P, Q)
    c = np.arange(C)[:, None, None]
    rows = np.broadcast_to(c * P + np.arange(P)[None, :, None], full)
    cols = np.broadcast_to(c * S + flat[None, :, :], full)
    vals = np.broadcast_to((1.0 / np.maximum(count, 1.0))[None, :, None], full)
    keep = np.broadcast_to(valid[None, :, :], full)
    A = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(C * P, C * S))
    return ctx.affine(x, A, 0.0, (1, C) + tuple(out))


def _pad(ctx: _Context, node) -> Value:
    """Constant-mode Pad (negative pads crop) as a selection matrix plus a bias."""
    mode = _attr(node, "mode", "constant")
    if mode != "constant":
        raise ctx.unsupported(f"Pad mode {mode!r} is not supported; only 'constant'")
    x = ctx.value(node, 0)
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    rank = len(shape)
    pads = ctx.ints(node, 1) if ctx.has_input(node, 1) else list(_attr(node, "pads", []))
    value = (float(np.asarray(ctx.weight(node, 2, "constant_value")).reshape(-1)[0])
             if ctx.has_input(node, 2) else float(_attr(node, "value", 0.0)))
    axes = (_norm_axes(ctx, ctx.ints(node, 3), rank) if ctx.has_input(node, 3)
            else list(range(rank)))
    if len(pads) != 2 * len(axes):
        raise ctx.error(f"pads {pads} do not fit rank {rank}")
    begin, end = np.zeros(rank, dtype=int), np.zeros(rank, dtype=int)
    begin[axes], end[axes] = pads[:len(axes)], pads[len(axes):]
    out = tuple(int(s + b + e) for s, b, e in zip(shape, begin, end))
    if any(d < 0 for d in out):
        raise ctx.error(f"pads {pads} crop more than the shape {shape}")
    if not isinstance(x, Tensor):
        src = np.asarray(x)[tuple(slice(max(0, -b), s - max(0, -e))
                                  for s, b, e in zip(shape, begin, end))]
        return np.pad(src, list(zip(np.maximum(begin, 0), np.maximum(end, 0))),
                      constant_values=value)
    coords = np.indices(out).reshape(rank, -1) - begin[:, None]
    valid = np.all((coords >= 0) & (coords < np.asarray(shape)[:, None]), axis=0)
    rows = np.flatnonzero(valid)
    cols = np.ravel_multi_index(tuple(coords[:, valid]), shape)
    A = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(int(prod(out)), x.size))
    return ctx.affine(x, A, np.where(valid, 0.0, value), out)


def _shape(ctx: _Context, node) -> Value:
    """Shape of a tensor (batch dimension 1) as a constant int64 vector."""
    x = ctx.value(node, 0)
    shape = np.array(x.shape if isinstance(x, Tensor) else np.shape(x), dtype=np.int64)
    start, end = int(_attr(node, "start", 0)), _attr(node, "end", None)
    return shape[start:None if end is None else int(end)]


def _constant_only(ctx: _Context, node) -> Value:
    """Gather/Concat folded on constants (shape arithmetic of exporters)."""
    args = [ctx.const(node, i, "operand (only constant folding is supported)")
            for i in range(len(node.input)) if ctx.has_input(node, i)]
    if node.op_type == "Gather":
        return np.take(args[0], args[1], axis=int(_attr(node, "axis", 0)))
    return np.concatenate([np.atleast_1d(a) for a in args], axis=int(_attr(node, "axis", 0)))


TRANSLATORS: dict[str, Callable[[_Context, onnx.NodeProto], Value]] = {
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _add_sub,
    "Sub": _add_sub,
    "Mul": _mul_div,
    "Div": _mul_div,
    "Relu": _relu,
    "Flatten": _shape_only,
    "Reshape": _shape_only,
    "Squeeze": _shape_only,
    "Unsqueeze": _shape_only,
    "Identity": _shape_only,
    "Dropout": _shape_only,
    "Transpose": _transpose,
    "Constant": _constant,
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "Pad": _pad,
    "AveragePool": _average_pool,
    "Shape": _shape,
    "Gather": _constant_only,
    "Concat": _constant_only,
}
"""op_type -> translator(ctx, node) returning the value of the node's first output."""

SUPPORTED_OPS = tuple(sorted(TRANSLATORS))


def unsupported_hint(op_type: str) -> str:
    """What to tell the user about an op the importer lacks."""
    if op_type in NONLINEAR_OPS:
        return "only piecewise-linear ReLU networks are supported"
    return "supported ops: " + ", ".join(SUPPORTED_OPS)


def node_label(node: onnx.NodeProto, index: int) -> str:
    """The node's name, or ``<op_type>_<index>`` for unnamed nodes."""
    return node.name or f"{node.op_type}_{index}"


def is_supported(node: onnx.NodeProto) -> bool:
    return node.domain in ("", "ai.onnx") and node.op_type in TRANSLATORS


# ====================================================================== driver
def import_onnx(path_or_model) -> Network:
    """Translate an ONNX model (file path or ModelProto) into a :class:`Network`.

    The network maps the flat C-order input (batch dimension dropped) to the flat output.

    Raises:
        InputFileError: missing file or not ONNX.
        UnsupportedOpError: an op outside :data:`TRANSLATORS` (found before any work).
        NetworkError: NaN/inf weights, inconsistent shapes, several inputs/outputs.
    """
    model, source = load_onnx_model(path_or_model)
    network, _ = translate(model, source)
    return network


def check_supported(model: onnx.ModelProto) -> None:
    """Raise :class:`UnsupportedOpError` for the first node without a translator."""
    for index, node in enumerate(model.graph.node):
        if not is_supported(node):
            hint = unsupported_hint(node.op_type)
            if node.domain not in ("", "ai.onnx"):
                hint = f"custom domain {node.domain!r} is not supported; " + hint
            raise UnsupportedOpError(node.op_type, node_label(node, index), hint)


def _opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def _graph_input(model: onnx.ModelProto, source: str) -> tuple[str, tuple[int, ...], bool]:
    """The one non-initialiser graph input: (name, full shape with batch 1, batched?)."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        names = [i.name for i in inputs]
        raise NetworkError(f"{source}: expected exactly one graph input that is not an "
                           f"initialiser, found {len(inputs)}: {names}")
    vi = inputs[0]
    dims = list(vi.type.tensor_type.shape.dim)
    shape = []
    for position, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(int(d.dim_value))
        elif position == 0 and len(dims) > 1:
            shape.append(1)  # symbolic batch dimension
        else:
            raise NetworkError(f"{source}: input {vi.name!r} has an unknown dimension at "
                               f"position {position}")
    batched = len(shape) > 1 and shape[0] == 1
    return vi.name, tuple(shape), batched


def translate(model: onnx.ModelProto, source: str = "<model>"
              ) -> tuple[Network, dict[str, tuple[int, ...]]]:
    """Translate a loaded model; also returns the tracked shape of every tensor.

    Returns:
        (network, shapes) where shapes maps ONNX tensor names to their logical shapes
        (batch dimension dropped).
    """
    check_supported(model)
    graph = model.graph
    if len(graph.output) != 1:
        raise NetworkError(f"{source}: expected exactly one graph output, found "
                           f"{len(graph.output)}: {[o.name for o in graph.output]}")
    in_name, in_shape, batched = _graph_input(model, source)
    values: dict[str, Value] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    builder = GraphBuilder(input_shape=in_shape[1:] if batched else in_shape)
    values[in_name] = Tensor(builder.input_name, in_shape)
    ctx = _Context(builder, values, _opset(model), batched)
    for index, node in enumerate(graph.node):
        ctx.node_name, ctx.op_type = node_label(node, index), node.op_type
        result = TRANSLATORS[node.op_type](ctx, node)
        if node.output:
            values[node.output[0]] = result
    out = values.get(graph.output[0].name)
    if out is None:
        raise NetworkError(f"{source}: graph output {graph.output[0].name!r} is never produced")
    if not isinstance(out, Tensor):
        raise NetworkError(f"{source}: graph output {graph.output[0].name!r} does not depend "
                           "on the input")
    _prune(builder, out.node)
    network = builder.build(output=out.node, output_shape=ctx.logical(out.shape))
    shapes = {name: ctx.logical(v.shape if isinstance(v, Tensor) else np.shape(v))
              for name, v in values.items()}
    return network, shapes


def _prune(builder: GraphBuilder, output: str) -> None:
    """Remove nodes that do not feed the output (dead branches)."""
    import networkx as nx
    keep = nx.ancestors(builder.graph, output) | {output, builder.input_name}
    builder.graph.remove_nodes_from([n for n in list(builder.graph) if n not in keep])
