"""VNN-COMP 2026's network column for several networks: ``[('f','a.onnx'),('g','b.onnx')]``.

A VNN-LIB 2.0 instance over several networks names them in its ``instances.csv`` row as a
Python list of ``(name, path)`` pairs (its commas are not CSV separators). The same text
is what ``run_instance.sh`` gets as its ONNX argument. Paths are relative to the
benchmark's folder.
"""

from __future__ import annotations

import ast
import os

from verifier.errors import InputFileError, shorten

__all__ = ["is_network_list", "parse_network_list", "format_network_list", "resolve_networks"]


def is_network_list(text: str) -> bool:
    """Whether a network field is a list of ``(name, path)`` pairs."""
    return text.lstrip().startswith("[")


def parse_network_list(text: str, where: str = "") -> list[tuple[str, str]]:
    """``"[('f','a.onnx'),('g','b.onnx')]"`` -> ``[("f", "a.onnx"), ("g", "b.onnx")]``.

    Raises:
        InputFileError: not a list of (name, path) string pairs, or a name twice.
    """
    prefix = f"{where}: " if where else ""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(s, str) and s for s in p)
        for p in value)
    if not ok:
        raise InputFileError(f"{prefix}{shorten(text)!r} is not a list of (name, path) "
                             "pairs like [('f','a.onnx'),('g','b.onnx')]")
    names = [p[0] for p in value]
    if len(set(names)) != len(names):
        raise InputFileError(f"{prefix}a network name appears twice in {shorten(text)!r}")
    return [(str(n), str(p)) for n, p in value]


def format_network_list(pairs: list[tuple[str, str]]) -> str:
    """The list's text form (what :func:`parse_network_list` reads back)."""
    return "[" + ",".join(f"({n!r},{p!r})" for n, p in pairs) + "]"


def resolve_networks(pairs: list[tuple[str, str]], *bases: str) -> list[tuple[str, str]]:
    """Each path made absolute: as given if it exists, else against the first of
    ``bases`` (folders, tried in order) that holds it, else against the first base."""
    out = []
    for name, path in pairs:
        if os.path.isabs(path) or not bases:
            out.append((name, os.path.abspath(path)))
            continue
        found = next((os.path.join(b, path) for b in bases
                      if os.path.exists(os.path.join(b, path))), None)
        if found is None:
            found = path if os.path.exists(path) else os.path.join(bases[0], path)
        out.append((name, os.path.abspath(found)))
    return out
