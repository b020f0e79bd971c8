"""Errors raised at the boundary of the tool, each with a documented exit code.

Every error the CLI can meet on bad input derives from :class:`VerifierError`; the CLI
prints ``error: <message>`` on one line and exits with ``exit_code``. The codes are listed
in the README.
"""

from __future__ import annotations


#: characters of a token or value quoted in an error message
QUOTE_CHARS = 60


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with ``...``): error messages quote user
    input, which can be arbitrarily long."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class VerifierError(Exception):
    """Base class of every expected, user-facing error."""

    exit_code = 2


class TimeLimitReached(Exception):
    """A bound computation passed the deadline it was given (``time.monotonic()``).

    Raised inside the library and turned into a ``timeout`` verdict by ``verify``; it never
    reaches the user.
    """


class InputFileError(VerifierError):
    """A file is missing, unreadable or not of the expected format."""

    exit_code = 3


class UnsupportedOpError(VerifierError):
    """An ONNX operator (or attribute value) that the importer cannot translate.

    Args:
        op_type: the ONNX operator, e.g. ``"Sigmoid"``.
        node_name: the ONNX node's name (or a generated one).
        hint: what the user can do about it.
    """

    exit_code = 4

    def __init__(self, op_type: str, node_name: str, hint: str = ""):
        self.op_type = op_type
        self.node_name = node_name
        self.hint = hint
        message = f"unsupported ONNX op {op_type!r} at node {node_name!r}"
        if hint:
            message += f" (hint: {hint})"
        super().__init__(message)


class NetworkError(VerifierError):
    """A network that is malformed: inconsistent shapes, NaN/inf weights, cycles, ..."""

    exit_code = 5


class SpecError(VerifierError):
    """A property that is malformed or does not fit the network.

    Args:
        message: what is wrong.
        path: the file, if the property came from one.
        line: 1-based line of the offending token, if known.
        token: the offending token, if known.
    """

    exit_code = 6

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 token: str | None = None):
        self.path = path
        self.line = line
        self.token = token
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        elif line is not None:
            where = f"line {line}: "
        tok = f" (at token {shorten(token)!r})" if token is not None else ""
        super().__init__(f"{where}{message}{tok}")


class EmptyInputBoxError(SpecError):
    """An input box with some lower bound above its upper bound."""


class SoundnessError(VerifierError):
    """An internal consistency check failed: a computed bound contradicts a true point.

    This is a bug, never a user error; it is raised, never just printed.
    """

    exit_code = 8


class OptionError(VerifierError):
    """An option value outside its range (a time limit of NaN, ``k = 0``, ...)."""

    exit_code = 2
