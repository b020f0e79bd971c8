"""ONNX import: the op table and the driver building the constraint graph.

Every tensor is a C-order flat vector; the importer tracks each tensor's full ONNX shape
(the batch dimension of the graph input, symbolic or 1, is fixed to 1 while translating
and dropped from the shapes stored in the :class:`Network`). A tensor is either a
constant (a numpy array, folded eagerly) or a :class:`Tensor`, a graph node plus its
logical shape. Shape-only ops (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout)
make no node: they only relabel the shape of the same flat vector. Linear ops become
``Affine`` nodes (scipy.sparse CSR where the map is sparse: Conv, Transpose, Pad,
AveragePool, elementwise scaling, and the constant-index selections Slice, Gather, Split,
Concat), ``Relu`` and two-operand ``Add`` map to their records; a Concat of tensors from
several nodes is an ``Add`` of scattering affines. MaxPool becomes an exact chain of
Affine/Relu levels (a pairwise max tree).

The translators live by op family in :mod:`~verifier.network.onnx_linear`,
:mod:`~verifier.network.onnx_shape`, :mod:`~verifier.network.onnx_select`,
:mod:`~verifier.network.onnx_conv` and :mod:`~verifier.network.onnx_pool`; their shared
state in :mod:`~verifier.network.onnx_context`. Adding an op is one translator function
there and one line in :data:`TRANSLATORS` here.

Unsupported ops are found by scanning every node before any translation work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import networkx as nx
import numpy as np
import onnx
from onnx import numpy_helper

from verifier.errors import InputFileError, NetworkError, UnsupportedOpError
from verifier.files import check_input_file, format_size
from verifier.network import onnx_conv, onnx_linear, onnx_pool, onnx_select, onnx_shape
from verifier.network.graph import GraphBuilder, Network
from verifier.network.onnx_context import Tensor, TranslationContext, Value

__all__ = ["import_onnx", "load_onnx_model", "TRANSLATORS", "SUPPORTED_OPS", "unsupported_hint",
           "Tensor", "graph_inputs", "translate", "MAX_NETWORK_BYTES", "check_network_size"]

NONLINEAR_OPS = frozenset({
    "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Softplus", "Softsign", "Elu",
    "Selu", "Gelu", "Erf", "HardSigmoid", "HardSwish", "Sqrt", "Pow", "Sin", "Cos", "Mish",
    "Reciprocal", "Celu", "ThresholdedRelu"})


#: the largest network file read, decompressed (protobuf cannot parse a larger ONNX model)
MAX_NETWORK_BYTES = (2 << 30) - 1
#: element types of a graph input or output that the float64 semantics can stand for
FLOAT_TYPES = {onnx.TensorProto.FLOAT: "FLOAT", onnx.TensorProto.DOUBLE: "DOUBLE",
               onnx.TensorProto.FLOAT16: "FLOAT16", onnx.TensorProto.BFLOAT16: "BFLOAT16"}


# ====================================================================== loading
def check_network_size(path: Path, size: int) -> None:
    """Refuse a network file larger than ``MAX_NETWORK_BYTES`` before reading it; for a
    ``.gz`` file the size its gzip trailer declares (the uncompressed size modulo 4 GiB:
    the reader checks the true size as it decompresses)."""
    gz = path.name.lower().endswith(".gz")
    if gz and size >= 18:
        with open(path, "rb") as handle:
            handle.seek(-4, 2)
            size = int.from_bytes(handle.read(4), "little")
    if size > MAX_NETWORK_BYTES:
        raise InputFileError(f"{path}: larger than {format_size(MAX_NETWORK_BYTES + 1)}"
                             f"{' (decompressed)' if gz else ''}; not a network this tool "
                             "reads")


def load_onnx_model(path_or_model) -> tuple[onnx.ModelProto, str]:
    """Read an ONNX model from a path (or pass a ModelProto through).

    Returns:
        (model, source) where source names the file (or ``"<model>"``).

    Raises:
        InputFileError: missing file or not a regular one (named), larger than
            ``MAX_NETWORK_BYTES``, or not an ONNX model.
    """
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, (path_or_model.graph.name or "<model>")
    path = Path(path_or_model)
    check_network_size(path, check_input_file(path, "network file"))
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, UnicodeDecodeError, ...
        raise InputFileError(f"{path}: not an ONNX model ({_one_line(exc)})") from None
    if not model.graph.node and not model.graph.input and not model.graph.output:
        raise InputFileError(f"{path}: not an ONNX model (no graph found in the file)")
    return model, str(path)


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line, at most about 200 characters."""
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(exc).__name__)


# ====================================================================== op table
TRANSLATORS: dict[str, Callable[[TranslationContext, onnx.NodeProto], Value]] = {
    "Gemm": onnx_linear.gemm,
    "MatMul": onnx_linear.matmul,
    "Add": onnx_linear.add_sub,
    "Sub": onnx_linear.add_sub,
    "Mul": onnx_linear.mul_div,
    "Div": onnx_linear.mul_div,
    "Relu": onnx_linear.relu,
    "Flatten": onnx_shape.flatten,
    "Reshape": onnx_shape.reshape,
    "Squeeze": onnx_shape.squeeze,
    "Unsqueeze": onnx_shape.unsqueeze,
    "Identity": onnx_shape.identity,
    "Dropout": onnx_shape.identity,
    "Transpose": onnx_shape.transpose,
    "Constant": onnx_linear.constant,
    "Conv": onnx_conv.conv,
    "BatchNormalization": onnx_conv.batch_norm,
    "Pad": onnx_conv.pad,
    "AveragePool": onnx_pool.average_pool,
    "MaxPool": onnx_pool.max_pool,
    "Shape": onnx_shape.shape_vector,
    "Slice": onnx_select.slice_op,
    "Gather": onnx_select.gather,
    "Split": onnx_select.split,
    "Concat": onnx_select.concat,
}
"""op_type -> translator(ctx, node) returning the value of the node's first output (a tuple
of values, one per output, for ops with several outputs such as Split)."""

SUPPORTED_OPS = tuple(sorted(TRANSLATORS))


def unsupported_hint(op_type: str) -> str:
    """What to tell the user about an op the importer lacks."""
    if op_type in NONLINEAR_OPS:
        return "only piecewise-linear ReLU networks are supported"
    return "supported ops: " + ", ".join(SUPPORTED_OPS)


def node_label(node: onnx.NodeProto, index: int) -> str:
    """The node's name, or ``<op_type>_<index>`` for unnamed nodes."""
    return node.name or f"{node.op_type}_{index}"


def is_supported(node: onnx.NodeProto) -> bool:
    """Whether the node is in the default ONNX domain and has a translator."""
    return node.domain in ("", "ai.onnx") and node.op_type in TRANSLATORS


# ====================================================================== driver
def import_onnx(path_or_model, inputs: Sequence[str] | None = None,
                taps: Sequence[str] = ()) -> Network:
    """Translate an ONNX model (file path or ModelProto) into a :class:`Network`.

    The network maps the flat C-order input (batch dimension dropped; several graph
    inputs concatenated in order) to the flat output (several graph outputs and the
    ``taps`` concatenated in order); see :func:`translate`.

    Raises:
        InputFileError: missing file or not ONNX.
        UnsupportedOpError: an op outside :data:`TRANSLATORS` (found before any work).
        NetworkError: NaN/inf weights, inconsistent shapes, unknown input or tap names.
    """
    model, source = load_onnx_model(path_or_model)
    network, _ = translate(model, source, inputs, taps)
    return network


def check_supported(model: onnx.ModelProto) -> None:
    """Raise :class:`UnsupportedOpError` for the first node without a translator."""
    for index, node in enumerate(model.graph.node):
        if not is_supported(node):
            hint = unsupported_hint(node.op_type)
            if node.domain not in ("", "ai.onnx"):
                hint = f"custom domain {node.domain!r} is not supported; " + hint
            raise UnsupportedOpError(node.op_type, node_label(node, index), hint)


def _opset(model: onnx.ModelProto) -> int:
    """The model's opset version for the default ONNX domain (1 when not declared)."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def check_float_type(vi: onnx.ValueInfoProto, role: str, source: str) -> None:
    """Raise :class:`NetworkError` unless the graph input/output ``vi`` holds floats (an
    integer or boolean input is not a real vector; an undeclared type is taken as float)."""
    elem = vi.type.tensor_type.elem_type
    if elem and elem not in FLOAT_TYPES:
        name = onnx.TensorProto.DataType.Name(elem) if elem in onnx.TensorProto.DataType.values() \
            else str(elem)
        raise NetworkError(f"{source}: graph {role} {vi.name!r} has element type {name}; "
                           "only float tensors (FLOAT, DOUBLE, FLOAT16) can be verified")


def _input_shape(vi, source: str) -> tuple[int, ...]:
    """The full shape of graph input ``vi`` (a symbolic leading batch dimension is 1)."""
    check_float_type(vi, "input", source)
    dims = list(vi.type.tensor_type.shape.dim)
    shape = []
    for position, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(int(d.dim_value))
        elif position == 0 and len(dims) > 1:
            shape.append(1)  # symbolic batch dimension
        else:
            raise NetworkError(f"{source}: input {vi.name!r} has an unknown dimension at "
                               f"position {position}")
    return tuple(shape)


def graph_inputs(model: onnx.ModelProto, names: Sequence[str] | None = None, source: str = ""
                 ) -> list[tuple[str, tuple[int, ...]]]:
    """The graph inputs the network takes, ``(name, full shape)`` in order.

    Args:
        names: the inputs to take (graph inputs, possibly ones with an initializer, which
            then become variables); default: every graph input without an initializer.

    Raises:
        NetworkError: a name that is not a graph input, or no input at all.
    """
    inits = {t.name for t in model.graph.initializer}
    by_name = {i.name: i for i in model.graph.input}
    if names is None:
        chosen = [i for i in model.graph.input if i.name not in inits]
    else:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise NetworkError(f"{source}: {missing[0]!r} is not a graph input (inputs: "
                               f"{[i.name for i in model.graph.input]})")
        chosen = [by_name[n] for n in names]
    if not chosen:
        raise NetworkError(f"{source}: the graph has no input that is not an initialiser")
    return [(vi.name, _input_shape(vi, source)) for vi in chosen]


def translate(model: onnx.ModelProto, source: str = "<model>",
              inputs: Sequence[str] | None = None, taps: Sequence[str] = (),
              ) -> tuple[Network, dict[str, tuple[int, ...]]]:
    """Translate a loaded model; also returns the tracked shape of every tensor.

    The network's input is the flat concatenation of the graph inputs (usually one); its
    output is the flat concatenation of the graph outputs (usually one) followed by the
    tensors named in ``taps`` (hidden node outputs a query constrains).

    Args:
        inputs: the graph inputs to take, in order (default: those without initialiser).
        taps: ONNX tensor names whose values are appended to the output.

    Returns:
        (network, shapes) where shapes maps ONNX tensor names to their logical shapes
        (batch dimension dropped).
    """
    check_supported(model)
    graph = model.graph
    if not graph.output:
        raise NetworkError(f"{source}: the graph has no output")
    for output in graph.output:
        check_float_type(output, "output", source)
    chosen = graph_inputs(model, inputs, source)
    batched = all(len(shape) > 1 and shape[0] == 1 for _, shape in chosen)
    values: dict[str, Value] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    if len(chosen) == 1:
        shape = chosen[0][1]
        builder = GraphBuilder(input_shape=shape[1:] if batched else shape)
    else:
        builder = GraphBuilder(input_size=sum(int(np.prod(s)) for _, s in chosen))
    ctx = TranslationContext(builder, values, _opset(model), batched)
    ctx.node_name, ctx.op_type = "<inputs>", "Input"
    _bind_inputs(ctx, chosen)
    for index, node in enumerate(graph.node):
        ctx.node_name, ctx.op_type = node_label(node, index), node.op_type
        result = TRANSLATORS[node.op_type](ctx, node)
        for name, value in zip(node.output, result if isinstance(result, tuple) else (result,)):
            if name:
                values[name] = value
    out = _output(ctx, [o.name for o in graph.output], list(taps), source)
    _prune(builder, out.node)
    network = builder.build(output=out.node, output_shape=ctx.logical(out.shape))
    shapes = {name: ctx.logical(v.shape if isinstance(v, Tensor) else np.shape(v))
              for name, v in values.items()}
    return network, shapes


def _bind_inputs(ctx: TranslationContext, chosen: list[tuple[str, tuple[int, ...]]]) -> None:
    """Each chosen graph input as a tensor: the Input node itself, or (several inputs) a
    selection of its consecutive slice."""
    builder = ctx.builder
    if len(chosen) == 1:
        ctx.values[chosen[0][0]] = Tensor(builder.input_name, chosen[0][1])
        return
    whole = Tensor(builder.input_name, (builder.size(builder.input_name),))
    offset = 0
    for name, shape in chosen:
        size = int(np.prod(shape))
        ctx.values[name] = onnx_select.select(
            ctx, whole, np.arange(offset, offset + size).reshape(shape))
        offset += size


def _output(ctx: TranslationContext, outputs: list[str], taps: list[str], source: str
            ) -> Tensor:
    """The network output: the one graph output, or the flat concatenation of the graph
    outputs and the taps."""
    for name in outputs + taps:
        if name not in ctx.values:
            what = "graph output" if name in outputs else "hidden node output"
            raise NetworkError(f"{source}: {what} {name!r} is never produced"
                               + ("" if name in outputs else
                                  f" (tensors: {_some_tensor_names(ctx)})"))
    parts = [ctx.values[n] for n in outputs + taps]
    if len(parts) == 1:
        if not isinstance(parts[0], Tensor):
            raise NetworkError(f"{source}: graph output {outputs[0]!r} does not depend on "
                               "the input")
        return parts[0]
    if not any(isinstance(p, Tensor) for p in parts):
        raise NetworkError(f"{source}: no graph output depends on the input")
    ctx.node_name, ctx.op_type = "<outputs>", "Concat"
    return onnx_select.concat_flat(ctx, parts)


def _some_tensor_names(ctx: TranslationContext, limit: int = 8) -> str:
    """A few computed tensor names, for a hint."""
    names = [n for n, v in ctx.values.items() if isinstance(v, Tensor)]
    return ", ".join(repr(n) for n in names[:limit]) + (" ..." if len(names) > limit else "")


def _prune(builder: GraphBuilder, output: str) -> None:
    """Remove nodes that do not feed the output (dead branches)."""
    keep = nx.ancestors(builder.graph, output) | {output, builder.input_name}
    builder.graph.remove_nodes_from([n for n in list(builder.graph) if n not in keep])
