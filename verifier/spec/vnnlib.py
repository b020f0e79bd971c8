"""VNN-LIB 1.0 reader and writer (our own tokenizer and recursive-descent parser).

The subset read here is what VNN-COMP benchmark files use, plus a little more:

* ``;`` comments; ``(declare-const X_i Real)`` / ``(declare-const Y_j Real)``;
* ``(assert F)`` where ``F`` nests ``and`` / ``or`` to any depth (also ``true`` / ``false``);
* atoms ``(<= s t)``, ``(>= s t)``, ``(< s t)``, ``(> s t)`` (strict read as non-strict, since the
  unsafe set is closed anyway), ``(= s t)`` (two inequalities); chains ``(<= a b c)`` are pairwise;
* terms: a variable, a number (``-0.5``, ``1e-3``), ``(+ ...)``, ``(- ...)`` and ``(* c t)`` with
  at most one non-constant factor;
* the commands ``set-logic``, ``set-info``, ``set-option``, ``check-sat``, ``get-model``, ``exit``
  are accepted and ignored.

Semantics: the conjunction of all asserts is turned into disjunctive normal form. Every
disjunct (a conjunction of atoms) splits into bounds on single inputs, intersected into a box,
and linear output rows ``A y <= b``. Disjuncts with equal boxes become one
:class:`~verifier.spec.property.Case`. A top-level input bound is AND-ed into every disjunct
by the DNF product, so bounds written inside an ``or`` (``test_small.vnnlib``) and outside it
(mnistfc) both come out right.

Every error is a one-line :class:`~verifier.errors.SpecError` naming the file, the line of the
offending token and the token itself.

The jobs live in three modules: :mod:`~verifier.spec.vnnlib_reader` (tokenizer and
s-expression reader), :mod:`~verifier.spec.vnnlib_parser` (VNN-LIB 1.0 semantics to a
:class:`Property`) and :mod:`~verifier.spec.vnnlib_writer` (:func:`write_vnnlib`); this module
holds the entry points.
"""

from __future__ import annotations

import gzip
import os
import stat

from verifier.errors import InputFileError
from verifier.files import check_input_file, format_size
from verifier.spec import vnnlib_parser
from verifier.spec.property import Property
from verifier.spec.vnnlib_dnf import DisjunctCounter
from verifier.spec.vnnlib_parser import MAX_DISJUNCTS, VnnlibParser
from verifier.spec.vnnlib_reader import read_sexprs
from verifier.spec.vnnlib_writer import write_vnnlib

__all__ = ["parse_vnnlib", "parse_vnnlib_file", "read_vnnlib_text", "starts_as_vnnlib2",
           "write_vnnlib",
           "MAX_DISJUNCTS", "MAX_VNNLIB_BYTES"]

#: the largest property file read (VNN-COMP's largest are a few MiB)
MAX_VNNLIB_BYTES = 256 << 20
#: bytes read at a time: a binary or oversize file is refused after the first chunk that
#: shows it, and memory stays at the file's size
READ_CHUNK_BYTES = 1 << 20


def _read_text_bytes(f, path: str) -> bytes:
    """The bytes of an open property file, read chunk by chunk; refused at the first NUL
    byte (binary) or once past ``MAX_VNNLIB_BYTES``."""
    chunks, total = [], 0
    while chunk := f.read(READ_CHUNK_BYTES):
        if b"\x00" in chunk:
            raise InputFileError(f"{path}: a binary file (it contains NUL bytes), not "
                                 "VNN-LIB text")
        total += len(chunk)
        if total > MAX_VNNLIB_BYTES:
            raise InputFileError(f"{path}: larger than {format_size(MAX_VNNLIB_BYTES)}; not a "
                                 "VNN-LIB property this tool reads")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_vnnlib(text: str, path: str | None = None, n_inputs: int | None = None,
                 n_outputs: int | None = None, name: str | None = None) -> Property:
    """Parse VNN-LIB 1.0 text into a :class:`Property`.

    Args:
        text: the file's content.
        path: for error messages and ``Property.meta["path"]``.
        n_inputs / n_outputs: the network's sizes, if known; the spec must declare exactly
            ``X_0..X_{n_inputs-1}`` and ``Y_0..Y_{n_outputs-1}``.
        name: the property's name (default: the file name without extension, or "property").

    Returns:
        a Property whose cases have (n_inputs,) boxes and (m, n_outputs) output polytopes.

    Raises:
        SpecError: malformed text, a spec that does not fit the sizes, or one with more
            than ``MAX_DISJUNCTS`` disjuncts in DNF (refused while it is read), with the
            line.
        EmptyInputBoxError: every disjunct's input box is empty.
    """
    path = None if path is None else str(path)
    if name is None:
        name = "property"
        if path is not None:
            name = os.path.basename(path)
            for suffix in (".gz", ".vnnlib"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
    # a formula over the disjunct limit is refused as soon as it is read
    forest = read_sexprs(text, path, DisjunctCounter(path, vnnlib_parser.MAX_DISJUNCTS))
    parser = VnnlibParser(path, n_inputs, n_outputs)
    dnf = parser.run(forest)
    return parser.build(dnf, name)


def read_vnnlib_text(path: str | os.PathLike) -> str:
    """The text of a ``.vnnlib`` or ``.vnnlib.gz`` file (1.0 or 2.0), read safely.

    Raises:
        InputFileError: the file is missing, not a regular file (named), unreadable,
            binary or larger than ``MAX_VNNLIB_BYTES`` (decompressed).
    """
    path = os.fspath(path)
    check_input_file(path, "VNN-LIB file")
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = _read_text_bytes(f, path)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such VNN-LIB file") from None
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read VNN-LIB file ({exc})") from None
    # bytes that are not UTF-8 become U+FFFD: harmless in comments, an error in a token
    return data.decode("utf-8", errors="replace")


def starts_as_vnnlib2(path: str | os.PathLike) -> bool:
    """Whether the file starts with ``(vnnlib-version`` (VNN-LIB 2.x), from its first
    64 KiB. Anything but a readable regular file answers False without being opened (a
    FIFO would block): the reader that follows names what is wrong."""
    path = os.fspath(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            head = f.read(1 << 16)
    except (OSError, EOFError):
        return False
    from verifier.spec.vnnlib2 import is_vnnlib2
    return is_vnnlib2(head.decode("utf-8", errors="replace"))


def parse_vnnlib_file(path: str | os.PathLike, n_inputs: int | None = None,
                      n_outputs: int | None = None) -> Property:
    """Read and parse a ``.vnnlib`` or ``.vnnlib.gz`` file.

    Args:
        path: the file.
        n_inputs / n_outputs: the network's sizes, if known (see :func:`parse_vnnlib`).

    Returns:
        the Property, named after the file.

    Raises:
        InputFileError: the file is missing, not a regular file (a directory, FIFO,
            device, symlink loop; named), unreadable, binary or larger than
            ``MAX_VNNLIB_BYTES`` (decompressed).
        SpecError / EmptyInputBoxError: as :func:`parse_vnnlib`.
    """
    text = read_vnnlib_text(path)
    return parse_vnnlib(text, path=os.fspath(path), n_inputs=n_inputs, n_outputs=n_outputs)
