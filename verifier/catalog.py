"""The names the command line offers, as data that imports nothing.

``verifier --help`` (and every subcommand's ``--help``) lists the methods with one line
each, the tightening methods and the gap report's default methods from here, so that
it answers without importing numpy, HiGHS or onnx. The library takes the same names from
here: :data:`verifier.methods.METHODS` has one entry per :data:`METHOD_SUMMARIES` key (a
test checks it), :data:`verifier.tighten.TIGHTEN_METHODS` and
:data:`verifier.report.DEFAULT_METHODS` are these tuples.
"""

#: every bound method, in the order of the table, with one line of help
METHOD_SUMMARIES = {
    "interval": "box propagation, rounded outward",
    "deeppoly": "DeepPoly/CROWN back-substitution",
    "alpha": "DeepPoly with optimised slopes per row (alpha-CROWN), any graph",
    "triangle": "LP over per-neuron triangles, tightened bounds",
    "krelu": "triangle LP + multi-neuron k-ReLU hull cuts",
    "milp": "big-M MILP on HiGHS (dual bound, never the incumbent)",
    "split": "input-splitting branch and bound",
    "bab": "ReLU-split branch and bound (alpha-beta bounds)",
    "exact": "split for few free inputs, else bab, else milp",
}

#: every name ``verify`` accepts: the methods and the ``auto`` plan
METHOD_NAMES = tuple(METHOD_SUMMARIES) + ("auto",)

#: how intermediate bounds can be tightened (:class:`verifier.tighten.TightenOptions`)
TIGHTEN_METHODS = ("alpha", "lp")

#: VNN-LIB 2.0 theory set -> the theories this verifier decides, smallest first (what the
#: query model and its lowering accept, :mod:`verifier.spec.logic`; ``verifier supports``)
SUPPORTED_THEORIES = {
    "hidden-node": ("NH", "H"),
    "multiple-network": ("SNET", "MENET", "MINET", "MNET"),
    "multiple-input-output": ("SIO", "MIO"),
    "multiple-node-comparison": ("SNC", "MNC"),
    "arithmetic-complexity": ("BND", "COUT", "LIN"),
}

#: element types the analysis is sound for (:mod:`verifier.spec.binding`)
SOUND_ELEMENT_TYPES = ("real",)

#: every ONNX op type the importer translates (sorted); a test checks that it is exactly the
#: keys of :data:`verifier.network.onnx_import.TRANSLATORS`
SUPPORTED_OP_NAMES = (
    "Add", "AveragePool", "BatchNormalization", "Concat", "Constant", "Conv", "Div",
    "Dropout", "Flatten", "Gather", "Gemm", "Identity", "MatMul", "MaxPool", "Mul", "Pad",
    "Relu", "Reshape", "Shape", "Slice", "Split", "Squeeze", "Sub", "Transpose", "Unsqueeze")

#: the ONNX opsets whose versioned attributes the translators handle and the tests or the
#: benchmarks exercise (Slice's attribute form < 10, Split/Squeeze/Unsqueeze inputs from
#: 13, Split's ``num_outputs`` and Pad's ``axes`` from 18)
OPSET_RANGE = (8, 18)

#: the methods of a gap table unless others are asked for
GAP_METHODS = ("interval", "deeppoly", "triangle", "krelu", "milp")
