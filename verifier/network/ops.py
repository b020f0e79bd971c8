"""Frozen op records: the nodes of the constraint graph.

Every tensor is handled flattened in C order; ``shape`` keeps the logical (ONNX) shape
without the batch dimension, for reporting and for importers. An op holds data only;
the semantics live in :mod:`verifier.network.forward` and in the bound/relaxation modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Union

import numpy as np
import scipy.sparse as sp

Matrix = Union[np.ndarray, sp.csr_matrix]


@dataclass(frozen=True, eq=False)
class Input:
    """The network input, a flat vector of ``prod(shape)`` reals."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(prod(self.shape)) if self.shape else 1


@dataclass(frozen=True, eq=False)
class Affine:
    """``z = W x + b`` on flat vectors.

    Attributes:
        W: (out, in) matrix, dense float64 ndarray or scipy.sparse CSR.
        b: (out,) float64 vector.
        shape: logical output shape (without batch).
    """

    name: str
    W: Matrix
    b: np.ndarray
    shape: tuple[int, ...] = field(default=())

    @property
    def size(self) -> int:
        return int(self.W.shape[0])

    @property
    def in_size(self) -> int:
        return int(self.W.shape[1])

    def dense_W(self) -> np.ndarray:
        """The weight matrix as a dense float64 array."""
        return self.W.toarray() if sp.issparse(self.W) else self.W


@dataclass(frozen=True, eq=False)
class Relu:
    """``y = max(0, x)`` elementwise."""

    name: str
    size: int
    shape: tuple[int, ...] = field(default=())


@dataclass(frozen=True, eq=False)
class Add:
    """``y = x1 + x2`` elementwise (residual connections)."""

    name: str
    size: int
    shape: tuple[int, ...] = field(default=())


Op = Union[Input, Affine, Relu, Add]
