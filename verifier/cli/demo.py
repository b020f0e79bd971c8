"""``verifier demo``: how far each relaxation is from the exact answer, on the bundled net.

For L-inf robustness of the bundled digits network around its first test images, every
method's certified margin (the smallest over the adversarial labels; > 0 proves the image
robust) is printed next to the exact margin, and the share of the triangle's gap that the
multi-neuron k-ReLU relaxation closes. All methods of one (image, eps) share one case
context (bounds are computed once), as in ``verifier gap``.
"""

from __future__ import annotations

import math
import sys

from verifier.catalog import METHOD_SUMMARIES
from verifier.cli.arguments import choice_list, positive_int, positive_seconds, radius_list
from verifier.errors import OptionError

DEFAULT_METHODS = "interval,deeppoly,triangle,krelu,milp"
#: radii at which the bundled net's images sit between what the triangle proves and what
#: is true, so that k-ReLU has a gap to close (bench/README.md shows the table)
DEFAULT_EPS = "0.04,0.05,0.06"
CELL = 16


def add_parser(subparsers) -> None:
    d = subparsers.add_parser(
        "demo", help="robustness of the bundled digits network, every method",
        description="L-inf robustness of the bundled 64-32-32-10 digits network around its "
                    "first test images: each method's certified margin (min over the "
                    "adversarial labels; > 0 proves it), the exact margin (milp), and the "
                    "share of the triangle's gap that k-ReLU closes.")
    d.add_argument("--eps", default=DEFAULT_EPS, type=radius_list,
                   help=f"comma-separated radii ({DEFAULT_EPS})")
    d.add_argument("--images", type=positive_int, default=3,
                   help="number of bundled images (<= 10)")
    d.add_argument("--methods", default=DEFAULT_METHODS, type=choice_list(METHOD_SUMMARIES),
                   help=f"comma-separated methods, of {', '.join(METHOD_SUMMARIES)} ({DEFAULT_METHODS})")
    d.add_argument("--timeout", type=positive_seconds, default=30.0,
                   help="seconds per method and objective (30)")
    d.set_defaults(func=run)


def run(args) -> int:
    from verifier.data import demo_images, demo_network_path
    from verifier.network import load_network
    from verifier.report import gap_table
    from verifier.spec import linf_robustness
    from verifier.verify import VerifyOptions
    images, labels = demo_images()
    if not 1 <= args.images <= len(labels):
        raise OptionError(f"--images {args.images}: the demo ships {len(labels)} images "
                          f"(give 1..{len(labels)})")
    path = str(demo_network_path())
    net = load_network(path)
    methods, eps_list = args.methods, args.eps
    print(f"network: {path} ({net.n_inputs} inputs, {len(net.relu_names())} ReLU layers, "
          f"{sum(net.size(r) for r in net.relu_names())} neurons)")
    print("cell = certified margin (min over adversarial labels; > 0 proves robustness) and "
          "seconds;\nmilp = the exact minimum ([lower,upper] if it did not finish); krelu "
          "closes = share of the\ntriangle's gap to the exact minimum that k-ReLU closes")
    head = ([f"{'image':>5}", f"{'label':>5}", f"{'eps':>5}"]
            + [f"{m if m != 'milp' else 'milp (exact)':>{CELL}}" for m in methods]
            + ([f"{'krelu closes':>{CELL}}"] if {"milp", "krelu", "triangle"} <= set(methods)
               else []))
    print("  ".join(head))
    print("-" * len("  ".join(head)))
    for idx in range(args.images):
        for eps in eps_list:
            prop = linf_robustness(images[idx], eps, int(labels[idx]), net.n_outputs)
            say = _live if sys.stderr.isatty() else None
            table = gap_table(net, prop, methods, timeout=args.timeout,
                              options=VerifyOptions(), progress=say)
            if say is not None:
                sys.stderr.write("\r\x1b[K")
            print("  ".join([f"{idx:>5}", f"{int(labels[idx]):>5}", f"{eps:>5g}"]
                            + [f"{c:>{CELL}}" for c in _cells(table, methods)]), flush=True)
    return 0


def _live(message: str) -> None:
    sys.stderr.write(f"\r\x1b[K  .. {message[:100]}")
    sys.stderr.flush()


def _cells(table, methods: list[str]) -> list[str]:
    """Per method ``margin (seconds)`` (milp: the exact minimum, or its bracket), then
    k-ReLU's share of the triangle's gap."""
    cells = []
    for m in methods:
        seconds = sum(o.times.get(m, 0.0) for o in table.objectives)
        if m == "milp":
            exact = [o.exact for o in table.objectives]
            low = min(o.exact_lower for o in table.objectives)
            high = min(o.exact_upper for o in table.objectives)
            value = (_num(min(exact)) if all(e is not None for e in exact)
                     else f"[{_num(low)},{_num(high)}]")
        else:
            value = _num(min(o.bounds.get(m, -math.inf) for o in table.objectives))
        cells.append(f"{value} ({seconds:.1f}s)")
    if {"milp", "krelu", "triangle"} <= set(methods):
        cells.append(_share(table))
    return cells


def _share(table) -> str:
    """k-ReLU's share of the triangle's gap on the objective that decides the image."""
    worst = min(table.objectives, key=lambda o: o.exact_upper)
    share = worst.krelu_share()
    return "-" if share is None else f"{100 * share:.0f}%"


def _num(value: float) -> str:
    return "-inf" if value == -math.inf else f"{value:.3g}"
