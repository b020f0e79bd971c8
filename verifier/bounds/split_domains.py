"""Bounds of ReLU-split sub-domains of one input box (branch and bound over ReLUs).

A sub-domain is the box with some ReLUs fixed active (``z >= 0``) or inactive
(``z <= 0``). :func:`split_domain_bounds` recomputes the later layers' bounds through the
fixed ReLUs; :func:`split_constraints` writes the split constraints as input-space rows.
"""

from __future__ import annotations

import numpy as np

from verifier.bounds.backsub import (backsub_early, backsub_linear, box_minimum, live_neurons,
                                     restrict_chain, take_columns, widen_records)
from verifier.bounds.chain import batched_relu_lines
from verifier.bounds.rounding import TINY, RoundingScales
from verifier.errors import NetworkError


def split_constraints(chain, scales: RoundingScales, lines: list, states: list[np.ndarray]):
    """Input-space relaxations ``G x <= h`` of the split constraints of B sub-domains.

    A ReLU fixed active satisfies ``z_i >= 0``, so its DeepPoly *upper* line in x,
    ``U_i(x) >= z_i``, gives ``-U_i(x) <= 0``; one fixed inactive satisfies ``z_i <= 0``, so
    its lower line ``L_i(x) <= z_i`` gives ``L_i(x) <= 0``. Both hold for every input of
    the sub-domain; with every ReLU fixed they are exact. The right-hand side is raised by
    the rounding margin of the back-substitution (its
    :attr:`~verifier.bounds.backsub.Backsub.error`, plus ``TINY``).

    Args:
        lines: per ReLU layer, the sub-domains' ReLU lines (:func:`batched_relu_lines`).
        states: per ReLU layer, (B, n_r) int8: +1 fixed active, -1 fixed inactive, 0 free.
    Returns:
        (G (B, S, n_in), h (B, S)); rows of a domain beyond its own splits are ``0 <= 1``.
    """
    B = states[0].shape[0]
    n_in = chain[0][0].shape[1]
    keep = live_neurons(lines)
    Gs, hs = [], []
    for r, state in enumerate(states):
        counts = np.count_nonzero(state, axis=1)
        S = int(counts.max()) if counts.size else 0
        if S == 0:
            continue
        n = state.shape[1]
        M = np.zeros((B, S, n))
        used = np.zeros((B, S), dtype=bool)
        dom, neuron = np.nonzero(state)
        slot = np.arange(dom.size) - np.concatenate([[0], np.cumsum(counts)[:-1]])[dom]
        sign = np.where(state[dom, neuron] > 0, -1.0, 1.0)   # rows s e_i with s z_i <= 0
        M[dom, slot, neuron] = sign
        used[dom, slot] = True
        split = np.flatnonzero(np.any(state != 0, axis=0))
        out = backsub_linear(restrict_chain(chain, r, keep, split), r,
                             np.ascontiguousarray(M[:, :, split]), take_columns(lines[:r], keep),
                             weights=scales.weights(r, keep, split))
        margin = out.error + TINY
        Gs.append(out.coef)
        hs.append(np.where(used, -out.const + margin, 1.0))
    if not Gs:
        return np.zeros((B, 0, n_in)), np.zeros((B, 0))
    return np.concatenate(Gs, axis=1), np.concatenate(hs, axis=1)


def split_domain_bounds(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                        scales: RoundingScales, pre_lower: list[np.ndarray],
                        pre_upper: list[np.ndarray], first: int, C: np.ndarray,
                        states: list[np.ndarray] | None = None, early: bool = True,
                        single: bool = False, deadline: float | None = None):
    """Re-bound B sub-domains of one input box that differ by ReLU splits.

    A sub-domain is the box with some ReLUs fixed: "active" (pre-activation >= 0, its
    lower bound raised to 0) or "inactive" (upper bound lowered to 0). Its pre-activation
    bounds ``pre_lower[r][d] <= z_r <= pre_upper[r][d]`` (r = index of the ReLU layer in
    ``chain``) are valid on it by construction: they are the parent's bounds with the new
    split applied. This function recomputes the bounds of the layers after ``first`` by
    batched DeepPoly back-substitution *through the sub-domain's own lines* (a split ReLU
    is linear), intersects them with the given ones (both are sound on the sub-domain, so
    the intersection is), and bounds ``C @ f(x)``. Only neurons unstable in some domain of
    the batch are recomputed; stable ones stay stable in sub-domains.

    Args:
        chain: :func:`dense_chain` (every layer but the last followed by a ReLU).
        box_lower, box_upper: (n_in,) the input box shared by all domains.
        scales: :func:`~verifier.bounds.chain.rounding_scales` of that box (valid for
            sub-domains: their values lie inside the box's); every bound is lowered by
            its back-substitution's rounding error bound, plus ``TINY``.
        pre_lower, pre_upper: per ReLU layer, (B, n_r) bounds (modified in place).
        first: ReLU layers ``<= first`` are kept as given (-1: recompute all but layer 0,
            whose bounds only a split can change).
        C: (m, n_out) rows.
        states: per ReLU layer, (B, n_r) split states (+1 active, -1 inactive, 0 free);
            when given, the split constraints' input relaxation is returned too.
        early: also stop the back-substitution of the output rows at every ReLU layer
            and concretise there (:func:`backsub_early`; recomputed intermediate bounds
            always do); the better bound is kept.
        single: recompute the intermediate bounds with the step to the input in float32
            (``backsub_early`` with ``single``: its error bound subtracted); the output
            rows stay in float64.
        deadline: ``time.monotonic()`` value; past it
            :class:`~verifier.errors.TimeLimitReached` is raised between layers (a batch
            of a wide, deep net takes seconds).

    Returns:
        (lower (B, m): sound lower bounds of ``C f(x)`` on each domain (over the whole
        box: the split constraints on x are not used here),
        on_relu {r: (B, m, n_r)}: the rows' coefficients on each ReLU output (branching),
        linear (const (B, m), coef (B, m, n_in)): the linear lower bound
        ``const + coef @ x - margin <= C f(x)`` before minimising over the box,
        split (G, h) from :func:`split_constraints`, or None without ``states``).
    """
    B = pre_lower[0].shape[0]
    lo_b = np.broadcast_to(box_lower, (B, box_lower.size))
    hi_b = np.broadcast_to(box_upper, (B, box_upper.size))
    lines, keep = _rebound_layers(chain, scales, pre_lower, pre_upper, first, lo_b, hi_b,
                                  single, deadline)
    last = len(chain) - 1
    if chain[last][2] or len(lines) != last:
        raise NetworkError("split bounds need a ReLU after every layer but the last")
    C = np.atleast_2d(C)
    M = np.ascontiguousarray(np.broadcast_to(C, (B,) + C.shape))
    cut_record: dict = {}
    out = backsub_linear(
        restrict_chain(chain, last, keep), last, M, take_columns(lines, keep), record=cut_record,
        stops=(take_columns(pre_lower, keep), take_columns(pre_upper, keep)) if early else None,
        weights=scales.weights(last, keep), deadline=deadline)
    const, input_coef = out.const, out.coef
    on_relu = widen_records(cut_record, keep, [x.shape[1] for x in pre_lower])
    margin = out.error + TINY
    value = box_minimum(const, input_coef, lo_b, hi_b)
    if out.early is not None:
        value = np.maximum(value, out.early)
    value = value - margin
    split = None if states is None else split_constraints(chain, scales, lines, states)
    return value, on_relu, (const - margin, input_coef), split


def _rebound_layers(chain, scales, pre_lower, pre_upper, first: int, lo_b, hi_b,
                    single: bool = False, deadline: float | None = None):
    """Recompute (in place) the bounds of the unstable neurons of every ReLU layer after
    ``first`` by back-substitution through the domains' own lines; returns (per ReLU layer
    the domains' lines, per ReLU layer the neurons live in some domain)."""
    B = pre_lower[0].shape[0]
    lines, keep = [], []
    for j, (W, b, relu_after) in enumerate(chain):
        if not relu_after:
            break
        if j > max(first, 0):
            l, u = pre_lower[j], pre_upper[j]
            idx = np.flatnonzero(np.any((l < 0) & (u > 0), axis=0))
            if idx.size:
                # rows +-e_i of the unstable neurons, through the live neurons only
                eye = np.eye(idx.size)
                rows = np.ascontiguousarray(np.broadcast_to(np.concatenate([eye, -eye]),
                                                            (B, 2 * idx.size, idx.size)))
                value, error = backsub_early(restrict_chain(chain, j, keep, idx), j, rows,
                                             take_columns(lines, keep),
                                             take_columns(pre_lower[:j], keep),
                                             take_columns(pre_upper[:j], keep), lo_b, hi_b,
                                             weights=scales.weights(j, keep, idx),
                                             single=single, deadline=deadline)
                margin = error + TINY
                l[:, idx] = np.maximum(l[:, idx], value[:, :idx.size] - margin[:, :idx.size])
                u[:, idx] = np.minimum(u[:, idx], -value[:, idx.size:] + margin[:, idx.size:])
        lines.append(batched_relu_lines(pre_lower[j], pre_upper[j]))
        keep.extend(live_neurons(lines[-1:]))
    return lines, keep
