"""Worker pools for one verification: local processes or a Dask cluster.

A pool is a :class:`concurrent.futures.Executor` (the per-neuron tightening submits its
LPs to it as before) with what a parallel branch and bound needs on top: a *payload* (the
search, copied once to every worker: :meth:`WorkerPool.prepare`), a way to wait for the
first finished step, and recovery from a lost worker (:meth:`WorkerPool.lost`,
:meth:`WorkerPool.recover`), so that the coordinator can put a lost step's domains back
in its queue.

* :class:`LocalPool`: a :class:`~concurrent.futures.ProcessPoolExecutor`. The payload is
  pickled once to a file the workers load on their first step (and cache); a worker that
  dies breaks the executor, which is replaced by a new one.
* :class:`DaskPool` (``scheduler="local"`` starts a ``LocalCluster``; ``tcp://host:port``
  joins a running scheduler): the payload is scattered to every worker; Dask reschedules
  a lost worker's tasks itself and reports a task lost too often as ``KilledWorker``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import shutil
import socket
import tempfile
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from verifier.errors import VerifierError
from verifier.threads import blas_threads

#: exception names that mean "the worker running this task was lost" (Dask)
LOST_WORKER_ERRORS = ("KilledWorker", "CommClosedError", "CancelledError",
                      "FutureCancelledError")

#: seconds a Dask scheduler named by ``--scheduler`` has to answer
SCHEDULER_SECONDS = 10.0

#: the environment a local Dask worker starts with (Dask's default without its malloc
#: setting): single-threaded BLAS
WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}

# per worker process: the payload loaded last (path -> object), and whether BLAS was
# limited to one thread in this process
_LOADED: dict = {}
_SINGLE_THREADED: list = []


@dataclass(frozen=True)
class PayloadFile:
    """A payload pickled to a file that every local worker can read."""

    path: str


def resolve(handle):
    """The payload behind ``handle`` in a worker process (a :class:`PayloadFile` is
    loaded once and cached; a Dask payload arrives as the object itself). Also limits
    BLAS to one thread in the worker, once: the workers share the cores."""
    if not _SINGLE_THREADED:
        blas_threads(1).__enter__()       # kept for the life of the worker process
        _SINGLE_THREADED.append(True)
    if not isinstance(handle, PayloadFile):
        return handle
    if handle.path not in _LOADED:
        _LOADED.clear()
        with open(handle.path, "rb") as f:
            _LOADED[handle.path] = pickle.load(f)
    return _LOADED[handle.path]


def worker_name() -> str:
    """``host:pid`` of this process (the coordinator counts domains per worker)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerPool(Executor):
    """What the parallel branch and bound needs from a pool (see the module docstring).

    Attributes:
        workers: how many steps run at once.
    """

    workers: int = 1

    def prepare(self, payload):
        """Copy ``payload`` to every worker; returns the handle tasks pass instead."""
        raise NotImplementedError

    def release(self, handle) -> None:
        """Forget a payload."""

    def wait(self, futures: list, timeout: float) -> set:
        """The futures among ``futures`` that are done after at most ``timeout`` seconds
        (at least one unless the time ran out)."""
        return cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED).done

    def lost(self, exc: BaseException) -> bool:
        """Whether a task failed because its worker was lost (not because of a bug)."""
        return type(exc).__name__ in LOST_WORKER_ERRORS

    def recover(self, future) -> None:
        """Make the pool usable again after ``future`` was lost."""


class LocalPool(WorkerPool):
    """``workers`` local processes (a ProcessPoolExecutor replaced when a worker dies)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.generation = 0
        self.executor = ProcessPoolExecutor(max_workers=workers)
        self.directory = tempfile.mkdtemp(prefix="verifier-pool-")
        self.lock = threading.Lock()     # searches of several disjuncts share the pool

    def submit(self, fn, /, *args, **kwargs):
        with self.lock:
            future = self.executor.submit(fn, *args, **kwargs)
            future.generation = self.generation
        return future

    def prepare(self, payload) -> PayloadFile:
        descriptor, path = tempfile.mkstemp(suffix=".pickle", dir=self.directory)
        with os.fdopen(descriptor, "wb") as f:
            pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        return PayloadFile(path)

    def release(self, handle: PayloadFile) -> None:
        try:
            os.unlink(handle.path)
        except OSError:
            pass

    def lost(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool) or super().lost(exc)

    def recover(self, future) -> None:
        """A lost worker breaks the executor: the first lost future of a generation
        replaces it (the others of that generation are lost with it)."""
        with self.lock:
            if getattr(future, "generation", None) != self.generation:
                return
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = ProcessPoolExecutor(max_workers=self.workers)
            self.generation += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=cancel_futures)
        shutil.rmtree(self.directory, ignore_errors=True)


class DaskPool(WorkerPool):
    """The workers of a Dask cluster (``"local"``: a LocalCluster of ``workers``
    single-threaded processes; else the address of a running scheduler)."""

    def __init__(self, workers: int, scheduler: str):
        self.client, self.cluster = dask_client(scheduler, workers)
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))

    def submit(self, fn, /, *args, **kwargs):
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def prepare(self, payload):
        # a list of one: scatter() would spread a tuple's items
        return self.client.scatter([payload], broadcast=True, hash=False)[0]

    def release(self, handle) -> None:
        handle.release()

    def wait(self, futures: list, timeout: float) -> set:
        from dask.distributed import wait
        try:
            return set(wait(futures, timeout=timeout, return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return set()

    def recover(self, future) -> None:
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def dask_distributed():
    """The ``dask.distributed`` module, or a :class:`VerifierError` that says how to install
    it."""
    try:
        import dask.distributed
    except ImportError:
        raise VerifierError("--scheduler needs dask.distributed: pip install "
                            "'verifier[cluster]'") from None
    return dask.distributed


def dask_client(scheduler: str, workers: int):
    """``(client, cluster)``: a Client of a new LocalCluster of ``workers`` processes
    (``"local"``; the cluster is returned to be closed), or of the running scheduler at
    ``scheduler`` (cluster None), which must answer within ``SCHEDULER_SECONDS``.

    Raises:
        VerifierError: dask.distributed is missing, or no scheduler answered.
    """
    Client = dask_distributed().Client
    if scheduler == "local":
        cluster = local_cluster(workers)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=SCHEDULER_SECONDS), None
    except (OSError, ValueError) as exc:
        raise VerifierError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                            f"{SCHEDULER_SECONDS:g} s ({' '.join(str(exc).split())})") from None


def local_cluster(workers: int):
    """A Dask LocalCluster of ``workers`` single-threaded worker processes, started without
    Dask's default ``MALLOC_TRIM_THRESHOLD_=65536``. That setting also fixes glibc's mmap
    threshold, so every array a bound allocates is mapped and unmapped afresh: a step took
    2.5x as long (bench/README.md). glibc reads it once, at process start, and Dask's Nanny
    writes it into *this* process's environment before spawning a worker (so a cluster
    started earlier leaves it behind for every later child): it is removed here first."""
    import dask
    from dask.distributed import LocalCluster
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRONMENT}):
        return LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                            dashboard_address=None)


def open_pool(workers: int, scheduler: str | None) -> WorkerPool | None:
    """The pool of a run: a :class:`DaskPool` when a scheduler is given, a
    :class:`LocalPool` for more than one worker, else None (everything in this
    process)."""
    if scheduler:
        return DaskPool(workers, scheduler)
    if workers > 1:
        return LocalPool(workers)
    return None
