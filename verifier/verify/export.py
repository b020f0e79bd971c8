"""Building the model of one (case, disjunct) and writing it as .lp/.mps."""

from __future__ import annotations

from verifier.errors import SpecError
from verifier.network import Network
from verifier.spec import Property


def build_disjunct_model(net: Network, prop: Property, method: str = "triangle", case: int = 0,
                         disjunct: int = 0, lp_tighten: bool = True):
    """The LinearModel ``min margin`` of one disjunct under a relaxation (or big-M)."""
    from verifier.bounds import deeppoly_bounds
    from verifier.encode import encode_network, with_disjunct
    from verifier.relaxations import big_m, deeppoly_lines, triangle
    from verifier.verify.pipeline import CaseContext, margin_range
    from verifier.verify.options import VerifyOptions
    import time

    if not 0 <= case < len(prop.cases):
        raise SpecError(f"case {case} does not exist (property has {len(prop.cases)})")
    c = prop.cases[case]
    if not 0 <= disjunct < len(c.disjuncts):
        raise SpecError(f"disjunct {disjunct} does not exist (case has {len(c.disjuncts)})")
    options = VerifyOptions(lp_tighten=lp_tighten)
    ctx = CaseContext(net, c, options, time.monotonic() + 3600.0, None)
    bounds = ctx.tightened() if lp_tighten else deeppoly_bounds(net, c.lower, c.upper)
    relax = {"triangle": triangle, "deeppoly": deeppoly_lines, "milp": big_m}[method]
    blocks = {r: [relax(bounds[net.inputs_of(r)[0]], r)] for r in net.relu_names()}
    encoded = encode_network(net, bounds, blocks)
    poly = c.disjuncts[disjunct]
    t_lo, t_hi = margin_range(ctx, poly.A, poly.b, bounds)
    return with_disjunct(encoded, encoded.columns[net.output_name], poly.A, poly.b,
                         (t_lo, t_hi), label="margin")


def export_model(net: Network, prop: Property, path: str, method: str = "triangle",
                 case: int = 0, disjunct: int = 0, lp_tighten: bool = True) -> dict:
    """Write the model to ``path`` (.lp or .mps) and return its summary counts."""
    from solvers.highs import HighsBackend
    from verifier.encode.summary import export_summary
    model = build_disjunct_model(net, prop, method, case, disjunct, lp_tighten)
    backend = HighsBackend()
    backend.load(model)
    backend.write(path)
    return export_summary(model)
