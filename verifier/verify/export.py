"""Building the model of one (case, disjunct) and writing it as .lp/.mps."""

from __future__ import annotations

import os
import time

from solvers.highs import HighsBackend
from verifier.encode import encode_network, with_disjunct
from verifier.encode.summary import export_summary
from verifier.errors import InputFileError, SpecError
from verifier.files import check_output_file, output_path
from verifier.methods import CaseContext, VerifyOptions
from verifier.lp import MILP_MARGIN
from verifier.methods.margins import case_constraints, margin_range
from verifier.network import Network
from verifier.relaxations.single_neuron import SINGLE_NEURON_RELAXATIONS
from verifier.spec import Property

MODEL_EXTENSIONS = (".lp", ".mps")
#: ``verifier export --method`` -> the relaxation every ReLU layer gets
EXPORT_RELAXATIONS = {"triangle": "triangle", "deeppoly": "deeppoly", "milp": "bigm"}


def build_disjunct_model(net: Network, prop: Property, method: str = "triangle", case: int = 0,
                         disjunct: int = 0, lp_tighten: bool = True):
    """The LinearModel ``min margin`` of one disjunct under a relaxation (or big-M)."""
    if not 0 <= case < len(prop.cases):
        raise SpecError(f"case {case} does not exist (property has {len(prop.cases)})")
    c = prop.cases[case]
    if not 0 <= disjunct < len(c.disjuncts):
        raise SpecError(f"disjunct {disjunct} does not exist (case has {len(c.disjuncts)})")
    ctx = CaseContext(net, c, VerifyOptions(lp_tighten=lp_tighten), time.monotonic() + 3600.0)
    bounds = ctx.tightened()
    relax = SINGLE_NEURON_RELAXATIONS[EXPORT_RELAXATIONS[method]]
    blocks = {r: [relax(bounds[net.inputs_of(r)[0]], r)] for r in net.relu_names()}
    encoded = encode_network(net, bounds, blocks)
    poly = c.disjuncts[disjunct]
    t_lo, t_hi = margin_range(ctx, poly.A, poly.b, bounds)
    loosen = MILP_MARGIN if method == "milp" else 0.0
    return with_disjunct(encoded, encoded.columns[net.output_name], poly.A, poly.b,
                         (t_lo, t_hi), label="disjunct",
                         **case_constraints(c, encoded.columns[net.input_name], loosen))


def check_model_path(path: str, option: str = "-o") -> None:
    """Raise :class:`InputFileError` unless ``path`` ends in ``.lp`` or ``.mps`` and can be
    written (:func:`~verifier.files.check_output_file`: its folder exists and is writable);
    nothing is created."""
    if not path.lower().endswith(MODEL_EXTENSIONS):
        raise InputFileError(f"{option} {path}: the model file must end in .lp or .mps")
    check_output_file(path, option)


def export_model(net: Network, prop: Property, path: str, method: str = "triangle",
                 case: int = 0, disjunct: int = 0, lp_tighten: bool = True) -> dict:
    """Write the model to ``path`` (.lp or .mps, readable names) and return its summary
    counts.

    Raises:
        InputFileError: a path that does not end in .lp/.mps, cannot be written, or that
            HiGHS did not write (then no file is left behind).
    """
    path = str(path)
    check_model_path(path)
    model = build_disjunct_model(net, prop, method, case, disjunct, lp_tighten)
    backend = HighsBackend()
    backend.load(model)
    with output_path(path) as temp:
        if not backend.write(temp) or os.path.getsize(temp) == 0:
            raise InputFileError(f"{path}: HiGHS could not write the model")
    return export_summary(model)
