"""The one place that sets how many threads BLAS may use.

The products here are small; BLAS threads only add overhead and fight with the other
worker processes on a small machine, so the command line and ``verify`` run BLAS
single-threaded unless told otherwise (``VerifyOptions.blas_threads``). The benchmark that
justifies the default is in ``bench/README.md``.
"""

from __future__ import annotations

import contextlib

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads(count: int | None):
    """A context manager that limits BLAS to ``count`` threads (threadpoolctl) and restores
    the previous setting on exit; ``None`` leaves BLAS alone."""
    if count is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(int(count))


def single_threaded_environment(env: dict) -> dict:
    """``env`` with BLAS single-threaded from process start (for child processes), unless
    the variables are already set there."""
    out = dict(env)
    for var in BLAS_THREAD_VARIABLES:
        out.setdefault(var, "1")
    return out
