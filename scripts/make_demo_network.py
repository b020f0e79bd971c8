#!/usr/bin/env python
"""Train and export the bundled demo network and test images.

Trains a 64-32-32-10 ReLU classifier on scikit-learn's built-in 8x8 digits data
(``sklearn.datasets.load_digits``; no download), exports it to ONNX with
``onnx.helper`` only and saves ten correctly classified held-out test images.

Usage::

    python scripts/make_demo_network.py [--out verifier/data]
    python scripts/make_demo_network.py --properties-only   # only the example properties

Outputs (in ``--out``):
    digits_64_32_32_10.onnx   opset 13; input "input" float32 [N, 64] with pixels in [0, 1]
                              (pixel / 16); Gemm(transB=1) -> Relu -> Gemm -> Relu -> Gemm;
                              output "logits" float32 [N, 10] (no softmax).
    digits_test_images.npz    images float32 (10, 64) in [0, 1], labels int64 (10,): one
                              correctly classified held-out image per digit 0..9.
    digits_img0_eps0.1.vnnlib  L-inf robustness of image 0 (label 0) at eps 0.1, VNN-LIB
                              1.0 (holds: auto proves it, DeepPoly alone cannot).
    digits_img3_eps0.1.vnnlib  the same for image 3 (a counterexample exists).
    digits_img0_eps0.1_v2.vnnlib  the first as a VNN-LIB 2.0 query (network "digits").
    digits_64_32_32_10_pruned10.onnx  the net with its 10 % smallest weights set to zero.
    digits_pair.vnnlib        VNN-LIB 2.0 query over the net (f) and its pruned copy (g) on
                              the L-inf ball of radius 0.02 around image 0: do some outputs
                              differ by 0.5 or more? (no: unsat)

The script is deterministic: scikit-learn's ``MLPClassifier`` (Adam, ``random_state=0``)
on a stratified 80/20 split with ``random_state=0``. Requires scikit-learn (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

SEED = 0
HIDDEN = (32, 32)
MAX_ITER = 500
TEST_SIZE = 0.2
ONNX_NAME = "digits_64_32_32_10.onnx"
IMAGES_NAME = "digits_test_images.npz"
#: (image index, eps) of the example properties
EXAMPLES = ((0, 0.1), (3, 0.1))
#: the share of the smallest weights the pruned copy sets to zero, and the pair query
PRUNED_SHARE, PAIR_EPS, PAIR_DELTA = 0.1, 0.02, 0.5
PRUNED_NAME = "digits_64_32_32_10_pruned10.onnx"


def load_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float64)  # (1797, 64) in [0, 1]
    y = digits.target.astype(np.int64)
    return train_test_split(X, y, test_size=TEST_SIZE, stratify=y, random_state=SEED)


def train(X_train, y_train):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", solver="adam",
                        alpha=1e-4, random_state=SEED, max_iter=MAX_ITER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    return clf


def layers_of(clf) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) per layer with W of shape (out, in), float32."""
    return [(np.ascontiguousarray(W.T, dtype=np.float32), np.asarray(b, dtype=np.float32))
            for W, b in zip(clf.coefs_, clf.intercepts_)]


def numpy_logits(layers, X: np.ndarray) -> np.ndarray:
    h = np.asarray(X, dtype=np.float64)
    for k, (W, b) in enumerate(layers):
        h = h @ W.astype(np.float64).T + b.astype(np.float64)
        if k < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def to_onnx(layers, name: str = "digits_64_32_32_10",
            producer: str = "verifier/scripts/make_demo_network.py"):
    """A Gemm/Relu chain ``[(W, b)]`` (float32) as a checked ONNX model (opset 13)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_in = layers[0][0].shape[1]
    n_out = layers[-1][0].shape[0]
    nodes, inits = [], []
    current = "input"
    for k, (W, b) in enumerate(layers):
        w_name, b_name = f"W{k}", f"b{k}"
        inits.append(numpy_helper.from_array(W, name=w_name))
        inits.append(numpy_helper.from_array(b, name=b_name))
        last = k == len(layers) - 1
        gemm_out = "logits" if last else f"gemm{k}"
        nodes.append(helper.make_node("Gemm", [current, w_name, b_name], [gemm_out],
                                      name=f"Gemm_{k}", alpha=1.0, beta=1.0, transB=1))
        current = gemm_out
        if not last:
            relu_out = f"relu{k}"
            nodes.append(helper.make_node("Relu", [current], [relu_out], name=f"Relu_{k}"))
            current = relu_out
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name=producer)
    model.ir_version = 8  # readable by any onnxruntime >= 1.10
    onnx.checker.check_model(model, full_check=True)
    return model


def pick_images(layers, X_test, y_test):
    """First correctly classified test image of each class 0..9 (in held-out order)."""
    pred = numpy_logits(layers, X_test.astype(np.float32)).argmax(axis=1)
    images, labels = [], []
    for c in range(10):
        idx = np.flatnonzero((y_test == c) & (pred == c))
        if idx.size == 0:
            continue
        images.append(X_test[idx[0]])
        labels.append(c)
    return np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int64)


def pruned_layers(layers, share: float):
    """The layers with the ``share`` smallest-magnitude weights (over all layers) zeroed."""
    threshold = np.quantile(np.concatenate([np.abs(W).ravel() for W, _ in layers]), share)
    return [(np.where(np.abs(W) <= threshold, 0, W).astype(W.dtype), b) for W, b in layers]


def write_properties(out: pathlib.Path) -> list[pathlib.Path]:
    """The example properties of the bundled net and images (see the module docstring)."""
    import onnx
    from onnx import numpy_helper

    from verifier.data import demo_images, demo_network_path
    from verifier.spec.query_builders import output_difference_query
    from verifier.spec import linf_robustness
    from verifier.spec.vnnlib import write_vnnlib
    from verifier.spec.vnnlib2_writer import query_from_property, write_query

    images, labels = demo_images()
    written = []
    for index, eps in EXAMPLES:
        prop = linf_robustness(images[index], eps, int(labels[index]), 10,
                               name=f"digits_img{index}_eps{eps:g}")
        path = out / f"digits_img{index}_eps{eps:g}.vnnlib"
        path.write_text(write_vnnlib(prop))
        written.append(path)
        if index == EXAMPLES[0][0]:
            query = query_from_property(prop, (1, 64), (1, 10), network="digits")
            path = out / f"digits_img{index}_eps{eps:g}_v2.vnnlib"
            path.write_text(write_query(query, comment=f"L-inf robustness of image {index} "
                                        f"at eps {eps:g}, written by {pathlib.Path(__file__).name}"))
            written.append(path)
    model = onnx.load(str(demo_network_path()))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers = [(weights[f"W{k}"], weights[f"b{k}"]) for k in range(len(weights) // 2)]
    path = out / PRUNED_NAME
    onnx.save(to_onnx(pruned_layers(layers, PRUNED_SHARE), name="digits_pruned10"), str(path))
    written.append(path)
    x0 = images[0].astype(np.float64)
    pair = output_difference_query((1, 64), (1, 10), np.clip(x0 - PAIR_EPS, 0, 1),
                                   np.clip(x0 + PAIR_EPS, 0, 1), delta=PAIR_DELTA)
    path = out / "digits_pair.vnnlib"
    path.write_text(write_query(pair, comment=(
        f"the digits net (f) and its copy with {PRUNED_SHARE:.0%} of the weights pruned (g) "
        f"on the L-inf ball of radius {PAIR_EPS} around image 0: can an output differ by "
        f"{PAIR_DELTA} or more? written by {pathlib.Path(__file__).name}")))
    written.append(path)
    return written


def main(argv=None) -> int:
    default_out = pathlib.Path(__file__).resolve().parent.parent / "verifier" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=default_out,
                        help="output folder (default: verifier/data)")
    parser.add_argument("--properties-only", action="store_true",
                        help="only (re)write the example properties of the shipped net")
    args = parser.parse_args(argv)
    if args.properties_only:
        for path in write_properties(args.out):
            print(f"wrote {path}")
        return 0

    import onnx

    np.random.seed(SEED)
    X_train, X_test, y_train, y_test = load_data()
    clf = train(X_train, y_train)
    layers = layers_of(clf)
    # Accuracies of the exported float32 weights (same as clf.score up to rounding).
    train_acc = float((numpy_logits(layers, X_train).argmax(1) == y_train).mean())
    test_acc = float((numpy_logits(layers, X_test).argmax(1) == y_test).mean())

    model = to_onnx(layers)
    images, labels = pick_images(layers, X_test, y_test)

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / ONNX_NAME
    npz_path = args.out / IMAGES_NAME
    onnx.save(model, str(onnx_path))
    np.savez_compressed(npz_path, images=images, labels=labels)

    ort_note = "onnxruntime not installed"
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        out = sess.run(["logits"], {"input": images})[0]
        ok = bool((out.argmax(1) == labels).all())
        diff = float(np.abs(out - numpy_logits(layers, images)).max())
        ort_note = f"onnxruntime: {'all' if ok else 'NOT all'} images correct, " \
                   f"max |ort - numpy| = {diff:.2e}"
    except ImportError:
        pass

    print(f"digits: {len(X_train)} train / {len(X_test)} test (stratified, random_state={SEED})")
    print(f"MLP 64-{HIDDEN[0]}-{HIDDEN[1]}-10 ReLU, adam, max_iter={MAX_ITER}, "
          f"n_iter={clf.n_iter_}")
    print(f"train accuracy: {train_acc:.4f}")
    print(f"test accuracy:  {test_acc:.4f}")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes)")
    print(f"wrote {npz_path} ({npz_path.stat().st_size} bytes): labels {labels.tolist()}")
    print(ort_note)
    for path in write_properties(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
