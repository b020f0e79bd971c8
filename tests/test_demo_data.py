"""The bundled demo network and test images (verifier/data)."""

import numpy as np
import onnx
import pytest

from verifier.data import demo_images, demo_network_path


def test_files_exist_and_are_small():
    path = demo_network_path()
    assert path.is_file()
    assert path.stat().st_size < 50_000
    assert (path.parent / "digits_test_images.npz").stat().st_size < 50_000


def test_onnx_model_is_valid_and_has_expected_interface():
    model = onnx.load(str(demo_network_path()))
    onnx.checker.check_model(model, full_check=True)
    assert any(o.domain in ("", "ai.onnx") and o.version == 13 for o in model.opset_import)
    graph = model.graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["logits"]
    assert [n.op_type for n in graph.node] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    in_dims = graph.input[0].type.tensor_type.shape.dim
    out_dims = graph.output[0].type.tensor_type.shape.dim
    assert in_dims[1].dim_value == 64
    assert out_dims[1].dim_value == 10
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    assert shapes["W0"] == (32, 64) and shapes["W1"] == (32, 32) and shapes["W2"] == (10, 32)
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in graph.initializer)


def test_demo_images():
    images, labels = demo_images()
    assert images.dtype == np.float64 and images.shape == (10, 64)
    assert labels.dtype == np.int64 and labels.shape == (10,)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert sorted(labels.tolist()) == list(range(10))


def _ort_logits(images):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(demo_network_path()), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"input": images.astype(np.float32)})[0]


def test_onnxruntime_classifies_images_correctly():
    images, labels = demo_images()
    logits = _ort_logits(images)
    assert logits.shape == (10, 10)
    np.testing.assert_array_equal(logits.argmax(axis=1), labels)
    # Single-sample batches work as well (input shape [1, 64]).
    single = _ort_logits(images[:1])
    np.testing.assert_allclose(single, logits[:1], rtol=0, atol=1e-6)


def test_forward_pass_matches_onnxruntime():
    images, labels = demo_images()
    expected = _ort_logits(images)
    try:
        from verifier.network import load_network

        net = load_network(str(demo_network_path()))
    except ImportError as exc:  # the ONNX loader is not available yet
        pytest.skip(f"verifier.network.load_network unavailable: {exc}")
    assert net.n_inputs == 64 and net.n_outputs == 10
    ours = np.asarray(net.forward(images))
    assert ours.shape == (10, 10)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(ours.argmax(axis=1), labels)
    np.testing.assert_allclose(np.asarray(net.forward(images[3])), expected[3],
                               rtol=0, atol=1e-5)
