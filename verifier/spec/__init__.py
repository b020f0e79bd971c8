"""Properties: input boxes with disjunctions of unsafe output polytopes; VNN-LIB I/O."""

from verifier.spec.property import (Case, OutputPolytope, Property, halfspace_property,
                                    linf_robustness, output_at_least)

__all__ = ["Case", "OutputPolytope", "Property", "linf_robustness", "output_at_least",
           "halfspace_property", "load_vnnlib"]


def load_vnnlib(path: str, n_inputs: int | None = None, n_outputs: int | None = None) -> Property:
    """Parse a VNN-LIB 1.0 file (optionally ``.gz``) into a :class:`Property`."""
    from verifier.spec.vnnlib import parse_vnnlib_file
    return parse_vnnlib_file(path, n_inputs=n_inputs, n_outputs=n_outputs)
