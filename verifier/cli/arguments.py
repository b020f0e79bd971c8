"""Arguments that several subcommands share, with the checks that go with them.

Every option value is checked here, as an argparse ``type``, before any work: a bad value
is exit code 2 with one line naming the option and the value (:class:`Parser`).
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Callable

from verifier.errors import OptionError, shorten
from verifier.catalog import TIGHTEN_METHODS

TIGHTEN_HELP = (
    "tighten intermediate bounds by optimised back-substitution (alpha, default; as "
    "alpha-CROWN: the triangle relaxation's optimum approached by gradient steps, all "
    "neurons of a layer at once) or by two LPs per unstable neuron (lp, LP-ALL: exact "
    "optimum, far slower on wide or deep nets)")

#: a Dask scheduler's address (``--scheduler``)
_SCHEDULER_RE = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\Z")


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``error: ... (see verifier verify --help)``), exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shorten(text)!r} is not {what}") from None


def positive_seconds(text: str) -> float:
    """A time limit: a finite number of seconds > 0 (argparse type)."""
    value = _number(text, "a number of seconds")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds > 0")
    return value


def _integer(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shorten(text)!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text!r}: give an integer >= {low}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    return _integer(text, 1)


#: the most worker processes a command starts (each is a Python process with its own copy
#: of the network and solver, a few hundred MB; more than the machine's cores only queue)
MAX_WORKERS = 64


def worker_count(text: str) -> int:
    """A number of worker processes: an integer in 1 .. :data:`MAX_WORKERS` (argparse
    type), refused before any work starts."""
    value = positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r}: at most {MAX_WORKERS} worker processes")
    return value


def add_workers_argument(parser, help_text: str) -> None:
    """``--workers N`` (1 .. :data:`MAX_WORKERS`, default 1)."""
    parser.add_argument("--workers", type=worker_count, default=1,
                        help=f"{help_text}; at most {MAX_WORKERS}")


def non_negative_int(text: str) -> int:
    """An integer >= 0 (argparse type): an index, a count that may be zero."""
    return _integer(text, 0)


def finite_float(text: str) -> float:
    """A finite number (argparse type)."""
    value = _number(text, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number")
    return value


def radius(text: str) -> float:
    """An L-inf radius: a finite number >= 0 (argparse type)."""
    value = _number(text, "a number")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite radius >= 0")
    return value


def radius_list(text: str) -> list[float]:
    """Comma-separated radii, at least one (argparse type)."""
    items = split_list(text)
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one radius")
    return [radius(item) for item in items]


def fraction(text: str) -> float:
    """A share in [0, 1] (argparse type)."""
    value = _number(text, "a number")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a share in [0, 1]")
    return value


def interval(text: str) -> tuple[float, float]:
    """``LO,HI``: two finite numbers with LO < HI (argparse type)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{shorten(text)!r}: give two numbers LO,HI")
    lo, hi = (finite_float(p.strip()) for p in parts)
    if not lo < hi:
        raise argparse.ArgumentTypeError(f"{text!r}: LO must be below HI")
    return lo, hi


def index_pair(text: str) -> tuple[int, int]:
    """``I,J``: two different indices >= 0 (argparse type)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{shorten(text)!r}: give two indices I,J")
    i, j = (non_negative_int(p.strip()) for p in parts)
    if i == j:
        raise argparse.ArgumentTypeError(f"{text!r}: give two different indices")
    return i, j


def choice_list(choices) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names, at least one, each one of ``choices``."""
    choices = tuple(choices)

    def parse(text: str) -> list[str]:
        names = split_list(text)
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            what = f"unknown {shorten(', '.join(unknown))!r}" if unknown else "none given"
            raise argparse.ArgumentTypeError(f"{what}; choose from {', '.join(choices)}")
        return names

    return parse


def scheduler_address(text: str) -> str:
    """``local`` or ``tcp://HOST:PORT`` (argparse type)."""
    match = _SCHEDULER_RE.match(text)
    if text == "local" or (match and 0 < int(match.group(2)) < 65536):
        return text
    raise argparse.ArgumentTypeError(f"{shorten(text)!r}: give 'local' or tcp://HOST:PORT")


def check_index(option: str, value: int, count: int, what: str) -> None:
    """Raise :class:`OptionError` unless ``0 <= value < count`` (``what`` names what is
    counted: ``"cases in the property"``)."""
    if not 0 <= value < count:
        valid = f"outside 0..{count - 1}" if count else "there are none"
        raise OptionError(f"{option} {value}: {valid} ({what}: {count})")


def add_network_arguments(parser, spec: bool = True, spec_optional: bool = False) -> None:
    """The positional NETWORK (and SPEC) arguments."""
    parser.add_argument("network", help="network file (.onnx, .onnx.gz or .nnet)")
    if spec:
        parser.add_argument("spec", nargs="?" if spec_optional else None,
                            help="property file (VNN-LIB 1.0, optionally .gz)")


def add_tighten_arguments(parser) -> None:
    """``--tighten {alpha,lp}`` and ``--no-tighten`` (:class:`~verifier.tighten.TightenOptions`)."""
    parser.add_argument("--tighten", choices=list(TIGHTEN_METHODS), default="alpha",
                        help=TIGHTEN_HELP)
    parser.add_argument("--no-tighten", action="store_true",
                        help="skip the tightening of intermediate bounds (DeepPoly's only)")


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]
