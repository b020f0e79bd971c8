"""Deciding a VNN-LIB 2.0 query: bind the networks, lower, run the pipeline, check.

:func:`verify_query` binds each declared network to its ONNX file
(:func:`~verifier.spec.binding.bind_networks`), brings the query to a network and a
property (:func:`~verifier.spec.lowering.lower_query`: the 1.0-shaped fast path, or a
joint network), and runs :func:`~verifier.verify.pipeline.verify` on it with the same
methods, certificates and replays as any property. A ``sat`` answer then carries an
assignment of every declared variable, computed by the float64 reference forward pass
at the witness's input, and is kept only if that assignment satisfies the query itself
(every atom exactly, strict atoms strictly); otherwise the answer is ``unknown``.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import numpy as np

from verifier.errors import OptionError
from verifier.methods import VerifyOptions
from verifier.spec.binding import bind_networks
from verifier.spec.lowering import LoweredQuery, lower_query
from verifier.spec.query import Query
from verifier.verify.pipeline import verify
from verifier.verify.result import Result

__all__ = ["verify_query", "prepare_query", "assignment_of"]


def prepare_query(query: Query, files: Mapping[str, str], assume_real: bool = False
                  ) -> LoweredQuery:
    """Bind the query's networks to ``files`` (name -> ONNX file) and lower it."""
    return lower_query(query, bind_networks(query, files, assume_real))


def assignment_of(query: Query, v: np.ndarray) -> dict[str, np.ndarray]:
    """The variable vector ``v`` split into the declared tensors, in declaration order."""
    return {var.name: np.asarray(v[var.slice]).reshape(var.shape) for var in query.variables}


def verify_query(query: Query, files: Mapping[str, str], method: str = "auto",
                 timeout: float = 60.0, options: VerifyOptions | None = None,
                 assume_real: bool = False, progress: Callable[[str], None] | None = None,
                 live: Callable[[str], None] | None = None, partial=None) -> Result:
    """Decide a VNN-LIB 2.0 query.

    Args:
        query: the parsed query (:func:`verifier.spec.load_query`).
        files: network name -> ONNX file, for every network without ``equal-to``.
        method, timeout, options, progress, live, partial: as
            :func:`verifier.verify.verify` (loading and lowering count against
            ``timeout``).
        assume_real: read machine element types as ``real``.

    Returns:
        A :class:`Result`; ``sat`` only with ``assignment`` set and checked against the
        query; ``unsat`` only when every disjunct is proved or contradictory.

    Raises:
        OptionError, SpecError, NetworkError, InputFileError: bad files or query (see
        :func:`~verifier.spec.binding.bind_networks`).
    """
    start = time.monotonic()
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise OptionError(f"timeout must be a number of seconds, got {timeout!r}") from None
    lowered = prepare_query(query, files, assume_real)
    say = progress or (lambda message: None)
    say(f"query {query.name}: {len(query.networks)} network(s), {len(query.disjuncts)} "
        f"disjunct(s), {'box + output polytope (fast path)' if lowered.fast else 'joint network'}"
        + (f", {lowered.dropped} contradictory disjunct(s) dropped" if lowered.dropped else ""))
    remaining = max(timeout - (time.monotonic() - start), 0.01)
    result = verify(lowered.network, lowered.prop, method=method, timeout=remaining,
                    options=options, onnx_path=lowered.reference, progress=progress,
                    live=live, partial=partial)
    result.stats["query"] = {"fast_path": lowered.fast, "networks": len(query.networks),
                             "disjuncts": len(query.disjuncts), "dropped": lowered.dropped,
                             "joint_nodes": len(lowered.network.order)}
    result.timings["total"] = time.monotonic() - start
    if result.verdict == "sat":
        v = lowered.assignment(result.witness.x)
        if query.holds(v):
            result.assignment = assignment_of(query, v)
        else:
            result.verdict = "unknown"
            result.message = ("a counterexample replayed on the lowered property but its "
                              "assignment does not satisfy the query; not reported")
    return result
