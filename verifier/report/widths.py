"""Pre-activation bounds of every layer by interval, DeepPoly and LP-ALL, within a deadline.

What ``verifier bounds`` prints and ``verifier plot widths`` draws. The methods run in
order of cost; each one that finishes before the deadline is kept, so a short time limit
still shows the cheap methods (and LP-ALL's layers done by then).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from verifier.bounds import Bounds, DeepPolyOptions, deeppoly_bounds, interval_bounds
from verifier.errors import TimeLimitReached
from verifier.network import Network
from verifier.tighten import lp_tighten


def bounds_by_method(net: Network, lower: np.ndarray, upper: np.ndarray, lp: bool = True,
                     deadline: float | None = None,
                     progress: Callable[[str], None] | None = None,
                     dp_options: DeepPolyOptions = DeepPolyOptions(every_neuron=True)
                     ) -> dict[str, dict[str, Bounds]]:
    """``{"interval": bounds, "deeppoly": bounds, "lp": bounds}`` of every node on the box.

    Args:
        net: the network.
        lower, upper: the input box.
        lp: also tighten DeepPoly's bounds by two LPs per unstable neuron (LP-ALL).
        deadline: ``time.monotonic()`` value: DeepPoly is left out if it has not finished
            by then, LP-ALL keeps DeepPoly's bounds for the neurons it has not reached.
        progress: receives one line per step (and per LP layer), or None.
        dp_options: DeepPoly's options.
    """
    say = progress or (lambda message: None)
    by = {"interval": interval_bounds(net, lower, upper)}
    say("interval: done")
    try:
        by["deeppoly"] = deeppoly_bounds(net, lower, upper, dp_options, start=by["interval"],
                                         deadline=deadline)
    except TimeLimitReached:
        say("deeppoly: time limit reached before it finished; left out")
        return by
    say("deeppoly: done")
    if lp:
        by["lp"] = lp_tighten(net, by["deeppoly"], deadline=deadline, dp_options=dp_options,
                              progress=say)[0]
    return by
