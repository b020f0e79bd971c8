"""ONNX translators for pooling: AveragePool (one linear map) and MaxPool (a ReLU tree).

AveragePool is linear: one sparse ``Affine`` of per-window means.

MaxPool is piecewise linear, and is encoded *exactly* with ReLUs only, as a short chain
``Affine -> Relu -> Affine -> ... -> Relu -> Affine``: a pairwise tournament per window,
one tree level per Relu, all windows of all channels at once. It rests on two identities
that hold for all reals a, b, c (no bounds needed):

* ``max(a, b) = relu(a - b) + b`` and ``b = relu(b) - relu(-b)``, so
  ``max(a, b) = relu(a - b) + relu(b) - relu(-b)``;
* an element without a partner at a level passes as ``c = relu(c) - relu(-c)``.

When the pooled tensor is known to be ``>= 0`` at import time (the output of a Relu, or a
nonnegative affine map of one, such as zero padding), so is every maximum of its values:
then ``relu(b) = b`` and the ``relu(-b)`` and ``relu(-c)`` terms (always 0) are left out.
Otherwise they stay; a bound method that finds ``b >= 0`` sees them as stable neurons,
which cost nothing in the relaxations.

A window of Q values needs ``ceil(log2 Q)`` levels; a level holds, per window, one
unstable-in-general neuron ``relu(a - b)`` per pair plus the pass-through copies.

The network built is sequential when the pooled tensor has no other consumer, so methods
that need a chain of layers (input splitting, ReLU branch and bound) take it. Because the
encoding is an identity of functions, every complete method decides the same property as on
the original MaxPool, and every sound relaxation stays sound.
"""

from __future__ import annotations

from math import prod

import numpy as np
import scipy.sparse as sp

from verifier.network.onnx_context import Tensor, TranslationContext, Value, attr
from verifier.network.onnx_conv import window_geometry, window_positions
from verifier.network.ops import Affine, Relu

__all__ = ["average_pool", "max_pool", "max_tree_level", "known_nonnegative"]


def _pool_input(ctx: TranslationContext, x: Value) -> tuple[int, tuple[int, ...]]:
    """(channels, spatial shape) of a pooled tensor of shape (1, C, spatial...)."""
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    if len(shape) < 3 or shape[0] != 1:
        raise ctx.error(f"input shape {tuple(shape)} is not (1, C, spatial...)")
    return int(shape[1]), tuple(int(d) for d in shape[2:])


def _kernel(ctx: TranslationContext, node, in_spatial: tuple) -> tuple[int, ...]:
    """The ``kernel_shape`` attribute, checked against the number of spatial axes."""
    kernel = tuple(int(k) for k in attr(node, "kernel_shape", ()))
    if len(kernel) != len(in_spatial) or any(k <= 0 for k in kernel):
        raise ctx.error(f"kernel_shape {kernel} does not fit spatial shape {in_spatial}")
    return kernel


# ====================================================================== AveragePool
def average_pool(ctx: TranslationContext, node) -> Value:
    """AveragePool as one CSR matrix (per channel window means)."""
    x = ctx.value(node, 0)
    if not isinstance(x, Tensor):
        raise ctx.unsupported("AveragePool of a constant input is not supported")
    C, in_spatial = _pool_input(ctx, x)
    kernel = _kernel(ctx, node, in_spatial)
    strides, dilations, begin, end, out = window_geometry(ctx, node, in_spatial, kernel)
    if int(attr(node, "ceil_mode", 0)):
        ceil_out = [-(-(s + b + e - ((k - 1) * dl + 1)) // st) + 1 for s, b, e, k, dl, st in
                    zip(in_spatial, begin, end, kernel, dilations, strides)]
        if ceil_out != out:
            raise ctx.unsupported("AveragePool with ceil_mode=1 changing the output size")
    flat, valid = window_positions(in_spatial, kernel, strides, dilations, begin, out)
    P, Q, S = flat.shape[0], flat.shape[1], int(prod(in_spatial))
    if int(attr(node, "count_include_pad", 0)):
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


# ====================================================================== MaxPool
def known_nonnegative(ctx: TranslationContext, x: Tensor) -> bool:
    """Whether every value of x is ``>= 0`` by construction: x is a Relu, or an Affine with
    ``W >= 0`` and ``b >= 0`` (a selection, zero padding, averaging, ...) of such a tensor."""
    name = x.node
    while True:
        op = ctx.builder.graph.nodes[name]["op"]
        if isinstance(op, Relu):
            return True
        if not isinstance(op, Affine):
            return False
        W = op.W.data if sp.issparse(op.W) else op.W
        if np.any(W < 0) or np.any(op.b < 0):
            return False
        name = ctx.builder.graph.nodes[name]["inputs"][0]


def _window_values(C: int, S: int, flat: np.ndarray, valid: np.ndarray):
    """Each window's inputs, valid ones first: (slots, source).

    Returns:
        slots (C*P, M): value ids of window (c, p), -1 where empty, numbered in C order
        (M <= Q: the most values a window holds);
        source (n_values,): the flat input position (channel-major) of each value id.
    """
    index = (np.arange(C)[:, None, None] * S + flat[None]).reshape(-1, flat.shape[1])
    mask = np.broadcast_to(valid[None], (C,) + valid.shape).reshape(index.shape)
    order = np.argsort(~mask, axis=1, kind="stable")
    index = np.take_along_axis(index, order, axis=1)
    mask = np.take_along_axis(mask, order, axis=1)
    slots = np.full(index.shape, -1, dtype=np.int64)
    slots[mask] = np.arange(int(mask.sum()))
    width = int(mask.sum(axis=1).max())          # the largest window, padding left out
    return slots[:, :width], index[mask]


def _csr(triplets, shape: tuple[int, int]) -> sp.csr_matrix:
    """The CSR matrix of a list of COO triplets ``(rows, cols, values)``."""
    rows, cols, values = (np.concatenate([t[k] for t in triplets]) for k in range(3))
    return sp.csr_matrix((values, (rows, cols)), shape=shape)


def max_tree_level(slots: np.ndarray, n_values: int, nonnegative: bool):
    """One level of the pairwise max tree over every window at once.

    Values ``v`` of the level pair up per window as (slot 2k, slot 2k+1). The level computes
    the pre-activations ``h = D v``: for a pair (a, b) the rows ``a - b``, ``b``, ``-b``,
    for an unpaired c the rows ``c``, ``-c`` (the negated rows are left out when
    ``nonnegative``). The next level's values are ``L relu(h)``: ``relu(a - b) + relu(b)
    - relu(-b) = max(a, b)`` and ``relu(c) - relu(-c) = c``, exactly.

    Args:
        slots: (W, M) value ids per window, -1 where empty, each row's values first.
        n_values: number of values of the level.
        nonnegative: whether every value is known to be ``>= 0``.

    Returns:
        (D (n_pre, n_values) CSR, L (n_next, n_pre) CSR, next slots (W, ceil(M / 2))); the
        next value ids are numbered in C order of the next slots.
    """
    if slots.shape[1] % 2:
        slots = np.pad(slots, ((0, 0), (0, 1)), constant_values=-1)
    a, b = slots[:, 0::2], slots[:, 1::2]
    filled = a >= 0
    next_slots = np.full(a.shape, -1, dtype=np.int64)
    next_slots[filled] = np.arange(int(filled.sum()))
    pair, single = filled & (b >= 0), filled & (b < 0)
    pa, pb, pt = a[pair], b[pair], next_slots[pair]
    sc, st = a[single], next_slots[single]
    blocks = [([(pa, 1.0), (pb, -1.0)], pt, 1.0), ([(pb, 1.0)], pt, 1.0),
              ([(sc, 1.0)], st, 1.0)]
    if not nonnegative:
        blocks += [([(pb, -1.0)], pt, -1.0), ([(sc, -1.0)], st, -1.0)]
    d_parts, l_parts = [], []          # COO triplets (rows, cols, values) of D and L
    n_pre = 0
    for terms, target, coefficient in blocks:
        rows = n_pre + np.arange(target.size)
        d_parts += [(rows, ids, np.full(ids.size, sign)) for ids, sign in terms]
        l_parts.append((target, rows, np.full(target.size, coefficient)))
        n_pre += target.size
    D = _csr(d_parts, (n_pre, n_values))
    L = _csr(l_parts, (int(filled.sum()), n_pre))
    return D, L, next_slots


def max_pool(ctx: TranslationContext, node) -> Value:
    """MaxPool (1-D, 2-D, ...; strides, pads, dilations, auto_pad, ceil_mode) exactly, as a
    chain of Affine/Relu levels of a pairwise max tree (see the module docstring)."""
    if len(node.output) > 1 and node.output[1]:
        raise ctx.unsupported("MaxPool's second output (Indices) is not supported")
    x = ctx.value(node, 0)
    C, in_spatial = _pool_input(ctx, x)
    kernel = _kernel(ctx, node, in_spatial)
    ceil_mode = bool(int(attr(node, "ceil_mode", 0)))
    strides, dilations, begin, _, out = window_geometry(ctx, node, in_spatial, kernel,
                                                        ceil_mode=ceil_mode)
    flat, valid = window_positions(in_spatial, kernel, strides, dilations, begin, out)
    if not np.all(valid.any(axis=1)):
        raise ctx.unsupported("MaxPool with a window that reads only padding (pads as "
                              "large as the kernel)")
    out_shape = (1, C) + tuple(out)
    slots, source = _window_values(C, int(prod(in_spatial)), flat, valid)
    if not isinstance(x, Tensor):
        values = np.asarray(x, dtype=np.float64).reshape(-1)[source]
        best = np.where(slots >= 0, values[np.maximum(slots, 0)], -np.inf).max(axis=1)
        return best.reshape(out_shape)
    nonnegative = known_nonnegative(ctx, x)
    value_map = sp.csr_matrix((np.ones(source.size), (np.arange(source.size), source)),
                              shape=(source.size, x.size))
    current, n_values = x, source.size
    while slots.shape[1] > 1:
        D, L, slots = max_tree_level(slots, n_values, nonnegative)
        current = ctx.relu(ctx.affine(current, (D @ value_map).tocsr(), 0.0, (D.shape[0],)))
        value_map, n_values = L, L.shape[0]
    return ctx.affine(current, value_map, 0.0, out_shape)
