"""Small shared builders for tests (random networks and boxes)."""

from __future__ import annotations

import numpy as np

from verifier.network import Network


def random_network(rng: np.random.Generator, n_in: int, widths: list[int], n_out: int,
                   scale: float = 1.0) -> Network:
    """A random fully connected ReLU net ``n_in -> widths... -> n_out``."""
    layers = []
    prev = n_in
    for w in widths:
        layers += [(rng.normal(size=(w, prev)) * scale / np.sqrt(prev),
                    rng.normal(size=w) * 0.3), "relu"]
        prev = w
    layers.append((rng.normal(size=(n_out, prev)) / np.sqrt(prev), rng.normal(size=n_out) * 0.3))
    return Network.from_layers(layers)


def random_box(rng: np.random.Generator, n: int, radius: float = 0.5):
    centre = rng.uniform(-1, 1, n)
    r = rng.uniform(0.05, radius, n)
    return centre - r, centre + r


def sample_box(rng: np.random.Generator, lower, upper, count: int) -> np.ndarray:
    """Uniform samples plus all box corners when there are few inputs."""
    X = rng.uniform(lower, upper, size=(count, lower.size))
    if lower.size <= 8:
        corners = np.array(np.meshgrid(*[[lo, hi] for lo, hi in zip(lower, upper)]))
        X = np.vstack([X, corners.reshape(lower.size, -1).T])
    return X
