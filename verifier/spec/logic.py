"""The VNN-LIB 2.0 theories (``logics.tex``): which ones a query belongs to, which ones
this verifier decides.

A logic picks one theory per theory set; :func:`query_logic` names the smallest theory of
each set that contains a query, e.g. ``H-MNET-MIO-MNC-LIN``. :data:`SUPPORTED_THEORIES`
is what the query model and the lowering accept (every theory of the linear fragment);
``verifier supports`` prints it.
"""

from __future__ import annotations

import numpy as np

from verifier.catalog import SUPPORTED_THEORIES
from verifier.spec.query import INPUT, Query

__all__ = ["SUPPORTED_THEORIES", "query_logic", "logic_name"]



def query_logic(query: Query) -> dict[str, str]:
    """The smallest theory of each set that holds the query."""
    nets = query.networks
    if len(nets) == 1:
        networks = "SNET"
    elif all(n.equal_to for n in nets[1:]) and not nets[0].equal_to:
        networks = "MENET"
    elif sum(not (n.equal_to or n.isomorphic_to) for n in nets) == 1:
        networks = "MINET"
    else:
        networks = "MNET"
    return {
        "hidden-node": "H" if any(n.hidden for n in nets) else "NH",
        "multiple-network": networks,
        "multiple-input-output": ("SIO" if all(len(n.inputs) == len(n.outputs) == 1
                                               for n in nets) else "MIO"),
        "multiple-node-comparison": _comparisons(query),
        "arithmetic-complexity": _arithmetic(query),
    }


def logic_name(query: Query) -> str:
    """``H-MNET-MIO-MNC-LIN``-style name of :func:`query_logic`."""
    return "-".join(query_logic(query).values())


def _tensor_index(query: Query) -> tuple[np.ndarray, np.ndarray]:
    """(tensor number, network number) of every variable-vector entry."""
    names = [n.name for n in query.networks]
    tensor = np.concatenate([np.full(v.size, k) for k, v in enumerate(query.variables)])
    network = np.concatenate([np.full(v.size, names.index(v.network))
                              for v in query.variables])
    return tensor, network


def _comparisons(query: Query) -> str:
    """MNC when some atom mentions two tensors (nodes) of one network."""
    tensor, network = _tensor_index(query)
    for d in query.disjuncts:
        A = d.A.tocsr()
        for r in range(A.shape[0]):
            cols = A.indices[A.indptr[r]:A.indptr[r + 1]]
            for net in np.unique(network[cols]):
                if np.unique(tensor[cols[network[cols] == net]]).size > 1:
                    return "MNC"
    return "SNC"


def _arithmetic(query: Query) -> str:
    """BND: every atom bounds one variable; COUT: atoms on inputs do, the others compare
    at most two variables with unit coefficients of opposite signs; else LIN."""
    kinds = query.kinds()
    level = "BND"
    for d in query.disjuncts:
        A = d.A.tocsr()
        for r in range(A.shape[0]):
            cols = A.indices[A.indptr[r]:A.indptr[r + 1]]
            vals = A.data[A.indptr[r]:A.indptr[r + 1]]
            if cols.size <= 1:
                continue
            comparison = (cols.size == 2 and sorted(vals) == [-1.0, 1.0]
                          and not np.any(kinds[cols] == INPUT))
            if not comparison:
                return "LIN"
            level = "COUT"
    return level
