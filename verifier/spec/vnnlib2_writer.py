"""VNN-LIB 2.0 writer, and VNN-LIB 1.0 properties as 2.0 queries.

:func:`write_query` writes a :class:`Query` as text that the reference parser reads back
to the same rows (numbers in shortest round-trip positional notation: the 2.0 grammar
has no exponents). Rows shared by every disjunct become top-level asserts, the rest one
``(assert (or (and ...) ...))``. :func:`query_from_property` reads a 1.0-shaped
:class:`Property` (``X_i``, ``Y_j`` over one network) as a query over one network, so any
1.0 instance can be written as 2.0.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from verifier.errors import SpecError
from verifier.spec.property import Property
from verifier.spec.query import (INPUT, OUTPUT, REAL, Conjunction, NetworkDecl, Query,
                                 VariableDecl)

__all__ = ["write_query", "query_from_property", "number"]


def number(value: float) -> str:
    """A finite float in the 2.0 grammar's form (``-?digits(.digits)?``), exactly."""
    value = float(value)
    if not math.isfinite(value):
        raise SpecError(f"cannot write the non-finite number {value!r} to VNN-LIB")
    return np.format_float_positional(value, unique=True, trim="0")


def _shape(shape) -> str:
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def _declaration(var: VariableDecl) -> str:
    keyword = {"input": "declare-input", "hidden": "declare-hidden",
               "output": "declare-output"}[var.kind]
    text = f"    ({keyword} {var.name} {var.element_type} {_shape(var.shape)}"
    if var.onnx_name is not None:
        escaped = var.onnx_name.replace("\\", "\\\\").replace('"', '\\"')
        text += f' "{escaped}"'
    return text + ")"


def _labels(query: Query) -> list[str]:
    """``X[0,2]`` for every variable-vector entry."""
    return [var.label(i) for var in query.variables for i in range(var.offset,
                                                                    var.offset + var.size)]


def _atom(cols, vals, rhs: float, strict: bool, labels: list[str]) -> str:
    if len(cols) == 1 and vals[0] == -1.0:      # a lower bound, written as one
        return f"({'>' if strict else '>='} {labels[cols[0]]} {number(-rhs)})"
    terms = [labels[c] if v == 1.0 else f"(* {number(v)} {labels[c]})"
             for c, v in zip(cols, vals)]
    lhs = terms[0] if len(terms) == 1 else "(+ " + " ".join(terms) + ")"
    return f"({'<' if strict else '<='} {lhs} {number(rhs)})"


def _row_keys(d: Conjunction) -> list[tuple]:
    A = d.A.tocsr()
    A.sort_indices()
    return [(tuple(A.indices[A.indptr[r]:A.indptr[r + 1]]),
             tuple(A.data[A.indptr[r]:A.indptr[r + 1]]), float(d.b[r]), bool(d.strict[r]))
            for r in range(A.shape[0])]


def write_query(query: Query, comment: str | None = None) -> str:
    """VNN-LIB 2.0 text of the query (see the module docstring).

    Raises:
        SpecError: a non-finite number.
    """
    labels = _labels(query)
    lines = [f"(vnnlib-version <{query.version}>)"]
    if comment:
        lines += [f"; {line}" for line in comment.splitlines()]
    for net in query.networks:
        lines.append(f"(declare-network {net.name}")
        if net.equal_to:
            lines.append(f"    (equal-to {net.equal_to})")
        if net.isomorphic_to:
            lines.append(f"    (isomorphic-to {net.isomorphic_to})")
        lines += [_declaration(v) for v in net.variables]
        lines.append(")")
    disjuncts = [_row_keys(d) for d in query.disjuncts]
    if not disjuncts:
        first = query.variables[0]
        atom = labels[first.offset]
        lines.append(f"(assert (and (<= {atom} 0.0) (>= {atom} 1.0)))   ; false")
        return "\n".join(lines) + "\n"
    common = set(disjuncts[0]).intersection(*map(set, disjuncts[1:]))
    written = [key for key in disjuncts[0] if key in common]
    lines += [f"(assert {_atom(*key, labels)})" for key in written]
    rest = [[key for key in keys if key not in common] for keys in disjuncts]
    if any(rest):
        if not all(rest):   # a disjunct with no own rows makes the disjunction true
            return "\n".join(lines) + "\n"
        lines.append("(assert (or")
        for keys in rest:
            lines.append("    (and " + " ".join(_atom(*key, labels) for key in keys) + ")")
        lines.append("))")
    elif not written:
        raise SpecError("the query has no atom to write (every assignment satisfies it)")
    return "\n".join(lines) + "\n"


def query_from_property(prop: Property, input_shape: tuple[int, ...],
                        output_shape: tuple[int, ...], network: str = "net",
                        element_type: str = REAL, input_name: str = "X",
                        output_name: str = "Y") -> Query:
    """A 1.0-shaped property over one network as a query.

    Args:
        prop: the property (``n_inputs``/``n_outputs`` must match the shapes).
        input_shape / output_shape: the declared shapes (the ONNX model's, batch 1).
        network, element_type, input_name, output_name: declaration names.
    """
    n_in, n_out = int(np.prod(input_shape)), int(np.prod(output_shape))
    if (n_in, n_out) != (prop.n_inputs, prop.n_outputs):
        raise SpecError(f"property {prop.name!r} has {prop.n_inputs} inputs and "
                        f"{prop.n_outputs} outputs, the shapes {list(input_shape)} and "
                        f"{list(output_shape)} hold {n_in} and {n_out}")
    x = VariableDecl(input_name, INPUT, element_type, tuple(input_shape), network, offset=0)
    y = VariableDecl(output_name, OUTPUT, element_type, tuple(output_shape), network,
                     offset=n_in)
    eye = sp.identity(n_in, format="csr")
    box_A = sp.vstack([-eye, eye], format="csr")
    box_A = sp.hstack([box_A, sp.csr_matrix((2 * n_in, n_out))], format="csr")
    disjuncts = []
    for case in prop.cases:
        box_b = np.concatenate([-case.lower, case.upper])
        for poly in case.disjuncts:
            rows = sp.hstack([sp.csr_matrix((poly.A.shape[0], n_in)), sp.csr_matrix(poly.A)],
                             format="csr")
            strict = (np.zeros(poly.b.size, dtype=bool) if poly.strict is None
                      else poly.strict)
            A = sp.vstack([box_A, rows], format="csr")
            A.eliminate_zeros()
            disjuncts.append(Conjunction(A, np.concatenate([box_b, poly.b]),
                                         np.concatenate([np.zeros(2 * n_in, dtype=bool),
                                                         strict])))
    return Query((NetworkDecl(network, (x,), (), (y,)),), tuple(disjuncts), "2.0",
                 prop.meta.get("path") if isinstance(prop.meta, dict) else None)
