"""One hard deadline per command: the clock from process start, and a watchdog.

``--timeout T`` promises an answer within T + 1 s of *process* wall time, interpreter
start-up and imports included. The library keeps its deadlines itself (every loop checks
``CaseContext.check_time``, every HiGHS solve gets the time left); the watchdog is the
guarantee behind them: a daemon thread that, at ``deadline + GRACE``, kills the command's
child processes, writes the ``timeout`` answer (with what is known by then) through the
command's own writer and ends the process with ``os._exit``, whatever a solver or a loop
is doing (HiGHS releases the GIL while it solves, so the thread runs). Behind the thread,
for calls that hold the GIL past the deadline, a forked reaper
(:mod:`verifier.cli.reaper`) answers ``timeout`` and kills the process at ``deadline +
0.75 s`` (exit code 137).

Only a command that owns its process arms a watchdog: ``main()`` of the console script or
of ``python -m verifier.cli``, not ``main([...])`` called from Python (tests, notebooks),
which must never end its caller's process.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

from verifier.cli.reaper import start_reaper

#: seconds after the deadline at which the watchdog writes ``timeout`` and ends the run
GRACE = 0.5
#: seconds after the deadline at which the process ends even while the command itself is
#: still writing its answer (a write that hangs)
HARD_GRACE = 0.9


def process_age() -> float:
    """Seconds since this process started (interpreter start-up included), from Linux's
    ``/proc/self/stat`` start time and the boot-time clock it is counted on; 0.0 where
    that is not available."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        start_ticks = int(stat[stat.rindex(")") + 2:].split()[19])   # field 22: starttime
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0
    return min(max(age, 0.0), 60.0)       # a clock oddity must not eat the time limit


@dataclass(frozen=True)
class RunClock:
    """When a command started, and whether it owns its process.

    Attributes:
        start: ``time.monotonic()`` value of the process start (of the call of ``main``
            when the command does not own its process).
        owns_process: whether ``main()`` runs as the process's command (a watchdog may
            then end the process).
    """

    start: float
    owns_process: bool = False

    @classmethod
    def of_process(cls) -> "RunClock":
        return cls(time.monotonic() - process_age(), owns_process=True)

    @classmethod
    def of_call(cls) -> "RunClock":
        return cls(time.monotonic(), owns_process=False)

    def deadline(self, timeout: float) -> float:
        return self.start + float(timeout)

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def clock_of(args) -> RunClock:
    """The clock ``main`` put in a command's arguments (one from now for arguments parsed
    by a caller's own parser)."""
    clock = getattr(args, "clock", None)
    return clock if clock is not None else RunClock.of_call()


class Watchdog:
    """Ends the process at ``deadline + GRACE`` with the command's timeout answer.

    The command calls :meth:`claim` before it writes its own answer; from then on the
    watchdog writes nothing, and only ends a process still running at ``deadline +
    HARD_GRACE``. Use as a context manager: leaving it disarms the watchdog.

    Args:
        deadline: ``time.monotonic()`` value of the command's deadline.
        write_timeout: writes the timeout answer (stdout line, result files); returns the
            exit code. Called from the watchdog thread, at most once.
    """

    def __init__(self, deadline: float, write_timeout: Callable[[], int]):
        self.deadline = deadline
        self.write_timeout = write_timeout
        self.output = threading.Lock()      # held by whoever writes the answer
        self.disarmed = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name="watchdog")
        self.reaper = None

    def __enter__(self) -> "Watchdog":
        self.reaper = start_reaper(self.deadline, self.write_timeout, descendants)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.disarmed.set()
        if self.reaper is not None:
            self.reaper.disarm()

    def claim(self) -> None:
        """Called by the command before it writes its answer (blocks forever if the
        watchdog is writing the timeout answer: the process is about to end)."""
        self.output.acquire()
        if self.reaper is not None:
            self.reaper.claim()

    def _watch(self) -> None:
        if self.disarmed.wait(max(self.deadline + GRACE - time.monotonic(), 0.0)):
            return
        if self.output.acquire(blocking=False):
            if self.reaper is not None:
                self.reaper.claim()
            kill_descendants(spare=None if self.reaper is None else self.reaper.pid)
            code = 1
            try:
                code = self.write_timeout()
            finally:
                end_process(code)
        if self.disarmed.wait(max(self.deadline + HARD_GRACE - time.monotonic(), 0.0)):
            return
        end_process(0)


class NoWatchdog:
    """What a command uses instead of :class:`Watchdog` when it does not own its
    process."""

    def __enter__(self) -> "NoWatchdog":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def claim(self) -> None:
        pass


def watchdog(clock: RunClock, timeout: float, write_timeout: Callable[[], int]):
    """A :class:`Watchdog` at ``clock.deadline(timeout)`` if the command owns its process,
    else a :class:`NoWatchdog`."""
    if not clock.owns_process:
        return NoWatchdog()
    return Watchdog(clock.deadline(timeout), write_timeout)


def finish(clock: RunClock, code: int) -> int:
    """The end of a command with a time limit once its answer is written: a command that
    owns its process ends it now (its pools are shut down; what is left of its children
    is killed), without the interpreter's teardown, which took another 0.1 to 0.3 s after
    a run that had built big models; else ``code`` is returned."""
    if clock.owns_process:
        kill_descendants()
        end_process(code)
    return code


def end_process(code: int) -> None:
    """Flush stdout and stderr and end the process now (no clean-up, no waiting for
    threads or pools)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def kill_descendants(spare: int | None = None) -> None:
    """SIGKILL every process this one started, and theirs (worker pools, Dask nannies and
    workers), so that none outlives the command; ``spare``: one not to kill."""
    for pid in descendants(os.getpid()):
        if pid == spare:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def descendants(pid: int) -> list[int]:
    """The process ids below ``pid`` (Linux ``/proc/PID/task/TID/children``), children
    first; [] where ``/proc`` does not list them."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a
    rename: a reader sees the old file or the whole new one, never half of it (the
    watchdog may end the process at any moment)."""
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
