"""The ONNX operators and opsets the importer translates, without importing it.

``verifier supports`` answers from here in a fraction of a second; a test checks that
:data:`SUPPORTED_OP_NAMES` is exactly the keys of the importer's op table
(:data:`verifier.network.onnx_import.TRANSLATORS`).
"""

#: every op type with a translator (sorted)
SUPPORTED_OP_NAMES = (
    "Add", "AveragePool", "BatchNormalization", "Concat", "Constant", "Conv", "Div",
    "Dropout", "Flatten", "Gather", "Gemm", "Identity", "MatMul", "MaxPool", "Mul", "Pad",
    "Relu", "Reshape", "Shape", "Slice", "Split", "Squeeze", "Sub", "Transpose", "Unsqueeze")

#: the opsets whose versioned attributes the translators handle and the tests or the
#: benchmarks exercise (Slice's attribute form < 10, Split/Squeeze/Unsqueeze inputs from
#: 13, Split's ``num_outputs`` and Pad's ``axes`` from 18)
OPSET_RANGE = (8, 18)
