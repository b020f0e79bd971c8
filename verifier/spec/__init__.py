"""Properties: input boxes with disjunctions of unsafe output polytopes; VNN-LIB I/O."""

from verifier.spec.property import (Case, OutputPolytope, Property, halfspace_property,
                                    linf_robustness, output_at_least)

__all__ = ["Case", "OutputPolytope", "Property", "linf_robustness", "output_at_least",
           "halfspace_property", "load_vnnlib", "load_query", "is_vnnlib2_file"]


def load_vnnlib(path: str, n_inputs: int | None = None, n_outputs: int | None = None) -> Property:
    """Parse a VNN-LIB 1.0 file (optionally ``.gz``) into a :class:`Property`."""
    from verifier.spec.vnnlib import parse_vnnlib_file
    return parse_vnnlib_file(path, n_inputs=n_inputs, n_outputs=n_outputs)


def is_vnnlib2_file(path: str) -> bool:
    """Whether the file (``.vnnlib`` or ``.gz``) is VNN-LIB 2.x (starts with
    ``(vnnlib-version``; only a regular file is opened, and only its first 64 KiB read)."""
    from verifier.spec.vnnlib import starts_as_vnnlib2
    return starts_as_vnnlib2(path)


def load_query(path: str):
    """Parse a VNN-LIB 2.x file (optionally ``.gz``) into a
    :class:`~verifier.spec.query.Query` with the reference parser (PyPI ``vnnlib``)."""
    from verifier.spec.vnnlib import read_vnnlib_text
    from verifier.spec.vnnlib2 import parse_query
    return parse_query(read_vnnlib_text(path), str(path))
