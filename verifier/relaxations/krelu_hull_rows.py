"""Row form ``(H, h)`` of the k-ReLU hulls: normalisation, containment, and the triangle.

A relaxation of ``y = relu(x)``, ``x, y in R^k``, is a pair ``(H, h)``: ``H`` of shape
``(m, 2k)`` with rows ``[a | b]`` (``a`` acting on ``x``, ``b`` on ``y``) and ``h`` of shape
``(m,)``, meaning ``H @ [x; y] <= h``. This module holds the operations on that form shared by
:mod:`verifier.relaxations.krelu_hull` (the hulls) and its users: scaling rows, raising
right-hand sides until given points satisfy them (the soundness step), checking that points
satisfy the rows, and the single-neuron triangle as rows.

Pure numpy; no LP solver is imported.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SOUNDNESS_MARGIN",
    "check_sound",
    "normalise_rows",
    "relax_to_contain",
    "triangle_rows",
]

# Outward margin added to every right-hand side after the vertex check (relative).
SOUNDNESS_MARGIN = 1e-9


def normalise_rows(H: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each row ``[a | b], c`` so that ``max |[a | b]| = 1``; zero rows are kept."""
    H = np.asarray(H, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    norm = np.max(np.abs(H), axis=1) if H.size else np.zeros(len(h))
    norm = np.where(norm > 0, norm, 1.0)
    return H / norm[:, None], h / norm


def relax_to_contain(H: np.ndarray, h: np.ndarray, V: np.ndarray,
                     margin: float = SOUNDNESS_MARGIN) -> np.ndarray:
    """Right-hand sides raised so that every row holds at every point of ``V``.

    Returns ``h' = max(h, max_v H v) + margin * (1 + |.|)`` row-wise; ``V`` is ``(n, 2k)``.
    With empty ``V`` the rows are returned unchanged (plus margin). Sound by construction:
    ``H v <= h'`` for every ``v`` in ``V``, hence on ``conv(V)``.
    """
    h = np.asarray(h, dtype=np.float64)
    if len(V):
        h = np.maximum(h, np.max(H @ V.T, axis=1))
    return h + margin * (1.0 + np.abs(h))


def check_sound(H: np.ndarray, h: np.ndarray, V: np.ndarray, tol: float = 0.0) -> bool:
    """True iff every point ``v`` of ``V`` satisfies ``H v <= h + tol * (1 + |h|)``."""
    V = np.asarray(V, dtype=np.float64)
    if len(V) == 0:
        return True
    viol = H @ V.T - (h + tol * (1.0 + np.abs(h)))[:, None]
    return bool(np.all(viol <= 0.0))


def triangle_rows(l: float, u: float) -> tuple[np.ndarray, np.ndarray]:
    """The single-neuron relaxation as rows ``[a | b] . [x; y] <= c``, shapes (m, 2), (m,).

    For ``l < 0 < u`` (unstable): the triangle ``y >= 0``, ``y >= x``,
    ``y <= u (x - l) / (u - l)``, i.e. rows ``-y <= 0``, ``x - y <= 0``,
    ``-u x + (u - l) y <= -u l`` (normalised to max-abs 1). It is the exact hull of
    ``{(x, relu(x)) : l <= x <= u}`` and implies ``l <= x <= u``.
    For ``l >= 0`` (active): ``y = x`` plus ``l <= x <= u``. For ``u <= 0`` (inactive):
    ``y = 0`` plus ``l <= x <= u``. ``l > u`` raises ValueError.
    """
    l, u = float(l), float(u)
    if not l <= u:
        raise ValueError(f"empty interval [{l}, {u}]")
    if l < 0 < u:
        H = np.array([[0.0, -1.0], [1.0, -1.0], [-u, u - l]])
        h = np.array([0.0, 0.0, -u * l])
    elif l >= 0:
        H = np.array([[1.0, -1.0], [-1.0, 1.0], [-1.0, 0.0], [1.0, 0.0]])
        h = np.array([0.0, 0.0, -l, u])
    else:
        H = np.array([[0.0, 1.0], [0.0, -1.0], [-1.0, 0.0], [1.0, 0.0]])
        h = np.array([0.0, 0.0, -l, u])
    return normalise_rows(H, h)
