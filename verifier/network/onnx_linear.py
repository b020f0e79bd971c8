"""ONNX translators for linear and elementwise ops: Gemm, MatMul, Add, Sub, Mul, Div, Relu,
Constant; and the sparse linear maps (selection, broadcast, permutation) they are built from.

A translator takes ``(ctx, node)`` and returns the value of the node's first output: a
constant array when every operand is constant (folded eagerly), otherwise a
:class:`~verifier.network.onnx_context.Tensor` whose node was appended to the graph.
"""

from __future__ import annotations

from math import prod

import numpy as np
import onnx
import scipy.sparse as sp
from onnx import numpy_helper

from verifier.network.onnx_context import Tensor, TranslationContext, Value, attr

__all__ = ["permutation_map", "elementwise", "constant", "relu", "add_sub", "mul_div",
           "matmul", "gemm"]


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


def permutation_map(shape: tuple[int, ...], perm: list[int]) -> tuple[sp.csr_matrix, tuple]:
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


def _matmul_right(ctx: TranslationContext, xs: tuple, W: np.ndarray):
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


def _matmul_left(ctx: TranslationContext, W: np.ndarray, xs: tuple):
    """Map of ``W @ x`` for constant W (1-D or 2-D) and computed x (shape xs).

    Returns:
        (matrix (out_size, prod(xs)), out_shape).
    """
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


def elementwise(ctx: TranslationContext, x: Tensor, scale=None, offset=None) -> Tensor:
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


# ====================================================================== translators
def constant(ctx: TranslationContext, node) -> Value:
    """Constant: the array held in its ``value`` or ``value_float(s)/value_int(s)`` attribute."""
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.asarray(onnx.helper.get_attribute_value(a))
    raise ctx.unsupported("only Constant with value/value_float(s)/value_int(s) is supported")


def relu(ctx: TranslationContext, node) -> Value:
    """Relu: ``max(0, x)`` elementwise."""
    x = ctx.value(node, 0)
    return ctx.relu(x) if isinstance(x, Tensor) else np.maximum(x, 0)


def add_sub(ctx: TranslationContext, node) -> Value:
    """Add/Sub with broadcasting: an affine shift by a constant, or an Add of two tensors."""
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    sign = -1.0 if node.op_type == "Sub" else 1.0
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return a + b if sign > 0 else a - b
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        return elementwise(ctx, a, offset=sign * ctx.weight(node, 1, "operand"))
    if not isinstance(a, Tensor):
        return elementwise(ctx, b, scale=sign, offset=ctx.weight(node, 0, "operand"))
    try:
        out_shape = tuple(int(d) for d in np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise ctx.error(f"operand shapes {a.shape} and {b.shape} differ") from None
    left = elementwise(ctx, a, offset=np.zeros(out_shape))
    right = elementwise(ctx, b, scale=sign, offset=np.zeros(out_shape))
    return ctx.add(left, right)


def mul_div(ctx: TranslationContext, node) -> Value:
    """Mul/Div of a tensor by a constant (elementwise scaling); other products rejected."""
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
        return elementwise(ctx, a, scale=1.0 / c)
    if divide:
        raise ctx.unsupported("division by a computed tensor is not piecewise-linear")
    x, c = (a, ctx.weight(node, 1)) if isinstance(a, Tensor) else (b, ctx.weight(node, 0))
    return elementwise(ctx, x, scale=c)


def matmul(ctx: TranslationContext, node) -> Value:
    """MatMul with one constant operand (1-D or 2-D) as an affine node."""
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


def gemm(ctx: TranslationContext, node) -> Value:
    """``Y = alpha * A' B' + beta * C`` with A' = A or A^T, B' = B or B^T."""
    alpha, beta = float(attr(node, "alpha", 1.0)), float(attr(node, "beta", 1.0))
    trans_a, trans_b = int(attr(node, "transA", 0)), int(attr(node, "transB", 0))
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
        pre, xs = permutation_map(x.shape, [1, 0])
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
