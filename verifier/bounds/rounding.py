"""The outward rounding margins every bound in this package subtracts.

A float64 sum or product of terms whose magnitudes add up to ``S`` is within
``n * u * S`` of its exact value (``u`` = 2^-53, ``n`` terms). The margins below are far
above that for any layer this project meets, so a bound lowered by them is a bound on the
exact real value; the tests check it by sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: relative margin on a back-substituted or interval bound, times the magnitude of the
#: terms that went into it
ROUNDING_MARGIN = 1e-10
#: absolute floor of every rounding margin (not subnormal-prone like 1e-300)
TINY = 1e-30
#: relative error bound of one float64 subtraction ``a - b`` (a few units of roundoff)
DIFFERENCE_ROUNDING = 4e-16


def difference_lower(a, b):
    """A lower bound of the exact ``a - b`` for float64 ``a``, ``b`` (arrays or scalars):
    the rounded difference minus ``DIFFERENCE_ROUNDING * (|a| + |b|)``."""
    return a - b - DIFFERENCE_ROUNDING * (np.abs(a) + np.abs(b))


#: unit roundoff of float64
UNIT_ROUNDOFF = 2.0 ** -53


def chain_relative_margin(chain) -> float:
    """A relative rounding margin for the batched bounds of one chain, far below
    ``ROUNDING_MARGIN`` on small networks.

    Each layer of forward forms or of back-substitution adds at most ``3 n + 6`` rounded
    operations per value (n its fan-in: sums of ``W+ L``, ``W- U`` or ``M W``, ``M b`` and
    the intercepts, a slope product), and a box minimum ``2 d + 6`` (d inputs). Errors of
    such a computation compose to at most ``gamma_N = N u / (1 - N u)`` times the
    magnitude of its terms (Higham, *Accuracy and Stability of Numerical Algorithms*,
    Lemma 3.3), N the sum of those counts; the margin is four times that, and never
    more than ``ROUNDING_MARGIN``. It multiplies the same magnitudes ``T_j`` of
    :func:`~verifier.bounds.chain.magnitude_scales`.
    """
    d = chain[0][0].shape[1]
    n_ops = sum(3 * W.shape[1] + 6 for W, _, _ in chain) + 2 * d + 6
    gamma = n_ops * UNIT_ROUNDOFF / (1.0 - n_ops * UNIT_ROUNDOFF)
    return min(ROUNDING_MARGIN, 4.0 * gamma)


#: unit roundoff of float32
SINGLE_ROUNDOFF = 2.0 ** -24


def backsub_relative(chain) -> float:
    """The relative factor of the a-posteriori rounding bound of back-substitution
    (:class:`RoundingScales`): ``4 gamma_N`` with ``N = max(fan-in) + 3 L + 16``.

    Back-substitution's float64 errors are local: each product with a layer's ``W`` (inner
    products of length at most the widest fan-in, any summation order) errs by at most
    ``gamma_n |M| |W|`` (Higham, Lemma 3.3 and eq. 3.13), each elementwise product or sum
    by one unit roundoff of its magnitude, and the constant, a sum of at most ``3 L + 3``
    such terms (L layers), by ``gamma_{3L+3}`` of their magnitudes. Each error is a term
    ``E v`` with ``|v|`` bounded on the box, so the total is at most ``2 gamma_N`` times the
    weighted sum the back-substitution accumulates; four times is taken.
    """
    widest = max(max(W.shape[1] for W, _, _ in chain), chain[-1][0].shape[0])
    n_ops = widest + 3 * len(chain) + 16
    return 4.0 * n_ops * UNIT_ROUNDOFF / (1.0 - n_ops * UNIT_ROUNDOFF)


@dataclass(frozen=True)
class RoundingScales:
    """What the a-posteriori rounding bound of a chain's back-substitution multiplies.

    A back-substitution carries a row ``M`` on the pre-activation ``z_j`` of a layer, then
    ``Q = M W_j`` on the layer's input ``y_{j-1}``, relaxes the ReLU (``P = Q a + shifts``
    on ``z_{j-1}``) and so on down to the input. Its float64 result differs from the exact
    value of the same multipliers by at most ``relative`` times

        ``|M| @ top_j + sum_r (|Q_r| @ q_r + |shifts_r| @ p_r)``   (plus the cut products)

    (see :func:`backsub_relative`), with, per layer ``j``, ``Z_j >= |z_j|`` and
    ``Y_j >= |y_{j-1}|`` (``Y_0 >= |x|``) on the root box, and

    * ``p_j = |W_j| Y_j + |b_j| + Z_j``: what a coefficient on ``z_j`` multiplies (the
      product with ``W_j`` and ``b_j``, the rounded sums and slope products on ``z_j``);
    * ``q_r = Y_{r+1} + 2 Z_r + p_r``: what a coefficient on the ReLU output ``y_r``
      multiplies (early stops, intercepts ``c_up <= 2 Z_r``, and ``|P_r| <= |Q_r| +
      |shifts_r|`` since slopes lie in [0, 1]).

    Valid for every sub-domain of the root box (its values are a subset). Unlike a margin
    that multiplies magnitudes grown through every layer's ``|W|`` (exponential in the
    depth), each term here is one layer's magnitude times the row actually carried there.

    Attributes:
        z, y: per layer ``Z_j`` (n_j,) and ``Y_j`` (n_{j-1},) as above.
        p, q: per layer ``p_j`` and per ReLU layer ``q_r``.
        relative: :func:`backsub_relative` of the chain.
    """

    z: list
    y: list
    p: list
    q: list
    relative: float

    def weights(self, j: int, keep: list | None = None, top: np.ndarray | None = None
                ) -> "BacksubWeights":
        """The weights of a back-substitution from layer ``j`` through a chain restricted
        to ``keep`` (per ReLU layer, the neurons kept) and ``top`` (rows of layer j)."""
        p_top = self.p[j] if top is None else self.p[j][top]
        q = [self.q[r] if keep is None else self.q[r][keep[r]] for r in range(j)]
        p = [self.p[r] if keep is None else self.p[r][keep[r]] for r in range(j)]
        return BacksubWeights(p_top, q, p, self.relative)


@dataclass(frozen=True)
class BacksubWeights:
    """:class:`RoundingScales` restricted to one back-substitution's neurons: ``top`` for
    the rows' layer, per ReLU layer below it ``q`` (on its output) and ``p`` (on its
    pre-activation), and the scales' ``relative``."""

    top: np.ndarray
    q: list
    p: list
    relative: float
