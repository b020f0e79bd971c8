"""Many instances: ``verifier batch``, resume, Dask, and the VNN-COMP entry point.

Every instance runs in its own fresh process (``python -m verifier.batch --one ...``),
started in its own session so that it can be hard-killed at ``timeout * 1.1 + 10`` seconds
without touching anything else, and so that a crash (segfault, out of memory) in one
instance becomes one ``error`` row instead of the end of the batch. The parent (or, with
Dask, the worker that runs the task) starts that process; only the parent writes the
output CSV, one row per finished instance, flushed and fsync'ed, so a crash or Ctrl-C
loses nothing that finished. ``--resume`` skips the rows already in the output
(key: the ``onnx`` and ``vnnlib`` strings as written in the instances CSV).

Modes of ``python -m verifier.batch``:

* ``INSTANCES.csv --out results.csv ...``: the batch command (same as ``verifier batch``).
* ``--one ONNX VNNLIB --method M --timeout S``: one instance, in this process; prints one
  ``@@result@@ {json}`` line on stdout (used by the batch and by the VNN-COMP script).
* ``--vnncomp CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT``: VNN-COMP's ``run_instance``.
* ``--check ONNX VNNLIB``: load both files, report sizes (VNN-COMP's ``prepare_instance``).

Output columns: see :data:`OUTPUT_COLUMNS`. ``time_s`` is the time inside the instance
process (load + verify); ``wall_s`` adds the interpreter start-up, as a user would see it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Instance", "Task", "read_instances", "run_isolated", "run_one", "run_batch",
           "summarize", "add_batch_subparser", "run_batch_command", "main_vnncomp", "main",
           "OUTPUT_COLUMNS"]

#: Columns of the output CSV, in order.
OUTPUT_COLUMNS = ["onnx", "vnnlib", "verdict", "expected", "time_s", "wall_s", "best_time_s",
                  "timeout", "certified_margin", "method", "message"]

RESULT_MARKER = "@@result@@ "
DEFAULT_TIMEOUT = 60.0
METHODS = ["interval", "deeppoly", "triangle", "krelu", "milp", "split", "bab", "exact", "auto"]

_GROUND_TRUTH_ALIASES = {"sat": "sat", "unsat": "unsat", "violated": "sat",
                         "holds": "unsat", "unknown": "unknown", "": ""}


def hard_limit(timeout: float) -> float:
    """Seconds after which an instance process is killed: the timeout + 10 % + 10 s."""
    return timeout * 1.1 + 10.0


# ------------------------------------------------------------------ instances
@dataclass(frozen=True)
class Instance:
    """One row of an instances CSV.

    Attributes:
        onnx, vnnlib: the paths as written in the CSV (the resume key).
        onnx_path, vnnlib_path: the same, resolved against the CSV's folder.
        timeout: the CSV's time limit (None when the column is empty/missing).
        expected: ground-truth verdict (``sat``/``unsat``/``unknown``) or ``""``.
        best_time_s: best published time, or ``""``.
        line: 1-based line in the CSV.
    """

    onnx: str
    vnnlib: str
    onnx_path: str
    vnnlib_path: str
    timeout: float | None
    expected: str = ""
    best_time_s: str = ""
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.onnx, self.vnnlib)


def _is_header(row: list[str]) -> bool:
    names = [c.strip().lower() for c in row]
    return "onnx" in names and "vnnlib" in names


def read_instances(csv_path: str | os.PathLike) -> list[Instance]:
    """Read a VNN-COMP ``instances.csv`` (``onnx,vnnlib,timeout[,...]``, header optional).

    Paths are relative to the CSV's folder. With a header, the optional columns
    ``verdict`` (ground truth, kept as ``expected``) and ``best_time_s`` are kept.
    Duplicate (onnx, vnnlib) rows are kept once.

    Raises:
        InputFileError: missing/unreadable CSV, or a row with fewer than 2 fields.
    """
    from verifier.errors import InputFileError
    path = Path(csv_path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such instances file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read instances file ({exc})") from None
    rows = list(csv.reader(io.StringIO(text)))
    base = path.resolve().parent
    columns = ["onnx", "vnnlib", "timeout"]
    start = 0
    if rows and _is_header(rows[0]):
        columns = [c.strip().lower() for c in rows[0]]
        start = 1
    instances: list[Instance] = []
    seen: set[tuple[str, str]] = set()
    for index in range(start, len(rows)):
        raw = rows[index]
        if not raw or all(not c.strip() for c in raw) or raw[0].lstrip().startswith("#"):
            continue
        record = {name: (raw[i].strip() if i < len(raw) else "")
                  for i, name in enumerate(columns)}
        if not record.get("onnx") or not record.get("vnnlib"):
            raise InputFileError(f"{path}:{index + 1}: expected onnx,vnnlib,timeout; "
                                 f"got {','.join(raw)!r}")
        timeout = None
        if record.get("timeout"):
            try:
                timeout = float(record["timeout"])
            except ValueError:
                raise InputFileError(f"{path}:{index + 1}: timeout {record['timeout']!r} "
                                     "is not a number") from None
        expected = _GROUND_TRUTH_ALIASES.get(record.get("verdict", "").lower(),
                                             record.get("verdict", "").lower())
        inst = Instance(onnx=record["onnx"], vnnlib=record["vnnlib"],
                        onnx_path=str(base / record["onnx"]),
                        vnnlib_path=str(base / record["vnnlib"]), timeout=timeout,
                        expected=expected, best_time_s=record.get("best_time_s", ""),
                        line=index + 1)
        if inst.key in seen:
            continue
        seen.add(inst.key)
        instances.append(inst)
    return instances


def select_instances(instances: list[Instance], filters: list[str] | None = None,
                     limit: int | None = None) -> list[Instance]:
    """Rows whose onnx or vnnlib path contains any of ``filters``, then the first ``limit``."""
    if filters:
        instances = [i for i in instances
                     if any(f in i.onnx or f in i.vnnlib for f in filters)]
    if limit is not None:
        instances = instances[:max(limit, 0)]
    return instances


# ------------------------------------------------------------------ one instance
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_one(onnx_path: str, vnnlib_path: str, method: str = "auto",
            timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Load and verify one instance in this process; never raises on bad input.

    Returns:
        ``{"verdict", "time_s", "certified_margin", "message", "x", "y"}``; ``x``/``y`` are
        the replayed witness for ``sat`` (lists) or None. Bad files, unsupported ops and
        malformed specs give verdict ``error`` with a one-line message.
    """
    from verifier.errors import VerifierError
    start = time.perf_counter()
    out = {"verdict": "error", "time_s": 0.0, "certified_margin": None, "message": "",
           "x": None, "y": None}
    try:
        from verifier.network import load_network
        from verifier.spec import load_vnnlib
        from verifier.verify import verify
        if not os.path.isfile(onnx_path):
            raise _MissingFile(f"{onnx_path}: no such network file")
        if not os.path.isfile(vnnlib_path):
            raise _MissingFile(f"{vnnlib_path}: no such property file")
        net = load_network(onnx_path)
        prop = load_vnnlib(vnnlib_path, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
        remaining = max(timeout - (time.perf_counter() - start), 0.01)
        result = verify(net, prop, method=method, timeout=remaining,
                        onnx_path=onnx_path if onnx_path.endswith(".onnx") else None)
        out["verdict"] = result.verdict
        out["message"] = _one_line(result.message)
        margin = result.certified_margin()
        out["certified_margin"] = margin if math.isfinite(margin) else None
        if result.witness is not None:
            out["x"] = [float(v) for v in result.witness.x]
            out["y"] = [float(v) for v in result.witness.y]
    except _MissingFile as exc:
        out["message"] = _one_line(exc)
    except VerifierError as exc:
        out["message"] = _one_line(f"{type(exc).__name__}: {exc}")
    except MemoryError:
        out["message"] = "out of memory"
    except Exception as exc:  # an internal bug: still one error row, the batch goes on
        out["message"] = _one_line(f"internal error: {type(exc).__name__}: {exc}")
    out["time_s"] = time.perf_counter() - start
    return out


class _MissingFile(Exception):
    pass


def _watch_parent() -> None:
    """Exit this process when its parent dies (the batch was SIGKILLed): no orphans."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads() -> None:
    """One BLAS thread in this process: the products here are small, and threads only add
    overhead and fight with the other worker processes (measured: OpenBLAS on a 2-core
    machine made small transposed products up to 50x slower). Uses threadpoolctl when
    installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def child_environment() -> dict:
    """The environment of an instance process: BLAS single-threaded from the start, unless
    the user set the thread variables."""
    env = dict(os.environ)
    for var in BLAS_THREAD_VARIABLES:
        env.setdefault(var, "1")
    return env


def _main_one(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m verifier.batch --one")
    p.add_argument("onnx")
    p.add_argument("vnnlib")
    p.add_argument("--method", default="auto")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = p.parse_args(argv)
    _watch_parent()
    limit_blas_threads()
    out = run_one(args.onnx, args.vnnlib, args.method, args.timeout)
    sys.stdout.write(RESULT_MARKER + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


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
            _kill_group(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        self.stopping.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except OSError:
            pass


def run_isolated(task: Task, registry: ProcessRegistry | None = None) -> dict:
    """Run one instance in a fresh ``python -m verifier.batch --one`` process.

    The process gets its own session and is killed (with everything it started) after
    ``task.kill_after`` seconds, giving verdict ``timeout``. A crash gives ``error``.
    Safe to call from threads and from Dask workers.

    Returns:
        The :func:`run_one` dict plus ``wall_s`` and ``key``.
    """
    kill_after = task.kill_after if task.kill_after is not None else hard_limit(task.timeout)
    cmd = [task.python, "-m", "verifier.batch", "--one", task.onnx_path, task.vnnlib_path,
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
            _kill_group(proc)
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
            out["message"] = _one_line(f"instance process exited with code {code}: {reason}")
    out["wall_s"] = wall
    out["key"] = list(task.key)
    return out


# ------------------------------------------------------------------ output CSV
def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ""
    return str(value)


def prepare_output(out_path: Path, resume: bool, overwrite: bool) -> dict[tuple[str, str], dict]:
    """Open the results CSV for appending; return the rows already there (by key).

    A torn last line (the batch was killed mid-write) is cut off, so its instance reruns.
    Without ``resume`` an existing non-empty file is an error unless ``overwrite``.
    """
    from verifier.errors import InputFileError, VerifierError
    done: dict[tuple[str, str], dict] = {}
    exists = out_path.exists() and out_path.stat().st_size > 0
    if exists and not resume:
        if not overwrite:
            raise VerifierError(f"{out_path} exists; pass --resume to continue it or "
                                "--overwrite to start again")
        out_path.unlink()
        exists = False
    if exists:
        data = out_path.read_bytes()
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with open(out_path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
            data = data[:cut]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        if rows:
            if rows[0] != OUTPUT_COLUMNS:
                raise InputFileError(f"{out_path}: not a results file of this tool (header "
                                     f"{','.join(rows[0])!r}); use another --out")
            for row in rows[1:]:
                if len(row) != len(OUTPUT_COLUMNS):
                    continue
                record = dict(zip(OUTPUT_COLUMNS, row))
                done[(record["onnx"], record["vnnlib"])] = record
        else:
            exists = False
    if not exists:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with open(out_path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerow(OUTPUT_COLUMNS)
            fh.flush()
            os.fsync(fh.fileno())
    return done


class ResultWriter:
    """Appends one row per finished instance; each row is flushed and fsync'ed."""

    def __init__(self, path: Path):
        self._fh = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh, lineterminator="\n")

    def write(self, record: dict) -> None:
        self._writer.writerow([_fmt(record.get(c)) for c in OUTPUT_COLUMNS])
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _record(inst: Instance, out: dict, method: str, timeout: float) -> dict:
    return {"onnx": inst.onnx, "vnnlib": inst.vnnlib, "verdict": out.get("verdict", "error"),
            "expected": inst.expected, "time_s": out.get("time_s"), "wall_s": out.get("wall_s"),
            "best_time_s": inst.best_time_s, "timeout": float(timeout),
            "certified_margin": out.get("certified_margin"), "method": method,
            "message": _one_line(out.get("message", ""))}


# ------------------------------------------------------------------ progress and summary
def _duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """One status line on stderr: done/total, verdict tallies, elapsed and ETA."""

    def __init__(self, total: int, already: int, stream=None):
        self.total = total
        self.done = already
        self.already = already
        self.tally: dict[str, int] = {}
        self.start = time.monotonic()
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, verdict: str, label: str = "") -> None:
        self.done += 1
        self.tally[verdict] = self.tally.get(verdict, 0) + 1
        elapsed = time.monotonic() - self.start
        new = self.done - self.already
        left = self.total - self.done
        eta = elapsed / new * left if new else float("nan")
        tallies = " ".join(f"{k} {v}" for k, v in sorted(self.tally.items()))
        line = (f"[{self.done}/{self.total}] {tallies} | elapsed {_duration(elapsed)} "
                f"ETA {_duration(eta) if math.isfinite(eta) else '?'}")
        if label and not self.tty:
            line += f" | {label}: {verdict}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if left == 0 else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()


def _float(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def summarize(records: list[dict]) -> dict:
    """Counts per verdict and, with ground truth, correct / WRONG / unknown / timeouts.

    Returns:
        ``{"total", "verdicts", "has_truth", "correct", "wrong" (list of records),
        "unknown", "timeout", "error", "no_truth", "time_total", "time_median",
        "best_total", "best_median", "timed_pairs"}``.
    """
    verdicts: dict[str, int] = {}
    for r in records:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    truth = [r for r in records if r.get("expected") in ("sat", "unsat")]
    summary = {"total": len(records), "verdicts": verdicts, "has_truth": bool(truth),
               "correct": sum(r["verdict"] == r["expected"] for r in truth),
               "wrong": [r for r in truth if r["verdict"] in ("sat", "unsat")
                         and r["verdict"] != r["expected"]],
               "unknown": sum(r["verdict"] == "unknown" for r in truth),
               "timeout": sum(r["verdict"] == "timeout" for r in truth),
               "error": sum(r["verdict"] == "error" for r in truth),
               "no_truth": len(records) - len(truth)}
    times = [t for t in (_float(r.get("time_s")) for r in records) if t is not None]
    summary["time_total"] = sum(times)
    summary["time_median"] = statistics.median(times) if times else None
    pairs = [(_float(r.get("time_s")), _float(r.get("best_time_s"))) for r in records
             if r["verdict"] == r.get("expected") and r["verdict"] in ("sat", "unsat")]
    pairs = [(t, b) for t, b in pairs if t is not None and b is not None]
    summary["timed_pairs"] = len(pairs)
    summary["our_total_solved"] = sum(t for t, _ in pairs)
    summary["best_total"] = sum(b for _, b in pairs)
    summary["our_median_solved"] = statistics.median([t for t, _ in pairs]) if pairs else None
    summary["best_median"] = statistics.median([b for _, b in pairs]) if pairs else None
    return summary


def format_summary(summary: dict) -> str:
    lines = [f"summary: {summary['total']} instance(s): "
             + ", ".join(f"{k} {v}" for k, v in sorted(summary["verdicts"].items()))]
    if summary["has_truth"]:
        judged = summary["total"] - summary["no_truth"]
        lines.append(f"  against ground truth ({judged} with sat/unsat): correct "
                     f"{summary['correct']}, WRONG {len(summary['wrong'])}, unknown "
                     f"{summary['unknown']}, timeout {summary['timeout']}, error "
                     f"{summary['error']}" + (f"; {summary['no_truth']} without ground truth"
                                              if summary["no_truth"] else ""))
        if summary["wrong"]:
            lines.append(f"  !!! {len(summary['wrong'])} WRONG VERDICT(S) — a soundness bug "
                         "or a wrong ground truth; check these first:")
            for r in summary["wrong"]:
                lines.append(f"  !!! WRONG: {r['onnx']} {r['vnnlib']}: ours {r['verdict']}, "
                             f"expected {r['expected']} ({r.get('message', '')})")
    if summary["time_median"] is not None:
        lines.append(f"  time: total {summary['time_total']:.1f}s, median "
                     f"{summary['time_median']:.2f}s per instance")
    if summary["timed_pairs"]:
        ratio = (summary["our_total_solved"] / summary["best_total"]
                 if summary["best_total"] > 0 else float("inf"))
        lines.append(f"  on the {summary['timed_pairs']} correctly solved: ours total "
                     f"{summary['our_total_solved']:.3g}s (median "
                     f"{summary['our_median_solved']:.3g}s) vs best_time_s total "
                     f"{summary['best_total']:.3g}s (median {summary['best_median']:.3g}s)"
                     + (f", {ratio:.1f}x" if math.isfinite(ratio) else ""))
    return "\n".join(lines)


# ------------------------------------------------------------------ running a batch
def _instance_timeout(inst: Instance, cap: float | None) -> float:
    limits = [t for t in (inst.timeout, cap) if t is not None]
    return min(limits) if limits else DEFAULT_TIMEOUT


def _make_task(inst: Instance, method: str, cap: float | None) -> Task:
    return Task(onnx_path=os.path.abspath(inst.onnx_path),
                vnnlib_path=os.path.abspath(inst.vnnlib_path), method=method,
                timeout=_instance_timeout(inst, cap), key=inst.key)


def _run_local(todo, method, cap, workers, on_result):
    registry = ProcessRegistry()
    pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="instance")
    futures = {}
    try:
        for inst in todo:
            futures[pool.submit(run_isolated, _make_task(inst, method, cap), registry)] = inst
        pending = set(futures)
        while pending:
            # a timeout on wait keeps the main thread responsive to Ctrl-C
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                on_result(futures[fut], fut.result())
    except BaseException:
        registry.kill_all()
        for fut in futures:
            fut.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(todo, method, cap, workers, scheduler, on_result):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        from verifier.errors import VerifierError
        raise VerifierError("--scheduler needs dask.distributed: pip install "
                            "'verifier[cluster]'") from None
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    futures = []
    try:
        by_key = {}
        for inst in todo:
            task = _make_task(inst, method, cap)
            by_key[inst.key] = inst
            futures.append(client.submit(run_isolated, task, pure=False,
                                         key=f"instance-{inst.line}-{abs(hash(inst.key))}"))
        for fut in as_completed(futures):
            try:
                out = fut.result()
            except Exception as exc:  # the worker died: one error row
                out = {"verdict": "error", "message": f"dask task failed: "
                                                      f"{type(exc).__name__}: {exc}"}
                inst = next(i for i, f in zip(todo, futures) if f is fut)
            else:
                inst = by_key[tuple(out["key"])]
            on_result(inst, out)
    finally:
        for fut in futures:
            fut.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


def run_batch(csv_path: str, out_path: str, method: str = "auto",
              timeout: float | None = None, workers: int = 1, resume: bool = False,
              overwrite: bool = False, scheduler: str | None = None,
              limit: int | None = None, filters: list[str] | None = None,
              progress_stream=None) -> dict:
    """Verify every selected instance of ``csv_path``; append rows to ``out_path``.

    Returns:
        :func:`summarize` of every selected instance's row (resumed ones included).
    """
    instances = select_instances(read_instances(csv_path), filters, limit)
    out = Path(out_path)
    done = prepare_output(out, resume, overwrite)
    todo = [i for i in instances if i.key not in done]
    stream = progress_stream if progress_stream is not None else sys.stderr
    skipped = len(instances) - len(todo)
    if skipped:
        stream.write(f"resume: {skipped} of {len(instances)} instance(s) already in {out}\n")
    progress = Progress(len(instances), skipped, stream)
    writer = ResultWriter(out)
    records = {k: v for k, v in done.items()}

    def on_result(inst: Instance, result: dict) -> None:
        record = _record(inst, result, method, _instance_timeout(inst, timeout))
        writer.write(record)
        records[inst.key] = record
        progress.update(record["verdict"], Path(inst.onnx).stem + " " + Path(inst.vnnlib).stem)

    try:
        if todo:
            if scheduler:
                _run_dask(todo, method, timeout, workers, scheduler, on_result)
            else:
                _run_local(todo, method, timeout, workers, on_result)
    finally:
        progress.end()
        writer.close()
    return summarize([records[i.key] for i in instances if i.key in records])


# ------------------------------------------------------------------ CLI glue
BATCH_HELP = """\
Verify every row of a VNN-COMP instances.csv (onnx,vnnlib,timeout[,verdict,best_time_s,...]),
each in its own process, killed at timeout*1.1+10 s. Rows are appended to --out as they
finish (flushed and fsync'ed); --resume skips rows already there. Bad rows become verdict
`error` with a one-line reason. With a `verdict` column the summary counts correct and
WRONG answers (exit code 8 if any is WRONG).

examples:
  verifier batch acasxu/instances.csv --method deeppoly --timeout 20 --workers 2 --out r.csv
  verifier batch acasxu/instances.csv --out r.csv --resume
  verifier batch instances.csv --out r.csv --scheduler local --workers 4
  verifier batch instances.csv --out r.csv --scheduler tcp://10.0.0.1:8786
"""


def _add_batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("instances", help="instances.csv (paths relative to it)")
    p.add_argument("--out", required=True, help="results CSV, appended row by row")
    p.add_argument("--method", default="auto", choices=METHODS, help="bounding method (auto)")
    p.add_argument("--timeout", type=float, default=None,
                   help="cap per instance, seconds (default: the CSV's timeout, else 60)")
    p.add_argument("--workers", type=int, default=1, help="instances run at once (1)")
    p.add_argument("--resume", action="store_true", help="skip rows already in --out")
    p.add_argument("--overwrite", action="store_true", help="start --out afresh")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT|local", default=None,
                   help="run on a Dask cluster (needs verifier[cluster]); 'local' starts "
                        "a LocalCluster with --workers processes")
    p.add_argument("--limit", type=int, default=None, help="only the first N selected rows")
    p.add_argument("--filter", action="append", default=None, metavar="SUBSTR",
                   help="only rows whose onnx or vnnlib path contains SUBSTR (repeatable: any)")


def add_batch_subparser(subparsers) -> argparse.ArgumentParser:
    """Add ``batch`` to the CLI's subparsers (``set_defaults(func=run_batch_command)``)."""
    p = subparsers.add_parser("batch", help="many instances from an instances.csv "
                                            "(resume, parallel, Dask)",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description=BATCH_HELP)
    _add_batch_arguments(p)
    p.set_defaults(func=run_batch_command)
    return p


def run_batch_command(args) -> int:
    """Run ``verifier batch`` from parsed arguments; returns the exit code.

    0 when it ran (any verdicts), 8 if some verdict contradicts the ground truth,
    130 on Ctrl-C (rows finished so far are kept). Usage errors raise ``VerifierError``.
    """
    from verifier.errors import VerifierError
    if args.workers < 1:
        raise VerifierError("--workers must be >= 1")
    if args.timeout is not None and args.timeout <= 0:
        raise VerifierError("--timeout must be > 0")
    try:
        summary = run_batch(args.instances, args.out, method=args.method, timeout=args.timeout,
                            workers=args.workers, resume=args.resume, overwrite=args.overwrite,
                            scheduler=args.scheduler, limit=args.limit, filters=args.filter)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished rows are in {args.out}; rerun with --resume",
              file=sys.stderr)
        return 130
    print(format_summary(summary))
    return 8 if summary["wrong"] else 0


def _check_files(onnx_path: str, vnnlib_path: str) -> str:
    from verifier.network import load_network
    from verifier.spec import load_vnnlib
    net = load_network(onnx_path)
    prop = load_vnnlib(vnnlib_path, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    return (f"ok: {net.n_inputs} inputs, {net.n_outputs} outputs, "
            f"{len(net.relu_names())} ReLU layers; {len(prop.cases)} case(s)")


def main_vnncomp(argv: list[str]) -> int:
    """VNN-COMP ``run_instance``: ``CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT [--method M]``.

    Runs the instance isolated (killed shortly after TIMEOUT) and always writes the result
    file: ``sat`` with the counterexample, ``unsat``, ``unknown``, ``timeout`` or ``error``.
    Exit code 0 once the result file is written; 2 on bad arguments; 3 if it cannot be.
    """
    p = argparse.ArgumentParser(prog="run_instance.sh v1")
    p.add_argument("category")
    p.add_argument("onnx")
    p.add_argument("vnnlib")
    p.add_argument("result_file")
    p.add_argument("timeout", type=float)
    p.add_argument("--method", default="auto", choices=METHODS)
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    from verifier.errors import VerifierError
    from verifier.spec.results import write_result_file
    budget = max(args.timeout, 1.0)
    task = Task(onnx_path=os.path.abspath(args.onnx), vnnlib_path=os.path.abspath(args.vnnlib),
                method=args.method, timeout=budget, kill_after=budget + 5.0)
    out = run_isolated(task)
    verdict = out.get("verdict", "error")
    if verdict == "sat" and out.get("x") is None:
        verdict = "unknown"  # never claim sat without a counterexample
    try:
        write_result_file(args.result_file, verdict, out.get("x"), out.get("y"))
    except VerifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(f"{args.category}: {verdict} in {out.get('wall_s', 0):.2f}s"
          + (f" ({out['message']})" if out.get("message") else ""), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m verifier.batch``: the batch command, or --one / --vnncomp / --check."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--one":
        return _main_one(argv[1:])
    if argv and argv[0] == "--vnncomp":
        return main_vnncomp(argv[1:])
    from verifier.errors import VerifierError
    if argv and argv[0] == "--check":
        if len(argv) != 3:
            print("usage: python -m verifier.batch --check ONNX VNNLIB", file=sys.stderr)
            return 2
        try:
            print(_check_files(argv[1], argv[2]))
            return 0
        except VerifierError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    p = argparse.ArgumentParser(prog="python -m verifier.batch",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description=BATCH_HELP)
    _add_batch_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_batch_command(args)
    except VerifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
