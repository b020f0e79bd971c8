"""The deadline's last line: a forked process that ends the command when its own
watchdog thread cannot run.

The watchdog (:mod:`verifier.cli.watchdog`) is a thread, so it needs the interpreter
lock. HiGHS's solve and scipy's products release it, but some calls hold it for
seconds (building a model of tens of millions of nonzeros through pybind11, a big array
conversion): under load, one such call past the deadline kept a run 40 s over its limit.
The reaper does not share the lock. It is forked when the watchdog is armed and waits on
a pipe; the command writes ``CLAIMED`` before it answers and ``DISARMED`` when it is done.
If neither has come by ``deadline + REAP_AFTER``, the reaper stops the command
(``SIGSTOP``), kills its other children, writes the timeout answer with the command's
own writer (as it was when the reaper was forked, so without any partial bound: a plain
``timeout``) and kills the command (``SIGKILL``; the shell then sees exit code 137). If
the command claimed but is still running at ``deadline + KILL_AFTER``, it is killed
without a second answer. The reaper ends when the command disarms it, when the command
is gone, and in every other case with ``os._exit``: it never returns into the caller.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import warnings
from typing import Callable

#: seconds after the deadline at which the reaper answers for a command that has not
#: claimed (the watchdog thread answers at 0.5 s when it can run)
REAP_AFTER = 0.75
#: seconds after the deadline at which the reaper kills a command that claimed but has
#: not ended (the watchdog thread ends it at 0.9 s when it can run)
KILL_AFTER = 0.95
CLAIMED, DISARMED = b"c", b"d"


class Reaper:
    """The parent's handle on a forked reaper (:func:`start_reaper`).

    Attributes:
        pid: the reaper's process id.
        signal_fd: write end of the pipe the reaper reads.
    """

    def __init__(self, pid: int, signal_fd: int):
        self.pid = pid
        self.signal_fd = signal_fd

    def claim(self) -> None:
        """Tell the reaper the command writes its answer itself."""
        self._send(CLAIMED)

    def disarm(self) -> None:
        """Tell the reaper the command is done, and collect it (it exits at once)."""
        self._send(DISARMED)
        try:
            os.close(self.signal_fd)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:       # already collected, or killed with the other children
            pass

    def _send(self, message: bytes) -> None:
        try:
            os.write(self.signal_fd, message)
        except OSError:       # the reaper is gone (killed with the command's children)
            pass


def start_reaper(deadline: float, write_timeout: Callable[[], int],
                 descendants: Callable[[int], list[int]]) -> Reaper | None:
    """Fork a reaper for the calling process; None where ``fork`` is not available.

    Args:
        deadline: ``time.monotonic()`` value of the command's deadline (the monotonic
            clock is shared with the forked process).
        write_timeout: writes the timeout answer; called in the reaper at most once.
        descendants: the process ids below a pid (to kill the command's other children).
    """
    if not hasattr(os, "fork"):
        return None
    for stream in (sys.stdout, sys.stderr):     # nothing buffered is written twice
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return None
    if pid == 0:
        code = 0
        try:
            os.close(write_fd)
            code = _reap(parent, read_fd, deadline, write_timeout, descendants)
        finally:
            os._exit(code)
    os.close(read_fd)
    return Reaper(pid, write_fd)


def _reap(parent: int, read_fd: int, deadline: float, write_timeout: Callable[[], int],
          descendants: Callable[[int], list[int]]) -> int:
    """The reaper's life (in the forked process); returns its exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the command's to handle
    heard = _wait(parent, read_fd, deadline + REAP_AFTER)
    if heard is None:
        _signal(parent, signal.SIGSTOP)
        heard = _wait(parent, read_fd, 0.0)      # a last look, the command stopped
        if heard is None:
            return _answer_for(parent, write_timeout, descendants)
        _signal(parent, signal.SIGCONT)
    if heard == CLAIMED and _wait(parent, read_fd, deadline + KILL_AFTER) is None:
        _kill_all(parent, descendants)          # it claimed but has not ended
    return 0


def _wait(parent: int, read_fd: int, until: float) -> bytes | None:
    """What the command says by ``until`` (monotonic): ``DISARMED`` also when it is gone,
    ``CLAIMED``, or None (nothing)."""
    while True:
        if os.getppid() != parent:
            return DISARMED
        ready, _, _ = select.select([read_fd], [], [], min(max(until - time.monotonic(),
                                                                 0.0), 0.1))
        if ready:
            message = os.read(read_fd, 64)
            return DISARMED if not message or DISARMED in message else CLAIMED
        if time.monotonic() >= until:
            return None


def _answer_for(parent: int, write_timeout: Callable[[], int],
                descendants: Callable[[int], list[int]]) -> int:
    """Kill the stopped command's other children, write its timeout answer, kill it."""
    for pid in descendants(parent):
        if pid != os.getpid():
            _signal(pid, signal.SIGKILL)
    code = 1
    try:
        code = write_timeout()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:
        _signal(parent, signal.SIGKILL)
    return code


def _kill_all(parent: int, descendants: Callable[[int], list[int]]) -> None:
    """SIGKILL the command and its other children."""
    _signal(parent, signal.SIGSTOP)
    for pid in descendants(parent):
        if pid != os.getpid():
            _signal(pid, signal.SIGKILL)
    _signal(parent, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass
