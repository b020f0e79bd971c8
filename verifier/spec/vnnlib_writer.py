"""VNN-LIB 1.0 writer: a :class:`Property` as text that parses back to an equal property."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from verifier.errors import SpecError
from verifier.spec.property import OutputPolytope, Property

__all__ = ["write_vnnlib"]


def _num(v: float) -> str:
    """``repr`` of a finite float (round-trips exactly); raises on NaN or inf."""
    v = float(v)
    if not math.isfinite(v):
        raise SpecError(f"cannot write the non-finite number {v!r} to VNN-LIB")
    return repr(v)


def _row_term(a: np.ndarray) -> str:
    """The term ``sum_j a_j Y_j`` over the nonzero coefficients (``0.0`` when there are none)."""
    terms = []
    for j in np.flatnonzero(a):
        c = float(a[j])
        terms.append(f"Y_{j}" if c == 1.0 else f"(* {_num(c)} Y_{j})")
    if not terms:
        return "0.0"
    if len(terms) == 1:
        return terms[0]
    return "(+ " + " ".join(terms) + ")"


def _box_atoms(lo: np.ndarray, hi: np.ndarray) -> Iterable[str]:
    """The atoms ``X_i >= lo_i`` and ``X_i <= hi_i`` of an input box."""
    for i in range(lo.size):
        yield f"(>= X_{i} {_num(lo[i])})"
        yield f"(<= X_{i} {_num(hi[i])})"


def _row_atoms(poly: OutputPolytope) -> Iterable[str]:
    """One atom ``a_k . Y <= b_k`` per row of an output polytope."""
    for a, b in zip(poly.A, poly.b):
        yield f"(<= {_row_term(a)} {_num(b)})"


def write_vnnlib(prop: Property) -> str:
    """VNN-LIB 1.0 text that parses back (with :func:`parse_vnnlib`) to an equal property.

    One case with one disjunct is written as plain top-level asserts; anything else as one
    ``(assert (or (and <box> <rows>) ...))`` with one ``and`` per (case, disjunct). Numbers are
    written with ``repr`` so they round-trip exactly. Cases without disjuncts (never unsafe)
    are left out.

    Args:
        prop: the property (boxes must be finite).

    Returns:
        the file's text.

    Raises:
        SpecError: a non-finite bound or coefficient.
    """
    lines = [f"; {prop.name}: {len(prop.cases)} case(s), written by verifier", ""]
    lines += [f"(declare-const X_{i} Real)" for i in range(prop.n_inputs)]
    lines.append("")
    lines += [f"(declare-const Y_{j} Real)" for j in range(prop.n_outputs)]
    lines.append("")
    pairs = [(case, poly) for case in prop.cases for poly in case.disjuncts]
    if len(pairs) == 1:
        case, poly = pairs[0]
        lines += [f"(assert {atom})" for atom in _box_atoms(case.lower, case.upper)]
        lines += [f"(assert {atom})" for atom in _row_atoms(poly)]
    elif not pairs:
        lines.append("(assert false)")
    else:
        lines.append("(assert (or")
        for case, poly in pairs:
            atoms = list(_box_atoms(case.lower, case.upper)) + list(_row_atoms(poly))
            lines.append("    (and " + " ".join(atoms) + ")")
        lines.append("))")
    return "\n".join(lines) + "\n"
