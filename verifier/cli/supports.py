"""``verifier supports --CAPABILITY``: the VNN-LIB 2.0 capability queries (chapter 5).

Each answer is read from the code that implements it: the operators from the importer's
op table (:data:`verifier.catalog.SUPPORTED_OP_NAMES`, checked against it by a test), the theories from what the query model and
its lowering accept and the element types from what the analysis is sound for
(:data:`verifier.catalog.SUPPORTED_THEORIES` and ``SOUND_ELEMENT_TYPES``, which
:mod:`verifier.spec.logic` and :mod:`verifier.spec.binding` use).
This module imports nothing heavy: ``supports`` answers in a fraction of a second.
"""

from __future__ import annotations

#: capability -> one-line help; the answer comes from :func:`answer`
CAPABILITIES = {
    "onnx-opset-versions": "minimum and maximum ONNX opset",
    "onnx-element-types": "element types the analysis is sound for",
    "onnx-operators": "ONNX operators the importer translates",
    "vnnlib-versions": "minimum and maximum VNN-LIB version read",
    "hidden-node-theories": "hidden node theories (NH, H)",
    "multiple-input-output-theories": "multiple input/output theories (SIO, MIO)",
    "multiple-network-theories": "multiple network theories (SNET, MENET, MINET, MNET)",
    "multiple-node-comparison-theories": "node comparison theories (SNC, MNC)",
    "arithmetic-complexity-theories": "arithmetic theories (BND, COUT, LIN)",
    "optimised-disjunctive-reasoning": "whether (or ...) gets more than a DNF",
    "serialise-assignments": "whether verify --serialise-assignments is supported",
}

#: the VNN-LIB versions read: 1.0 (our own parser) and 2.0 (the reference parser)
VNNLIB_VERSIONS = ("1.0", "2.0")


def answer(capability: str) -> list[str]:
    """The lines ``verifier supports --CAPABILITY`` prints."""
    if capability == "onnx-opset-versions":
        from verifier.catalog import OPSET_RANGE
        return [str(v) for v in OPSET_RANGE]
    if capability == "onnx-element-types":
        from verifier.catalog import SOUND_ELEMENT_TYPES
        return list(SOUND_ELEMENT_TYPES)
    if capability == "onnx-operators":
        from verifier.catalog import SUPPORTED_OP_NAMES
        return list(SUPPORTED_OP_NAMES)
    if capability == "vnnlib-versions":
        return list(VNNLIB_VERSIONS)
    if capability.endswith("-theories"):
        from verifier.catalog import SUPPORTED_THEORIES
        return list(SUPPORTED_THEORIES[capability[: -len("-theories")]])
    if capability == "optimised-disjunctive-reasoning":
        return ["false"]     # the assertion is multiplied out into DNF, disjunct by disjunct
    if capability == "serialise-assignments":
        return ["true"]
    raise KeyError(capability)


def add_parser(subparsers) -> None:
    s = subparsers.add_parser(
        "supports", help="VNN-LIB 2.0 capability queries (one answer per line)",
        description="Answer one of the VNN-LIB 2.0 standard's capability queries.")
    group = s.add_mutually_exclusive_group(required=True)
    for name, text in CAPABILITIES.items():
        group.add_argument(f"--{name}", dest="capability", action="store_const",
                           const=name, help=text)
    s.set_defaults(func=run)


def run(args) -> int:
    print("\n".join(answer(args.capability)))
    return 0
