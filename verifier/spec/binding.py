"""Binding a query's network declarations to ONNX files (the standard's ``--network``).

Each declared network gets a model: the file given for it, or for an ``equal-to``
network the file of the network it equals. The model must fit the declaration (the
standard's typing of models): as many graph inputs (without initialiser) and outputs as
declared, in order, of the declared sizes; every hidden node output it names; an
``isomorphic-to`` model with the same graph structure as the model it refers to; element
types equal to the declared ones unless the query is over ``real``.

This analysis is real arithmetic on the models' weights: sound for ``real`` queries only
(see the README, "Element types"). A query over a machine type (``float32``, ...) is
refused with the standard's error, unless the caller consents to the real-valued reading
(``assume_real``, the CLI's ``--assume-real``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import onnx

from verifier.catalog import SOUND_ELEMENT_TYPES as CATALOG_SOUND_TYPES
from verifier.errors import OptionError, SpecError
from verifier.network import Network
from verifier.network.onnx_import import graph_inputs, load_onnx_model, translate
from verifier.network.simplify import simplify
from verifier.spec.query import REAL, NetworkDecl, Query, VariableDecl

__all__ = ["BoundNetwork", "bind_networks", "onnx_element_type", "SOUND_ELEMENT_TYPES"]

#: element types this analysis is sound for (see the module docstring)
SOUND_ELEMENT_TYPES = CATALOG_SOUND_TYPES



@dataclass(frozen=True, eq=False)
class BoundNetwork:
    """A declared network with its imported model.

    Attributes:
        decl: the declaration.
        path: the ONNX file.
        network: input = the declared inputs concatenated (flat, in order); output = the
            declared outputs concatenated, then the declared hidden nodes.
        input_names / tap_names: the ONNX graph inputs and hidden tensors, in order.
    """

    decl: NetworkDecl
    path: str
    network: Network
    input_names: tuple[str, ...]
    tap_names: tuple[str, ...]


def onnx_element_type(elem_type: int) -> str:
    """The standard's name (ONNX IR "Set 1") of an ONNX ``TensorProto`` element type."""
    name = onnx.TensorProto.DataType.Name(elem_type).lower()
    return {"float": "float32", "double": "float64"}.get(name, name)


def bind_networks(query: Query, files: Mapping[str, str], assume_real: bool = False
                  ) -> tuple[BoundNetwork, ...]:
    """Import the model of every declared network, checked against its declaration.

    Args:
        query: the parsed query.
        files: network name -> ONNX file, one per network without ``equal-to``.
        assume_real: read machine element types as ``real`` (consent to the real-valued
            analysis) instead of refusing them.

    Raises:
        OptionError: a file missing for a network, or given for an undeclared or
            ``equal-to`` network (the standard's first error condition).
        SpecError: element types that differ from the model's, or that this analysis
            is not sound for (the second and third); a model that does not fit its
            declaration (counts, sizes, hidden node names, isomorphism).
    """
    _check_files(query, files)
    _check_sound_types(query, assume_real)
    bound: dict[str, BoundNetwork] = {}
    models: dict[str, onnx.ModelProto] = {}
    for decl in query.networks:
        path = str(files[decl.equal_to or decl.name])
        model, source = load_onnx_model(path)
        models[decl.name] = model
        if decl.isomorphic_to is not None:
            _check_isomorphic(decl, model, models[decl.isomorphic_to], query.path)
        bound[decl.name] = _import(decl, model, source, path, query.path, assume_real)
    return tuple(bound[d.name] for d in query.networks)


def _check_files(query: Query, files: Mapping[str, str]) -> None:
    declared = {d.name: d for d in query.networks}
    for name in files:
        if name not in declared:
            raise OptionError(f"--network {name}=...: the query declares no network {name!r} "
                              f"(it declares {', '.join(declared)})")
        if declared[name].equal_to is not None:
            raise OptionError(f"--network {name}=...: network {name!r} is equal-to "
                              f"{declared[name].equal_to!r}; give no file for it")
    for decl in query.networks:
        if decl.equal_to is None and decl.name not in files:
            raise OptionError(f"network {decl.name!r} needs a model: add "
                              f"--network {decl.name}=FILE.onnx")


def _check_sound_types(query: Query, assume_real: bool) -> None:
    if assume_real:
        return
    for var in query.variables:
        if var.element_type not in SOUND_ELEMENT_TYPES:
            raise SpecError(f"{var.name} is declared {var.element_type}: this verifier's "
                            "analysis is sound over the reals only (hint: declare the "
                            "variables 'real' to accept the real-valued reading, or pass "
                            "--assume-real)", query.path)


def _import(decl: NetworkDecl, model: onnx.ModelProto, source: str, path: str,
            query_path: str | None, assume_real: bool) -> BoundNetwork:
    """Translate the model with the declared inputs, outputs and hidden nodes."""
    initialized = [v.name for v in decl.inputs if v.initialized]
    if initialized:
        raise SpecError(f"input {initialized[0]} is declared 'initialized' (VNN-LIB 2.1): "
                        "read, but not supported by this verifier yet (hint: constrain the "
                        "input to its value with equalities)", query_path)
    inputs = graph_inputs(model, None, source)
    if len(inputs) != len(decl.inputs):
        raise SpecError(f"network {decl.name!r} declares {len(decl.inputs)} input(s), "
                        f"{path} has {len(inputs)}: {[n for n, _ in inputs]}", query_path)
    outputs = list(model.graph.output)
    if len(outputs) != len(decl.outputs):
        raise SpecError(f"network {decl.name!r} declares {len(decl.outputs)} output(s), "
                        f"{path} has {len(outputs)}: {[o.name for o in outputs]}",
                        query_path)
    taps = tuple(h.onnx_name for h in decl.hidden)
    network, shapes = translate(model, source, [n for n, _ in inputs], taps)
    types = _value_types(model)
    for var, (name, shape) in zip(decl.inputs, inputs):
        _check_variable(var, name, int(_size(shape)), types.get(name), query_path, assume_real)
    for var, out in zip(decl.outputs, outputs):
        _check_variable(var, out.name, _size(shapes.get(out.name, ())), types.get(out.name),
                        query_path, assume_real)
    for var in decl.hidden:
        _check_variable(var, var.onnx_name, _size(shapes.get(var.onnx_name, ())),
                        types.get(var.onnx_name), query_path, assume_real)
    return BoundNetwork(decl, path, simplify(network), tuple(n for n, _ in inputs), taps)


def _size(shape) -> int:
    size = 1
    for d in shape:
        size *= int(d)
    return size


def _value_types(model: onnx.ModelProto) -> dict[str, str]:
    """Element type per tensor name, where the model states it."""
    out = {}
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            out[vi.name] = onnx_element_type(vi.type.tensor_type.elem_type)
    return out


def _check_variable(var: VariableDecl, onnx_name: str, size: int, element_type: str | None,
                    query_path: str | None, assume_real: bool) -> None:
    if size != var.size:
        raise SpecError(f"{var.name} ({var.kind} of network {var.network!r}) has shape "
                        f"{list(var.shape)} ({var.size} values), but ONNX tensor "
                        f"{onnx_name!r} has {size}", query_path)
    if (var.element_type != REAL and not assume_real and element_type is not None
            and element_type != var.element_type):
        raise SpecError(f"{var.name} is declared {var.element_type}, but ONNX tensor "
                        f"{onnx_name!r} is {element_type}", query_path)


def _check_isomorphic(decl: NetworkDecl, model: onnx.ModelProto, other: onnx.ModelProto,
                      query_path: str | None) -> None:
    """Same operators in the same order, and initialisers of the same shapes."""
    ops = [n.op_type for n in model.graph.node]
    other_ops = [n.op_type for n in other.graph.node]
    shapes = sorted(tuple(t.dims) for t in model.graph.initializer)
    other_shapes = sorted(tuple(t.dims) for t in other.graph.initializer)
    if ops != other_ops or shapes != other_shapes:
        raise SpecError(f"network {decl.name!r} is declared isomorphic-to "
                        f"{decl.isomorphic_to!r}, but their models differ in structure "
                        f"({len(ops)} vs {len(other_ops)} nodes)", query_path)
