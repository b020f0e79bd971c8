"""verifier: exact and relaxed verification of ReLU networks, side by side.

Quick use::

    from verifier import load_network, load_vnnlib, verify
    net = load_network("net.onnx")
    prop = load_vnnlib("prop.vnnlib")
    result = verify(net, prop, method="auto", timeout=60)
"""

__version__ = "0.1.0"

from verifier.network import Network, load_network  # noqa: E402
from verifier.spec import Property, linf_robustness, load_vnnlib  # noqa: E402
from verifier.verify import Result, VerifyOptions, verify  # noqa: E402

__all__ = ["Network", "load_network", "Property", "linf_robustness", "load_vnnlib", "verify",
           "Result", "VerifyOptions", "__version__"]
