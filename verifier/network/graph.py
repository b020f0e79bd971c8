"""The constraint graph: a networkx DiGraph of frozen op records.

Node keys are op names; each node carries ``op`` (the record). Edges run from producer to
consumer; an :class:`~verifier.network.ops.Add` has two predecessors whose order is kept in
the ``inputs`` attribute of the node. Exactly one node is the input and one is the output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from verifier.errors import NetworkError
from verifier.network.ops import Add, Affine, Input, Op, Relu


# ====================================================================== per-op rules
def _check_input(name: str, op: Input, inputs: list[str], in_sizes: list[int]) -> None:
    """An Input node has no predecessors."""
    if inputs:
        raise NetworkError(f"input node {name!r} has predecessors")


def _check_affine(name: str, op: Affine, inputs: list[str], in_sizes: list[int]) -> None:
    """An Affine node has one input of W's column count and finite, fitting W and b."""
    if len(inputs) != 1:
        raise NetworkError(f"affine node {name!r} needs exactly one input")
    if op.W.ndim != 2 or op.b.shape != (op.W.shape[0],):
        raise NetworkError(f"node {name!r}: W {op.W.shape} and b {op.b.shape} "
                           "do not fit")
    if op.W.shape[1] != in_sizes[0]:
        raise NetworkError(f"node {name!r}: W has {op.W.shape[1]} columns but its "
                           f"input {inputs[0]!r} has {in_sizes[0]} values")
    data = op.W.data if sp.issparse(op.W) else op.W
    if not (np.all(np.isfinite(data)) and np.all(np.isfinite(op.b))):
        raise NetworkError(f"node {name!r}: weights contain NaN or inf")


def _check_relu(name: str, op: Relu, inputs: list[str], in_sizes: list[int]) -> None:
    """A Relu node has one input of its own size."""
    if len(inputs) != 1 or in_sizes[0] != op.size:
        raise NetworkError(f"relu node {name!r}: input size mismatch")


def _check_add(name: str, op: Add, inputs: list[str], in_sizes: list[int]) -> None:
    """An Add node has two inputs, both of its own size."""
    if len(inputs) != 2 or in_sizes[0] != in_sizes[1] or in_sizes[0] != op.size:
        raise NetworkError(f"add node {name!r}: operand sizes {in_sizes} differ")


@dataclass(frozen=True)
class OpRule:
    """What the graph needs to know of one op record type.

    Attributes:
        check: ``check(name, op, inputs, in_sizes)`` raises NetworkError when the node does
            not fit its inputs (names and sizes in argument order).
        forward: ``forward(op, args, X)`` is the node's (N, size) float64 value, given its
            arguments' values (each (N, size)) and the network input X (N, n_inputs).
    """

    check: Callable[[str, Any, list[str], list[int]], None]
    forward: Callable[[Any, list[np.ndarray], np.ndarray], np.ndarray]


OP_RULES: dict[type, OpRule] = {
    Input: OpRule(_check_input, lambda op, args, X: X),
    Affine: OpRule(_check_affine, lambda op, args, X: np.asarray(op.W @ args[0].T).T + op.b),
    Relu: OpRule(_check_relu, lambda op, args, X: np.maximum(args[0], 0.0)),
    Add: OpRule(_check_add, lambda op, args, X: args[0] + args[1]),
}
"""op record type -> its rule; adding an op type to the graph is one entry here."""


def rule_of(name: str, op: Op) -> OpRule:
    """The rule of node ``name``'s op record (found through the record's class hierarchy).

    Raises:
        NetworkError: the record's type has no rule.
    """
    for cls in type(op).__mro__:
        rule = OP_RULES.get(cls)
        if rule is not None:
            return rule
    raise NetworkError(f"node {name!r}: unknown op record {type(op).__name__}")


class Network:
    """A ReLU network as a DAG of op records, with a float64 reference forward pass.

    Args:
        graph: DiGraph whose nodes have attributes ``op`` and ``inputs`` (list of
            predecessor names in argument order).
        input_name: name of the :class:`Input` node.
        output_name: name of the node whose value is the network output.
        input_shape / output_shape: logical shapes without batch dimension (for C-order
            flattening of files and for reports).

    Raises:
        NetworkError: on cycles, size mismatches or non-finite weights.
    """

    def __init__(self, graph: nx.DiGraph, input_name: str, output_name: str,
                 input_shape: tuple[int, ...] | None = None,
                 output_shape: tuple[int, ...] | None = None):
        self.graph = graph
        self.source_path: str | None = None   # the ONNX file it came from, if any
        self.input_name = input_name
        self.output_name = output_name
        if not nx.is_directed_acyclic_graph(graph):
            raise NetworkError("the network graph has a cycle")
        self.order: list[str] = list(nx.lexicographical_topological_sort(
            graph, key=lambda n: graph.nodes[n].get("index", 0)))
        self._sizes: dict[str, int] = {}
        self._check()
        in_op = self.op(input_name)
        self.input_shape = tuple(input_shape) if input_shape is not None else in_op.shape
        self.output_shape = (tuple(output_shape) if output_shape is not None
                             else (self.size(output_name),))

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_layers(cls, layers: Sequence[Any], input_size: int | None = None) -> "Network":
        """Build a sequential network from ``[(W1, b1), "relu", (W2, b2), ...]``.

        Each affine layer is a pair ``(W, b)`` with W of shape (out, in) (numpy array or
        scipy.sparse matrix) and b of shape (out,); ``"relu"`` applies ReLU to the previous
        layer's output.
        """
        if input_size is None:
            first = next((layer for layer in layers if not isinstance(layer, str)), None)
            if first is None:
                raise NetworkError("from_layers needs at least one (W, b) layer or input_size")
            input_size = int(np.shape(first[0])[1])
        builder = GraphBuilder(input_size)
        for position, layer in enumerate(layers):
            if isinstance(layer, str):
                if layer.lower() != "relu":
                    raise NetworkError(f"layer {position}: unknown layer kind {layer!r}; "
                                       "use (W, b) or 'relu'")
                builder.relu()
            else:
                try:
                    W, b = layer
                except (TypeError, ValueError):
                    raise NetworkError(f"layer {position}: expected (W, b) or 'relu'") from None
                builder.affine(W, b)
        return builder.build()

    def _check(self) -> None:
        """Check every node's inputs against its op and record each node's size."""
        for name in self.order:
            node = self.graph.nodes[name]
            op = node.get("op")
            if op is None:
                raise NetworkError(f"node {name!r} has no op")
            inputs = node.get("inputs", [])
            in_sizes = [self._sizes[i] for i in inputs]
            rule_of(name, op).check(name, op, inputs, in_sizes)
            self._sizes[name] = op.size
        if self.output_name not in self._sizes:
            raise NetworkError(f"output node {self.output_name!r} is not in the graph")

    # ----------------------------------------------------------------- access
    def op(self, name: str) -> Op:
        """The op record of node ``name``."""
        return self.graph.nodes[name]["op"]

    def inputs_of(self, name: str) -> list[str]:
        """The argument nodes of node ``name``, in argument order."""
        return list(self.graph.nodes[name].get("inputs", []))

    def size(self, name: str) -> int:
        """The number of values node ``name`` holds (flat)."""
        return self._sizes[name]

    def upstream_order(self, name: str) -> list[str]:
        """``name`` and its ancestors in reverse topological order (cached)."""
        cache = self.__dict__.setdefault("_upstream_cache", {})
        if name not in cache:
            keep = nx.ancestors(self.graph, name) | {name}
            cache[name] = [n for n in reversed(self.order) if n in keep]
        return cache[name]

    @property
    def n_inputs(self) -> int:
        """The number of network inputs (flat)."""
        return self._sizes[self.input_name]

    @property
    def n_outputs(self) -> int:
        """The number of network outputs (flat)."""
        return self._sizes[self.output_name]

    def ops(self) -> list[Op]:
        """Op records in topological order."""
        return [self.op(n) for n in self.order]

    def relu_names(self) -> list[str]:
        """The Relu nodes in topological order."""
        return [n for n in self.order if isinstance(self.op(n), Relu)]

    def is_sequential(self) -> bool:
        """True when every node has at most one consumer and no Add occurs."""
        return all(self.graph.out_degree(n) <= 1 for n in self.order) and not any(
            isinstance(self.op(n), Add) for n in self.order)

    def layers(self) -> list[Op]:
        """The ops of a sequential network from input to output (Input excluded).

        Raises:
            NetworkError: when the network is not a chain ending at the output.
        """
        if not self.is_sequential():
            raise NetworkError("this operation needs a sequential network (no Add/branches)")
        chain = [n for n in self.order if n != self.input_name]
        if chain and chain[-1] != self.output_name:
            raise NetworkError("the output node is not the last node of the chain")
        return [self.op(n) for n in chain]

    # ----------------------------------------------------------------- semantics
    def forward(self, x: np.ndarray, all_nodes: bool = False):
        """Reference float64 forward pass.

        Args:
            x: (n_inputs,) or (N, n_inputs) array (any shape whose trailing size per sample
               is n_inputs is reshaped in C order).
            all_nodes: return a dict name -> (N, size) of every node's value instead.

        Returns:
            (N, n_outputs) array (or (n_outputs,) for a single unbatched input).
        """
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 1
        X = x.reshape(1, -1) if single else x.reshape(x.shape[0], -1)
        if X.shape[1] != self.n_inputs:
            raise NetworkError(f"forward: got {X.shape[1]} input values, the network takes "
                               f"{self.n_inputs}")
        values: dict[str, np.ndarray] = {}
        for name in self.order:
            op = self.op(name)
            args = [values[i] for i in self.inputs_of(name)]
            values[name] = rule_of(name, op).forward(op, args, X)
        if all_nodes:
            return values
        out = values[self.output_name]
        return out[0] if single else out

    __call__ = forward

    def summary(self) -> list[dict]:
        """One dict per node: name, kind, size, inputs, nonzeros (for `inspect`)."""
        rows = []
        for name in self.order:
            op = self.op(name)
            row = {"name": name, "kind": type(op).__name__, "size": self.size(name),
                   "inputs": self.inputs_of(name)}
            if isinstance(op, Affine):
                row["nonzeros"] = int(op.W.nnz if sp.issparse(op.W) else np.count_nonzero(op.W))
            rows.append(row)
        return rows

    def __repr__(self) -> str:
        """The chain of op kinds with their sizes."""
        kinds = " -> ".join(f"{type(self.op(n)).__name__}({self.size(n)})" for n in self.order)
        return f"Network({kinds})"


class GraphBuilder:
    """Appends ops to a graph, naming them ``<kind><k>``; used by importers and from_layers."""

    def __init__(self, input_size: int | None = None, input_shape: tuple[int, ...] | None = None,
                 input_name: str = "input"):
        shape = tuple(input_shape) if input_shape is not None else (int(input_size),)
        self.graph = nx.DiGraph()
        self.input_name = input_name
        self.counter = 0
        self.last = self._add(Input(input_name, shape), [])
        self.input_shape = shape

    def _add(self, op: Op, inputs: Iterable[str]) -> str:
        """Add node ``op`` with its argument edges; returns its name."""
        inputs = list(inputs)
        if op.name in self.graph:
            raise NetworkError(f"duplicate node name {op.name!r}")
        self.graph.add_node(op.name, op=op, inputs=inputs, index=self.counter)
        self.counter += 1
        for i in inputs:
            self.graph.add_edge(i, op.name)
        self.last = op.name
        return op.name

    def fresh(self, kind: str) -> str:
        """An unused node name ``<kind><k>``."""
        k = sum(1 for n in self.graph if n.startswith(kind))
        name = f"{kind}{k}"
        while name in self.graph:
            k += 1
            name = f"{kind}{k}"
        return name

    def size(self, name: str) -> int:
        """The number of values node ``name`` holds (flat)."""
        op = self.graph.nodes[name]["op"]
        return op.size

    def affine(self, W, b, source: str | None = None, name: str | None = None,
               shape: tuple[int, ...] = ()) -> str:
        """Append ``z = W x + b`` on ``source`` (default: the last node); returns its name."""
        W = W.tocsr().astype(np.float64) if sp.issparse(W) else np.asarray(W, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        if W.ndim != 2:
            raise NetworkError(f"affine layer {name or ''}: W must be 2-D, got shape {W.shape}")
        if b.shape[0] != W.shape[0]:
            raise NetworkError(f"affine layer {name or ''}: W has {W.shape[0]} rows, "
                               f"b has {b.shape[0]} entries")
        src = self.last if source is None else source
        if W.shape[1] != self.size(src):
            raise NetworkError(f"affine layer {name or ''}: W has {W.shape[1]} columns but its "
                               f"input has {self.size(src)} values")
        op = Affine(name or self.fresh("affine"), W, b, shape or (W.shape[0],))
        return self._add(op, [src])

    def relu(self, source: str | None = None, name: str | None = None,
             shape: tuple[int, ...] = ()) -> str:
        """Append ``y = max(0, x)`` on ``source`` (default: the last node); returns its name."""
        src = self.last if source is None else source
        n = self.size(src)
        return self._add(Relu(name or self.fresh("relu"), n, shape or (n,)), [src])

    def add(self, left: str, right: str, name: str | None = None,
            shape: tuple[int, ...] = ()) -> str:
        """Append ``y = left + right`` (equal sizes); returns its name."""
        n = self.size(left)
        if self.size(right) != n:
            raise NetworkError(f"add {name or ''}: operand sizes {n} and {self.size(right)} differ")
        return self._add(Add(name or self.fresh("add"), n, shape or (n,)), [left, right])

    def build(self, output: str | None = None,
              output_shape: tuple[int, ...] | None = None) -> Network:
        """The checked :class:`Network` with ``output`` (default: the last node) as output."""
        return Network(self.graph, self.input_name, output or self.last,
                       input_shape=self.input_shape, output_shape=output_shape)
