"""``verifier inspect``: list an ONNX model's nodes, op support and the imported network.

Never raises on unsupported ops or import errors: they are reported in the result.
"""

from __future__ import annotations

from collections import Counter

import onnx

from verifier.errors import VerifierError
from verifier.network.onnx_import import (is_supported, load_onnx_model, node_label,
                                          translate, unsupported_hint)
from verifier.network.ops import Relu
from verifier.network.simplify import simplify

__all__ = ["inspect_onnx", "format_inspection"]


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, tuple]:
    """Tensor name -> shape from ONNX shape inference (symbolic dims kept as strings)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference is best effort
        return {}
    shapes = {}
    graph = inferred.graph
    for vi in list(graph.value_info) + list(graph.output) + list(graph.input):
        if vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else
                                    (d.dim_param or "?")
                                    for d in vi.type.tensor_type.shape.dim)
    return shapes


def inspect_onnx(path) -> dict:
    """Describe an ONNX file.

    Returns:
        dict with ``path``, ``nodes`` (list of dicts: name, op_type, supported, output,
        output_shape), ``op_counts`` (op_type -> count), ``unsupported`` (list of
        {name, op_type, hint}), ``importable`` (bool), ``error`` (message or None) and, when
        ``exit_code`` (0, or the import error's code) and, when
        importable, ``summary`` (:meth:`Network.summary`), ``relu_layers`` (list of
        {name, neurons}), ``n_inputs``, ``n_outputs``, ``input_shape``, ``output_shape``.

    Raises:
        InputFileError: only when the file is missing or not ONNX.
    """
    model, source = load_onnx_model(path)
    inferred = _inferred_shapes(model)
    nodes, unsupported = [], []
    for index, node in enumerate(model.graph.node):
        label = node_label(node, index)
        supported = is_supported(node)
        output = node.output[0] if node.output else ""
        nodes.append({"name": label, "op_type": node.op_type, "supported": supported,
                      "output": output, "output_shape": inferred.get(output)})
        if not supported:
            unsupported.append({"name": label, "op_type": node.op_type,
                                "hint": unsupported_hint(node.op_type)})
    info = {"path": source, "nodes": nodes,
            "op_counts": dict(Counter(n.op_type for n in model.graph.node)),
            "unsupported": unsupported, "importable": False, "error": None,
            "exit_code": 0}
    try:
        net, shapes = translate(model, source)
    except VerifierError as exc:
        info["error"], info["exit_code"] = str(exc), exc.exit_code
        return info
    net = simplify(net)        # the network every command works on, with its node names
    for row in nodes:
        if row["output_shape"] is None and row["output"] in shapes:
            row["output_shape"] = shapes[row["output"]]
    info.update(importable=True, summary=net.summary(),
                relu_layers=[{"name": n, "neurons": net.size(n)} for n in net.order
                             if isinstance(net.op(n), Relu)],
                n_inputs=net.n_inputs, n_outputs=net.n_outputs,
                input_shape=net.input_shape, output_shape=net.output_shape)
    return info


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _shape_text(shape) -> str:
    return "?" if shape is None else "x".join(str(d) for d in shape) or "scalar"


def format_inspection(info: dict) -> str:
    """A readable multi-line report of :func:`inspect_onnx`'s result."""
    out = [f"model: {info['path']}", ""]
    out += _table(["#", "node", "op", "supported", "output shape"],
                  [[str(i), n["name"], n["op_type"], "yes" if n["supported"] else "NO",
                    _shape_text(n["output_shape"])] for i, n in enumerate(info["nodes"])])
    out += ["", "op counts: " + ", ".join(f"{op} {k}" for op, k in
                                          sorted(info["op_counts"].items()))]
    for u in info["unsupported"]:
        out.append(f"unsupported: {u['op_type']} at node {u['name']!r} ({u['hint']})")
    if not info["importable"]:
        out.append(f"not importable: {info['error']}")
        return "\n".join(out)
    out += ["", f"imported network: {info['n_inputs']} inputs "
                f"{_shape_text(info['input_shape'])} -> {info['n_outputs']} outputs "
                f"{_shape_text(info['output_shape'])}", ""]
    out += _table(["node", "kind", "size", "inputs", "nonzeros"],
                  [[r["name"], r["kind"], str(r["size"]), ",".join(r["inputs"]),
                    str(r.get("nonzeros", ""))] for r in info["summary"]])
    neurons = [layer["neurons"] for layer in info["relu_layers"]]
    out += ["", f"ReLU layers: {len(neurons)}, neurons per layer: {neurons}, "
                f"total {sum(neurons)}"]
    return "\n".join(out)
