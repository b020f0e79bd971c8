"""Arguments that several subcommands share, with the checks that go with them."""

from __future__ import annotations

import argparse
import math

from verifier.catalog import TIGHTEN_METHODS

TIGHTEN_HELP = (
    "tighten intermediate bounds by optimised back-substitution (alpha, default; as "
    "alpha-CROWN: the triangle relaxation's optimum approached by gradient steps, all "
    "neurons of a layer at once) or by two LPs per unstable neuron (lp, LP-ALL: exact "
    "optimum, far slower on wide or deep nets)")


def positive_seconds(text: str) -> float:
    """A time limit: a finite number of seconds > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds > 0")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give an integer >= 1")
    return value


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
