"""Queries built in code: two networks compared on the same inputs.

:func:`output_difference_query` asks how far two networks of one interface can be apart
on an input box: network ``g`` (``isomorphic-to f``, e.g. a pruned or quantised copy)
reads the same input as ``f`` (``U == X``), and one disjunct per output ``i`` and sign
``s`` says ``s (Y_i - V_i) <= -delta``. With ``delta = 0`` each disjunct's minimum margin is
``-max_x s (V_i - Y_i)``, so ``max_x |f(x) - g(x)|_inf`` is minus the smallest of them: the
gap table of this query (``verifier gap``) lists it exactly (MILP) next to what each
relaxation can bound.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from verifier.spec.query import INPUT, OUTPUT, REAL, Conjunction, NetworkDecl, Query, VariableDecl

__all__ = ["output_difference_query"]


def output_difference_query(input_shape: tuple[int, ...], output_shape: tuple[int, ...],
                            lower: np.ndarray, upper: np.ndarray, delta: float = 0.0,
                            isomorphic: bool = True, name: str | None = None) -> Query:
    """``exists x in [lower, upper]: |f(x)_i - g(x)_i| >= delta for some i`` (module docstring).

    Args:
        input_shape / output_shape: the networks' declared shapes (batch 1 included).
        lower / upper: the box of ``X`` (flat, C order).
        delta: the difference asked for (0: every disjunct holds somewhere; the gap table
            then gives the largest difference).
        isomorphic: declare ``g`` ``isomorphic-to f`` (else two unrelated networks).
        name: recorded as the query's path (for the table's title).
    """
    n, m = int(np.prod(input_shape)), int(np.prod(output_shape))
    lower = np.asarray(lower, dtype=np.float64).reshape(-1)
    upper = np.asarray(upper, dtype=np.float64).reshape(-1)
    X = VariableDecl("X", INPUT, REAL, tuple(input_shape), "f", offset=0)
    Y = VariableDecl("Y", OUTPUT, REAL, tuple(output_shape), "f", offset=n)
    U = VariableDecl("U", INPUT, REAL, tuple(input_shape), "g", offset=n + m)
    V = VariableDecl("V", OUTPUT, REAL, tuple(output_shape), "g", offset=2 * n + m)
    total = 2 * (n + m)
    eye_n = sp.identity(n, format="csr")
    zeros_nm = sp.csr_matrix((n, m))
    box = sp.hstack([sp.vstack([-eye_n, eye_n]), sp.csr_matrix((2 * n, m + n + m))])
    tie = sp.hstack([eye_n, zeros_nm, -eye_n, zeros_nm])
    common = sp.vstack([box, tie, -tie], format="csr")
    common_b = np.concatenate([-lower, upper, np.zeros(2 * n)])
    disjuncts = []
    for i in range(m):
        for sign in (1.0, -1.0):
            row = np.zeros(total)
            row[Y.offset + i], row[V.offset + i] = sign, -sign
            A = sp.vstack([common, sp.csr_matrix(row)], format="csr")
            b = np.concatenate([common_b, [-delta]])
            disjuncts.append(Conjunction(A, b, np.zeros(b.size, dtype=bool)))
    nets = (NetworkDecl("f", (X,), (), (Y,)),
            NetworkDecl("g", (U,), (), (V,), isomorphic_to="f" if isomorphic else None))
    return Query(nets, tuple(disjuncts), "2.0", name)
