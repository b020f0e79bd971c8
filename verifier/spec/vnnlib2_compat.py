"""A compatible spelling of VNN-LIB 2.x text for the reference parser.

The reference parser (PyPI ``vnnlib`` 1.0.x) is stricter than the standard in a few
places that the standard's own example queries (``syntax/test/*.vnnlib``) run into:

* the element type is written ``Real`` there; the parser knows only ``real``;
* the parser types an integer constant such as ``2`` as an integer and refuses it next
  to a real-valued variable, while the standard lets the network theory judge ``1`` a
  float64 as well;
* ``initialized`` inputs (VNN-LIB 2.1) are not in its grammar.

:func:`compatible_text` rewrites exactly these (plus numbers in exponent notation or
with a leading ``+``/``.``, which the grammar does not have) and reports what it changed;
the query is then read from the rewritten text by the same reference parser. Comments,
ONNX names in quotes, shapes and indices are left as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["CompatibleText", "compatible_text"]

_TOKEN_RE = re.compile(r';[^\n]*|"(?:[^"\\]|\\.)*"|\(|\)|\[|\]|,|[^\s()\[\],;"]+|\s+')
_INT_RE = re.compile(r"[-+]?\d+\Z")
_FLOAT_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")
_GRAMMAR_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?\Z")
_DECLARATIONS = ("declare-input", "declare-output", "declare-hidden")
_INTEGER_TYPES = ("int", "uint", "bool")


@dataclass(frozen=True)
class CompatibleText:
    """The rewritten text, one note per kind of change, and the ``initialized`` inputs."""

    text: str
    notes: tuple[str, ...]
    initialized: frozenset[str]


def compatible_text(text: str) -> CompatibleText | None:
    """``text`` in the spelling the reference parser reads, or None if nothing changes."""
    tokens = _TOKEN_RE.findall(text)
    if "".join(tokens) != text:      # a character no token covers: leave it to the parser
        return None
    integer_typed = _declared_types(tokens) & set(_INTEGER_TYPES)
    out, notes, initialized = [], set(), set()
    depth_brackets, previous, declared = 0, [], ""
    for token in tokens:
        code = not (token[0] in ';"' or token.isspace())
        replacement = token
        if code:
            if token == "[":
                depth_brackets += 1
            elif token == "]":
                depth_brackets -= 1
            elif depth_brackets == 0:
                if previous and previous[-1] == "declare-input":
                    declared = token
                elif token == "initialized":
                    initialized.add(declared)
                replacement = _rewrite(token, previous, integer_typed, notes)
            previous = (previous + [token])[-3:]
        out.append(replacement)
    if not notes:
        return None
    return CompatibleText("".join(out), tuple(sorted(notes)), frozenset(initialized))


def _declared_types(tokens: list[str]) -> set[str]:
    """Prefixes (``int``, ``uint``, ``bool``) of integer element types declared anywhere."""
    code = [t for t in tokens if not (t[0] in ';"' or t.isspace())]
    found = set()
    for i, token in enumerate(code[:-3]):
        if token == "(" and code[i + 1] in _DECLARATIONS:
            kind = code[i + 3].lower()
            found.update(p for p in _INTEGER_TYPES if kind.startswith(p))
    return found


def _rewrite(token: str, previous: list[str], integer_typed: set, notes: set) -> str:
    """The compatible spelling of one code token outside brackets."""
    declaring = len(previous) >= 2 and previous[-2] in _DECLARATIONS
    if declaring and token != "real" and token.lower() == "real":
        notes.add(f"element type {token!r} read as 'real'")
        return "real"
    if token == "initialized":
        notes.add("'initialized' inputs take their ONNX initializer's value")
        return ""
    if previous and previous[-1] == "vnnlib-version":
        return token
    if _INT_RE.match(token) and not integer_typed:
        notes.add("integer constants read as real numbers")
        return f"{int(token)}.0"
    if _FLOAT_RE.match(token) and not _GRAMMAR_NUMBER_RE.match(token):
        notes.add("numbers in exponent notation read as decimals")
        return np.format_float_positional(float(token), unique=True, trim="0")
    if token == "=" and previous and previous[-1] == "(":
        notes.add("'=' read as '=='")
        return "=="
    return token
