"""Graph simplification: fuse Affine -> Affine chains, drop identity affines.

The result computes the same function (tests check it at random points). Nodes are
renamed ``affine0, relu0, add0, ...`` in topological order; the input keeps its name.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from verifier.network.graph import GraphBuilder, Network
from verifier.network.ops import Add, Affine, Input, Relu

__all__ = ["simplify", "fuse_affines", "is_identity"]


def is_identity(op: Affine) -> bool:
    """True when ``W == I`` (square) and ``b == 0``."""
    n, m = op.W.shape
    if n != m or np.any(op.b != 0):
        return False
    if sp.issparse(op.W):
        W = op.W.tocsr()
        if W.nnz != n:
            W = W.copy()
            W.eliminate_zeros()
        return W.nnz == n and bool(np.all(W.diagonal() == 1.0))
    return bool(np.array_equal(op.W, np.eye(n)))


def fuse_affines(first: Affine, second: Affine) -> tuple[object, np.ndarray]:
    """``second(first(x))`` as one map.

    Returns:
        (W (out2, in1), b (out2,)): W sparse CSR when both are sparse, else dense.
    """
    W1, W2 = first.W, second.W
    if sp.issparse(W1) and sp.issparse(W2):
        W = (W2 @ W1).tocsr()
    elif sp.issparse(W2):
        W = np.asarray(W2 @ W1)
    else:
        W = np.asarray((W1.T @ W2.T).T) if sp.issparse(W1) else W2 @ W1
    b = np.asarray(W2 @ first.b).reshape(-1) + second.b
    return W, b


def _worth_fusing(first: Affine, second: Affine) -> bool:
    """Skip a fusion whose dense product would be much larger than both factors."""
    if sp.issparse(first.W) and sp.issparse(second.W):
        return True
    product = second.W.shape[0] * first.W.shape[1]
    factors = sum(W.nnz if sp.issparse(W) else W.size for W in (first.W, second.W))
    return product <= 4 * factors + 10_000


def simplify(net: Network) -> Network:
    """Fuse Affine -> Affine (first with a single consumer), drop identity affines.

    Args:
        net: any network.

    Returns:
        A new Network with the same input/output shapes and function.
    """
    # ``source[name]``: the (new) node whose value equals old node ``name``;
    # ``pending[name]``: an Affine not yet emitted, to fuse into its consumer.
    builder = GraphBuilder(input_shape=net.input_shape, input_name=net.input_name)
    source: dict[str, str] = {net.input_name: net.input_name}
    pending: dict[str, tuple[Affine, str]] = {}
    for name in net.order:
        op = net.op(name)
        if isinstance(op, Input):
            continue
        inputs = net.inputs_of(name)
        if isinstance(op, Affine):
            op, src = _absorb(builder, op, inputs[0], source, pending)
            if is_identity(op) and not (name == net.output_name and src == net.input_name):
                source[name] = src
                continue
            single = net.graph.out_degree(name) == 1 and name != net.output_name
            consumer = next(iter(net.graph.successors(name)), None)
            if single and isinstance(net.op(consumer), Affine):
                pending[name] = (op, src)
                continue
            source[name] = builder.affine(op.W, op.b, source=src, shape=op.shape)
            continue
        args = [_emit(builder, i, source, pending) for i in inputs]
        if isinstance(op, Relu):
            source[name] = builder.relu(source=args[0], shape=op.shape)
        elif isinstance(op, Add):
            source[name] = builder.add(args[0], args[1], shape=op.shape)
    out = _emit(builder, net.output_name, source, pending)
    return builder.build(output=out, output_shape=net.output_shape)


def _absorb(builder: GraphBuilder, op: Affine, producer: str, source: dict, pending: dict):
    """Fuse ``op`` with its producer when that is a pending Affine and fusing is worthwhile.

    Returns:
        (op, new source node name) where op may now be the fused map.
    """
    if producer in pending and _worth_fusing(pending[producer][0], op):
        first, src = pending.pop(producer)
        W, b = fuse_affines(first, op)
        return Affine(op.name, W, b, op.shape), src
    return op, _emit(builder, producer, source, pending)


def _emit(builder: GraphBuilder, name: str, source: dict, pending: dict) -> str:
    """The new node holding old node ``name``, emitting a pending affine if needed."""
    if name in pending:
        op, src = pending.pop(name)
        source[name] = builder.affine(op.W, op.b, source=src, shape=op.shape)
    return source[name]
