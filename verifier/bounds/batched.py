"""DeepPoly over many input boxes at once, for sequential fully connected networks.

The same back-substitution as :mod:`verifier.bounds.deeppoly` (min-area lower lines,
triangle upper lines, outward rounding margin from the propagated ``|M|``), but with a
leading batch dimension of B boxes: every step through an affine layer is ONE matrix
product ``(B*k, n) @ (n, n')``. Used by input splitting, where thousands of small boxes
are bounded per second.
"""

from __future__ import annotations

import numpy as np

from verifier.bounds.interval import ROUNDING_MARGIN, TINY
from verifier.bounds.relu_lines import LINE_MARGIN
from verifier.errors import NetworkError
from verifier.network import Affine, Network, Relu


def dense_chain(net: Network) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """The network as ``[(W, b, relu_after)]`` (dense W); raises for non-chains."""
    chain = []
    for op in net.layers():
        if isinstance(op, Affine):
            chain.append([op.dense_W(), op.b, False])
        elif isinstance(op, Relu):
            if not chain or chain[-1][2]:
                raise NetworkError("batched bounds need Affine before every ReLU")
            chain[-1][2] = True
        else:  # pragma: no cover
            raise NetworkError(f"batched bounds do not support {type(op).__name__}")
    return [tuple(item) for item in chain]


def relu_chain(net: Network) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """:func:`dense_chain` of a network whose every layer but the last is an affine layer
    followed by a ReLU (what back-substitution over ReLU layers needs); raises
    ``NetworkError`` otherwise."""
    chain = dense_chain(net)
    if (len(chain) != len(net.relu_names()) + 1
            or not all(relu for _, _, relu in chain[:-1]) or chain[-1][2]):
        raise NetworkError("needs affine + ReLU layers and an affine output layer")
    return chain


def _lines(l: np.ndarray, u: np.ndarray):
    """Batched ReLU lines (B, n) each: lower slope (min-area), upper slope and intercept."""
    active = l >= 0
    unstable = (l < 0) & (u > 0)
    width = np.where(unstable, u - l, 1.0)
    slope = np.where(unstable, u / width, 0.0)
    a_up = np.where(active, 1.0, slope)
    c_up = np.where(unstable, -slope * l * (1 + LINE_MARGIN) + LINE_MARGIN * (u - l) + 1e-30,
                    0.0)
    a_lo = np.where(active, 1.0, np.where(unstable & (u > -l), 1.0, 0.0))
    return a_lo, a_up, c_up


def _bmv(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched ``M[b] @ v[b]``: (B, k, n), (B, n) -> (B, k)."""
    return np.matmul(M, v[:, :, None])[:, :, 0]


def _backsub_linear(chain, j, M, lines, record: dict | None = None,
                    stops: tuple[list, list] | None = None, shifts: list | None = None,
                    to_input: bool = True):
    """Back-substitute rows M (B, k, n_j) of ``z_j`` to the input through the ReLU lines.

    Returns ``(const (B, k), coef (B, k, n_in))`` with ``const + coef @ x <= M z_j`` for
    every x of each box (before the rounding margin). With ``record`` given, the rows'
    coefficients on each ReLU output are stored there as ``record[relu layer] = (B, k, n)``
    (used for branching scores). With ``stops = (pre_lower, pre_upper)`` (per ReLU layer,
    (B, n_r) bounds valid on each domain) a third value is returned: (B, k) the best lower
    bound obtained by stopping at a ReLU layer and concretising over its output bounds
    (see :func:`_backsub_early`). ``shifts`` (per ReLU layer, (B, n_r) or None) are added
    to every row's coefficients on the layer's pre-activation once its ReLU is relaxed
    (the split multipliers of :func:`optimized_output_bound`). With ``to_input=False``
    the last step (through layer 0) is left out: ``coef`` is then over ``z_0``, the
    pre-activation of layer 0 (see :func:`_input_minimum`).
    """
    B, k, _ = M.shape
    const = np.zeros((B, k))
    best = np.full((B, k), -np.inf)
    for i in range(j, -1, -1):
        W, b, _ = chain[i]
        if i == 0 and not to_input:
            break
        const += M @ b
        M = (M.reshape(B * k, -1) @ W).reshape(B, k, -1)
        if i == 0:
            break
        if record is not None:
            record[i - 1] = M
        if stops is not None:
            y_lo, y_hi = np.maximum(stops[0][i - 1], 0.0), np.maximum(stops[1][i - 1], 0.0)
            best = np.maximum(best, _box_minimum(const, M, y_lo, y_hi))
        a_lo, a_up, c_up = lines[i - 1]
        negative = M < 0
        const += _bmv(np.where(negative, M, 0.0), c_up)
        M = M * np.where(negative, a_up[:, None, :], a_lo[:, None, :])
        if shifts is not None and shifts[i - 1] is not None:
            M = M + shifts[i - 1][:, None, :]
    if stops is not None:
        return const, M, best
    return const, M


def _backsub_early(chain, j, M, lines, pre_lower, pre_upper, lower, upper):
    """Lower bounds of ``M z_j`` (M: (B, k, n_j)) for each box, before rounding margin,
    taking at every ReLU layer ``r < j`` the better of going on and stopping there.

    Stopping at layer r uses the bounds of its output, ``y_r in [max(l_r, 0), max(u_r, 0)]``
    (valid on each domain): ``const + min over that box of M y_r``. It pays off when the
    intermediate bounds are tighter than what relaxing the layers below them gives (LP
    tightening, splits): on mnistfc 256x4 prop_5_0.03 ``bab`` needed 419 sub-domains with
    it and 623 without.
    """
    const, coef0, best = _backsub_linear(chain, j, M, lines, stops=(pre_lower, pre_upper),
                                         to_input=False)
    W0, b0, _ = chain[0]
    return np.maximum(best, const + _input_minimum(coef0, W0, b0, lower, upper))


def _input_minimum(M: np.ndarray, W0: np.ndarray, b0: np.ndarray, lower: np.ndarray,
                   upper: np.ndarray) -> np.ndarray:
    """``min over each box of M_d @ (W0 x + b0)``, (B, k), for M (B, k, n_0).

    The same sums as ``_box_minimum`` of the coefficients ``M @ W0``, but one domain at a
    time, so that its (k, n_in) coefficients stay in cache: with many rows and a wide
    input (784) the (B, k, n_in) array is what made the bound memory bound (5x slower).
    """
    out = M @ b0
    for d in range(M.shape[0]):
        X = M[d] @ W0
        out[d] += np.maximum(X, 0.0) @ lower[d] + np.minimum(X, 0.0) @ upper[d]
    return out


def _box_minimum(const, coef, lower, upper):
    """``min over each box of const + coef @ x``: (B, k)."""
    return const + _bmv(np.maximum(coef, 0), lower) + _bmv(np.minimum(coef, 0), upper)


def _backsub(chain, j, M, lines, lower, upper):
    """Lower bounds of ``M z_j`` (M: (B, k, n_j)) for each box, before rounding margin."""
    return _box_minimum(*_backsub_linear(chain, j, M, lines), lower, upper)


def _live_neurons(lines: list, states: list | None = None) -> list[np.ndarray]:
    """Per ReLU layer, the neurons a batch's back-substitution has to carry.

    A neuron whose lines are all 0 in every domain (inactive everywhere: ``u <= 0``) has
    output 0: after its ReLU is relaxed its coefficients are exact zeros, and dropping its
    column changes no sum. A split neuron is kept (its multiplier adds to the
    coefficients, see ``shifts`` of :func:`_backsub_linear`).
    """
    keep = []
    for r, (a_lo, a_up, c_up) in enumerate(lines):
        live = np.any((a_lo != 0) | (a_up != 0) | (c_up != 0), axis=0)
        if states is not None:
            live |= np.any(states[r] != 0, axis=0)
        keep.append(np.flatnonzero(live))
    return keep


def _restrict(chain, j: int, keep: list[np.ndarray], top: np.ndarray | None = None):
    """Layers ``0..j`` of the chain with each ReLU layer ``r < j`` cut to its neurons
    ``keep[r]`` (rows of ``W_r``, columns of ``W_{r+1}``) and layer ``j`` to the rows
    ``top`` (all when None). Back-substitution through it equals the full one when the
    dropped neurons are those :func:`_live_neurons` leaves out."""
    out = []
    for i in range(j + 1):
        W, b, relu = chain[i]
        rows = keep[i] if i < j else top
        if rows is not None:
            W, b = W[rows], b[rows]
        if i > 0:
            W = W[:, keep[i - 1]]
        out.append((np.ascontiguousarray(W), b, relu))
    return out


def _take(per_layer: list, keep: list[np.ndarray]) -> list:
    """Per ReLU layer arrays (B, n_r), or tuples of them, cut to the columns ``keep[r]``."""
    return [tuple(x[:, keep[r]] for x in a) if isinstance(a, tuple) else a[:, keep[r]]
            for r, a in enumerate(per_layer)]


def _widen(record: dict, keep: list[np.ndarray], sizes: list[int]) -> dict:
    """Records of a cut back-substitution (B, k, |keep_r|) back to (B, k, n_r) with zeros
    on the dropped neurons."""
    full = {}
    for r, M in record.items():
        out = np.zeros(M.shape[:2] + (sizes[r],))
        out[:, :, keep[r]] = M
        full[r] = out
    return full


def magnitude_scales(chain, root_lower: np.ndarray, root_upper: np.ndarray,
                     pre_bounds: list[tuple[np.ndarray, np.ndarray]] | None = None
                     ) -> list[np.ndarray]:
    """Per layer, a vector ``T_j`` bounding the magnitudes that back-substitution sums.

    With ``R = max(|l0|, |u0|)`` of the root box and ``Z_j`` the magnitudes of the root
    box's interval pre-activation bounds (valid for every sub-box), ``T_0 = |b_0| + |W_0| R``
    and ``T_j = |b_j| + |W_j| m_{j-1} (2 Z_{j-1} + T_{j-1})`` (slopes are in [0, 1] and
    upper-line intercepts below ``2 Z``; ``m`` is 0 for neurons that are inactive, ``u <= 0``,
    whose lines are 0, and 1 otherwise). For coefficient rows ``M`` the float64 error of the
    bound is far below ``ROUNDING_MARGIN * |M| @ T_j``.

    ``pre_bounds`` (per ReLU layer, sound pre-activation bounds of the root, e.g. LP
    tightened) replace the interval bounds where tighter; they must hold for every domain
    the scales are used for (sub-domains of a ReLU split do: their bounds only shrink).
    The interval bounds grow exponentially with depth: on mnistfc 256x6 they made the
    margin of the output bound 0.66, more than the whole gap of the property.
    """
    R = np.maximum(np.abs(root_lower), np.abs(root_upper))
    lo, hi = root_lower, root_upper
    scales = []
    T = None
    Z_prev = None
    mask = None
    for j, (W, b, relu_after) in enumerate(chain):
        absW = np.abs(W)
        T = np.abs(b) + absW @ (R if T is None else mask * (2.0 * Z_prev + T))
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        lo, hi = Wp @ lo + Wn @ hi + b, Wp @ hi + Wn @ lo + b
        if pre_bounds is not None and relu_after and j < len(pre_bounds):
            lo = np.maximum(lo, pre_bounds[j][0])
            hi = np.minimum(hi, pre_bounds[j][1])
        Z_prev = np.maximum(np.abs(lo), np.abs(hi)) * (1 + 1e-6) + 1e-30
        mask = (hi > 0).astype(np.float64)
        lo, hi = (np.maximum(lo, 0), np.maximum(hi, 0)) if relu_after else (lo, hi)
        scales.append(T * (1 + 1e-6))
    return scales


def batched_output_lower(chain, lower: np.ndarray, upper: np.ndarray, C: np.ndarray,
                         scales: list[np.ndarray], unstable_counts: bool = False):
    """Sound lower bounds of ``C @ f(x)`` over each box.

    Args:
        chain: :func:`dense_chain` of the network.
        lower, upper: (B, n_in) boxes.
        C: (m, n_out) rows.
        scales: :func:`magnitude_scales` of a box containing all the boxes.
        unstable_counts: also return, per box, the number of unstable ReLUs.
    Returns:
        (B, m) lower bounds (and (B,) counts when asked).
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    B = lower.shape[0]
    lines = []
    unstable = np.zeros(B, dtype=np.int64)
    post_lo, post_hi = lower, upper
    for j, (W, b, relu_after) in enumerate(chain):
        n = W.shape[0]
        WpT = np.ascontiguousarray(np.maximum(W, 0).T)   # contiguous: much faster in BLAS
        WnT = np.ascontiguousarray(np.minimum(W, 0).T)
        margin = ROUNDING_MARGIN * scales[j] + TINY
        l_box = post_lo @ WpT + post_hi @ WnT + b - margin
        u_box = post_hi @ WpT + post_lo @ WnT + b + margin
        if not relu_after:
            continue
        if j == 0:
            l, u = l_box, u_box
        else:
            eye = np.eye(n)
            both = np.ascontiguousarray(np.broadcast_to(np.concatenate([eye, -eye]),
                                                        (B, 2 * n, n)))
            bounds = _backsub(chain, j, both, lines, lower, upper)
            margin = ROUNDING_MARGIN * scales[j] + TINY
            l = np.maximum(bounds[:, :n] - margin, l_box)
            u = np.minimum(-bounds[:, n:] + margin, u_box)
        lines.append(_lines(l, u))
        unstable += np.sum((l < 0) & (u > 0), axis=1)
        post_lo, post_hi = np.maximum(l, 0), np.maximum(u, 0)
    last = len(chain) - 1
    if chain[last][2]:
        raise NetworkError("batched bounds expect an affine output layer")
    C = np.atleast_2d(C)
    M = np.ascontiguousarray(np.broadcast_to(C, (B,) + C.shape))
    value = _backsub(chain, last, M, lines, lower, upper)
    value = value - ROUNDING_MARGIN * (np.abs(C) @ scales[last]) - TINY
    # the interval box of the output bounds C y too: keep the better of the two
    Cp, Cn = np.maximum(C, 0), np.minimum(C, 0)
    from_box = l_box @ Cp.T + u_box @ Cn.T - ROUNDING_MARGIN * (np.abs(C) @ scales[last]) - TINY
    result = np.maximum(value, from_box)
    return (result, unstable) if unstable_counts else result


# ------------------------------------------------------------- ReLU-split sub-domains
def split_constraints(chain, scales: list[np.ndarray], lines: list, states: list[np.ndarray]):
    """Input-space relaxations ``G x <= h`` of the split constraints of B sub-domains.

    A ReLU fixed active satisfies ``z_i >= 0``, so its DeepPoly *upper* line in x,
    ``U_i(x) >= z_i``, gives ``-U_i(x) <= 0``; one fixed inactive satisfies ``z_i <= 0``, so
    its lower line ``L_i(x) <= z_i`` gives ``L_i(x) <= 0``. Both hold for every input of
    the sub-domain; with every ReLU fixed they are exact. The right-hand side is raised by
    the rounding margin ``ROUNDING_MARGIN * T_r[i] + TINY`` of the back-substitution.

    Args:
        lines: per ReLU layer, the sub-domains' ReLU lines (:func:`_lines`).
        states: per ReLU layer, (B, n_r) int8: +1 fixed active, -1 fixed inactive, 0 free.
    Returns:
        (G (B, S, n_in), h (B, S)); rows of a domain beyond its own splits are ``0 <= 1``.
    """
    B = states[0].shape[0]
    n_in = chain[0][0].shape[1]
    keep = _live_neurons(lines)
    Gs, hs = [], []
    for r, state in enumerate(states):
        counts = np.count_nonzero(state, axis=1)
        S = int(counts.max()) if counts.size else 0
        if S == 0:
            continue
        n = state.shape[1]
        M = np.zeros((B, S, n))
        margin = np.zeros((B, S))
        dom, neuron = np.nonzero(state)
        slot = np.arange(dom.size) - np.concatenate([[0], np.cumsum(counts)[:-1]])[dom]
        sign = np.where(state[dom, neuron] > 0, -1.0, 1.0)   # rows s e_i with s z_i <= 0
        M[dom, slot, neuron] = sign
        margin[dom, slot] = ROUNDING_MARGIN * scales[r][neuron] + TINY
        split = np.flatnonzero(np.any(state != 0, axis=0))
        const, coef = _backsub_linear(_restrict(chain, r, keep, split), r,
                                      np.ascontiguousarray(M[:, :, split]),
                                      _take(lines[:r], keep))
        Gs.append(coef)
        hs.append(np.where(margin > 0, -const + margin, 1.0))
    if not Gs:
        return np.zeros((B, 0, n_in)), np.zeros((B, 0))
    return np.concatenate(Gs, axis=1), np.concatenate(hs, axis=1)


def split_domain_bounds(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                        scales: list[np.ndarray], pre_lower: list[np.ndarray],
                        pre_upper: list[np.ndarray], first: int, C: np.ndarray,
                        states: list[np.ndarray] | None = None, early: bool = True):
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
        scales: :func:`magnitude_scales` of that box (valid for sub-domains: their bounds
            lie inside the box's interval bounds).
        pre_lower, pre_upper: per ReLU layer, (B, n_r) bounds (modified in place).
        first: ReLU layers ``<= first`` are kept as given (-1: recompute all but layer 0,
            whose bounds only a split can change).
        C: (m, n_out) rows.

        states: per ReLU layer, (B, n_r) split states (+1 active, -1 inactive, 0 free);
            when given, the split constraints' input relaxation is returned too.
        early: also stop the back-substitution of the output rows at every ReLU layer
            and concretise there (:func:`_backsub_early`; recomputed intermediate bounds
            always do); the better bound is kept.

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
    lines = []
    keep = []      # per ReLU layer, the neurons not inactive in every domain
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
                value = _backsub_early(_restrict(chain, j, keep, idx), j, rows,
                                       _take(lines, keep), _take(pre_lower[:j], keep),
                                       _take(pre_upper[:j], keep), lo_b, hi_b)
                margin = ROUNDING_MARGIN * scales[j][idx] + TINY
                l[:, idx] = np.maximum(l[:, idx], value[:, :idx.size] - margin)
                u[:, idx] = np.minimum(u[:, idx], -value[:, idx.size:] + margin)
        lines.append(_lines(pre_lower[j], pre_upper[j]))
        keep.extend(_live_neurons(lines[-1:]))
    last = len(chain) - 1
    if chain[last][2] or len(lines) != last:
        raise NetworkError("split bounds need a ReLU after every layer but the last")
    C = np.atleast_2d(C)
    M = np.ascontiguousarray(np.broadcast_to(C, (B,) + C.shape))
    cut_record: dict = {}
    const, input_coef, *stopped = _backsub_linear(
        _restrict(chain, last, keep), last, M, _take(lines, keep), record=cut_record,
        stops=(_take(pre_lower, keep), _take(pre_upper, keep)) if early else None)
    on_relu = _widen(cut_record, keep, [x.shape[1] for x in pre_lower])
    margin = ROUNDING_MARGIN * (np.abs(C) @ scales[last]) + TINY
    value = _box_minimum(const, input_coef, lo_b, hi_b)
    if stopped:
        value = np.maximum(value, stopped[0])
    value = value - margin
    split = None if states is None else split_constraints(chain, scales, lines, states)
    return value, on_relu, (const - margin, input_coef), split


def box_rows_dual_bound(coef: np.ndarray, const: np.ndarray, G: np.ndarray, h: np.ndarray,
                        lower: np.ndarray, upper: np.ndarray, iterations: int = 60
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds of ``min const_d + coef_d @ x`` over ``lower <= x <= upper`` and
    ``G_d x <= h_d``, for D problems at once, by projected dual ascent.

    For any multipliers ``beta >= 0`` (S,) weak duality gives

        const + min_{box} (coef + beta G) x - beta h  <=  min over the box and the rows,

    and the left side is a box minimum (each coordinate at the bound its coefficient
    picks). ``beta`` starts at 0 (the box bound) and follows Adam steps along the
    supergradient ``G x*(beta) - h``; the best value per problem over the iterations is
    returned. The maximum over ``beta`` equals the LP optimum (LP duality), so this is the
    split LP of beta-CROWN solved approximately, one batched product per iteration, instead
    of one LP per sub-domain.

    Soundness: every value is evaluated in floating point and lowered by
    ``4 (n + S + 4) eps`` times the sum of the magnitudes of its terms (a bound on the
    rounding error of the products and the sum, including the error in ``coef + beta G``).

    Args:
        coef: (D, n). const: (D,). G: (D, S, n). h: (D, S) (rows ``0 x <= 1`` pad).
        lower, upper: (n,) the box.
    Returns:
        (bound (D,), x (D, n): the box point that minimises the best Lagrangian).
    """
    D, S, n = G.shape
    span = np.maximum(np.abs(lower), np.abs(upper))
    eps_factor = 4.0 * (n + S + 4) * np.finfo(np.float64).eps

    def value(beta):
        c = coef + np.einsum("ds,dsn->dn", beta, G)
        x = np.where(c > 0, lower, upper)
        val = const + np.einsum("dn,dn->d", c, x) - np.einsum("ds,ds->d", beta, h)
        size = (np.abs(const) + np.einsum("ds,ds->d", beta, np.abs(h))
                + (np.abs(coef) + np.einsum("ds,dsn->dn", beta, np.abs(G))) @ span)
        return val - eps_factor * size - TINY, x

    beta = np.zeros((D, S))
    best, best_x = value(beta)
    if S == 0 or iterations <= 0:
        return best, best_x
    # rows scaled to max-abs 1 so that one step size fits all rows of a problem
    scale = np.max(np.abs(G), axis=2)
    usable = scale > 0
    inv = np.where(usable, 1.0 / np.where(usable, scale, 1.0), 0.0)
    step0 = 0.5 * np.max(np.abs(coef), axis=1, keepdims=True) + TINY   # (D, 1)
    m = np.zeros((D, S))
    v = np.zeros((D, S))
    b1, b2 = 0.9, 0.999
    for t in range(1, iterations + 1):
        c = coef + np.einsum("ds,dsn->dn", beta, G)
        x = np.where(c > 0, lower, upper)
        grad = (np.einsum("dsn,dn->ds", G, x) - h) * inv      # per unit of scaled row
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        lr = step0 * 0.98 ** t
        step = lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-12)
        beta = np.maximum(beta + step * inv, 0.0)
        beta[~usable] = 0.0
        val, xs = value(beta)
        better = val > best
        best = np.where(better, val, best)
        best_x[better] = xs[better]
    return best, best_x


def optimized_output_bound(chain, box_lower: np.ndarray, box_upper: np.ndarray,
                           scales: list[np.ndarray], pre_lower: list[np.ndarray],
                           pre_upper: list[np.ndarray], states: list[np.ndarray],
                           rows: np.ndarray, iterations: int = 20, lr_alpha: float = 0.1,
                           lr_beta: float = 0.05, start: tuple[list, list] | None = None
                           ) -> tuple[np.ndarray, np.ndarray, tuple[list, list]]:
    """Lower bounds of ``rows_d @ f(x)`` on B ReLU-split sub-domains with optimised lower
    slopes (alpha) and split multipliers (beta), as alpha-beta-CROWN does.

    Back-substitution of each domain's row through the domain's ReLU lines, where

    * an unstable ReLU uses ``y >= alpha_i z`` (any ``alpha_i`` in [0, 1] is valid) when its
      coefficient is positive, the triangle's upper line when negative;
    * a split ReLU is linear (its bounds already say ``l >= 0`` or ``u <= 0``), and its
      constraint ``s_i z_i <= 0`` (``s = -1`` active, ``+1`` inactive) enters the objective
      with a multiplier ``beta_i >= 0``: ``f >= f + beta_i s_i z_i`` on the sub-domain.

    At every layer the back-substitution may also stop and concretise over the bounds of
    the ReLU outputs there (as :func:`_backsub_early`); the best value counts. Any
    (alpha, beta) gives a sound bound; they are improved by projected Adam steps along
    the gradient of the bound at the input, computed by a reverse pass (the gradient for
    ``beta_i`` is ``s_i`` times the relaxed value of ``z_i`` at the minimising box
    corner). The best bound per domain over the iterations is returned.

    Soundness: the intermediate bounds ``pre_lower/pre_upper`` must be valid on each
    sub-domain (those of :func:`split_domain_bounds`). Each evaluated bound is lowered by
    ``ROUNDING_MARGIN * (|row| @ T_last + sum_r beta_r @ T_r) + TINY`` (``T`` from
    :func:`magnitude_scales`: the multipliers add rows of magnitude ``beta_i T_r[i]``).

    Args:
        rows: (B, n_out) one objective row per domain.
        states: per ReLU layer (B, n_r) split states (+1 active, -1 inactive, 0 free).
        start: optional ``(alpha, beta)``, per ReLU layer (B, n_r) each, to start from
            (warm start, e.g. the parent domain's optimised values). NaN entries take the
            default (DeepPoly's slope, beta 0); the others are projected onto [0, 1] and
            [0, inf). Entries of stable or unsplit neurons are ignored.
    Returns:
        (bound (B,), x (B, n_in): the box corner minimising the best bound's linear form,
        (alpha, beta): per ReLU layer (B, n_r) the values that gave each domain's bound).
    """
    last = len(chain) - 1
    B = rows.shape[0]
    n_relu = last
    lines = [_lines(pre_lower[r], pre_upper[r]) for r in range(n_relu)]
    unstable = [(pre_lower[r] < 0) & (pre_upper[r] > 0) for r in range(n_relu)]
    sign = [np.where(states[r] > 0, -1.0, np.where(states[r] < 0, 1.0, 0.0))
            for r in range(n_relu)]
    alpha = [np.where(unstable[r], lines[r][0], 0.0) for r in range(n_relu)]
    beta = [np.zeros_like(sign[r]) for r in range(n_relu)]
    if start is not None:
        for r in range(n_relu):
            a0, b0 = start[0][r], start[1][r]
            alpha[r] = np.where(unstable[r] & np.isfinite(a0), np.clip(a0, 0.0, 1.0), alpha[r])
            beta[r] = np.where((sign[r] != 0) & np.isfinite(b0), np.maximum(b0, 0.0), 0.0)
    base_margin = ROUNDING_MARGIN * (np.abs(rows) @ scales[last]) + TINY
    # the back-substitution carries only the neurons live in some domain (or split)
    keep = _live_neurons(lines, states)
    cut_chain = _restrict(chain, last, keep)
    cut_stops = (_take(pre_lower, keep), _take(pre_upper, keep))
    sizes = [x.shape[1] for x in pre_lower]

    def forward(alpha, beta):
        relaxed = [(np.where(unstable[r], alpha[r], lines[r][0]), lines[r][1], lines[r][2])
                   for r in range(n_relu)]
        record: dict = {}
        const, coef, early = _backsub_linear(
            cut_chain, last, rows[:, None, :], _take(relaxed, keep), record=record,
            stops=cut_stops, shifts=_take([beta[r] * sign[r] for r in range(n_relu)], keep))
        record = _widen(record, keep, sizes)
        const, y, early = const[:, 0], coef[:, 0], early[:, 0]
        x = np.where(y > 0, box_lower, box_upper)
        value = np.maximum(const + np.sum(y * x, axis=1), early)
        margin = base_margin + ROUNDING_MARGIN * sum(np.sum(beta[r] * scales[r], axis=1)
                                                     for r in range(n_relu))
        # per ReLU layer: the rows' coefficients on its output, the slopes they took
        Y = [record[r][:, 0] for r in range(n_relu)]
        NEG = [Y[r] < 0 for r in range(n_relu)]
        A = [np.where(NEG[r], relaxed[r][1], relaxed[r][0]) for r in range(n_relu)]
        return value - margin, x, (Y, A, NEG)

    best, best_x, saved = forward(alpha, beta)
    best_params = ([a.copy() for a in alpha], [b_.copy() for b_ in beta])
    if iterations <= 0 or n_relu == 0:
        return best, best_x, best_params
    mom = {}
    b1, b2 = 0.9, 0.999
    has_split = [np.any(sign[r] != 0) for r in range(n_relu)]
    value, x, (Y, A, NEG) = best, best_x, saved
    for t in range(1, iterations + 1):
        # reverse pass: g = d bound / d (coefficient on the current node)
        g = x
        grads_alpha, grads_beta = [None] * n_relu, [None] * n_relu
        for r in range(n_relu):
            W, b, _ = chain[r]
            gM = g @ W.T + b                      # d/d (coefficient on z_r)
            grads_beta[r] = gM * sign[r]
            grads_alpha[r] = np.where(unstable[r] & ~NEG[r], gM * Y[r], 0.0)
            g = gM * A[r] + np.where(NEG[r], lines[r][2], 0.0)
        for r in range(n_relu):
            for name, param, grad, lr, lo_, hi_ in (
                    ("a", alpha, grads_alpha, lr_alpha, 0.0, 1.0),
                    ("b", beta, grads_beta, lr_beta, 0.0, np.inf)):
                if name == "b" and not has_split[r]:
                    continue
                m, v = mom.get((name, r), (np.zeros_like(grad[r]), np.zeros_like(grad[r])))
                m = b1 * m + (1 - b1) * grad[r]
                v = b2 * v + (1 - b2) * grad[r] ** 2
                mom[(name, r)] = (m, v)
                step = lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-12)
                param[r] = np.clip(param[r] + step, lo_, hi_)
                if name == "a":
                    param[r] = np.where(unstable[r], param[r], 0.0)
                else:
                    param[r] = np.where(sign[r] != 0, param[r], 0.0)
        value, x, (Y, A, NEG) = forward(alpha, beta)
        better = value > best
        best = np.where(better, value, best)
        best_x[better] = x[better]
        for r in range(n_relu):
            best_params[0][r][better] = alpha[r][better]
            best_params[1][r][better] = beta[r][better]
    return best, best_x, best_params
