"""Network graph, .nnet reader, simplification, loader and inspection."""

from __future__ import annotations

import gzip

import numpy as np
import onnx
import pytest
import scipy.sparse as sp
from onnx import TensorProto, helper, numpy_helper

from conftest import shared_benchmarks
from verifier.errors import InputFileError, NetworkError
from verifier.network import GraphBuilder, Network
from verifier.network.inspect import format_inspection, inspect_onnx
from verifier.network.loader import load_network
from verifier.network.nnet import nnet_normalisation, read_nnet
from verifier.network.ops import Add, Affine, Relu
from verifier.network.simplify import is_identity, simplify


# ====================================================================== .nnet
def _write_nnet(path, sizes, rng):
    """Write a random .nnet file; returns (weights, biases, mins, maxs, means, ranges)."""
    weights = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=o) for o in sizes[1:]]
    n_in = sizes[0]
    mins, maxs = -rng.uniform(1, 2, n_in), rng.uniform(1, 2, n_in)
    means, ranges = rng.normal(size=n_in + 1), rng.uniform(1, 3, n_in + 1)
    row = lambda values: ",".join(repr(float(v)) for v in values) + ","
    lines = ["// a random network", "// written by the test",
             f"{len(sizes) - 1},{n_in},{sizes[-1]},{max(sizes)},", row(sizes)[:-1] + ",", "0,",
             row(mins), row(maxs), row(means), row(ranges)]
    for W, b in zip(weights, biases):
        lines += [row(r) for r in W]
        lines += [row([v]) for v in b]
    path.write_text("\n".join(lines) + "\n")
    return weights, biases, mins, maxs, means, ranges


def _numpy_forward(weights, biases, X):
    h = X
    for k, (W, b) in enumerate(zip(weights, biases)):
        h = h @ W.T + b
        if k < len(weights) - 1:
            h = np.maximum(h, 0)
    return h


@pytest.mark.parametrize("sizes", [[5, 7, 6, 5], [3, 1], [2, 4, 3]])
def test_nnet_forward_matches_numpy(tmp_path, sizes):
    rng = np.random.default_rng(len(sizes))
    path = tmp_path / "net.nnet"
    weights, biases, mins, maxs, means, ranges = _write_nnet(path, sizes, rng)
    net = read_nnet(path)
    X = rng.uniform(-1, 1, size=(25, sizes[0]))
    np.testing.assert_allclose(net.forward(X), _numpy_forward(weights, biases, X),
                               rtol=1e-12, atol=1e-12)
    relus = [net.size(n) for n in net.relu_names()]
    assert relus == sizes[1:-1]                      # ReLU on hidden layers, none on output
    got = nnet_normalisation(path)
    for a, b in zip(got, (mins, maxs, means, ranges)):
        np.testing.assert_array_equal(a, b)


def test_nnet_matches_equivalent_onnx(tmp_path):
    rng = np.random.default_rng(11)
    sizes = [5, 8, 8, 5]
    weights, biases, *_ = _write_nnet(tmp_path / "acas.nnet", sizes, rng)
    nodes, inits, x = [], [], "x"
    for k, (W, b) in enumerate(zip(weights, biases)):
        inits += [numpy_helper.from_array(W, f"W{k}"), numpy_helper.from_array(b, f"b{k}")]
        out = "y" if k == len(weights) - 1 else f"h{k}"
        nodes.append(helper.make_node("Gemm", [x, f"W{k}", f"b{k}"], [out], transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [out], [f"r{k}"]))
            out = f"r{k}"
        x = out
    graph = helper.make_graph(nodes, "acas", [helper.make_tensor_value_info(
        "x", TensorProto.DOUBLE, [1, 5])], [helper.make_tensor_value_info(
            "y", TensorProto.DOUBLE, [1, 5])], inits)
    onnx_path = tmp_path / "acas.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(onnx_path))
    X = rng.uniform(-0.5, 0.5, size=(20, 5))
    np.testing.assert_allclose(load_network(tmp_path / "acas.nnet").forward(X),
                               load_network(onnx_path).forward(X), rtol=1e-12, atol=1e-12)


def test_truncated_nnet_is_an_input_error(tmp_path):
    path = tmp_path / "net.nnet"
    _write_nnet(path, [3, 4, 2], np.random.default_rng(0))
    path.write_text("\n".join(path.read_text().splitlines()[:-3]) + "\n")
    with pytest.raises(InputFileError) as info:
        read_nnet(path)
    assert "truncated" in str(info.value) and "\n" not in str(info.value)


def test_missing_nnet(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_nnet(tmp_path / "absent.nnet")


# ====================================================================== simplify
def _random_chain(rng, sparse_first=False):
    W1 = rng.normal(size=(6, 4))
    return [(sp.csr_matrix(W1) if sparse_first else W1, rng.normal(size=6)),
            (rng.normal(size=(5, 6)), rng.normal(size=5)), "relu",
            (np.eye(5), np.zeros(5)),
            (rng.normal(size=(3, 5)), rng.normal(size=3)),
            (rng.normal(size=(2, 3)), rng.normal(size=2))]


@pytest.mark.parametrize("sparse_first", [False, True])
def test_simplify_fuses_chains_and_drops_identities(sparse_first):
    rng = np.random.default_rng(1)
    net = Network.from_layers(_random_chain(rng, sparse_first))
    fused = simplify(net)
    assert [type(op).__name__ for op in fused.ops()] == ["Input", "Affine", "Relu", "Affine"]
    assert fused.order == ["input", "affine0", "relu0", "affine1"]
    X = rng.normal(size=(30, 4))
    np.testing.assert_allclose(fused.forward(X), net.forward(X), rtol=1e-10, atol=1e-10)


def test_simplify_keeps_sparse_products_sparse():
    rng = np.random.default_rng(2)
    A = sp.random(8, 6, density=0.3, random_state=1, format="csr")
    B = sp.random(4, 8, density=0.3, random_state=2, format="csr")
    net = Network.from_layers([(A, rng.normal(size=8)), (B, rng.normal(size=4))])
    fused = simplify(net)
    (op,) = [o for o in fused.ops() if isinstance(o, Affine)]
    assert sp.issparse(op.W)
    X = rng.normal(size=(10, 6))
    np.testing.assert_allclose(fused.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)


def test_simplify_keeps_branches_and_adds():
    rng = np.random.default_rng(3)
    b = GraphBuilder(4)
    a0 = b.affine(rng.normal(size=(4, 4)), rng.normal(size=4))
    r0 = b.relu()
    a1 = b.affine(rng.normal(size=(4, 4)), np.zeros(4), source=r0)
    a2 = b.affine(rng.normal(size=(4, 4)), np.zeros(4), source=a1)   # fused into a1
    b.add(r0, a2)
    b.affine(np.eye(4), np.zeros(4))                                   # dropped
    net = b.build()
    fused = simplify(net)
    kinds = [type(op).__name__ for op in fused.ops()]
    assert kinds == ["Input", "Affine", "Relu", "Affine", "Add"]
    assert a0 in fused.order and isinstance(fused.op(fused.output_name), Add)
    X = rng.normal(size=(10, 4))
    np.testing.assert_allclose(fused.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)


def test_affine_with_two_consumers_is_not_fused():
    rng = np.random.default_rng(4)
    b = GraphBuilder(3)
    a0 = b.affine(rng.normal(size=(3, 3)), rng.normal(size=3))
    a1 = b.affine(rng.normal(size=(3, 3)), rng.normal(size=3), source=a0)
    a2 = b.affine(rng.normal(size=(3, 3)), rng.normal(size=3), source=a0)
    b.add(a1, a2)
    net = b.build()
    fused = simplify(net)
    assert sum(isinstance(op, Affine) for op in fused.ops()) == 3
    X = rng.normal(size=(5, 3))
    np.testing.assert_allclose(fused.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)


def test_is_identity():
    assert is_identity(Affine("a", sp.identity(3, format="csr"), np.zeros(3)))
    assert not is_identity(Affine("a", np.eye(3), np.ones(3)))
    assert not is_identity(Affine("a", np.ones((3, 3)), np.zeros(3)))


def test_simplify_of_an_identity_network_keeps_the_output():
    net = Network.from_layers([(np.eye(3), np.zeros(3))])
    fused = simplify(net)
    np.testing.assert_array_equal(fused.forward(np.arange(3.0)), np.arange(3.0))


# ====================================================================== loader
def test_load_network_dispatch(tmp_path):
    rng = np.random.default_rng(5)
    _write_nnet(tmp_path / "n.nnet", [3, 4, 2], rng)
    net = load_network(tmp_path / "n.nnet")
    raw = load_network(tmp_path / "n.nnet", simplify=False)
    X = rng.normal(size=(5, 3))
    np.testing.assert_allclose(net.forward(X), raw.forward(X))
    with pytest.raises(InputFileError) as info:
        (tmp_path / "n.h5").write_text("x")
        load_network(tmp_path / "n.h5")
    assert ".onnx" in str(info.value) and "n.h5" in str(info.value)
    with pytest.raises(InputFileError, match="no such network file"):
        load_network(tmp_path / "absent.onnx")


def test_load_onnx_gz(tmp_path):
    path = shared_benchmarks() / "test" / "onnx" / "test_small.onnx"
    gz = tmp_path / "test_small.onnx.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    X = np.linspace(-1, 1, 11).reshape(-1, 1)
    np.testing.assert_allclose(load_network(gz).forward(X), load_network(path).forward(X))
    bad = tmp_path / "bad.onnx.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(InputFileError):
        load_network(bad)


def test_package_level_load_network():
    from verifier.network import load_network as package_load
    path = shared_benchmarks() / "mnistfc" / "onnx" / "mnist-net_256x2.onnx"
    net = package_load(str(path))
    assert (net.n_inputs, net.n_outputs) == (784, 10)
    assert [net.size(n) for n in net.relu_names()] == [256, 256]


def test_collins_conv_network_is_sparse_and_simplified():
    path = shared_benchmarks() / "collins_rul_cnn" / "onnx" / "NN_rul_full_window_40.onnx"
    net = load_network(path)
    convs = [op for op in net.ops() if isinstance(op, Affine) and sp.issparse(op.W)]
    assert convs and sum(net.size(n) for n in net.relu_names()) > 20000
    assert net.input_shape == (1, 40, 20) and net.output_shape == (1,)


# ====================================================================== inspect
def test_inspect_reports_unsupported_ops_without_raising(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], name="fc", transB=1),
             helper.make_node("Tanh", ["h"], ["y"], name="act")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(np.ones((2, 3), dtype=np.float32), "W")])
    path = tmp_path / "tanh.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    info = inspect_onnx(path)
    assert not info["importable"] and "Tanh" in info["error"]
    assert [u["op_type"] for u in info["unsupported"]] == ["Tanh"]
    assert [n["supported"] for n in info["nodes"]] == [True, False]
    assert info["nodes"][0]["output_shape"] == (1, 2)
    text = format_inspection(info)
    assert "Tanh" in text and "act" in text and "NO" in text


def test_inspect_benchmark_network():
    path = shared_benchmarks() / "eran" / "onnx" / "mnist_relu_9_200.onnx"
    info = inspect_onnx(path)
    assert info["importable"] and not info["unsupported"]
    assert info["op_counts"]["Gemm"] == 9
    assert [layer["neurons"] for layer in info["relu_layers"]] == [200] * 8 + [10]
    assert len(info["summary"]) == len(Network.summary(load_network(path, simplify=False)))
    text = format_inspection(info)
    assert "ReLU layers: 9" in text and "Gemm_5" in text


def test_inspect_missing_file(tmp_path):
    with pytest.raises(InputFileError):
        inspect_onnx(tmp_path / "absent.onnx")


def test_network_rejects_nan_weights():
    with pytest.raises(NetworkError, match="NaN"):
        Network.from_layers([(np.array([[np.nan]]), np.zeros(1))])


def test_relu_records_keep_shapes():
    path = shared_benchmarks() / "collins_rul_cnn" / "onnx" / "NN_rul_small_window_20.onnx"
    net = load_network(path, simplify=False)
    first = net.op(net.relu_names()[0])
    assert isinstance(first, Relu) and len(first.shape) == 3
