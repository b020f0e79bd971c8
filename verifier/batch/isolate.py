"""One instance in a fresh process: started in its own session, hard-killed at its limit.

The instance process runs this package's ``verifier.cli --one ONNX VNNLIB --method M
--timeout S`` (:func:`run_one` in that process) and prints one ``@@result@@ {json}`` line.
It imports the package from the folder this process imported it from, never from its
current folder (``python -m`` would put the current folder first on ``sys.path``: run
from a folder holding another ``verifier/`` checkout, every instance would import that
one; :func:`instance_command`). Its own session lets it be killed with everything it
started; a crash (segfault, out of memory) becomes one ``error`` row instead of the end
of the batch.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from verifier.batch.networks import is_network_list, parse_network_list, resolve_networks
from verifier.errors import InputFileError, VerifierError
from verifier.files import check_input_file
from verifier.network import load_network
from verifier.spec import load_vnnlib
from verifier.spec.results import query_result_lines
from verifier.threads import single_threaded_environment
from verifier.verify import verify
from verifier.verify.query import verify_query

RESULT_MARKER = "@@result@@ "

DEFAULT_TIMEOUT = 60.0

#: what an instance process runs (``python -c``, then the package's folder, then the
#: command line): the current folder leaves ``sys.path`` (as ``python -P``, which
#: Python 3.10 lacks), the package's folder goes first unless it is already there
#: (PYTHONPATH and the user's site-packages still count, as in the parent)
BOOTSTRAP = ("import sys; root = sys.argv.pop(1); "
             "sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
             "root in sys.path or sys.path.insert(0, root); "
             "from verifier.cli import main; sys.exit(main(sys.argv[1:]))")


def package_root() -> str:
    """The folder this process imported the ``verifier`` package from (the one holding
    ``verifier/batch/isolate.py``)."""
    return str(Path(__file__).resolve().parents[2])


def instance_command(python: str, argv: list[str]) -> list[str]:
    """The command of an instance process running ``verifier.cli`` with ``argv``: this
    package, whatever the current folder holds (:data:`BOOTSTRAP`)."""
    return [python, "-c", BOOTSTRAP, package_root(), *argv]


def hard_limit(timeout: float) -> float:
    """Seconds after which an instance process is killed: the timeout + 10 % + 10 s."""
    return timeout * 1.1 + 10.0


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_one(onnx_path: str, vnnlib_path: str, method: str = "auto",
            timeout: float = DEFAULT_TIMEOUT, partial=None) -> dict:
    """Load and verify one instance in this process; never raises on bad input.

    ``timeout`` counts from the call (loading included); ``partial`` is passed to
    :func:`~verifier.verify.verify` (it receives the result being filled in).

    Returns:
        ``{"verdict", "time_s", "certified_margin", "message", "x", "y"}``; ``x``/``y`` are
        the replayed witness for ``sat`` (lists) or None. Bad files, unsupported ops and
        malformed specs give verdict ``error`` with a one-line message.
    """
    start = time.perf_counter()
    out = {"verdict": "error", "time_s": 0.0, "certified_margin": None, "message": "",
           "x": None, "y": None}
    try:
        if not is_network_list(onnx_path):
            check_input_file(onnx_path, "network file")
        check_input_file(vnnlib_path, "property file")
    except InputFileError as exc:
        out["message"] = one_line(exc)
        out["time_s"] = time.perf_counter() - start
        return out
    try:
        query = instance_query(onnx_path, vnnlib_path)
        remaining = max(timeout - (time.perf_counter() - start), 0.01)
        if query is not None:
            result = verify_query(query[0], query[1], method=method, timeout=remaining,
                                  partial=partial)
            out["assignment"] = query_result_lines(query[0], result.verdict,
                                                   result.assignment)[1:] or None
        else:
            net = load_network(onnx_path)
            prop = load_vnnlib(vnnlib_path, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
            remaining = max(timeout - (time.perf_counter() - start), 0.01)
            result = verify(net, prop, method=method, timeout=remaining,
                            onnx_path=onnx_path if onnx_path.endswith(".onnx") else None,
                            partial=partial)
        out["verdict"] = result.verdict
        out["message"] = one_line(result.message)
        margin = result.certified_margin()
        out["certified_margin"] = margin if math.isfinite(margin) else None
        if result.witness is not None:
            out["x"] = [float(v) for v in result.witness.x]
            out["y"] = [float(v) for v in result.witness.y]
    except VerifierError as exc:
        out["message"] = one_line(f"{type(exc).__name__}: {exc}")
    except MemoryError:
        out["message"] = "out of memory"
    except Exception as exc:  # an internal bug: still one error row, the batch goes on
        out["message"] = one_line(f"internal error: {type(exc).__name__}: {exc}")
    out["time_s"] = time.perf_counter() - start
    return out


def instance_query(onnx: str, vnnlib_path: str):
    """``(query, files)`` for a VNN-LIB 2.0 instance (a 2.0 file, or a network list as
    ONNX argument), else None. Relative paths of a network list are taken from the
    current folder, else from the folders above the query file (the benchmark's root).

    Raises:
        VerifierError: a 2.0 query whose networks cannot be matched to the files.
    """
    from verifier.spec import is_vnnlib2_file, load_query

    pairs = parse_network_list(onnx) if is_network_list(onnx) else None
    if pairs is None and not is_vnnlib2_file(vnnlib_path):
        return None
    query = load_query(vnnlib_path)
    if pairs is None:
        needing = [n.name for n in query.networks if n.equal_to is None]
        if len(needing) != 1:
            raise InputFileError(f"{vnnlib_path} declares {len(needing)} networks that need "
                                 "a file: give them as [('name','file.onnx'), ...]")
        return query, {needing[0]: onnx}
    folders = [str(p) for p in Path(vnnlib_path).resolve().parents]
    return query, dict(resolve_networks(pairs, os.getcwd(), *folders))


def watch_parent() -> None:
    """Exit this process when its parent dies (the batch was SIGKILLed): no orphans."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def child_environment() -> dict:
    """The environment of an instance process: BLAS single-threaded from the start, unless
    the user set the thread variables."""
    return single_threaded_environment(os.environ)


@dataclass
class Task:
    """What one isolated run needs (picklable, so it can be shipped to a Dask worker).

    Attributes:
        onnx_path, vnnlib_path: absolute paths.
        method: bounding method.
        timeout: verification time limit (seconds).
        kill_after: hard limit of the process (default :func:`hard_limit` of timeout).
        key: the instance's (onnx, vnnlib) key, handed back with the result.
    """

    onnx_path: str
    vnnlib_path: str
    method: str
    timeout: float
    kill_after: float | None = None
    key: tuple[str, str] = ("", "")
    python: str = field(default_factory=lambda: sys.executable)


class ProcessRegistry:
    """The instance processes alive right now, so that Ctrl-C can kill them all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stopping = threading.Event()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)
        if self.stopping.is_set():
            kill_group(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        self.stopping.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            kill_group(proc)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except OSError:
            pass


def run_isolated(task: Task, registry: ProcessRegistry | None = None) -> dict:
    """Run one instance in a fresh ``python -m verifier.cli --one`` process.

    The process gets its own session and is killed (with everything it started) after
    ``task.kill_after`` seconds, giving verdict ``timeout``. A crash gives ``error``.
    Safe to call from threads and from Dask workers.

    Returns:
        The :func:`run_one` dict plus ``wall_s`` and ``key``.
    """
    kill_after = task.kill_after if task.kill_after is not None else hard_limit(task.timeout)
    cmd = instance_command(task.python, ["--one", task.onnx_path, task.vnnlib_path,
                                         "--method", task.method,
                                         "--timeout", repr(float(task.timeout))])
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                            env=child_environment())
    if registry is not None:
        registry.add(proc)
    killed = False
    try:
        try:
            stdout, stderr = proc.communicate(timeout=kill_after)
        except subprocess.TimeoutExpired:
            killed = True
            kill_group(proc)
            stdout, stderr = proc.communicate()
    finally:
        if registry is not None:
            registry.discard(proc)
    wall = time.perf_counter() - start
    out = None
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                out = json.loads(line[len(RESULT_MARKER):])
            except json.JSONDecodeError:
                out = None
            break
    if out is None:
        out = {"verdict": "error", "time_s": wall, "certified_margin": None,
               "x": None, "y": None}
        if killed:
            out["verdict"] = "timeout"
            out["message"] = f"killed after {kill_after:.3g}s (hard limit)"
        else:
            last = [ln for ln in stderr.strip().splitlines() if ln.strip()]
            reason = last[-1] if last else "no output"
            code = proc.returncode
            if code is not None and code < 0:
                try:
                    reason = f"killed by {signal.Signals(-code).name}; {reason}"
                except ValueError:
                    reason = f"killed by signal {-code}; {reason}"
            out["message"] = one_line(f"instance process exited with code {code}: {reason}")
    out["wall_s"] = wall
    out["key"] = list(task.key)
    return out
