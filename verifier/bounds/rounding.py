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
