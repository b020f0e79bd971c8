"""Many instances: ``verifier batch`` (resume, processes, Dask) and VNN-COMP's entry points.

Every instance runs in its own fresh process (:mod:`verifier.batch.isolate`), killed at
``timeout * 1.1 + 10`` seconds; only the parent writes the output CSV, one row per finished
instance, flushed and fsync'ed, so a crash or Ctrl-C loses nothing that finished
(:mod:`verifier.batch.results`). ``--resume`` skips the rows already in the output (key:
the ``onnx`` and ``vnnlib`` strings as written in the instances CSV).
"""

from verifier.batch.instances import Instance, read_instances, select_instances
from verifier.batch.isolate import (DEFAULT_TIMEOUT, RESULT_MARKER, ProcessRegistry, Task,
                                    child_environment, hard_limit, run_isolated, run_one)
from verifier.batch.results import OUTPUT_COLUMNS, format_summary, summarize
from verifier.batch.runner import run_batch
from verifier.batch.vnncomp import check_files, run_vnncomp_instance

__all__ = ["Instance", "read_instances", "select_instances", "Task", "run_isolated",
           "run_one", "run_batch", "summarize", "format_summary", "OUTPUT_COLUMNS",
           "RESULT_MARKER", "DEFAULT_TIMEOUT", "ProcessRegistry", "child_environment",
           "hard_limit", "check_files", "run_vnncomp_instance"]
