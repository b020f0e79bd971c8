"""The constraint graph, importers and the reference forward pass."""

from verifier.network.graph import GraphBuilder, Network
from verifier.network.ops import Add, Affine, Input, Relu

__all__ = ["Network", "GraphBuilder", "Input", "Affine", "Relu", "Add", "load_network"]


def load_network(path: str, simplify: bool = True, inputs=None, taps=()) -> Network:
    """Load a network from ``.onnx`` or ``.nnet`` (by extension), simplified by default;
    ``inputs``/``taps`` (ONNX) choose the graph inputs and append hidden tensors to the
    output (see :func:`verifier.network.onnx_import.translate`)."""
    from verifier.network.loader import load_network as _load
    return _load(path, simplify=simplify, inputs=inputs, taps=taps)
