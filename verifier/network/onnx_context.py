"""The state shared by the ONNX op translators: tensors, the translation context, attributes.

A value in the translation is either a constant (a numpy array, folded eagerly) or a
:class:`Tensor`, a graph node plus its full ONNX shape (batch dimension included, fixed to
1). Translators read their inputs and append nodes through a :class:`TranslationContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Union

import numpy as np
import onnx
import scipy.sparse as sp

from verifier.errors import NetworkError, UnsupportedOpError
from verifier.network.graph import GraphBuilder

__all__ = ["Tensor", "Value", "TranslationContext", "attr"]


@dataclass(frozen=True)
class Tensor:
    """A computed tensor: the graph node holding its flat value and its full ONNX shape."""

    node: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of values in the tensor (product of its shape)."""
        return int(prod(self.shape))


Value = Union[np.ndarray, Tensor]


def attr(node: onnx.NodeProto, name: str, default):
    """The value of the node's attribute ``name`` (bytes decoded to str), else ``default``."""
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode()
            return value
    return default


class TranslationContext:
    """Translation state: constants and computed tensors by ONNX name, the builder.

    Args:
        builder: the graph being built.
        values: ONNX tensor name -> value (constant array or :class:`Tensor`).
        opset: the model's default-domain opset version.
        batched: whether the graph input has a leading batch dimension (fixed to 1).
    """

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
        """A NetworkError naming the node being translated and its op type."""
        return NetworkError(f"node {self.node_name!r} ({self.op_type}): {message}")

    def unsupported(self, hint: str) -> UnsupportedOpError:
        """An UnsupportedOpError for the node being translated, with ``hint``."""
        return UnsupportedOpError(self.op_type, self.node_name, hint)

    # ------------------------------------------------------------- inputs
    def has_input(self, node: onnx.NodeProto, i: int) -> bool:
        """Whether the node's optional input i is given (present and not empty)."""
        return len(node.input) > i and node.input[i] != ""

    def value(self, node: onnx.NodeProto, i: int) -> Value:
        """The value of the node's input i; raises when no earlier node produced it."""
        name = node.input[i]
        if name not in self.values:
            raise self.error(f"input {name!r} is not produced by any earlier node")
        return self.values[name]

    def const(self, node: onnx.NodeProto, i: int, what: str = "operand") -> np.ndarray:
        """Input i as a constant array.

        Raises:
            UnsupportedOpError: the input depends on the network input (only constant
                weights, shapes, indices, pads, ... are supported).
        """
        v = self.value(node, i)
        if isinstance(v, Tensor):
            raise self.unsupported(f"{what} {node.input[i]!r} depends on the network input; "
                                   "it must be a constant")
        return v

    def weight(self, node: onnx.NodeProto, i: int, what: str = "weight") -> np.ndarray:
        """Input i as a finite float64 constant."""
        w = np.asarray(self.const(node, i, what), dtype=np.float64)
        if not np.all(np.isfinite(w)):
            raise self.error(f"{what} {node.input[i]!r} contains NaN or inf")
        return w

    def ints(self, node: onnx.NodeProto, i: int) -> list[int]:
        """Constant input i (a shape or axes list) flattened to Python ints."""
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
        """Append ``y = max(0, x)`` elementwise; same shape as x."""
        name = self.builder.relu(source=x.node, shape=self.logical(x.shape))
        self._tag(name)
        return Tensor(name, x.shape)

    def add(self, left: Tensor, right: Tensor) -> Tensor:
        """Append ``y = left + right`` for two computed tensors of equal size."""
        name = self.builder.add(left.node, right.node, shape=self.logical(left.shape))
        self._tag(name)
        return Tensor(name, left.shape)

    def _tag(self, name: str) -> None:
        """Record on graph node ``name`` the ONNX node it was translated from."""
        self.builder.graph.nodes[name]["onnx_node"] = self.node_name
