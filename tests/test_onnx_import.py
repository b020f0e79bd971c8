"""ONNX import: agreement with onnxruntime on the shared benchmarks and on random models,
and one-line errors at the boundary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO_ROOT, shared_benchmarks
from verifier.errors import InputFileError, NetworkError, UnsupportedOpError
from verifier.network.onnx_import import SUPPORTED_OPS, TRANSLATORS, import_onnx
from verifier.network.simplify import simplify

ort = pytest.importorskip("onnxruntime")

OPSET = 13


# ====================================================================== onnxruntime helpers
def _to_double(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` computing in float64 (initialisers, constants, value types)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for node in g.node:
        for a in node.attribute:
            if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(
                    numpy_helper.to_array(a.t).astype(np.float64), a.t.name))
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    return m


def _session(model: onnx.ModelProto):
    """(session, dtype, tolerance): float64 when ORT implements every op, else float32."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        sess = ort.InferenceSession(_to_double(model).SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
        return sess, np.float64, 1e-6
    except Exception:  # e.g. Conv has no float64 kernel in onnxruntime
        sess = ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
        return sess, np.float32, 1e-4


def assert_matches_onnxruntime(model: onnx.ModelProto, net, n_points: int = 20,
                               low: float = -1.0, high: float = 1.0, seed: int = 0):
    """``net.forward`` equals onnxruntime at random points of [low, high]^n.

    The check is |net(x) - ort(x)| <= tol * max(1, |ort(x)|) with tol = 1e-6 when
    onnxruntime runs in float64 (1e-4 when it can only run float32).
    """
    sess, dtype, tol = _session(model)
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    assert int(np.prod(shape)) == net.n_inputs
    rng = np.random.default_rng(seed)
    X = rng.uniform(low, high, size=(n_points, net.n_inputs)).astype(dtype)
    expected = np.stack([sess.run(None, {inp.name: x.reshape(shape)})[0].reshape(-1)
                         for x in X]).astype(np.float64)
    got = net.forward(X.astype(np.float64))
    assert got.shape == expected.shape
    err = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    assert err.max() <= tol, f"max scaled error {err.max():.3g}"
    return X.astype(np.float64)


# ====================================================================== shared benchmarks
def _benchmark_files() -> list[str]:
    root = REPO_ROOT.parent / "shared" / "benchmarks"
    if not root.is_dir():
        return ["<absent>"]
    return sorted(str(p.relative_to(root)) for p in root.glob("*/onnx/**/*.onnx"))


@pytest.mark.parametrize("relative", _benchmark_files())
def test_benchmark_network_matches_onnxruntime(relative):
    path = shared_benchmarks() / relative
    model = onnx.load(str(path))
    net = import_onnx(path)
    X = assert_matches_onnxruntime(model, net, n_points=20, low=0.0, high=1.0)
    fused = simplify(net)
    np.testing.assert_allclose(fused.forward(X), net.forward(X), rtol=1e-9, atol=1e-9)


def test_benchmark_ops_are_all_supported():
    ops = set()
    for path in shared_benchmarks().glob("*/onnx/**/*.onnx"):
        ops |= {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops <= set(TRANSLATORS)


# ====================================================================== model builders
def _model(nodes, inits, in_shape, out_name="y", in_name="x", extra_inputs=()):
    graph = helper.make_graph(
        nodes, "random",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape), *extra_inputs],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v, dtype=np.float32), k)
                     if np.asarray(v).dtype.kind == "f" else numpy_helper.from_array(
                         np.asarray(v, dtype=np.int64), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model


class _Net:
    """Collects nodes and initialisers with fresh tensor names."""

    def __init__(self, rng):
        self.rng, self.nodes, self.inits, self.k = rng, [], {}, 0

    def name(self, base):
        self.k += 1
        return f"{base}{self.k}"

    def const(self, value, base="c"):
        n = self.name(base)
        self.inits[n] = value
        return n

    def op(self, op_type, inputs, out=None, **attrs):
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n_{out}", **attrs))
        return out

    def weights(self, *shape):
        return self.rng.normal(size=shape) / np.sqrt(shape[-1] if shape else 1)


def _dense_layers(net: _Net, x, widths, style, final="y"):
    """Gemm(transB)/MatMul+Add layers with ReLU between; returns the output name."""
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        last = i == len(widths) - 2
        out = final if last else None
        if style == "gemm":
            alpha, beta = net.rng.uniform(0.5, 2.0, size=2)
            x = net.op("Gemm", [x, net.const(net.weights(n_out, n_in)),
                                net.const(net.rng.normal(size=n_out))], out,
                       transB=1, alpha=float(alpha), beta=float(beta))
        else:
            h = net.op("MatMul", [x, net.const(net.weights(n_in, n_out))])
            x = net.op("Add", [h, net.const(net.rng.normal(size=n_out))], out)
        if not last:
            x = net.op("Relu", [x])
    return x


def build_model(style: str, widths: list[int], seed: int) -> onnx.ModelProto:
    """A random small ReLU network in one of several ONNX styles."""
    rng = np.random.default_rng(seed)
    net = _Net(rng)
    n0 = widths[0]
    if style in ("gemm", "matmul"):
        _dense_layers(net, "x", widths, style)
        return _model(net.nodes, net.inits, ["N", n0])
    if style == "normalised":
        h = net.op("Sub", ["x", net.const(rng.normal(size=n0))])
        h = net.op("Div", [h, net.const(rng.uniform(0.5, 2.0, size=n0))])
        _dense_layers(net, h, widths, "gemm")
        return _model(net.nodes, net.inits, [1, n0])
    if style == "flatten_reshape":
        h = net.op("Flatten", ["x"], axis=1)
        h = net.op("Reshape", [h, net.const(np.array([0, -1], dtype=np.int64), "shape")])
        h = net.op("Unsqueeze", [h, net.const(np.array([1], dtype=np.int64), "axes")])
        h = net.op("Squeeze", [h, net.const(np.array([1], dtype=np.int64), "axes")])
        h = net.op("Identity", [h])
        _dense_layers(net, h, [2 * n0] + widths[1:], "matmul")
        return _model(net.nodes, net.inits, [1, 1, 2, n0])
    if style == "batchnorm":
        h = "x"
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            h = net.op("Gemm", [h, net.const(net.weights(n_out, n_in)),
                                net.const(rng.normal(size=n_out))], transB=1)
            h = net.op("BatchNormalization",
                       [h, net.const(rng.uniform(0.5, 2, n_out)), net.const(rng.normal(size=n_out)),
                        net.const(rng.normal(size=n_out)), net.const(rng.uniform(0.5, 2, n_out))],
                       epsilon=1e-3)
            h = net.op("Relu", [h])
        net.op("Gemm", [h, net.const(net.weights(2, widths[-1]))], "y", transB=1)
        return _model(net.nodes, net.inits, [1, n0])
    if style == "residual":
        h = net.op("Gemm", ["x", net.const(net.weights(widths[1], n0)),
                            net.const(rng.normal(size=widths[1]))], transB=1)
        h = net.op("Relu", [h])
        r = net.op("MatMul", [h, net.const(net.weights(widths[1], widths[1]))])
        r = net.op("Relu", [r])
        h = net.op("Add", [h, r])
        d = net.op("Sub", [h, net.op("Mul", [r, net.const(rng.normal(size=widths[1]))])])
        net.op("Gemm", [d, net.const(net.weights(widths[-1], widths[1]))], "y", transB=1)
        return _model(net.nodes, net.inits, [1, n0])
    raise ValueError(style)


def build_conv_model(channels: int, size: int, kernel: int, stride: int, pad: int,
                     group: int, dilation: int, seed: int) -> onnx.ModelProto:
    """Conv+Relu(+BatchNormalization, Pad, AveragePool, Transpose)+Flatten+Gemm."""
    rng = np.random.default_rng(seed)
    net = _Net(rng)
    c_out = 2 * group
    h = net.op("Conv", ["x", net.const(net.weights(c_out, channels // group, kernel, kernel)),
                        net.const(rng.normal(size=c_out))],
               strides=[stride, stride], pads=[pad, 0, pad, pad],
               dilations=[dilation, dilation], group=group)
    h = net.op("BatchNormalization",
               [h, net.const(rng.uniform(0.5, 2, c_out)), net.const(rng.normal(size=c_out)),
                net.const(rng.normal(size=c_out)), net.const(rng.uniform(0.5, 2, c_out))])
    h = net.op("Relu", [h])
    h = net.op("Pad", [h, net.const(np.array([0, 0, 1, 0, 0, 0, 0, 1]), "pads"),
                       net.const(np.array(0.5))], mode="constant")
    h = net.op("AveragePool", [h], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 1, 0, 0])
    h = net.op("Conv", [h, net.const(net.weights(2, c_out, 2, 2))], auto_pad="SAME_UPPER")
    h = net.op("Transpose", [h], perm=[0, 2, 3, 1])
    h = net.op("Flatten", [h])
    n_flat = int(np.prod(_shape_of(net, h, channels, size)))
    net.op("Gemm", [h, net.const(net.weights(3, n_flat))], "y", transB=1)
    return _model(net.nodes, net.inits, ["batch", channels, size, size])


def _shape_of(net: _Net, tensor: str, channels: int, size: int):
    model = _model(net.nodes, net.inits, [1, channels, size, size], out_name=tensor)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out = inferred.graph.output[0]
    return [d.dim_value for d in out.type.tensor_type.shape.dim]


# ====================================================================== random round trips
STYLES = ["gemm", "matmul", "normalised", "flatten_reshape", "batchnorm", "residual"]
FAST = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(style=st.sampled_from(STYLES),
       widths=st.lists(st.integers(1, 8), min_size=2, max_size=4),
       seed=st.integers(0, 2**31 - 1))
def test_random_dense_models_match_onnxruntime(style, widths, seed):
    model = build_model(style, widths, seed)
    net = import_onnx(model)
    X = assert_matches_onnxruntime(model, net, n_points=20, seed=seed)
    fused = simplify(net)
    np.testing.assert_allclose(fused.forward(X), net.forward(X), rtol=1e-9, atol=1e-9)


@FAST
@given(channels=st.sampled_from([1, 2, 4]), size=st.integers(4, 7), kernel=st.integers(1, 3),
       stride=st.integers(1, 2), pad=st.integers(0, 1), group=st.sampled_from([1, 2]),
       dilation=st.integers(1, 2), seed=st.integers(0, 2**31 - 1))
def test_random_conv_models_match_onnxruntime(channels, size, kernel, stride, pad, group,
                                               dilation, seed):
    if channels % group:
        group = 1
    if size + pad - (kernel - 1) * dilation - 1 < 0:
        dilation = 1
    model = build_conv_model(channels, size, kernel, stride, pad, group, dilation, seed)
    net = import_onnx(model)
    X = assert_matches_onnxruntime(model, net, n_points=20, seed=seed)
    fused = simplify(net)
    np.testing.assert_allclose(fused.forward(X), net.forward(X), rtol=1e-9, atol=1e-9)


def test_shape_only_ops_create_no_nodes():
    model = build_model("flatten_reshape", [3, 4, 2], seed=1)
    net = import_onnx(model)
    kinds = [type(op).__name__ for op in net.ops()]
    assert kinds == ["Input", "Affine", "Affine", "Relu", "Affine", "Affine"]  # MatMul, Add
    assert [type(op).__name__ for op in simplify(net).ops()] == [
        "Input", "Affine", "Relu", "Affine"]
    assert net.input_shape == (1, 2, 3)


def test_initialisers_listed_as_inputs_are_constants():
    rng = np.random.default_rng(3)
    W, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    extra = [helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3]),
             helper.make_tensor_value_info("b", TensorProto.FLOAT, [4])]
    model = _model([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)],
                   {"W": W, "b": b}, [1, 3], extra_inputs=extra)
    net = import_onnx(model)
    assert net.n_inputs == 3 and net.n_outputs == 4
    assert_matches_onnxruntime(model, net)


def test_constants_are_float64():
    net = import_onnx(build_model("gemm", [3, 5, 2], seed=2))
    for op in net.ops():
        if hasattr(op, "W"):
            assert op.W.dtype == np.float64 and op.b.dtype == np.float64


# ====================================================================== errors
def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_missing_file(tmp_path):
    path = tmp_path / "absent.onnx"
    with pytest.raises(InputFileError) as info:
        import_onnx(path)
    assert str(path) in _one_line(info.value)


def test_text_file_renamed_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file,\nnot a network\n")
    with pytest.raises(InputFileError) as info:
        import_onnx(path)
    message = _one_line(info.value)
    assert str(path) in message and "ONNX" in message


def _sigmoid_model():
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], name="bad_gemm", transB=1),
             helper.make_node("Sigmoid", ["h"], ["y"], name="squash")]
    return _model(nodes, {"W": np.ones((2, 3))}, [1, 4])  # W does not even fit: scan first


def test_unsupported_op_is_named_before_any_work():
    with pytest.raises(UnsupportedOpError) as info:
        import_onnx(_sigmoid_model())
    message = _one_line(info.value)
    assert "Sigmoid" in message and "squash" in message and "piecewise-linear" in message
    assert info.value.op_type == "Sigmoid" and info.value.node_name == "squash"


def test_unsupported_op_hint_lists_supported_ops():
    model = _model([helper.make_node("LpPool", ["x"], ["y"], kernel_shape=[2])], {},
                   [1, 1, 4])
    with pytest.raises(UnsupportedOpError) as info:
        import_onnx(model)
    assert "LpPool" in _one_line(info.value)
    assert "Gemm" in info.value.hint and "MaxPool" in info.value.hint
    assert {"Slice", "Split", "Gather", "Concat", "MaxPool"} <= set(SUPPORTED_OPS)


def test_nan_weight_names_the_node():
    W = np.ones((2, 3))
    W[1, 2] = np.nan
    model = _model([helper.make_node("Gemm", ["x", "W"], ["y"], name="layer1", transB=1)],
                   {"W": W}, [1, 3])
    with pytest.raises(NetworkError) as info:
        import_onnx(model)
    message = _one_line(info.value)
    assert "layer1" in message and "NaN" in message


def test_inconsistent_gemm_shape_names_the_node():
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="fc_wrong", transB=1)]
    graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 5])], [helper.make_tensor_value_info(
        "y", TensorProto.FLOAT, None)], [numpy_helper.from_array(
            np.ones((2, 3), dtype=np.float32), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    with pytest.raises(NetworkError) as info:
        import_onnx(model)
    message = _one_line(info.value)
    assert "fc_wrong" in message and "(1, 5)" in message


def test_several_inputs_outputs_and_taps_match_onnxruntime():
    """Two graph inputs (concatenated in order), two outputs and a hidden tensor (appended
    in order) give the network onnxruntime computes, output by output."""
    import onnxruntime as ort

    extra = [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3])]
    nodes = [helper.make_node("Add", ["x", "z"], ["s"]),
             helper.make_node("Relu", ["s"], ["h"]),
             helper.make_node("Sub", ["h", "x"], ["y"]),
             helper.make_node("Mul", ["h", "two"], ["w"])]
    model = _model(nodes, {"two": np.full(3, 2.0)}, [1, 3], extra_inputs=extra)
    model.graph.output.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, None))
    net = import_onnx(model, taps=["s"])
    assert (net.n_inputs, net.n_outputs) == (6, 9)
    with_tap = onnx.ModelProto()
    with_tap.CopyFrom(model)
    with_tap.graph.output.append(helper.make_tensor_value_info("s", TensorProto.FLOAT, None))
    sess = ort.InferenceSession(with_tap.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for x in rng.uniform(-1, 1, size=(10, 6)).astype(np.float32):
        outs = sess.run(["y", "w", "s"], {"x": x[None, :3], "z": x[None, 3:]})
        expected = np.concatenate([o.reshape(-1) for o in outs])
        assert np.allclose(net.forward(x.astype(np.float64)), expected, atol=1e-5)


def test_unknown_tap_names_the_tensor():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], {}, [1, 3])
    with pytest.raises(NetworkError) as info:
        import_onnx(model, taps=["nowhere"])
    assert "'nowhere'" in _one_line(info.value)


def test_product_of_two_computed_tensors_is_unsupported():
    model = _model([helper.make_node("Mul", ["x", "x"], ["y"], name="square")], {}, [1, 3])
    with pytest.raises(UnsupportedOpError) as info:
        import_onnx(model)
    assert "square" in _one_line(info.value)


def test_saved_file_round_trip(tmp_path):
    model = build_model("normalised", [4, 6, 3], seed=5)
    path = Path(tmp_path) / "net.onnx"
    onnx.save(model, str(path))
    assert_matches_onnxruntime(model, import_onnx(path))


# ====================================================================== op variants
def _variant(name: str) -> onnx.ModelProto:
    """Small deterministic models exercising attribute variants of the translators."""
    rng = np.random.default_rng(7)
    net = _Net(rng)
    if name == "gemm_transA_left_matmul":
        h = net.op("Gemm", ["x", net.const(net.weights(4, 5))], transA=1, alpha=0.5)  # (1,5)
        h = net.op("Transpose", [h])                                                   # (5,1)
        h = net.op("MatMul", [net.const(net.weights(3, 5)), h])                        # (3,1)
        h = net.op("Relu", [h])
        net.op("Gemm", [net.const(net.weights(2, 3)), h, net.const(rng.normal(size=(2, 1)))],
               "y", beta=2.0)
        return _model(net.nodes, net.inits, [4, 1])
    if name == "transpose_pool_same_lower":
        h = net.op("Transpose", ["x"], perm=[0, 3, 1, 2])                              # 1,2,5,4
        h = net.op("Conv", [h, net.const(net.weights(3, 2, 2, 3))], auto_pad="SAME_LOWER",
                   strides=[2, 1])
        h = net.op("AveragePool", [h], kernel_shape=[2, 3], pads=[1, 1, 1, 1],
                   count_include_pad=1)
        h = net.op("Pad", [h, net.const(np.array([0, 0, 0, -1, 0, 0, 1, 0]), "pads")])
        h = net.op("Flatten", [h], axis=1)
        net.op("MatMul", [h, net.const(net.weights(45, 2))], "y")
        return _model(net.nodes, net.inits, [1, 5, 4, 2])
    if name == "broadcast_constants":
        h = net.op("Sub", [net.const(rng.normal(size=(1, 3))), "x"])                  # (1,3)
        h = net.op("Div", [h, net.const(np.array(4.0))])
        h = net.op("Mul", [net.const(rng.normal(size=(2, 1))), h])                    # (2,3)
        h = net.op("Relu", [h])
        g = net.op("Add", ["x", net.const(rng.normal(size=(3,)))])                    # (1,3)
        h = net.op("Sub", [h, g])                                                      # (2,3)
        net.op("Reshape", [h, net.const(np.array([-1]), "shape")], "y")
        return _model(net.nodes, net.inits, [1, 3])
    raise ValueError(name)


def _opset11_model() -> onnx.ModelProto:
    rng = np.random.default_rng(8)
    nodes = [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
            rng.normal(size=(1, 4)).astype(np.float32))),
        helper.make_node("Add", ["x", "c"], ["h1"]),
        helper.make_node("Unsqueeze", ["h1"], ["h2"], axes=[0, 3]),     # (1,1,4,1)
        helper.make_node("Dropout", ["h2"], ["h3"]),
        helper.make_node("Squeeze", ["h3"], ["h4"], axes=[0]),            # (1,4,1)
        helper.make_node("Reshape", ["h4", "shape"], ["h5"]),             # (1,4)
        helper.make_node("Gemm", ["h5", "W", "b"], ["h6"], transB=1),
        helper.make_node("Relu", ["h6"], ["h7"]),
        helper.make_node("Squeeze", ["h7"], ["y"]),                        # (5,)
    ]
    graph = helper.make_graph(
        nodes, "opset11", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape"),
         numpy_helper.from_array(rng.normal(size=(5, 4)).astype(np.float32), "W"),
         numpy_helper.from_array(rng.normal(size=5).astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    return model


@pytest.mark.parametrize("name", ["gemm_transA_left_matmul", "transpose_pool_same_lower",
                                  "broadcast_constants"])
def test_op_variants_match_onnxruntime(name):
    model = _variant(name)
    net = import_onnx(model)
    X = assert_matches_onnxruntime(model, net)
    np.testing.assert_allclose(simplify(net).forward(X), net.forward(X), rtol=1e-9, atol=1e-9)


def test_opset11_attribute_axes_constant_dropout():
    model = _opset11_model()
    net = import_onnx(model)
    assert net.output_shape == (5,)
    assert_matches_onnxruntime(model, net)


def test_exporter_shape_arithmetic_flatten():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as older PyTorch exports flatten."""
    rng = np.random.default_rng(9)
    net = _Net(rng)
    s = net.op("Shape", ["x"])
    n = net.op("Gather", [s, net.const(np.array(0), "idx")], axis=0)
    n = net.op("Unsqueeze", [n, net.const(np.array([0]), "axes")])
    shape = net.op("Concat", [n, net.const(np.array([-1]), "minus1")], axis=0)
    h = net.op("Reshape", ["x", shape])
    net.op("Gemm", [h, net.const(net.weights(3, 6))], "y", transB=1)
    model = _model(net.nodes, net.inits, ["N", 2, 3])
    imported = import_onnx(model)
    assert [type(op).__name__ for op in imported.ops()] == ["Input", "Affine"]
    assert_matches_onnxruntime(model, imported)


def test_gather_on_computed_tensor_selects_values():
    model = _model([helper.make_node("Gather", ["x", "i"], ["y"], name="pick", axis=1)],
                   {"i": np.array([2, -3, 2])}, [1, 3])
    net = import_onnx(model)
    assert net.output_shape == (3,)
    assert_matches_onnxruntime(model, net)


def test_gather_index_out_of_range_names_the_node():
    model = _model([helper.make_node("Gather", ["x", "i"], ["y"], name="pick", axis=1)],
                   {"i": np.array([0, 3])}, [1, 3])
    with pytest.raises(NetworkError) as info:
        import_onnx(model)
    message = _one_line(info.value)
    assert "pick" in message and "out of range" in message
