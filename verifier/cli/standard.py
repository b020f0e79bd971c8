"""The VNN-LIB 2.0 standard's ``verify`` output: the result line, the assignment block,
serialised assignments.

``verifier verify QUERY --network NAME=FILE ... [--timeout S] [--serialise-assignments
DIR]`` prints exactly this on stdout (every log line goes to stderr):

* the first line ``sat``, ``unsat``, ``unknown`` or ``timed-out``;
* for ``sat`` (without ``--serialise-assignments``), every declared variable in declaration
  order: a header ``NAME TYPE [d1,d2]`` and one value per line in row-major order.

With ``--serialise-assignments DIR`` the assignment goes to ``DIR/NAME.pb``, one ONNX
TensorProto per variable (its declared element type; ``real`` as float64).
"""

from __future__ import annotations

import os
import sys

def parse_network_option(values: list[str] | None) -> dict[str, str]:
    """``["f=net.onnx", ...]`` -> ``{"f": "net.onnx"}``.

    Raises:
        ValueError: an item without ``=``, an empty name or file, or a name given twice.
    """
    files: dict[str, str] = {}
    for item in values or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--network {item!r}: give NAME=FILE")
        if name in files:
            raise ValueError(f"--network {name}=...: given twice")
        files[name] = path
    return files


def result_lines(query, result) -> list[str]:
    """The stdout lines of the standard's ``verify``
    (:func:`~verifier.spec.results.query_result_lines`)."""
    from verifier.spec.results import query_result_lines
    return query_result_lines(query, result.verdict, result.assignment)


def serialise_assignment(query, result, folder: str) -> None:
    """Write ``folder/NAME.pb`` (ONNX TensorProto) for every declared variable; the
    folder is created if missing. Files are written under a temporary name and renamed."""
    import numpy as np
    from onnx import numpy_helper

    os.makedirs(folder, exist_ok=True)
    for var in query.variables:
        dtype = np.float64 if var.element_type == "real" else np.dtype(
            {"float32": "float32", "float16": "float16", "float64": "float64"}.get(
                var.element_type, "float64"))
        value = np.asarray(result.assignment[var.name], dtype=dtype).reshape(var.shape)
        tensor = numpy_helper.from_array(value, var.name)
        path = os.path.join(folder, f"{var.name}.pb")
        partial = path + ".partial"
        with open(partial, "wb") as f:
            f.write(tensor.SerializeToString())
        os.replace(partial, path)


USAGE = """\
VNN-LIB 2.0 (the standard's command-line interface):
  verifier verify QUERY.vnnlib --network NAME=FILE.onnx [--network ...] [--timeout S]
                               [--serialise-assignments DIR]
  first stdout line: sat | unsat | unknown | timed-out; for sat the value of every
  declared variable follows (NAME TYPE [dims], then one value per line, row-major).
  Logs go to stderr. A 2.0 file given as SPEC after one network works too.
"""


def query_invocation(args):
    """``(query, files)`` when the command line is the 2.0 form (``QUERY --network
    NAME=FILE ...``, or ``NETWORK QUERY`` with a 2.0 query of one network), else None.

    Raises:
        OptionError: a malformed ``--network``, or both forms mixed.
        SpecError, InputFileError: an unreadable or malformed query.
    """
    from verifier.errors import OptionError
    from verifier.spec.vnnlib import read_vnnlib_text
    from verifier.spec.vnnlib2 import is_vnnlib2, parse_query

    try:
        files = parse_network_option(args.networks)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    if files:
        if args.spec is not None:
            raise OptionError("give either NETWORK SPEC or QUERY --network NAME=FILE, not both")
        text = read_vnnlib_text(args.network)
        if not is_vnnlib2(text):
            raise OptionError(f"{args.network}: not a VNN-LIB 2.0 query (no vnnlib-version "
                              "header); for a 1.0 file use: verifier verify NETWORK SPEC")
        return parse_query(text, args.network), files
    if args.spec is None:
        raise OptionError("give SPEC after NETWORK, or a VNN-LIB 2.0 QUERY with "
                          "--network NAME=FILE")
    if not is_vnnlib2_prefix(args.spec):
        return None
    query = parse_query(read_vnnlib_text(args.spec), args.spec)
    needing = [n.name for n in query.networks if n.equal_to is None]
    if len(needing) != 1:
        raise OptionError(f"{args.spec} declares {len(needing)} networks that need a file "
                          f"({', '.join(needing)}): give each with --network NAME=FILE")
    return query, {needing[0]: args.network}


def is_vnnlib2_prefix(path: str) -> bool:
    """Whether a property file is VNN-LIB 2.x (:func:`verifier.spec.is_vnnlib2_file`)."""
    from verifier.spec import is_vnnlib2_file
    return is_vnnlib2_file(path)


def check_assignment_folder(folder: str) -> None:
    """``--serialise-assignments DIR``: DIR is made if missing, so its parent must exist."""
    from verifier.errors import InputFileError

    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputFileError(f"--serialise-assignments {folder}: exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(folder))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise InputFileError(f"--serialise-assignments {folder}: the folder {parent} does "
                             "not exist or is not writable")


def is_query_form(args) -> bool:
    """Whether the command line is the 2.0 form: ``--network`` given, or a SPEC file that
    starts with ``(vnnlib-version`` (read from its first 64 KiB)."""
    return bool(args.networks) or (args.spec is not None and is_vnnlib2_prefix(args.spec))


def write_timeout(args) -> int:
    """The watchdog's answer in the 2.0 form: the result line ``timed-out``."""
    print("timed-out", flush=True)
    return 0


def run_query(args, invocation, options, deadline: float, partial=None, claim=None):
    """Decide a 2.0 query: the result line (and assignment) on stdout, logs on stderr;
    returns the :class:`~verifier.verify.Result`. ``claim`` (the watchdog's) is called
    before anything is printed."""
    import time

    from verifier.verify.query import verify_query

    query, files = invocation
    say = (lambda message: None) if args.quiet else (
        lambda message: print(f"  .. {message}", file=sys.stderr, flush=True))
    for note in query.notes:
        say(f"note: {note}")
    remaining = max(deadline - time.monotonic(), 0.01)
    result = verify_query(query, files, method=args.method, timeout=remaining,
                          options=options, assume_real=args.assume_real, progress=say,
                          partial=partial)
    if claim is not None:
        claim()
    lines = result_lines(query, result)
    if result.verdict == "sat" and args.serialise_assignments:
        serialise_assignment(query, result, args.serialise_assignments)
        lines = lines[:1]
    print("\n".join(lines), flush=True)
    say(f"{result.message} ({result.timings.get('total', 0.0):.2f}s)")
    return result
