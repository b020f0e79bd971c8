"""The outward rounding margins every bound in this package subtracts.

A float64 sum or product of terms whose magnitudes add up to ``S`` is within
``n * u * S`` of its exact value (``u`` = 2^-53, ``n`` terms). The margins below are far
above that for any layer this project meets, so a bound lowered by them is a bound on the
exact real value; the tests check it by sampling.
"""

from __future__ import annotations

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
