"""Joint networks: several networks side by side in one constraint graph.

A question about several networks (two copies of one net on related inputs, a net and
its pruned copy, a controller and a plant) is a question about one larger network: its
input is the concatenation of the parts' inputs, and its output is whatever the question
looks at, picked element by element from the joint input and the parts' outputs. Every
method that takes a DAG of Affine / Relu / Add nodes then runs on the joint graph
unchanged; the parts stay separate subgraphs that meet only in the output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from verifier.errors import NetworkError
from verifier.network.graph import GraphBuilder, Network
from verifier.network.ops import Add, Affine, Input, Relu

__all__ = ["compose", "JOINT_INPUT"]

#: the ``part`` of a pick that selects entries of the joint input
JOINT_INPUT = -1


def compose(parts: Sequence[Network], picks: Sequence[tuple[int, np.ndarray]],
            reads: Sequence[np.ndarray] | None = None, n_inputs: int | None = None
            ) -> Network:
    """One network holding every part, reading (parts of) one joint input.

    Args:
        parts: the networks.
        picks: the joint output, in order: ``(k, indices)`` appends entries ``indices`` of
            part k's output, ``(JOINT_INPUT, indices)`` entries of the joint input.
        reads: part k's input is ``joint_input[reads[k]]`` (entries may be shared by
            several parts: inputs tied by a query's equalities). Default: the parts'
            inputs one after the other.
        n_inputs: the joint input's size (default: one past the largest entry read).

    Returns:
        The joint network (not simplified: :func:`verifier.network.simplify.simplify` fuses
        the selections into the parts' first and last layers).

    Raises:
        NetworkError: an index outside a part's output or the joint input, or no pick.
    """
    if reads is None:
        ends = np.cumsum([p.n_inputs for p in parts])
        reads = [np.arange(end - p.n_inputs, end) for p, end in zip(parts, ends)]
    reads = [np.asarray(r, dtype=np.int64).reshape(-1) for r in reads]
    width = int(n_inputs if n_inputs is not None else max(int(r.max()) + 1 for r in reads))
    builder = GraphBuilder(input_size=width)
    outputs = []
    for k, (part, read) in enumerate(zip(parts, reads)):
        if read.size != part.n_inputs or read.min() < 0 or read.max() >= width:
            raise NetworkError(f"part {k} reads {read.size} joint inputs, takes "
                               f"{part.n_inputs}")
        start = builder.affine(_selection(read, width), np.zeros(read.size),
                               source=builder.input_name, name=f"net{k}/input")
        outputs.append(_copy(builder, part, start, f"net{k}/"))
    if not picks:
        raise NetworkError("a joint network needs at least one output entry")
    sources = {JOINT_INPUT: builder.input_name, **dict(enumerate(outputs))}
    return builder.build(output=_gather(builder, sources, picks))


def _selection(indices: np.ndarray, width: int) -> sp.csr_matrix:
    """The 0/1 matrix ``S`` with ``(S x)_i = x[indices[i]]``."""
    rows = np.arange(indices.size)
    return sp.csr_matrix((np.ones(indices.size), (rows, indices)), shape=(indices.size, width))


def _copy(builder: GraphBuilder, part: Network, start: str, prefix: str) -> str:
    """Append ``part``'s nodes (renamed ``prefix + name``), its input replaced by node
    ``start``; returns the copy of its output node."""
    names = {part.input_name: start}
    for name in part.order:
        op = part.op(name)
        if isinstance(op, Input):
            continue
        args = [names[i] for i in part.inputs_of(name)]
        new = prefix + name
        if isinstance(op, Affine):
            names[name] = builder.affine(op.W, op.b, source=args[0], name=new, shape=op.shape)
        elif isinstance(op, Relu):
            names[name] = builder.relu(source=args[0], name=new, shape=op.shape)
        elif isinstance(op, Add):
            names[name] = builder.add(args[0], args[1], name=new, shape=op.shape)
        else:  # pragma: no cover - the graph has no other op records
            raise NetworkError(f"node {name!r}: cannot copy op {type(op).__name__}")
    return names[part.output_name]


def _gather(builder: GraphBuilder, sources: dict[int, str], picks) -> str:
    """The concatenation of the picks: one scattering Affine per source node, summed."""
    lengths = [np.asarray(idx).size for _, idx in picks]
    total = int(sum(lengths))
    rows_of: dict[int, list[np.ndarray]] = {}
    cols_of: dict[int, list[np.ndarray]] = {}
    row = 0
    for (k, idx), length in zip(picks, lengths):
        if k not in sources:
            raise NetworkError(f"pick of part {k}: there are {len(sources) - 1} parts")
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        width = builder.size(sources[k])
        if idx.size and (idx.min() < 0 or idx.max() >= width):
            raise NetworkError(f"pick of part {k}: an index outside its {width} values")
        rows_of.setdefault(k, []).append(np.arange(row, row + length))
        cols_of.setdefault(k, []).append(idx)
        row += length
    result = None
    for k in rows_of:
        r, c = np.concatenate(rows_of[k]), np.concatenate(cols_of[k])
        W = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(total, builder.size(sources[k])))
        part = builder.affine(W, np.zeros(total), source=sources[k],
                              name=builder.fresh("pick"))
        result = part if result is None else builder.add(result, part,
                                                         name=builder.fresh("gather"))
    return result

