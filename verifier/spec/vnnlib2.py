"""VNN-LIB 2.0 reader: the reference parser (PyPI ``vnnlib``) to a :class:`Query`.

The text is parsed and type-checked by the ``vnnlib`` package, the parser VNN-COMP scores
with; its typed AST gives each assertion's DNF (``to_dnf``) and each side of a comparison
as a linear form (``to_linear_expr``). This module maps those to rows over the query's
variable vector (:mod:`verifier.spec.query`) and multiplies the assertions' DNFs out.

When the reference parser refuses a file, a compatible spelling is tried once
(:mod:`verifier.spec.vnnlib2_compat`: the element type ``Real`` as written in the
standard's own examples, integer constants in real-valued expressions, exponents,
``initialized`` inputs); if that parses, the query is read from it and ``Query.notes``
says what was accepted. Otherwise the reference parser's first error is reported on one
line: file, line, what is wrong.

Checks beyond the reference parser: network names are unique, a network has at most one
``equal-to``/``isomorphic-to``, indices are inside the shape, atoms are linear (the
standard's LIN; polynomial atoms are refused), a comparison of constants is refused (the
standard calls it untypable), and the DNF has at most ``MAX_DISJUNCTS`` disjuncts
(refused while multiplying out, before the product is built).
"""

from __future__ import annotations

import json
import re

import numpy as np
import scipy.sparse as sp

from verifier.errors import SpecError, shorten
from verifier.spec.query import (HIDDEN, INPUT, OUTPUT, Conjunction, NetworkDecl, Query,
                                 VariableDecl)
from verifier.spec.vnnlib2_compat import compatible_text
from verifier.spec.vnnlib_parser import MAX_DISJUNCTS

__all__ = ["parse_query", "is_vnnlib2", "ELEMENT_TYPES"]

_VERSION_RE = re.compile(r"\(\s*vnnlib-version\s*<\s*(\d+)\s*\.\s*(\d+)\s*>\s*\)")
_FIRST_FORM_RE = re.compile(r"(?:\s|;[^\n]*\n?)*\(\s*vnnlib-version\b")
_LINE_RE = re.compile(r"line (\d+)")

#: the reference parser's element types -> ONNX names (Set 1) and ``real``
ELEMENT_TYPES = {
    "F16": "float16", "F32": "float32", "F64": "float64", "BF16": "bfloat16",
    "F8E4M3FN": "float8e4m3fn", "F8E5M2": "float8e5m2", "F8E4M3FNUZ": "float8e4m3fnuz",
    "F8E5M2FNUZ": "float8e5m2fnuz", "F4E2M1": "float4e2m1", "I8": "int8", "I16": "int16",
    "I32": "int32", "I64": "int64", "U8": "uint8", "U16": "uint16", "U32": "uint32",
    "U64": "uint64", "C64": "complex64", "C128": "complex128", "Bool": "bool",
    "String": "string", "Real": "real",
}


def is_vnnlib2(text: str) -> bool:
    """Whether the text's first form is ``(vnnlib-version ...)`` (VNN-LIB 2.x)."""
    return _FIRST_FORM_RE.match(text) is not None


def parse_query(text: str, path: str | None = None) -> Query:
    """Parse VNN-LIB 2.0 text into a :class:`Query`.

    Args:
        text: the file's content.
        path: for error messages and ``Query.path``.

    Raises:
        SpecError: malformed or ill-typed text, a non-linear atom, too many disjuncts;
            the message names the file and line.
    """
    import vnnlib  # the reference parser (a C++ extension): loaded only for 2.0 files

    notes: tuple[str, ...] = ()
    initialized: frozenset[str] = frozenset()
    try:
        ast = vnnlib.parse_query_string(text)
    except vnnlib.VNNLibException as first:
        fixed = compatible_text(text)
        try:
            if fixed is None:
                raise first
            ast = vnnlib.parse_query_string(fixed.text)
        except vnnlib.VNNLibException:
            raise _spec_error(first, path) from None
        notes, initialized = fixed.notes, fixed.initialized
    match = _VERSION_RE.search(text)
    version = f"{match.group(1)}.{match.group(2)}" if match else "2.0"
    networks = _networks(ast, path, initialized)
    variables = {v.name: v for net in networks for v in net.variables}
    disjuncts = _RowBuilder(variables, path).assertion_dnf(ast.assertions)
    return Query(networks, disjuncts, version, path, notes)


# ====================================================================== errors
def _spec_error(exc: Exception, path: str | None) -> SpecError:
    """The reference parser's first error as one :class:`SpecError` line."""
    text = str(exc).strip()
    try:
        report = json.loads(text)
    except ValueError:
        match = _LINE_RE.search(text)
        message = "VNN-LIB 2.0: " + " ".join(text.split())
        return SpecError(shorten(message, 200), path, int(match.group(1)) if match else None)
    errors = report.get("errors") or [{}]
    first = errors[0]
    message = "VNN-LIB 2.0: " + first.get("message", "invalid query")
    hint = first.get("hint")
    if hint:
        message += f": {hint}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error(s))"
    return SpecError(shorten(message, 300), path, first.get("line"),
                     first.get("offendingSymbol"))


# ====================================================================== declarations
def _unquote(onnx_name: str | None) -> str | None:
    """The ONNX node name of a hidden declaration without its quotes and escapes."""
    if onnx_name is None:
        return None
    name = onnx_name[1:-1] if onnx_name[:1] == '"' and onnx_name[-1:] == '"' else onnx_name
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), name)


def _element_type(dtype) -> str:
    return ELEMENT_TYPES.get(str(dtype).rsplit(".", 1)[-1], "real")


def _networks(ast, path: str | None, initialized: frozenset[str]) -> tuple[NetworkDecl, ...]:
    """The network declarations with every variable's offset in the variable vector."""
    networks, seen, offset = [], set(), 0
    for net in ast.networks:
        if net.name in seen:
            raise SpecError(f"network {net.name!r} is declared twice", path)
        seen.add(net.name)
        if net.equal_to and net.isometric_to:
            raise SpecError(f"network {net.name!r} has both equal-to and isomorphic-to; "
                            "at most one equivalence statement is allowed", path)
        groups = []
        for kind, decls in ((INPUT, net.inputs), (HIDDEN, net.hidden), (OUTPUT, net.outputs)):
            group = []
            for d in decls:
                var = VariableDecl(d.name, kind, _element_type(d.dtype),
                                   tuple(int(s) for s in d.shape), net.name,
                                   _unquote(d.onnx_name) if kind == HIDDEN else None,
                                   kind == INPUT and d.name in initialized, offset)
                offset += var.size
                group.append(var)
            groups.append(tuple(group))
        networks.append(NetworkDecl(net.name, *groups, equal_to=net.equal_to or None,
                                    isomorphic_to=net.isometric_to or None))
    return tuple(networks)


# ====================================================================== assertions
class _RowBuilder:
    """The global table of rows and the DNF product of the assertions."""

    def __init__(self, variables: dict[str, VariableDecl], path: str | None):
        self.variables = variables
        self.n = sum(v.size for v in variables.values())
        self.path = path
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.rhs: list[float] = []
        self.strict: list[bool] = []

    def assertion_dnf(self, assertions) -> tuple[Conjunction, ...]:
        """The conjunction of all assertions in DNF, as :class:`Conjunction` s.

        Assertions with one disjunct add their rows to every disjunct; the others are
        multiplied out, refused once the product would pass ``MAX_DISJUNCTS``.
        """
        common: list[int] = []
        product: list[list[int]] = [[]]
        for assertion in assertions:
            alternatives = self._alternatives(assertion.expr)
            if len(alternatives) == 1:
                common.extend(alternatives[0])
                continue
            if len(product) * len(alternatives) > MAX_DISJUNCTS:
                raise SpecError(f"the assertion has more than {MAX_DISJUNCTS} disjuncts in "
                                "disjunctive normal form", self.path, _line_of(assertion.expr))
            product = [p + a for p in product for a in alternatives]
        return tuple(self._conjunction(common + rows) for rows in product)

    def _alternatives(self, expr) -> list[list[int]]:
        """One boolean expression's DNF as lists of row ids; ``!=`` splits a disjunct in
        two, a false constant comparison drops it."""
        out: list[list[int]] = []
        for conj in expr.to_dnf():
            partial: list[list[int]] = [[]]
            for comparison in conj:
                options = self._comparison(comparison)
                partial = [p + o for p in partial for o in options]
                if len(partial) > MAX_DISJUNCTS:
                    raise SpecError(f"an assertion has more than {MAX_DISJUNCTS} disjuncts",
                                    self.path, _line_of(comparison))
            out.extend(partial)
        return out

    def _comparison(self, comparison) -> list[list[int]]:
        """Rows of one atom: ``[[r]]`` for ``<=``/``<``/``>=``/``>``, ``[[r1, r2]]`` for
        ``==``, ``[[r1], [r2]]`` (two alternatives) for ``!=``."""
        kind = type(comparison).__name__
        cols, vals, constant = self._difference(comparison)   # lhs - rhs = form + constant
        if kind in ("LessEqual", "LessThan"):
            rows = [[self._row(cols, vals, -constant, kind == "LessThan")]]
        elif kind in ("GreaterEqual", "GreaterThan"):
            rows = [[self._row(cols, -vals, constant, kind == "GreaterThan")]]
        elif kind == "Equal":
            rows = [[self._row(cols, vals, -constant, False),
                     self._row(cols, -vals, constant, False)]]
        elif kind == "NotEqual":
            rows = [[self._row(cols, vals, -constant, True)],
                    [self._row(cols, -vals, constant, True)]]
        else:  # pragma: no cover - the reference parser has no other comparison
            raise SpecError(f"unknown comparison {kind}", self.path, _line_of(comparison))
        # a constant row is decided already: None (true) is left out, _FALSE drops the option
        return [[r for r in option if r is not None] for option in rows if _FALSE not in option]

    def _difference(self, comparison) -> tuple[np.ndarray, np.ndarray, float]:
        """``lhs - rhs`` as (variable-vector columns, coefficients, constant)."""
        import vnnlib
        try:
            lhs, rhs = comparison.lhs.to_linear_expr(), comparison.rhs.to_linear_expr()
        except vnnlib.VNNLibException as exc:
            raise SpecError(f"not a linear atom ({' '.join(str(exc).split())}); this tool "
                            "decides the linear fragment (LIN) only", self.path,
                            _line_of(comparison), str(comparison).strip()) from None
        coefficients: dict[int, float] = {}
        for sign, form in ((1.0, lhs), (-1.0, rhs)):
            for term in form.terms:
                index = self._element(term.var, comparison)
                coefficients[index] = coefficients.get(index, 0.0) + sign * float(term.coeff)
        cols = np.fromiter(coefficients.keys(), dtype=np.int64, count=len(coefficients))
        vals = np.fromiter(coefficients.values(), dtype=np.float64, count=len(coefficients))
        keep = vals != 0.0
        return cols[keep], vals[keep], float(lhs.constant) - float(rhs.constant)

    def _element(self, var, comparison) -> int:
        decl = self.variables.get(var.name)
        if decl is None:
            raise SpecError(f"undeclared variable {var.name!r}", self.path,
                            _line_of(comparison))
        indices = tuple(int(i) for i in var.indices)
        if len(indices) != len(decl.shape) or any(
                not 0 <= i < s for i, s in zip(indices, decl.shape)):
            raise SpecError(f"index {list(indices)} is outside the shape {list(decl.shape)} "
                            f"of {decl.name}", self.path, _line_of(comparison),
                            f"{var.name}{list(indices)}")
        return decl.element(indices)

    def _row(self, cols: np.ndarray, vals: np.ndarray, rhs: float, strict: bool):
        """Append the row ``vals @ v[cols] (<|<=) rhs``; a row without variables is
        decided here: ``None`` when true, :data:`_FALSE` when false."""
        if cols.size == 0:
            holds = 0.0 < rhs if strict else 0.0 <= rhs
            return None if holds else _FALSE
        self.cols.append(cols)
        self.vals.append(vals)
        self.rhs.append(rhs)
        self.strict.append(strict)
        return len(self.rhs) - 1

    def _conjunction(self, rows: list[int]) -> Conjunction:
        """The CSR rows ``rows`` of the table as one :class:`Conjunction`."""
        lengths = [self.cols[r].size for r in rows]
        indptr = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        indices = (np.concatenate([self.cols[r] for r in rows]) if rows
                   else np.zeros(0, dtype=np.int64))
        data = (np.concatenate([self.vals[r] for r in rows]) if rows
                else np.zeros(0, dtype=np.float64))
        A = sp.csr_matrix((data, indices, indptr), shape=(len(rows), self.n))
        A.sum_duplicates()
        return Conjunction(A, np.array([self.rhs[r] for r in rows], dtype=np.float64),
                           np.array([self.strict[r] for r in rows], dtype=bool))


#: marker of a constant row that is false (its disjunct is dropped)
_FALSE = -1


def _line_of(node) -> int | None:
    """The line of the first variable or literal below ``node`` (the AST has no other
    positions)."""
    stack = [node]
    while stack:
        item = stack.pop()
        line = getattr(item, "line", None)
        if isinstance(line, int) and line > 0:
            return line
        try:
            stack.extend(reversed(item.children()))
        except (AttributeError, TypeError):
            continue
    return None
