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


def random_dag_network(rng: np.random.Generator, n_in: int, width: int, blocks: int,
                       n_out: int, scale: float = 1.0) -> Network:
    """A random ReLU net that is not a chain: a first layer, then ``blocks`` blocks that
    are either residual (``relu(W2 relu(W1 h) + h)``) or two branches from one node
    summed (``relu(W1 h) + relu(W2 h)``), then an affine output layer."""
    from verifier.network import GraphBuilder

    def layer(rows, cols):
        return (rng.normal(size=(rows, cols)) * scale / np.sqrt(cols),
                rng.normal(size=rows) * 0.3)

    g = GraphBuilder(n_in)
    h = g.relu(g.affine(*layer(width, n_in)))
    for k in range(blocks):
        if k % 2 == 0:
            inner = g.relu(g.affine(*layer(width, width), source=h))
            h = g.relu(g.add(g.affine(*layer(width, width), source=inner), h))
        else:
            left = g.relu(g.affine(*layer(width, width), source=h))
            right = g.relu(g.affine(*layer(width, width), source=h))
            h = g.add(left, right)
    g.affine(*layer(n_out, width), source=h)
    return g.build()
