"""ONNX selection, shape and pooling ops on computed tensors: agreement with onnxruntime,
exact MaxPool through the complete methods, and named errors for what is unsupported."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from scipy.optimize import linprog

import verifier
from verifier.errors import UnsupportedOpError
from verifier.network import Add, Affine, Input, Relu, load_network
from verifier.network.onnx_import import import_onnx
from verifier.network.simplify import simplify
from verifier.spec import halfspace_property

ort = pytest.importorskip("onnxruntime")


# ====================================================================== helpers
def _model(nodes, inits, in_shape, opset=13, out_name="y"):
    """A float32 model with graph input ``x`` of ``in_shape`` and output ``out_name``."""
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(
            np.asarray(v, dtype=np.float32 if np.asarray(v).dtype.kind == "f" else np.int64),
            k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def assert_matches_onnxruntime(model, net=None, n_points=25, low=-1.0, high=1.0, seed=0):
    """``net`` (default: the imported model) equals onnxruntime (float32) at random points.

    The check is ``|net(x) - ort(x)| <= 1e-5 + 1e-5 |ort(x)|``.
    """
    net = import_onnx(model) if net is None else net
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    assert int(np.prod(shape)) == net.n_inputs
    X = np.random.default_rng(seed).uniform(low, high, (n_points, net.n_inputs))
    X = X.astype(np.float32)
    expected = np.stack([sess.run(None, {inp.name: x.reshape(shape)})[0].reshape(-1)
                         for x in X]).astype(np.float64)
    got = net.forward(X.astype(np.float64))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(simplify(net).forward(X.astype(np.float64)), got,
                               rtol=1e-9, atol=1e-9)
    return net


class _Net:
    """Collects nodes and initialisers with fresh tensor names."""

    def __init__(self, seed=0):
        self.rng, self.nodes, self.inits, self.k = np.random.default_rng(seed), [], {}, 0

    def const(self, value):
        self.k += 1
        self.inits[f"c{self.k}"] = value
        return f"c{self.k}"

    def ints(self, *values):
        return self.const(np.array(values, dtype=np.int64))

    def op(self, op_type, inputs, out=None, n_outputs=1, **attrs):
        self.k += 1
        outs = [out or f"{op_type.lower()}{self.k}"] if n_outputs == 1 else [
            f"{op_type.lower()}{self.k}_{i}" for i in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=f"n{self.k}", **attrs))
        return outs[0] if n_outputs == 1 else outs

    def dense(self, x, n_in, n_out, relu=True):
        """A computed (1, n_out) tensor: Gemm (+ Relu) of the (1, n_in) tensor x."""
        h = self.op("Gemm", [x, self.const(self.rng.normal(size=(n_out, n_in))),
                             self.const(self.rng.normal(size=n_out) * 0.3)], transB=1)
        return self.op("Relu", [h]) if relu else h

    def model(self, in_shape, opset=13):
        return _model(self.nodes, self.inits, in_shape, opset)


# ====================================================================== Slice
def test_slice_selects_inputs_for_matmul_and_concat():
    """The VNN-COMP pattern: constant Slices of the input, MatMuls, Concat, Relu."""
    net = _Net(1)
    a = net.op("Slice", ["x", net.ints(0), net.ints(4), net.ints(1)])
    b = net.op("Slice", ["x", net.ints(-3), net.ints(2 ** 62), net.ints(-1)])
    a = net.op("MatMul", [a, net.const(net.rng.normal(size=(4, 3)))])
    b = net.op("MatMul", [b, net.const(net.rng.normal(size=(3, 2)))])
    h = net.op("Concat", [a, b], axis=1)
    h = net.op("Relu", [h])
    net.op("MatMul", [h, net.const(net.rng.normal(size=(5, 2)))], "y")
    imported = assert_matches_onnxruntime(net.model([1, 7]))
    # both MatMuls are affine maps of x: the Concat composes them into one Affine of x
    assert imported.is_sequential() and not any(isinstance(op, Add) for op in imported.ops())
    assert [type(op).__name__ for op in imported.ops()] == [
        "Input", "Affine", "Relu", "Affine"]


@pytest.mark.parametrize("starts, ends, axes, steps", [
    ([1, 0], [3, -1], [2, 3], [1, 2]),
    ([-1, 4], [-10 ** 18, 0], [1, -1], [-1, -2]),
    ([0], [2], None, None),
    ([2, -2], [2 ** 62, -(2 ** 62)], [-2, 1], [1, -1]),
    ([0, 3], [2 ** 63 - 1, 2 ** 31 - 1], [1, 3], [-1, -2]),    # INT_MAX end, backwards
    ([-(2 ** 63), 9], [-(2 ** 62), 2], [2, 3], [-3, -1]),       # starts clamped to 0 / dim-1
])
def test_slice_on_computed_tensor(starts, ends, axes, steps):
    net = _Net(2)
    h = net.dense("x", 6, 24)
    h = net.op("Reshape", [h, net.ints(1, 2, 3, 4)])
    inputs = [h, net.ints(*starts), net.ints(*ends)]
    if axes is not None:
        inputs.append(net.ints(*axes))
        if steps is not None:
            inputs.append(net.ints(*steps))
    net.op("Slice", inputs, "y")
    assert_matches_onnxruntime(net.model([1, 6]))


def test_slice_opset9_attributes():
    net = _Net(3)
    h = net.dense("x", 5, 12)
    h = net.op("Reshape", [h, net.ints(1, 3, 4)])
    net.op("Slice", [h], "y", starts=[1, -3], ends=[100, -1], axes=[1, 2])
    assert_matches_onnxruntime(net.model([1, 5], opset=9))


def test_slice_that_keeps_everything_makes_no_node():
    net = _Net(4)
    h = net.dense("x", 3, 4, relu=False)
    net.op("Slice", [h, net.ints(0), net.ints(2 ** 62), net.ints(1)], "y")
    imported = assert_matches_onnxruntime(net.model([1, 3]))
    assert [type(op).__name__ for op in imported.ops()] == ["Input", "Affine"]


# ====================================================================== Concat
def test_concat_of_computed_tensors_and_constants():
    net = _Net(5)
    a = net.op("Reshape", [net.dense("x", 4, 6), net.ints(1, 2, 3)])
    b = net.op("Reshape", [net.dense("x", 4, 3, relu=False), net.ints(1, 1, 3)])
    c = net.const(net.rng.normal(size=(1, 2, 3)))
    s = net.op("Slice", ["x", net.ints(1), net.ints(4), net.ints(1)])
    s = net.op("Unsqueeze", [s, net.ints(0)])                               # (1,1,3)
    net.op("Concat", [b, a, c, s, a], "y", axis=-2)                          # (1,8,3)
    imported = assert_matches_onnxruntime(net.model([1, 4]))
    assert imported.output_shape == (8, 3)
    # two bases (the Relu, and x under b and s): two scattering Affines and one Add
    assert sum(isinstance(op, Add) for op in imported.ops()) == 1


def test_concat_of_one_node_is_one_affine():
    net = _Net(6)
    h = net.dense("x", 3, 4)
    a = net.op("Slice", [h, net.ints(2), net.ints(4), net.ints(1)])
    b = net.op("Slice", [h, net.ints(0), net.ints(1), net.ints(1)])
    net.op("Concat", [a, net.const(np.array([[0.5]])), b, a], "y", axis=1)
    imported = assert_matches_onnxruntime(net.model([1, 3]))
    assert not any(isinstance(op, Add) for op in imported.ops()) and imported.is_sequential()


# ====================================================================== Split
@pytest.mark.parametrize("opset, form", [(13, "input"), (11, "attribute"), (13, "equal"),
                                         (18, "num_outputs")])
def test_split_on_computed_tensor(opset, form):
    net = _Net(7)
    h = net.op("Reshape", [net.dense("x", 4, 14), net.ints(1, 7, 2)])
    if form == "input":
        parts = net.op("Split", [h, net.ints(2, 4, 1)], n_outputs=3, axis=1)
    elif form == "attribute":
        parts = net.op("Split", [h], n_outputs=3, axis=-2, split=[3, 3, 1])
    elif form == "equal":
        parts = net.op("Split", [h], n_outputs=2, axis=2)
    else:
        parts = net.op("Split", [h], n_outputs=3, axis=1, num_outputs=3)   # 3, 3, 1
    parts = [net.op("Flatten", [p]) for p in parts]
    net.op("Concat", parts[::-1], "y", axis=1)
    assert_matches_onnxruntime(net.model([1, 4], opset=opset))


def test_split_outputs_feed_different_branches():
    net = _Net(8)
    h = net.dense("x", 3, 6, relu=False)
    a, b = net.op("Split", [h, net.ints(4, 2)], n_outputs=2, axis=1)
    a = net.op("Relu", [a])
    a = net.op("MatMul", [a, net.const(net.rng.normal(size=(4, 2)))])
    net.op("Sub", [a, b], "y")
    assert_matches_onnxruntime(net.model([1, 3]))


# ====================================================================== Gather
@pytest.mark.parametrize("axis, indices", [
    (1, np.array([3, -1, 0, 0])), (-1, np.array([[1, -2], [0, 2]])), (2, np.array(-3)),
    (0, np.array([0]))])
def test_gather_constant_indices_on_computed_tensor(axis, indices):
    net = _Net(9)
    h = net.op("Reshape", [net.dense("x", 5, 36), net.ints(1, 4, 3, 3)])
    net.op("Gather", [h, net.const(indices.astype(np.int64))], "y", axis=axis)
    assert_matches_onnxruntime(net.model([1, 5]))


def test_gather_of_the_input_vector():
    net = _Net(10)
    g = net.op("Gather", ["x", net.ints(4, 0, -2)], axis=1)
    net.op("MatMul", [g, net.const(net.rng.normal(size=(3, 2)))], "y")
    imported = assert_matches_onnxruntime(net.model([1, 5]))
    assert imported.is_sequential()


# ====================================================================== shape and linear ops
def test_squeeze_unsqueeze_transpose_on_computed_tensors():
    net = _Net(11)
    h = net.op("Reshape", [net.dense("x", 4, 12), net.ints(1, 3, 1, 4)])
    h = net.op("Squeeze", [h, net.ints(2)])                              # (1,3,4)
    h = net.op("Transpose", [h], perm=[0, 2, 1])                          # (1,4,3)
    h = net.op("Unsqueeze", [h, net.ints(-1, 1)])                         # (1,1,4,3,1)
    h = net.op("Transpose", [h], perm=[3, 1, 0, 4, 2])                    # (3,1,1,1,4)
    net.op("Squeeze", [h], "y")                                           # (3,4)
    assert_matches_onnxruntime(net.model([1, 4]))


def test_squeeze_unsqueeze_opset11_attributes():
    net = _Net(12)
    h = net.op("Unsqueeze", [net.dense("x", 3, 4)], axes=[0, 3])          # (1,1,4,1)
    h = net.op("Squeeze", [h], axes=[0, -1])                              # (1,4)
    net.op("Gemm", [h, net.const(net.rng.normal(size=(2, 4)))], "y", transB=1)
    assert_matches_onnxruntime(net.model([1, 3], opset=11))


@pytest.mark.parametrize("opset", [13, 18, 10])
def test_pad_constant_on_computed_tensor(opset):
    net = _Net(13)
    h = net.op("Reshape", [net.dense("x", 4, 12), net.ints(1, 2, 2, 3)])
    if opset == 10:
        net.op("Pad", [h], "y", pads=[0, 1, 1, 0, 0, 0, 2, -1], value=0.25)
    elif opset == 18:
        net.op("Pad", [h, net.ints(1, 2, 0, -1), net.const(np.array(-0.5)), net.ints(1, 3)],
               "y")
    else:
        net.op("Pad", [h, net.ints(0, 0, 1, 2, 0, 1, 0, 0), net.const(np.array(1.5))], "y",
               mode="constant")
    assert_matches_onnxruntime(net.model([1, 4], opset=opset))


@pytest.mark.parametrize("layout", ["nchw", "flat"])
def test_batch_normalization_on_computed_tensor(layout):
    net = _Net(14)
    shape = (1, 3, 2, 2) if layout == "nchw" else (1, 3)
    h = net.op("Reshape", [net.dense("x", 4, int(np.prod(shape))), net.ints(*shape)])
    net.op("BatchNormalization", [h] + [net.const(net.rng.uniform(0.5, 2.0, 3))
                                         for _ in range(2)]
           + [net.const(net.rng.normal(size=3)), net.const(net.rng.uniform(0.5, 2.0, 3))],
           "y", epsilon=1e-3)
    assert_matches_onnxruntime(net.model([1, 4]))


@pytest.mark.parametrize("spatial, attrs", [
    ((7,), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ((4, 5), dict(kernel_shape=[2, 3], strides=[1, 2], pads=[1, 0, 0, 1],
                  count_include_pad=1)),
])
def test_average_pool_on_computed_tensor(spatial, attrs):
    net = _Net(15)
    shape = (1, 2) + spatial
    h = net.op("Reshape", [net.dense("x", 3, int(np.prod(shape))), net.ints(*shape)])
    net.op("AveragePool", [h], "y", **attrs)
    assert_matches_onnxruntime(net.model([1, 3]))


# ====================================================================== MaxPool
MAXPOOL_CASES = [
    ("1d", (1, 2, 7), True, dict(kernel_shape=[3], strides=[2])),
    ("1d_pads_dilation", (1, 2, 8), False, dict(kernel_shape=[3], pads=[1, 2],
                                                 dilations=[2], strides=[1])),
    ("2d", (1, 2, 4, 4), True, dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("2d_overlap_pads", (1, 3, 5, 4), False, dict(kernel_shape=[3, 3], strides=[2, 1],
                                                  pads=[1, 1, 1, 0])),
    ("2d_same_upper", (1, 1, 5, 5), True, dict(kernel_shape=[2, 3], strides=[2, 2],
                                               auto_pad="SAME_UPPER")),
    ("2d_ceil", (1, 2, 5, 5), False, dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ("2d_dilated_3x3", (1, 1, 6, 6), True, dict(kernel_shape=[3, 3], dilations=[2, 1],
                                                storage_order=1)),
    ("kernel_1", (1, 2, 3, 3), False, dict(kernel_shape=[1, 1], strides=[2, 2])),
]


@pytest.mark.parametrize("name, shape, after_relu, attrs", MAXPOOL_CASES,
                         ids=[c[0] for c in MAXPOOL_CASES])
def test_max_pool_matches_onnxruntime(name, shape, after_relu, attrs):
    net = _Net(16)
    h = net.dense("x", 4, int(np.prod(shape)), relu=after_relu)
    h = net.op("Reshape", [h, net.ints(*shape)])
    net.op("MaxPool", [h], "y", **attrs)
    imported = assert_matches_onnxruntime(net.model([1, 4]), n_points=60, low=-2, high=2)
    assert imported.is_sequential() and simplify(imported).is_sequential()
    kinds = [type(op) for op in imported.ops()]
    assert set(kinds) <= {Input, Affine, Relu}


def test_max_pool_tree_is_short_and_lean_after_relu():
    """A 3x3 window needs ceil(log2 9) = 4 Relu levels; after a Relu no negated copies."""
    net = _Net(17)
    h = net.op("Reshape", [net.dense("x", 4, 18), net.ints(1, 2, 3, 3)])
    net.op("MaxPool", [h], "y", kernel_shape=[3, 3])
    imported = assert_matches_onnxruntime(net.model([1, 4]))
    relus = [imported.size(n) for n in imported.relu_names()]
    # first Relu is the Gemm's; per window the levels hold 8, 4, 2, 1 pair rows + singles
    assert relus == [18, 2 * (4 + 4 + 1), 2 * (2 + 2 + 1), 2 * (1 + 1 + 1), 2 * (1 + 1)]


def test_max_pool_windows_of_one_value_need_no_relu():
    net = _Net(19)
    h = net.op("Reshape", [net.dense("x", 3, 4, relu=False), net.ints(1, 2, 2)])
    net.op("MaxPool", [h], "y", kernel_shape=[2], strides=[2], pads=[1, 1])   # [pad, v], [v, pad]
    imported = assert_matches_onnxruntime(net.model([1, 3]))
    assert imported.relu_names() == [] and imported.output_shape == (2, 2)


def test_max_pool_after_zero_padding_of_a_relu_is_lean():
    """Zero Pad of a Relu output is still >= 0: the tree has no negated copies."""
    net = _Net(18)
    h = net.op("Reshape", [net.dense("x", 3, 8), net.ints(1, 2, 4)])
    h = net.op("Pad", [h, net.ints(0, 0, 1, 0, 0, 1)])                       # (1,2,6)
    net.op("MaxPool", [h], "y", kernel_shape=[2], strides=[2])
    imported = assert_matches_onnxruntime(net.model([1, 3]))
    assert [imported.size(n) for n in imported.relu_names()] == [8, 2 * 3 * 2]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.sampled_from([1, 2]), seed=st.integers(0, 2 ** 31 - 1))
def test_random_max_pool_geometry_matches_onnxruntime(data, rank, seed):
    kernel = data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    dilations = data.draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank))
    strides = data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    pads = [data.draw(st.integers(0, k - 1)) for k in kernel * 2]
    spatial = [(k - 1) * d + 1 + data.draw(st.integers(0, 3))
               for k, d in zip(kernel, dilations)]
    ceil_mode = data.draw(st.sampled_from([0, 1]))
    net = _Net(seed)
    shape = [1, 2] + spatial
    h = net.dense("x", 3, int(np.prod(shape)), relu=data.draw(st.booleans()))
    h = net.op("Reshape", [h, net.ints(*shape)])
    net.op("MaxPool", [h], "y", kernel_shape=kernel, strides=strides, pads=pads,
           dilations=dilations, ceil_mode=ceil_mode)
    try:
        imported = import_onnx(net.model([1, 3]))
    except UnsupportedOpError as error:   # ceil_mode=1 with a window in the end padding
        assert ceil_mode and "ceil_mode=1" in error.hint
        return
    assert imported.is_sequential()
    assert_matches_onnxruntime(net.model([1, 3]), imported, n_points=10, low=-2, high=2,
                               seed=seed)


def _max_pool_model(after_relu: bool, two_d: bool, seed: int):
    """y = max(block 1) - max(block 2) over 4 affine functions of x[0:3] and of x[3:6]."""
    rng = np.random.default_rng(seed)
    W = np.zeros((8, 6))
    W[:4, :3], W[4:, 3:] = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    b = rng.normal(size=8) * 0.5
    net = _Net(seed)
    h = net.op("Gemm", ["x", net.const(W), net.const(b)], transB=1)
    if after_relu:
        h = net.op("Relu", [h])
    h = net.op("Reshape", [h, net.ints(*((1, 2, 2, 2) if two_d else (1, 2, 4)))])
    h = net.op("MaxPool", [h], kernel_shape=[2, 2] if two_d else [4])
    h = net.op("Flatten", [h])
    net.op("MatMul", [h, net.const(np.array([[1.0], [-1.0]]))], "y")
    return net.model([1, 6]), W, b


def _true_maximum(W, b, after_relu: bool, lower, upper) -> float:
    """max over the box of max_i a_i(x1) - max_j c_j(x2): a vertex maximum minus an LP."""
    act = (lambda v: max(v, 0.0)) if after_relu else (lambda v: v)
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    first = max(b[i] + W[i, :3] @ centre[:3] + np.abs(W[i, :3]) @ radius[:3] for i in range(4))
    # min_x2 max_j (W_j x2 + b_j): min t s.t. W_j x2 - t <= -b_j, x2 in the box
    lp = linprog(c=[0, 0, 0, 1], A_ub=np.hstack([W[4:, 3:], -np.ones((4, 1))]), b_ub=-b[4:],
                 bounds=list(zip(lower[3:], upper[3:])) + [(None, None)], method="highs")
    assert lp.status == 0
    return act(first) - act(lp.fun)


@pytest.mark.parametrize("after_relu, two_d", [(False, False), (True, True)])
def test_max_pool_is_exact_in_complete_methods(tmp_path, after_relu, two_d):
    model, W, b = _max_pool_model(after_relu, two_d, seed=20)
    path = tmp_path / "maxpool.onnx"
    onnx.save(model, str(path))
    net = load_network(str(path))
    assert net.is_sequential()
    assert_matches_onnxruntime(model, net)
    lower, upper = -np.ones(6), np.ones(6)
    top = _true_maximum(W, b, after_relu, lower, upper)
    for method in ("milp", "bab", "split"):
        for threshold, verdict in ((top + 1e-3, "unsat"), (top - 1e-3, "sat")):
            # unsafe: y >= threshold, i.e. -y <= -threshold
            prop = halfspace_property(lower, upper, [(np.array([[-1.0]]),
                                                      np.array([-threshold]))], 1)
            result = verifier.verify(net, prop, method=method, timeout=20)
            assert result.verdict == verdict, (method, threshold, top, result.verdict)


# ====================================================================== unsupported
def _max_pool_error(**attrs):
    net = _Net(21)
    h = net.op("Reshape", [net.dense("x", 2, 10), net.ints(1, 2, 5)])
    net.nodes.append(helper.make_node("MaxPool", [h], ["y"] + (["idx"] if attrs.pop(
        "indices", False) else []), name="pool", **attrs))
    with pytest.raises(UnsupportedOpError) as info:
        import_onnx(net.model([1, 2]))
    assert info.value.op_type == "MaxPool" and info.value.node_name == "pool"
    assert "\n" not in str(info.value)
    return info.value.hint


def test_max_pool_ceil_mode_with_window_in_end_padding_is_named():
    hint = _max_pool_error(kernel_shape=[2], strides=[2], pads=[1, 1], ceil_mode=1)
    assert "ceil_mode=1" in hint


def test_max_pool_indices_output_is_named():
    assert "Indices" in _max_pool_error(kernel_shape=[2], indices=True)


def test_computed_pad_value_is_named():
    net = _Net(22)
    h = net.op("Reshape", [net.dense("x", 3, 4), net.ints(1, 4)])
    v = net.op("Gather", [net.op("Reshape", ["x", net.ints(3)]), net.const(np.array(0))])
    net.nodes.append(helper.make_node("Pad", [h, net.ints(0, 1, 0, 1), v], ["y"], name="pad"))
    with pytest.raises(UnsupportedOpError) as info:
        import_onnx(net.model([1, 3]))
    assert info.value.node_name == "pad" and "constant" in info.value.hint


def test_slice_and_concat_fold_constants():
    net = _Net(23)
    W = net.op("Slice", [net.const(net.rng.normal(size=(5, 4))), net.ints(1), net.ints(4),
                         net.ints(0)])                                       # (3,4)
    W = net.op("Concat", [W, net.const(net.rng.normal(size=(1, 4)))], axis=0)   # (4,4)
    h = net.op("MatMul", ["x", W])
    parts = net.op("Split", [net.const(np.arange(8.0).reshape(2, 4))], n_outputs=2, axis=0)
    h = net.op("Add", [h, parts[1]])
    net.op("Gather", [h, net.const(np.array([3, 0]))], "y", axis=-1)
    imported = assert_matches_onnxruntime(net.model([1, 4]))
    assert [type(op).__name__ for op in imported.ops()] == [
        "Input", "Affine", "Affine", "Affine"]
