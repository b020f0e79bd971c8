"""One instance in a fresh process: started in its own session, hard-killed at its limit.

The instance process runs ``python -m verifier.cli --one ONNX VNNLIB --method M --timeout S``
(:func:`run_one` in that process) and prints one ``@@result@@ {json}`` line. Its own session
lets it be killed with everything it started; a crash (segfault, out of memory) becomes
one ``error`` row instead of the end of the batch.
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

from verifier.errors import VerifierError
from verifier.network import load_network
from verifier.spec import load_vnnlib
from verifier.threads import single_threaded_environment
from verifier.verify import verify

RESULT_MARKER = "@@result@@ "

DEFAULT_TIMEOUT = 60.0



def hard_limit(timeout: float) -> float:
    """Seconds after which an instance process is killed: the timeout + 10 % + 10 s."""
    return timeout * 1.1 + 10.0


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class MissingFile(Exception):
    pass


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
        if not os.path.isfile(onnx_path):
            raise MissingFile(f"{onnx_path}: no such network file")
        if not os.path.isfile(vnnlib_path):
            raise MissingFile(f"{vnnlib_path}: no such property file")
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
    except MissingFile as exc:
        out["message"] = one_line(exc)
    except VerifierError as exc:
        out["message"] = one_line(f"{type(exc).__name__}: {exc}")
    except MemoryError:
        out["message"] = "out of memory"
    except Exception as exc:  # an internal bug: still one error row, the batch goes on
        out["message"] = one_line(f"internal error: {type(exc).__name__}: {exc}")
    out["time_s"] = time.perf_counter() - start
    return out


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
    cmd = [task.python, "-m", "verifier.cli", "--one", task.onnx_path, task.vnnlib_path,
           "--method", task.method, "--timeout", repr(float(task.timeout))]
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
