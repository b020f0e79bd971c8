"""ONNX translators for constant-index selection ops: Slice, Gather, Split, Concat.

Each works on computed tensors as well as on constants (folded eagerly). On a computed
tensor the op only picks, reorders or copies values of the same flat vector, so it is an
exact 0/1 selection matrix: the translators compute the flat source position of every
output position by applying the op itself (numpy ``take``/slicing, with ONNX's own index
rules) to the array of positions ``np.arange(size).reshape(shape)``, and turn that index
array into one sparse ``Affine``. A selection that keeps the flat vector as it is makes no
node (a relabel of the shape). Constants go through the same code, so both agree.

Concat may join tensors computed by different graph nodes and constants. An ``Affine`` has
one input, so operands are grouped by the node their chain of ``Affine`` nodes starts from
(a Concat of MatMuls of Slices of one tensor has one such base): each group becomes one
``Affine`` of its base (the chain composed, exactly) that scatters its values into their
output positions (zeros elsewhere, constants in the bias of the first), and the groups are
summed by ``Add`` nodes. Every output position receives exactly one value, so the sum is the
concatenation, exactly; with one group the result stays a sequential chain.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from verifier.network.onnx_context import Tensor, TranslationContext, Value, attr
from verifier.network.onnx_shape import norm_axes
from verifier.network.ops import Affine

__all__ = ["select", "slice_indices", "slice_op", "gather", "split", "concat", "concat_flat"]

INT32_MAX, INT64_MAX = int(np.iinfo(np.int32).max), int(np.iinfo(np.int64).max)


# ====================================================================== selection maps
def select(ctx: TranslationContext, x: Tensor, index: np.ndarray) -> Tensor:
    """The tensor ``x.flat[index]`` of shape ``index.shape`` as a selection node.

    ``index`` holds, for every output position, the flat C-order position in x it copies.
    When it is ``arange(x.size)`` the flat vector is unchanged and only the shape is
    relabelled (no node).
    """
    index = np.asarray(index, dtype=np.int64)
    shape = tuple(int(d) for d in index.shape)
    if index.size == 0:
        raise ctx.unsupported(f"{ctx.op_type} yielding an empty tensor (from shape "
                              f"{x.shape}) is not supported")
    flat = index.reshape(-1)
    if flat.size == x.size and np.array_equal(flat, np.arange(x.size)):
        return Tensor(x.node, shape)
    S = sp.csr_matrix((np.ones(flat.size), (np.arange(flat.size), flat)),
                      shape=(flat.size, x.size))
    return ctx.affine(x, S, 0.0, shape)


def _positions(x: Tensor) -> np.ndarray:
    """Flat C-order positions of x's values, arranged in x's shape."""
    return np.arange(x.size, dtype=np.int64).reshape(x.shape)


def _apply(ctx: TranslationContext, x: Value, pick) -> Value:
    """``pick(array)`` on a constant, or the same selection as a node on a computed tensor."""
    if isinstance(x, Tensor):
        return select(ctx, x, pick(_positions(x)))
    return np.asarray(pick(np.asarray(x)))


# ====================================================================== Slice
def _slice_arguments(ctx: TranslationContext, node) -> tuple[list, list, list | None, list]:
    """(starts, ends, axes or None, steps) from inputs (opset >= 10) or attributes (< 10)."""
    if ctx.opset < 10:
        starts, ends = list(attr(node, "starts", [])), list(attr(node, "ends", []))
        axes = attr(node, "axes", None)
        return starts, ends, (None if axes is None else list(axes)), [1] * len(starts)
    if not (ctx.has_input(node, 1) and ctx.has_input(node, 2)):
        raise ctx.error("Slice (opset >= 10) needs the starts and ends inputs")
    starts, ends = ctx.ints(node, 1), ctx.ints(node, 2)
    axes = ctx.ints(node, 3) if ctx.has_input(node, 3) else None
    steps = ctx.ints(node, 4) if ctx.has_input(node, 4) else [1] * len(starts)
    return starts, ends, axes, steps


def slice_indices(dim: int, start: int, end: int, step: int) -> np.ndarray:
    """The indices along an axis of size ``dim`` that Slice keeps, in output order.

    ONNX rules: negative start/end count from the end; start is clamped to ``[0, dim]``
    (``[0, dim - 1]`` for a negative step), end to ``[0, dim]`` (``[-1, dim - 1]``); an end
    of INT32_MAX or INT64_MAX, the spec's sentinel for "to the end", reaches the end in the
    direction of the step, as onnxruntime reads it. The kept indices are
    ``start + k * step`` for ``0 <= k < ceil((end - start) / step)``.
    """
    start = start + dim if start < 0 else start
    start = min(max(start, 0), dim - 1 if step < 0 else dim)
    if end in (INT32_MAX, INT64_MAX):
        end = -1 if step < 0 else dim
    else:
        end = end + dim if end < 0 else end
        end = min(max(end, -1 if step < 0 else 0), dim)
    count = max(0, -(-(end - start) // step))
    return start + step * np.arange(count, dtype=np.int64)


def slice_op(ctx: TranslationContext, node) -> Value:
    """Slice with constant starts/ends/axes/steps (negative indices and steps allowed):
    the kept indices of each sliced axis (:func:`slice_indices`) taken in turn."""
    x = ctx.value(node, 0)
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    starts, ends, axes, steps = _slice_arguments(ctx, node)
    axes = list(range(len(starts))) if axes is None else norm_axes(ctx, axes, len(shape))
    if not len(starts) == len(ends) == len(axes) == len(steps) or len(set(axes)) != len(axes):
        raise ctx.error(f"starts {starts}, ends {ends}, axes {axes}, steps {steps} do not "
                        "fit together")
    if 0 in steps:
        raise ctx.error("Slice step 0")
    kept = [(axis, slice_indices(shape[axis], start, end, step))
            for start, end, axis, step in zip(starts, ends, axes, steps)]

    def pick(a: np.ndarray) -> np.ndarray:
        for axis, indices in kept:
            a = np.take(a, indices, axis=axis)
        return a
    return _apply(ctx, x, pick)


# ====================================================================== Gather
def gather(ctx: TranslationContext, node) -> Value:
    """Gather with constant indices (negative ones count from the end) along ``axis``."""
    x = ctx.value(node, 0)
    indices = np.asarray(ctx.const(node, 1, "indices"))
    if indices.dtype.kind not in "iu":
        raise ctx.error(f"indices have dtype {indices.dtype}, expected integers")
    rank = len(x.shape) if isinstance(x, Tensor) else np.ndim(x)
    axis = norm_axes(ctx, [attr(node, "axis", 0)], rank)[0]
    dim = (x.shape if isinstance(x, Tensor) else np.shape(x))[axis]
    if np.any((indices < -dim) | (indices >= dim)):
        raise ctx.error(f"indices {indices.reshape(-1).tolist()} out of range for axis "
                        f"{axis} of size {dim}")
    return _apply(ctx, x, lambda a: np.take(a, indices, axis=axis))


# ====================================================================== Split
def _split_sizes(ctx: TranslationContext, node, dim: int) -> list[int]:
    """Part sizes along the axis: the ``split`` input/attribute, num_outputs, or equal."""
    if ctx.has_input(node, 1):
        sizes = ctx.ints(node, 1)
    elif attr(node, "split", None) is not None:
        sizes = [int(s) for s in attr(node, "split", None)]
    else:
        parts = int(attr(node, "num_outputs", len(node.output)))
        if parts <= 0:
            raise ctx.error(f"cannot split into {parts} parts")
        chunk = -(-dim // parts)
        if attr(node, "num_outputs", None) is None and dim % parts:
            raise ctx.error(f"axis of size {dim} does not split into {parts} equal parts")
        sizes = [max(0, min(chunk, dim - k * chunk)) for k in range(parts)]
    if sum(sizes) != dim or any(s < 0 for s in sizes) or len(sizes) != len(node.output):
        raise ctx.error(f"split sizes {sizes} do not fit an axis of size {dim} and "
                        f"{len(node.output)} outputs")
    return sizes


def split(ctx: TranslationContext, node) -> tuple[Value, ...]:
    """Split into consecutive parts along ``axis``; returns one value per output."""
    x = ctx.value(node, 0)
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    axis = norm_axes(ctx, [attr(node, "axis", 0)], len(shape))[0]
    sizes = _split_sizes(ctx, node, shape[axis])
    bounds = np.cumsum([0] + sizes)
    parts = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        index = (slice(None),) * axis + (slice(int(begin), int(end)),)
        parts.append(_apply(ctx, x, lambda a, index=index: a[index]))
    return tuple(parts)


# ====================================================================== Concat
def concat(ctx: TranslationContext, node) -> Value:
    """Concat of computed tensors and constants along ``axis``.

    Every output position is labelled with its source (a graph node, or a constant) and
    the flat position in it; each group of sources with a common base becomes one
    scattering ``Affine`` and the groups are summed with ``Add`` (exact: the parts have
    disjoint supports).
    """
    args = [ctx.value(node, i) for i in range(len(node.input)) if ctx.has_input(node, i)]
    if not args:
        raise ctx.error("Concat without operands")
    if not any(isinstance(a, Tensor) for a in args):  # shape arithmetic of exporters
        return np.concatenate([np.atleast_1d(a) for a in args],
                              axis=int(attr(node, "axis", 0)))
    rank = len(next(a for a in args if isinstance(a, Tensor)).shape)
    axis = norm_axes(ctx, [attr(node, "axis", 0)], rank)[0]
    nodes: list[Tensor] = []           # one Tensor per distinct source node
    source, position, constant = [], [], []
    for a in args:
        shape = a.shape if isinstance(a, Tensor) else np.shape(a)
        if len(shape) != rank:
            raise ctx.error(f"operand shapes differ in rank: {shape} vs rank {rank}")
        if isinstance(a, Tensor):
            k = next((i for i, t in enumerate(nodes) if t.node == a.node), len(nodes))
            if k == len(nodes):
                nodes.append(Tensor(a.node, (a.size,)))
            source.append(np.full(shape, k, dtype=np.int64))
            position.append(_positions(a))
            constant.append(np.zeros(shape))
        else:
            source.append(np.full(shape, -1, dtype=np.int64))
            position.append(np.zeros(shape, dtype=np.int64))
            constant.append(np.asarray(a, dtype=np.float64))
    try:
        source, position, constant = (np.concatenate(parts, axis=axis)
                                      for parts in (source, position, constant))
    except ValueError:
        shapes = [a.shape if isinstance(a, Tensor) else np.shape(a) for a in args]
        raise ctx.error(f"operand shapes {shapes} do not concatenate on axis {axis}") from None
    return _scatter_sum(ctx, nodes, source, position, constant)


def concat_flat(ctx: TranslationContext, parts: list[Value]) -> Tensor:
    """The flat concatenation of computed tensors and constants, in order (several graph
    outputs, or outputs and hidden tensors asked for by a query). At least one part must
    be computed."""
    nodes: list[Tensor] = []
    source, position, constant = [], [], []
    for a in parts:
        if isinstance(a, Tensor):
            k = next((i for i, t in enumerate(nodes) if t.node == a.node), len(nodes))
            if k == len(nodes):
                nodes.append(Tensor(a.node, (a.size,)))
            source.append(np.full(a.size, k, dtype=np.int64))
            position.append(np.arange(a.size, dtype=np.int64))
            constant.append(np.zeros(a.size))
        else:
            flat = np.asarray(a, dtype=np.float64).reshape(-1)
            source.append(np.full(flat.size, -1, dtype=np.int64))
            position.append(np.zeros(flat.size, dtype=np.int64))
            constant.append(flat)
    if not nodes:
        raise ctx.error("no part of the concatenation depends on the network input")
    return _scatter_sum(ctx, nodes, np.concatenate(source), np.concatenate(position),
                        np.concatenate(constant))


def _affine_chain(ctx: TranslationContext, x: Tensor
                  ) -> tuple[Tensor, sp.csr_matrix, np.ndarray]:
    """``(base, M, c)`` with ``x = M base + c``, exactly: x's node traced back through its
    chain of Affine nodes to the first node that is not an Affine, or to where composing
    one more Affine would make M much denser than its factors."""
    graph = ctx.builder.graph
    name, M, c = x.node, sp.identity(x.size, format="csr"), np.zeros(x.size)
    while isinstance(graph.nodes[name]["op"], Affine):
        op = graph.nodes[name]["op"]
        W = sp.csr_matrix(op.W)
        product = (M @ W).tocsr()
        if product.nnz > 4 * (M.nnz + W.nnz) + 10_000:
            break
        M, c = product, c + M @ op.b
        name = graph.nodes[name]["inputs"][0]
    return Tensor(name, (M.shape[1],)), M, c


def _sources(ctx: TranslationContext, nodes: list[Tensor]) -> list[tuple[Tensor, list]]:
    """Group the source nodes by the base of their Affine chains.

    Returns:
        ``[(base, [(k, M_k, c_k), ...])]``: ``nodes[k] = M_k base + c_k``. A base reached by
        one node alone is that node itself (identity map), so only sources that share a base
        are composed, which turns for example a Concat of MatMuls of Slices of the same
        tensor into one Affine.
    """
    chains = [_affine_chain(ctx, x) for x in nodes]
    groups: dict[str, list[int]] = {}
    for k, (base, _, _) in enumerate(chains):
        groups.setdefault(base.node, []).append(k)
    out = []
    for members in groups.values():
        if len(members) == 1:
            x = nodes[members[0]]
            out.append((x, [(members[0], sp.identity(x.size, format="csr"), np.zeros(x.size))]))
        else:
            out.append((chains[members[0]][0], [(k,) + chains[k][1:] for k in members]))
    return out


def _scatter_sum(ctx: TranslationContext, nodes: list[Tensor], source: np.ndarray,
                 position: np.ndarray, constant: np.ndarray) -> Tensor:
    """Output ``y[i] = nodes[source[i]].flat[position[i]]`` (or ``constant[i]`` where
    ``source[i] == -1``): one Affine per base node (see :func:`_sources`), summed by Adds."""
    shape = tuple(int(d) for d in source.shape)
    source, position = source.reshape(-1), position.reshape(-1)
    bias = np.where(source < 0, constant.reshape(-1), 0.0)
    if not np.all(np.isfinite(bias)):
        raise ctx.error("constant operand contains NaN or inf")
    if len(nodes) == 1 and np.all(source == 0):
        return select(ctx, nodes[0], position.reshape(shape))
    total = None
    for base, members in _sources(ctx, nodes):
        W = sp.csr_matrix((source.size, base.size))
        for k, M, c in members:
            rows = np.flatnonzero(source == k)
            scatter = sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))),
                                    shape=(source.size, rows.size))
            W = W + scatter @ M[position[rows]]
            bias = bias + scatter @ c[position[rows]]
        part = ctx.affine(base, W.tocsr(), bias, shape)
        bias = np.zeros(source.size)
        total = part if total is None else ctx.add(total, part)
    return total
