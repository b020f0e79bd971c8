"""VNN-LIB 1.0 semantics: from the s-expression forest to a :class:`Property`.

The conjunction of all asserts is turned into disjunctive normal form over a table of atoms.
An atom is either a bound on one input (``X_i``) or a linear output row (``sum c_j Y_j <= b``).
Every disjunct's input bounds are intersected into a box; disjuncts with equal boxes become one
:class:`~verifier.spec.property.Case` whose disjunction holds their output polytopes.
"""

from __future__ import annotations

import math
import re

import numpy as np

from verifier.errors import EmptyInputBoxError, SpecError
from verifier.spec.property import Case, OutputPolytope, Property
from verifier.spec.vnnlib_dnf import too_many_disjuncts
from verifier.spec.vnnlib_reader import ParenList, Token, describe

__all__ = ["VnnlibParser", "MAX_DISJUNCTS"]

#: Largest number of DNF disjuncts (and of atom occurrences / 50) accepted; counted while the
#: file is read (:class:`~verifier.spec.vnnlib_dnf.DisjunctCounter`), checked again here.
MAX_DISJUNCTS = 100_000
_MAX_ATOM_REFS = 50 * MAX_DISJUNCTS

_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")
_VARIABLE_RE = re.compile(r"([XY])_(\d+)\Z")
_IGNORED_COMMANDS = frozenset({"set-logic", "set-info", "set-option", "check-sat",
                               "get-model", "exit"})
_COMPARISONS = frozenset({"<=", ">=", "<", ">", "="})
#: commands that only VNN-LIB 2.0 files have
VNNLIB2_COMMANDS = frozenset({"vnnlib-version", "declare-network", "declare-input",
                              "declare-output", "declare-hidden"})


class VnnlibParser:
    """State of one parse: declared variables, the atom table, the DNF builder.

    Args:
        path: the file, for error messages and ``Property.meta["path"]``.
        n_inputs / n_outputs: the network's sizes, if known (None: taken from the spec).
    """

    def __init__(self, path: str | None, n_inputs: int | None, n_outputs: int | None):
        self.path = path
        self.expected = {"X": n_inputs, "Y": n_outputs}
        self.declared: dict[str, tuple[str, int]] = {}
        self.declared_line: dict[str, int] = {}
        self.max_index = {"X": -1, "Y": -1}
        # Atom table.  kind 0: input bound (var, is_upper, value); kind 1: output row
        # (sparse dict over Y indices, rhs).
        self.atom_kind: list[int] = []
        self.atom_var: list[int] = []
        self.atom_upper: list[bool] = []
        self.atom_value: list[float] = []
        self.atom_row: list[dict[int, float] | None] = []
        self.atom_line: list[int] = []

    # ------------------------------------------------------------------ errors
    def error(self, message: str, node=None, cls=SpecError) -> SpecError:
        """An error of class ``cls`` naming the file and, if given, the node's line and text."""
        if node is None:
            return cls(message, path=self.path)
        return cls(message, path=self.path, line=node.line, token=describe(node))

    # ------------------------------------------------------------------ commands
    def run(self, forest: list) -> list[list[int]]:
        """Process the commands; return the DNF of the conjunction of all asserts."""
        assertions: list[list[list[int]]] = []
        for node in forest:
            if not isinstance(node, ParenList):
                raise self.error("expected a command in parentheses", node)
            if not node.items or not isinstance(node.items[0], Token):
                raise self.error("expected a command name after '('", node)
            head = node.items[0].text
            if head == "declare-const":
                self.declare(node)
            elif head == "assert":
                if len(node.items) != 2:
                    raise self.error(f"'assert' takes 1 argument, got {len(node.items) - 1}",
                                     node)
                try:
                    assertions.append(self.formula(node.items[1]))
                except RecursionError:
                    raise self.error("formula nested too deeply", node) from None
            elif head in _IGNORED_COMMANDS:
                continue
            elif head in VNNLIB2_COMMANDS:
                raise self.error(f"{head!r} is VNN-LIB 2.0; this tool reads VNN-LIB 1.0 (the "
                                 "format of VNN-COMP's benchmarks: declare-const X_i / Y_j "
                                 "and assert)", node.items[0])
            else:
                raise self.error(f"unknown command {head!r}", node.items[0])
        return self.conjoin(assertions, forest[0] if forest else None)

    def declare(self, node: ParenList) -> None:
        """Record ``(declare-const X_i Real)`` or ``(declare-const Y_j Real)``."""
        items = node.items
        if len(items) != 3 or not all(isinstance(t, Token) for t in items[1:]):
            raise self.error("expected (declare-const NAME Real)", node)
        name, sort = items[1], items[2]
        if sort.text != "Real":
            raise self.error(f"variable {name.text} has sort {sort.text!r}; only Real is "
                             "supported", sort)
        match = _VARIABLE_RE.match(name.text)
        if match is None:
            raise self.error(f"variable {name.text!r} is neither X_i (input) nor Y_j (output)",
                             name)
        if name.text in self.declared:
            raise self.error(f"variable {name.text} is declared twice", name)
        kind, index = match.group(1), int(match.group(2))
        limit = self.expected[kind]
        if limit is not None and index >= limit:
            what = "inputs" if kind == "X" else "outputs"
            raise self.error(f"unknown variable {name.text}: the network has {limit} {what} "
                             f"({kind}_0..{kind}_{limit - 1})", name)
        self.declared[name.text] = (kind, index)
        self.declared_line[name.text] = name.line
        self.max_index[kind] = max(self.max_index[kind], index)

    # ------------------------------------------------------------------ formulas
    def formula(self, node) -> list[list[int]]:
        """DNF of a formula: a list of disjuncts, each a list of atom ids."""
        if isinstance(node, Token):
            if node.text == "true":
                return [[]]
            if node.text == "false":
                return []
            raise self.error(f"expected a formula, got {node.text!r}", node)
        if not node.items or not isinstance(node.items[0], Token):
            raise self.error("expected a function name after '('", node)
        head = node.items[0].text
        args = node.items[1:]
        if head == "and":
            return self.conjoin([self.formula(a) for a in args], node)
        if head == "or":
            out: list[list[int]] = []
            for a in args:
                out.extend(self.formula(a))
                if len(out) > MAX_DISJUNCTS:
                    raise self.error(too_many_disjuncts(MAX_DISJUNCTS), node)
            return out
        if head in _COMPARISONS:
            return self.comparison(head, args, node)
        raise self.error(f"unknown function {head!r} in a formula (expected and, or, <=, >=, "
                         "<, >, =)", node.items[0])

    def conjoin(self, dnfs: list[list[list[int]]], node) -> list[list[int]]:
        """DNF of the conjunction of DNFs (product), single-disjunct factors merged first."""
        common: list[int] = []
        multi: list[list[list[int]]] = []
        for dnf in dnfs:
            if not dnf:
                return []           # a false conjunct makes the whole conjunction false
            if len(dnf) == 1:
                common.extend(dnf[0])
            else:
                multi.append(dnf)
        result = [common]
        for dnf in multi:
            if len(result) * len(dnf) > MAX_DISJUNCTS:
                raise self.error(too_many_disjuncts(MAX_DISJUNCTS), node)
            result = [r + d for r in result for d in dnf]
            if sum(len(r) for r in result) > _MAX_ATOM_REFS:
                raise self.error("the DNF is too large (too many nested or-clauses)", node)
        return result

    def comparison(self, op: str, args: list, node: ParenList) -> list[list[int]]:
        """DNF (one disjunct) of a comparison chain: one atom per adjacent pair and side."""
        if len(args) < 2:
            raise self.error(f"{op!r} takes 2 arguments, got {len(args)}", node)
        terms = [self.term(a) for a in args]
        ids: list[int] = []
        for (left, right) in zip(terms, terms[1:]):
            if op in ("<=", "<"):
                diffs = [_sub(left, right)]
            elif op in (">=", ">"):
                diffs = [_sub(right, left)]
            else:
                diffs = [_sub(left, right), _sub(right, left)]
            for coefs, const in diffs:
                atom = self.add_atom(coefs, const, node)
                if atom is not None:
                    ids.append(atom)
        return [ids]

    def add_atom(self, coefs: dict, const: float, node: ParenList) -> int | None:
        """Record ``sum coefs * var + const <= 0``; return its id (None: trivially true)."""
        coefs = {k: v for k, v in coefs.items() if v != 0.0}
        xs = [k for k in coefs if k[0] == "X"]
        if xs and len(xs) != len(coefs):
            raise self.error("an atom mixes input (X) and output (Y) variables", node)
        if any(math.isnan(v) or math.isinf(v) for v in coefs.values()) or not math.isfinite(
                const):
            raise self.error("non-finite number in a constraint", node)
        atom = len(self.atom_kind)
        self.atom_line.append(node.line)
        if xs:
            if len(xs) > 1:
                raise self.error("only box input constraints are supported (this atom "
                                 f"couples {', '.join(f'X_{i}' for _, i in sorted(xs))})", node)
            key = xs[0]
            c = coefs[key]
            self.atom_kind.append(0)
            self.atom_var.append(key[1])
            self.atom_upper.append(c > 0)
            self.atom_value.append(-const / c)
            self.atom_row.append(None)
        else:
            if not coefs and const <= 0.0:
                self.atom_line.pop()
                return None         # e.g. (<= 0 1): always true
            self.atom_kind.append(1)
            self.atom_var.append(-1)
            self.atom_upper.append(False)
            self.atom_value.append(0.0 - const)     # never -0.0
            self.atom_row.append({k[1]: v for k, v in coefs.items()})
        return atom

    # ------------------------------------------------------------------ terms
    def term(self, node) -> tuple[dict, float]:
        """A linear term as ``(coefficients {(kind, index): c}, constant)``."""
        if isinstance(node, Token):
            text = node.text
            var = self.declared.get(text)
            if var is not None:
                return {var: 1.0}, 0.0
            if _NUMBER_RE.match(text):
                return {}, float(text)
            if _VARIABLE_RE.match(text):
                kinds = [f"{k}_0..{k}_{m}" for k, m in self.max_index.items() if m >= 0]
                raise self.error(f"unknown variable {text} (declared: "
                                 f"{', '.join(kinds) or 'none'})", node)
            if text[0] in "0123456789.+-":
                raise self.error(f"expected a number, got {text!r}", node)
            raise self.error(f"unknown symbol {text!r} (expected a variable or a number)", node)
        if not node.items or not isinstance(node.items[0], Token):
            raise self.error("expected a function name after '('", node)
        head = node.items[0].text
        args = [self.term(a) for a in node.items[1:]]
        if head == "+":
            if not args:
                raise self.error("'+' takes at least 1 argument, got 0", node)
            out: tuple[dict, float] = ({}, 0.0)
            for a in args:
                out = _add(out, a, 1.0)
            return out
        if head == "-":
            if not args:
                raise self.error("'-' takes at least 1 argument, got 0", node)
            if len(args) == 1:
                return _scale(args[0], -1.0)
            out = args[0]
            for a in args[1:]:
                out = _add(out, a, -1.0)
            return out
        if head == "*":
            if not args:
                raise self.error("'*' takes at least 1 argument, got 0", node)
            out = ({}, 1.0)
            for a in args:
                if out[0] and a[0]:
                    raise self.error("product of two variables: only linear terms are "
                                     "supported", node)
                if a[0]:
                    out = _scale(a, out[1])
                else:
                    out = _scale(out, a[1])
            return out
        if head in _COMPARISONS or head in ("and", "or"):
            raise self.error(f"expected a term, got the formula {head!r}", node.items[0])
        raise self.error(f"unknown function {head!r} in a term (expected +, -, *)",
                         node.items[0])

    # ------------------------------------------------------------------ result
    def declared_sizes(self) -> tuple[int, int]:
        """The numbers of inputs and outputs declared (``X_0..X_{n-1}``, ``Y_0..Y_{m-1}``).

        Raises:
            SpecError: no inputs or outputs, a gap in the indices, or sizes that differ from
                the network's.
        """
        n_in = self.max_index["X"] + 1
        n_out = self.max_index["Y"] + 1
        if n_in == 0:
            raise self.error("the spec declares no input variables (X_i)")
        if n_out == 0:
            raise self.error("the spec declares no output variables (Y_j)")
        for kind, count, what in (("X", n_in, "inputs"), ("Y", n_out, "outputs")):
            expected = self.expected[kind]
            if expected is not None and expected != count:
                last = f"{kind}_{count - 1}"
                raise SpecError(f"spec declares {count} {what}, network has {expected}",
                                path=self.path, line=self.declared_line[last], token=last)
        for kind, count in (("X", n_in), ("Y", n_out)):
            for i in range(count):
                if f"{kind}_{i}" not in self.declared:
                    raise self.error(f"{kind}_{i} is not declared, but {kind}_{count - 1} is")
        return n_in, n_out

    def build(self, dnf: list[list[int]], name: str) -> Property:
        """The Property of a DNF: one case per distinct input box, empty boxes dropped.

        Raises:
            SpecError: missing declarations, sizes that differ from the network's, or an
                input without a finite lower and upper bound.
            EmptyInputBoxError: every disjunct's input box is empty.
        """
        n_in, n_out = self.declared_sizes()
        kind = np.asarray(self.atom_kind, dtype=np.int8)
        if dnf and not np.any(kind == 1):
            raise self.error("the property constrains no output (Y_j): every input of the box "
                             "would be a counterexample; is the output assertion missing?")
        var = np.asarray(self.atom_var, dtype=np.int64)
        upper = np.asarray(self.atom_upper, dtype=bool)
        value = np.asarray(self.atom_value, dtype=np.float64)
        is_lower_bound = (kind == 0) & ~upper
        is_upper_bound = (kind == 0) & upper

        groups: dict[tuple[bytes, bytes], tuple[np.ndarray, np.ndarray, list]] = {}
        first_empty = None
        for conj in dnf:
            idx = np.asarray(conj, dtype=np.int64)
            lo = np.full(n_in, -np.inf)
            hi = np.full(n_in, np.inf)
            sel = idx[is_lower_bound[idx]]
            np.maximum.at(lo, var[sel], value[sel])
            sel = idx[is_upper_bound[idx]]
            np.minimum.at(hi, var[sel], value[sel])
            lo += 0.0               # -0.0 -> 0.0, so equal boxes group together
            hi += 0.0
            empty = np.flatnonzero(lo > hi)
            if empty.size:
                if first_empty is None:
                    first_empty = (idx, int(empty[0]), lo, hi)
                continue            # infeasible disjunct: it can never be violated
            missing = np.flatnonzero(~np.isfinite(lo) | ~np.isfinite(hi))
            if missing.size:
                i = int(missing[0])
                side = ("lower or upper" if not np.isfinite(lo[i]) and not np.isfinite(hi[i])
                        else "lower" if not np.isfinite(lo[i]) else "upper")
                more = f" (and {missing.size - 1} more inputs)" if missing.size > 1 else ""
                raise self.error(f"input X_{i} has no {side} bound{more}; every input needs "
                                 "a finite box")
            rows = [a for a in conj if self.atom_kind[a] == 1]
            A = np.zeros((len(rows), n_out))
            b = np.empty(len(rows))
            for r, a in enumerate(rows):
                for j, c in self.atom_row[a].items():
                    A[r, j] += c
                b[r] = self.atom_value[a]
            key = (lo.tobytes(), hi.tobytes())
            if key not in groups:
                groups[key] = (lo, hi, [])
            groups[key][2].append(OutputPolytope(A, b))

        if not groups and first_empty is not None:
            raise self.empty_box_error(*first_empty, every=len(dnf) > 1)
        cases = tuple(Case(lo, hi, tuple(polys)) for lo, hi, polys in groups.values())
        n_kept = sum(len(c.disjuncts) for c in cases)
        meta = {"n_disjuncts": n_kept, "n_dropped_empty": len(dnf) - n_kept}
        if self.path is not None:
            meta["path"] = self.path
        return Property(cases, n_in, n_out, name, meta=meta)

    def empty_box_error(self, idx: np.ndarray, i: int, lo: np.ndarray, hi: np.ndarray,
                        every: bool) -> EmptyInputBoxError:
        """The error for input X_i whose bounds cross in the disjunct of atoms ``idx``.

        The error names the line of the last atom bounding X_i in that disjunct; ``every``
        says the box is empty in every disjunct, not just one.
        """
        line = None
        for a in idx:
            if self.atom_kind[a] == 0 and self.atom_var[a] == i:
                line = self.atom_line[a]
        return EmptyInputBoxError(
            f"empty input box: lower bound {float(lo[i])!r} > upper bound {float(hi[i])!r} "
            f"for X_{i}" + (" in every disjunct" if every else ""),
            path=self.path, line=line, token=f"X_{i}")


def _add(a: tuple[dict, float], b: tuple[dict, float], sign: float) -> tuple[dict, float]:
    """The linear term ``a + sign * b``."""
    coefs = dict(a[0])
    for k, v in b[0].items():
        coefs[k] = coefs.get(k, 0.0) + sign * v
    return coefs, a[1] + sign * b[1]


def _sub(a: tuple[dict, float], b: tuple[dict, float]) -> tuple[dict, float]:
    """The linear term ``a - b``."""
    return _add(a, b, -1.0)


def _scale(a: tuple[dict, float], factor: float) -> tuple[dict, float]:
    """The linear term ``factor * a``."""
    return {k: factor * v for k, v in a[0].items()}, factor * a[1]
