"""Bundled demo data: a small digits classifier and ten test images.

See ``verifier/data/README.md``; regenerate with ``python scripts/make_demo_network.py``.
"""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["DATA_DIR", "DEMO_NETWORK", "DEMO_IMAGES", "demo_network_path", "demo_images"]

DATA_DIR = pathlib.Path(__file__).resolve().parent
DEMO_NETWORK = "digits_64_32_32_10.onnx"
DEMO_IMAGES = "digits_test_images.npz"


def demo_network_path() -> pathlib.Path:
    """Path of the bundled 64-32-32-10 ReLU digits classifier (ONNX, input "input" [N, 64]
    with pixels in [0, 1], output "logits" [N, 10])."""
    return DATA_DIR / DEMO_NETWORK


def demo_images() -> tuple[np.ndarray, np.ndarray]:
    """The ten bundled held-out test images, one per digit, all correctly classified.

    Returns:
        (images, labels): images float64 of shape (10, 64) in [0, 1] (C-order flattened
        8x8), labels int64 of shape (10,).
    """
    with np.load(DATA_DIR / DEMO_IMAGES) as data:
        images = np.asarray(data["images"], dtype=np.float64)
        labels = np.asarray(data["labels"], dtype=np.int64)
    return images, labels
