"""ONNX translators for shape ops: Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout,
Transpose, and Shape (the shape arithmetic of exporters, as a constant vector).

Every tensor is a C-order flat vector, so the shape-only ops make no node: they relabel the
shape of the same flat vector. Transpose makes a permutation node unless only unit axes move.
"""

from __future__ import annotations

from math import prod
from typing import Callable

import numpy as np

from verifier.network.onnx_context import Tensor, TranslationContext, Value, attr
from verifier.network.onnx_linear import permutation_map

__all__ = ["norm_axes", "flatten", "reshape", "squeeze", "unsqueeze", "identity", "transpose",
           "shape_vector"]


# ====================================================================== shape rules
def _reshape_shape(ctx: TranslationContext, shape: tuple, target: list[int],
                   allowzero: int) -> tuple:
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


def norm_axes(ctx: TranslationContext, axes, rank: int) -> list[int]:
    """Axes with negative entries counted from the end; raises when one is out of range."""
    out = []
    for a in axes:
        a = int(a) + rank if int(a) < 0 else int(a)
        if not 0 <= a < rank:
            raise ctx.error(f"axis {a} out of range for rank {rank}")
        out.append(a)
    return out


def _flatten_shape(ctx: TranslationContext, node, shape: tuple) -> tuple:
    """Flatten's 2-D output shape: dims before ``axis`` times dims from ``axis`` on."""
    axis = attr(node, "axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise ctx.error(f"axis {axis} out of range for shape {shape}")
    return (int(prod(shape[:axis])), int(prod(shape[axis:])))


def _squeeze_axes(ctx: TranslationContext, node) -> list[int] | None:
    """Squeeze/Unsqueeze axes from input 1 (opset >= 13) or the attribute (None: absent)."""
    if ctx.has_input(node, 1):
        return ctx.ints(node, 1)
    axes = attr(node, "axes", None)
    return None if axes is None else list(axes)


def _squeeze_shape(ctx: TranslationContext, node, shape: tuple) -> tuple:
    """Squeeze's output shape: the given unit axes (or all unit axes) removed."""
    axes = _squeeze_axes(ctx, node)
    if axes is None:
        return tuple(d for d in shape if d != 1)
    axes = norm_axes(ctx, axes, len(shape))
    if any(shape[a] != 1 for a in axes):
        raise ctx.error(f"cannot squeeze axes {axes} of shape {shape}")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _unsqueeze_shape(ctx: TranslationContext, node, shape: tuple) -> tuple:
    """Unsqueeze's output shape: unit axes inserted at the given output positions."""
    axes = _squeeze_axes(ctx, node)
    if axes is None:
        raise ctx.error("Unsqueeze needs axes")
    rank = len(shape) + len(axes)
    axes = sorted(norm_axes(ctx, axes, rank))
    out = list(shape)
    for a in axes:
        out.insert(a, 1)
    return tuple(out)


def _reshape_target(ctx: TranslationContext, node, shape: tuple) -> tuple:
    """Reshape's output shape from input 1 (or the opset < 5 ``shape`` attribute)."""
    if ctx.has_input(node, 1):
        target = ctx.ints(node, 1)
    else:  # opset < 5
        target = list(attr(node, "shape", []))
    return _reshape_shape(ctx, shape, target, attr(node, "allowzero", 0))


def _same_shape(ctx: TranslationContext, node, shape: tuple) -> tuple:
    """The input shape unchanged (Identity, inference-mode Dropout)."""
    return tuple(shape)


def _transpose_perm(node, rank: int) -> list[int]:
    """Transpose's ``perm`` attribute, or the reversed axes when it is absent."""
    perm = attr(node, "perm", None)
    return list(range(rank))[::-1] if perm is None else [int(p) for p in perm]


# ====================================================================== translators
def _relabel(ctx: TranslationContext, node, shape_of: Callable) -> Value:
    """The input with the shape ``shape_of(ctx, node, shape)``; no node is made."""
    x = ctx.value(node, 0)
    if isinstance(x, Tensor):
        return Tensor(x.node, shape_of(ctx, node, x.shape))
    return np.asarray(x).reshape(shape_of(ctx, node, np.shape(x)))


def flatten(ctx: TranslationContext, node) -> Value:
    """Flatten: relabel to 2-D around ``axis``."""
    return _relabel(ctx, node, _flatten_shape)


def reshape(ctx: TranslationContext, node) -> Value:
    """Reshape: relabel to the target shape (0 and -1 resolved)."""
    return _relabel(ctx, node, _reshape_target)


def squeeze(ctx: TranslationContext, node) -> Value:
    """Squeeze: relabel with unit axes removed."""
    return _relabel(ctx, node, _squeeze_shape)


def unsqueeze(ctx: TranslationContext, node) -> Value:
    """Unsqueeze: relabel with unit axes inserted."""
    return _relabel(ctx, node, _unsqueeze_shape)


def identity(ctx: TranslationContext, node) -> Value:
    """Identity and inference-mode Dropout: the input itself."""
    return _relabel(ctx, node, _same_shape)


def transpose(ctx: TranslationContext, node) -> Value:
    """Transpose: a permutation node, or a relabel when only unit axes move."""
    x = ctx.value(node, 0)
    if not isinstance(x, Tensor):
        return np.transpose(x, _transpose_perm(node, np.ndim(x)))
    perm = _transpose_perm(node, len(x.shape))
    if sorted(perm) != list(range(len(x.shape))):
        raise ctx.error(f"perm {perm} does not fit shape {x.shape}")
    P, out = permutation_map(x.shape, perm)
    moved = [p for p in perm if x.shape[p] != 1]
    if moved == sorted(moved):
        return Tensor(x.node, out)  # only unit axes move: the flat vector is unchanged
    return ctx.affine(x, P, 0.0, out)


def shape_vector(ctx: TranslationContext, node) -> Value:
    """Shape of a tensor (batch dimension 1) as a constant int64 vector."""
    x = ctx.value(node, 0)
    shape = np.array(x.shape if isinstance(x, Tensor) else np.shape(x), dtype=np.int64)
    start, end = int(attr(node, "start", 0)), attr(node, "end", None)
    return shape[start:None if end is None else int(end)]
