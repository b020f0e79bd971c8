"""The VNN-LIB 2.0 query model: declared networks and variables, and the assertion in DNF.

A query declares networks, each with input, hidden and output tensors (hidden ones bound
to an ONNX node output by name), and asserts a boolean combination of linear atoms over
the tensors' elements. Every element of every declared tensor is one entry of the
query's *variable vector* ``v``, in declaration order (network by network; inputs, then
hidden nodes, then outputs; each tensor in row-major order): exactly the order of the
standard's assignment output. The assertion (the conjunction of every ``assert``) is kept
in disjunctive normal form; each disjunct is a :class:`Conjunction` of rows
``A v <= b`` (or ``< b`` where ``strict``), so an equality is two rows and ``!=`` two
disjuncts.

The query is *satisfiable* (answer ``sat``) when some assignment of the inputs makes one
disjunct true, the hidden and output variables being the networks' values there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np
import scipy.sparse as sp

__all__ = ["VariableDecl", "NetworkDecl", "Conjunction", "Query", "INPUT", "HIDDEN", "OUTPUT",
           "REAL"]

INPUT, HIDDEN, OUTPUT = "input", "hidden", "output"
#: the element type of real-valued queries (the standard's ``real``)
REAL = "real"


@dataclass(frozen=True)
class VariableDecl:
    """One declared tensor.

    Attributes:
        name: the query's name for it (``X``).
        kind: ``"input"``, ``"hidden"`` or ``"output"``.
        element_type: ONNX element type name as written (``float32``) or ``"real"``.
        shape: declared shape (``()`` for a scalar).
        network: the declaring network's name.
        onnx_name: the ONNX node output a hidden variable is bound to (else None).
        initialized: an input declared ``initialized`` (VNN-LIB 2.1): it takes the ONNX
            initializer's value.
        offset: index of the tensor's first element in the variable vector.
    """

    name: str
    kind: str
    element_type: str
    shape: tuple[int, ...]
    network: str
    onnx_name: str | None = None
    initialized: bool = False
    offset: int = 0

    @property
    def size(self) -> int:
        """Number of elements (1 for a scalar)."""
        return int(prod(self.shape)) if self.shape else 1

    @property
    def slice(self) -> slice:
        """The tensor's entries in the variable vector."""
        return slice(self.offset, self.offset + self.size)

    def element(self, indices: tuple[int, ...]) -> int:
        """The variable-vector index of the element at ``indices`` (row-major)."""
        flat = int(np.ravel_multi_index(tuple(indices), self.shape)) if self.shape else 0
        return self.offset + flat

    def label(self, index: int) -> str:
        """``X[0,2]`` for the variable-vector entry ``index`` of this tensor."""
        if not self.shape:
            return self.name
        where = np.unravel_index(index - self.offset, self.shape)
        return f"{self.name}[{','.join(str(int(i)) for i in where)}]"


@dataclass(frozen=True)
class NetworkDecl:
    """One ``declare-network``: its name, equivalence statement and variables."""

    name: str
    inputs: tuple[VariableDecl, ...]
    hidden: tuple[VariableDecl, ...]
    outputs: tuple[VariableDecl, ...]
    equal_to: str | None = None
    isomorphic_to: str | None = None

    @property
    def variables(self) -> tuple[VariableDecl, ...]:
        """Inputs, hidden nodes and outputs in declaration order."""
        return self.inputs + self.hidden + self.outputs


@dataclass(frozen=True, eq=False)
class Conjunction:
    """One disjunct: rows ``A v <= b`` (``A v < b`` where ``strict``) over the variable vector.

    Attributes:
        A: (m, n_variables) CSR matrix.
        b: (m,) right-hand sides.
        strict: (m,) bool, True for strict rows.
    """

    A: sp.csr_matrix
    b: np.ndarray
    strict: np.ndarray

    def holds(self, v: np.ndarray) -> bool:
        """Whether the assignment ``v`` (n_variables,) satisfies every row exactly."""
        slack = np.asarray(self.A @ v).reshape(-1) - self.b
        return bool(np.all(np.where(self.strict, slack < 0, slack <= 0)))

    def columns(self) -> np.ndarray:
        """The variable-vector entries this disjunct mentions (sorted)."""
        return np.unique(self.A.indices)


@dataclass(frozen=True, eq=False)
class Query:
    """A parsed VNN-LIB 2.0 query.

    Attributes:
        networks: the network declarations, in order.
        disjuncts: the assertion in DNF (an empty tuple: the assertion is false).
        version: the ``vnnlib-version`` (``"2.0"``).
        path: the file it came from, if any.
        notes: what the reader had to accept beyond the reference parser (for stderr).
    """

    networks: tuple[NetworkDecl, ...]
    disjuncts: tuple[Conjunction, ...]
    version: str = "2.0"
    path: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def variables(self) -> tuple[VariableDecl, ...]:
        """Every declared tensor in declaration order."""
        return tuple(v for net in self.networks for v in net.variables)

    @property
    def n_variables(self) -> int:
        """Length of the variable vector."""
        return sum(v.size for v in self.variables)

    @property
    def name(self) -> str:
        """The file name without ``.vnnlib``/``.gz``, or ``"query"``."""
        if self.path is None:
            return "query"
        name = str(self.path).replace("\\", "/").rsplit("/", 1)[-1]
        for suffix in (".gz", ".vnnlib"):
            name = name[: -len(suffix)] if name.endswith(suffix) else name
        return name

    def network(self, name: str) -> NetworkDecl:
        """The declaration of network ``name``."""
        for net in self.networks:
            if net.name == name:
                return net
        raise KeyError(name)

    def variable_of(self, index: int) -> VariableDecl:
        """The tensor holding variable-vector entry ``index``."""
        for var in self.variables:
            if var.offset <= index < var.offset + var.size:
                return var
        raise IndexError(index)

    def kinds(self) -> np.ndarray:
        """(n_variables,) array of ``"input"``/``"hidden"``/``"output"`` per entry."""
        return np.concatenate([np.full(v.size, v.kind, dtype=object) for v in self.variables])

    def holds(self, v: np.ndarray) -> bool:
        """Whether the full assignment ``v`` satisfies the assertion (some disjunct)."""
        return any(d.holds(v) for d in self.disjuncts)
