"""verifier: exact and relaxed verification of ReLU networks, side by side.

Quick use::

    from verifier import load_network, load_vnnlib, verify
    net = load_network("net.onnx")
    prop = load_vnnlib("prop.vnnlib")
    result = verify(net, prop, method="auto", timeout=60)

The names below are imported on first use (PEP 562), so that ``import verifier`` and
``verifier --version`` do not load numpy, HiGHS or onnx.
"""

import sys
import types

__version__ = "0.1.0"

__all__ = ["Network", "load_network", "Property", "linf_robustness", "load_vnnlib", "verify",
           "Result", "VerifyOptions", "__version__"]


def __getattr__(name: str):
    if name in ("Network", "load_network"):
        from verifier.network import Network, load_network
        return {"Network": Network, "load_network": load_network}[name]
    if name in ("Property", "linf_robustness", "load_vnnlib"):
        from verifier.spec import Property, linf_robustness, load_vnnlib
        return {"Property": Property, "linf_robustness": linf_robustness,
                "load_vnnlib": load_vnnlib}[name]
    if name in ("Result", "VerifyOptions", "verify"):
        from verifier.verify.pipeline import verify
        from verifier.verify.result import Result
        from verifier.verify.options import VerifyOptions
        return {"Result": Result, "VerifyOptions": VerifyOptions, "verify": verify}[name]
    raise AttributeError(f"module 'verifier' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package's module type: ``verifier.verify`` stays the function of the API.

    The import system binds every imported subpackage on its parent, so the first import
    of the ``verifier.verify`` subpackage would otherwise replace the function by the
    subpackage (and ``from verifier import verify`` would then return a module)."""

    def __setattr__(self, name, value):
        if name == "verify" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
