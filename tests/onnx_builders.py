"""Small ONNX models for tests: MLPs with named hidden tensors, several inputs and outputs,
residual blocks. Every model is float32, opset 13, checked by ``onnx.checker``."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def random_layers(rng: np.random.Generator, sizes: list[int], scale: float = 1.0):
    """``[(W, b)]`` (float32) for an MLP with the given layer sizes."""
    return [((rng.normal(size=(m, n)) * scale / np.sqrt(n)).astype(np.float32),
             (rng.normal(size=m) * 0.3).astype(np.float32))
            for n, m in zip(sizes[:-1], sizes[1:])]


def _model(nodes, inputs, outputs, inits, name="test") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _mlp_nodes(layers, current: str, prefix: str = ""):
    """Gemm/Relu nodes; tensors ``{prefix}gemm{k}`` and ``{prefix}relu{k}``; the last Gemm
    writes ``{prefix}out``."""
    nodes, inits = [], []
    for k, (W, b) in enumerate(layers):
        inits += [numpy_helper.from_array(W, f"{prefix}W{k}"),
                  numpy_helper.from_array(b, f"{prefix}b{k}")]
        last = k == len(layers) - 1
        out = f"{prefix}out" if last else f"{prefix}gemm{k}"
        nodes.append(helper.make_node("Gemm", [current, f"{prefix}W{k}", f"{prefix}b{k}"],
                                      [out], transB=1, name=f"{prefix}Gemm_{k}"))
        current = out
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"{prefix}relu{k}"],
                                          name=f"{prefix}Relu_{k}"))
            current = f"{prefix}relu{k}"
    return nodes, inits, current


def mlp_onnx(layers) -> onnx.ModelProto:
    """Input ``x`` [1, n] -> Gemm/Relu chain -> output ``out`` [1, m]; hidden tensors
    ``gemm{k}`` (pre-activation) and ``relu{k}``."""
    n, m = layers[0][0].shape[1], layers[-1][0].shape[0]
    nodes, inits, _ = _mlp_nodes(layers, "x")
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                  [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, m])], inits)


def two_io_onnx(layers, split: tuple[int, int], input_sizes: tuple[int, int]) -> onnx.ModelProto:
    """Inputs ``a`` [1, p] and ``b`` [1, q] concatenated -> MLP -> outputs ``o1`` [1, s1]
    and ``o2`` [1, s2] (a Split of the last layer)."""
    p, q = input_sizes
    nodes = [helper.make_node("Concat", ["a", "b"], ["ab"], axis=1, name="Concat_0")]
    mlp, inits, _ = _mlp_nodes(layers, "ab")
    nodes += mlp
    inits.append(numpy_helper.from_array(np.array(split, dtype=np.int64), "split_sizes"))
    nodes.append(helper.make_node("Split", ["out", "split_sizes"], ["o1", "o2"], axis=1,
                                  name="Split_0"))
    return _model(nodes,
                  [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, p]),
                   helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, q])],
                  [helper.make_tensor_value_info("o1", TensorProto.FLOAT, [1, split[0]]),
                   helper.make_tensor_value_info("o2", TensorProto.FLOAT, [1, split[1]])],
                  inits)


def residual_onnx(rng: np.random.Generator, n: int, width: int, m: int) -> onnx.ModelProto:
    """``x`` [1, n] -> h = relu(W1 x + b1) -> r = relu(W2 h + b2) + h (residual Add) ->
    ``out`` = W3 r + b3; hidden tensors ``h``, ``r``."""
    (W1, b1), (W2, b2), (W3, b3) = random_layers(rng, [n, width, width, m])
    inits = [numpy_helper.from_array(a, name) for a, name in
             ((W1, "W1"), (b1, "b1"), (W2, "W2"), (b2, "b2"), (W3, "W3"), (b3, "b3"))]
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["z1"], transB=1),
             helper.make_node("Relu", ["z1"], ["h"]),
             helper.make_node("Gemm", ["h", "W2", "b2"], ["z2"], transB=1),
             helper.make_node("Relu", ["z2"], ["h2"]),
             helper.make_node("Add", ["h2", "h"], ["r"]),
             helper.make_node("Gemm", ["r", "W3", "b3"], ["out"], transB=1)]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                  [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, m])], inits)


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)
