"""Load a network file by extension: ``.onnx``, ``.onnx.gz``, ``.nnet``."""

from __future__ import annotations

import gzip
from pathlib import Path

import onnx

from verifier.errors import InputFileError
from verifier.files import check_input_file, read_capped
from verifier.network import onnx_import
from verifier.network.graph import Network
from verifier.network.nnet import read_nnet
from verifier.network.onnx_import import check_network_size, import_onnx
from verifier.network.simplify import simplify as simplify_network

__all__ = ["load_network", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".onnx", ".onnx.gz", ".nnet")


def _read_onnx_gz(path: Path) -> onnx.ModelProto:
    try:
        with gzip.open(path, "rb") as handle:
            data = read_capped(handle, onnx_import.MAX_NETWORK_BYTES, path, "network")
        return onnx.load_model_from_string(data)
    except InputFileError:
        raise
    except Exception as exc:  # OSError (bad gzip), protobuf DecodeError, ...
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputFileError(f"{path}: not a gzipped ONNX model ({text})") from None


def load_network(path, simplify: bool = True, inputs=None, taps=()) -> Network:
    """Load ``path`` as a :class:`Network`, choosing the reader by extension.

    Args:
        path: a ``.onnx``, ``.onnx.gz`` or ``.nnet`` file.
        simplify: fuse affine chains and drop identities (the function is unchanged).
        inputs / taps: ONNX only: the graph inputs to take and the hidden tensors to
            append to the output (see :func:`~verifier.network.onnx_import.translate`).

    Raises:
        InputFileError: missing file or not a regular one (the message names what it is),
            unknown extension, larger than ``MAX_NETWORK_BYTES`` (decompressed), or
            unreadable content.
    """
    path = Path(path)
    name = path.name.lower()
    check_network_size(path, check_input_file(path, "network file"))
    if name.endswith(".onnx"):
        net = import_onnx(path, inputs, taps)
    elif name.endswith(".onnx.gz"):
        net = import_onnx(_read_onnx_gz(path), inputs, taps)
    elif name.endswith(".nnet"):
        if inputs is not None or taps:
            raise InputFileError(f"{path}: a .nnet network has no named inputs or hidden "
                                 "nodes (hint: use its ONNX form)")
        net = read_nnet(path)
    else:
        raise InputFileError(f"{path}: unknown network file type (hint: use one of "
                             f"{', '.join(SUPPORTED_EXTENSIONS)})")
    net = simplify_network(net) if simplify else net
    if name.endswith(".onnx"):
        net.source_path = str(path)   # lets verify() replay witnesses in onnxruntime too
    return net
