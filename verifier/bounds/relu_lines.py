"""Linear lower/upper functions of a ReLU over its pre-activation interval.

For pre-activation bounds ``l <= x <= u`` these give, per neuron,
``a_lo x + c_lo <= relu(x) <= a_up x + c_up`` for every ``x`` in ``[l, u]``:

* stable active (``l >= 0``): ``a = 1, c = 0`` on both sides (exact);
* stable inactive (``u <= 0``): ``a = 0, c = 0`` (exact);
* unstable (``l < 0 < u``): upper line through ``(l, 0)`` and ``(u, u)``:
  ``a_up = u / (u - l)``, ``c_up = -a_up l``, rounded up by a relative ``1e-12`` so that the
  floating-point line still lies above the ReLU on ``[l, u]``; lower line ``y >= a_lo x`` with
  ``a_lo`` from ``lower_slope``:
  ``"min_area"`` (DeepPoly/CROWN: 1 if ``u > -l`` else 0, the choice of smaller area),
  ``"zero"``, ``"one"``, or ``"parallel"`` (``a_lo = a_up``, the slope of the upper line).
  Any ``a_lo`` in ``[0, 1]`` is valid since ``relu(x) >= 0`` and ``relu(x) >= x``.
"""

from __future__ import annotations

import numpy as np

LINE_MARGIN = 1e-12


def relu_lines(lower: np.ndarray, upper: np.ndarray, lower_slope: str = "min_area"):
    """Coefficients ``(a_lo, c_lo, a_up, c_up)``, each an (n,) array (see module docstring)."""
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    active = lower >= 0
    unstable = (lower < 0) & (upper > 0)
    a_up = np.where(active, 1.0, 0.0)
    c_up = np.zeros_like(lower)
    l_u, u_u = lower[unstable], upper[unstable]
    slope = u_u / (u_u - l_u)
    a_up[unstable] = slope
    c_up[unstable] = -slope * l_u * (1.0 + LINE_MARGIN) + LINE_MARGIN * (u_u - l_u) + 1e-30
    a_lo = np.where(active, 1.0, 0.0)
    if lower_slope == "min_area":
        a_lo[unstable] = (u_u > -l_u).astype(np.float64)
    elif lower_slope == "one":
        a_lo[unstable] = 1.0
    elif lower_slope == "parallel":
        a_lo[unstable] = slope
    elif lower_slope != "zero":
        raise ValueError(f"unknown lower_slope {lower_slope!r}")
    c_lo = np.zeros_like(lower)
    return a_lo, c_lo, a_up, c_up
