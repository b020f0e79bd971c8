"""ONNX translators for convolution-family ops: Conv, Pad, BatchNormalization; and the
sliding-window geometry they share with the pooling ops (:mod:`~verifier.network.onnx_pool`).

Each is lowered to one affine node: Conv and Pad to a scipy.sparse CSR matrix built from
the sliding-window geometry (batch dimension 1), BatchNormalization (inference mode) to a
per-channel scaling and shift.
"""

from __future__ import annotations

from math import prod

import numpy as np
import scipy.sparse as sp

from verifier.network.onnx_context import Tensor, TranslationContext, Value, attr
from verifier.network.onnx_linear import elementwise
from verifier.network.onnx_shape import norm_axes

__all__ = ["window_positions", "window_geometry", "conv", "pad", "batch_norm"]


# ---------------------------------------------------------------------- windows
def window_positions(in_spatial, kernel, strides, dilations, pads_begin, out_spatial):
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


def window_geometry(ctx: TranslationContext, node, in_spatial, kernel, ceil_mode: bool = False):
    """Strides, dilations, pads (begin, end) and output spatial shape of a sliding window.

    The output size per axis is ``floor((in + pads - extent) / stride) + 1`` (ONNX), or with
    ``ceil_mode`` the ceiling, as long as the last window still starts inside the input or
    its begin padding (where runtimes and the ONNX shape inference disagree, it is
    rejected).
    """
    d = len(in_spatial)
    strides = list(attr(node, "strides", [1] * d))
    dilations = list(attr(node, "dilations", [1] * d))
    auto_pad = attr(node, "auto_pad", "NOTSET")
    extent = [(k - 1) * dl + 1 for k, dl in zip(kernel, dilations)]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-s // st) for s, st in zip(in_spatial, strides)]
        total = [max(0, (o - 1) * st + e - s)
                 for o, st, e, s in zip(out, strides, extent, in_spatial)]
        small = [t // 2 for t in total]
        begin = small if auto_pad == "SAME_UPPER" else [t - h for t, h in zip(total, small)]
        end = [t - b for t, b in zip(total, begin)]
    elif auto_pad in ("NOTSET", "VALID"):
        pads = list(attr(node, "pads", [0] * (2 * d))) if auto_pad == "NOTSET" else [0] * 2 * d
        begin, end = pads[:d], pads[d:]
        out = [(-(-(s + b + e - x) // st) if ceil_mode else (s + b + e - x) // st) + 1
               for s, b, e, x, st in zip(in_spatial, begin, end, extent, strides)]
        if ceil_mode and any((o - 1) * st >= s + b
                             for o, st, s, b in zip(out, strides, in_spatial, begin)):
            raise ctx.unsupported(f"{ctx.op_type} with ceil_mode=1 where the last window "
                                  "starts in the end padding (runtimes disagree on its size)")
    else:
        raise ctx.unsupported(f"auto_pad={auto_pad!r} is not supported")
    if ceil_mode and auto_pad != "NOTSET":
        raise ctx.unsupported(f"{ctx.op_type} with ceil_mode=1 and auto_pad={auto_pad!r}")
    if len(strides) != d or len(dilations) != d or len(begin) != d:
        raise ctx.error(f"strides/dilations/pads do not fit {d} spatial dims")
    if any(o <= 0 for o in out):
        raise ctx.error(f"window {kernel} does not fit the input {tuple(in_spatial)}")
    return strides, dilations, begin, end, out


def conv(ctx: TranslationContext, node) -> Value:
    """Conv lowered to one CSR matrix: rows (M, *out), columns (C, *in), batch 1."""
    x = ctx.value(node, 0)
    if not isinstance(x, Tensor):
        raise ctx.unsupported("Conv of a constant input is not supported")
    W = ctx.weight(node, 1)
    if len(x.shape) < 3 or x.shape[0] != 1 or W.ndim != len(x.shape):
        raise ctx.error(f"input shape {x.shape} and weight shape {W.shape} do not fit "
                        "(expected N=1, C, spatial...)")
    group = int(attr(node, "group", 1))
    C, in_spatial = x.shape[1], tuple(x.shape[2:])
    M, Cg, kernel = W.shape[0], W.shape[1], tuple(W.shape[2:])
    if tuple(attr(node, "kernel_shape", kernel)) != kernel or Cg * group != C or M % group:
        raise ctx.error(f"weight {W.shape} with group={group} does not fit input {x.shape}")
    strides, dilations, begin, _, out = window_geometry(ctx, node, in_spatial, kernel)
    flat, valid = window_positions(in_spatial, kernel, strides, dilations, begin, out)
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


def pad(ctx: TranslationContext, node) -> Value:
    """Constant-mode Pad (negative pads crop) as a selection matrix plus a bias."""
    mode = attr(node, "mode", "constant")
    if mode != "constant":
        raise ctx.unsupported(f"Pad mode {mode!r} is not supported; only 'constant'")
    x = ctx.value(node, 0)
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    rank = len(shape)
    pads = ctx.ints(node, 1) if ctx.has_input(node, 1) else list(attr(node, "pads", []))
    value = (float(np.asarray(ctx.weight(node, 2, "constant_value")).reshape(-1)[0])
             if ctx.has_input(node, 2) else float(attr(node, "value", 0.0)))
    axes = (norm_axes(ctx, ctx.ints(node, 3), rank) if ctx.has_input(node, 3)
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


def batch_norm(ctx: TranslationContext, node) -> Value:
    """Inference BatchNormalization folded to ``y = s x + o`` per channel (axis 1)."""
    if int(attr(node, "training_mode", 0)):
        raise ctx.unsupported("BatchNormalization in training mode is not supported")
    x = ctx.value(node, 0)
    scale, bias, mean, var = (ctx.weight(node, i, w) for i, w in
                              enumerate(("scale", "bias", "mean", "var"), start=1))
    eps = float(attr(node, "epsilon", 1e-5))
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
    return elementwise(ctx, x, scale=s, offset=o)
