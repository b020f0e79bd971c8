"""Running a batch: every selected instance isolated, in threads or on a Dask cluster."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from verifier.batch.instances import Instance, read_instances, select_instances
from verifier.batch.isolate import DEFAULT_TIMEOUT, ProcessRegistry, Task, run_isolated
from verifier.batch.results import (Progress, ResultWriter, check_output_state, output_record,
                                    prepare_output, summarize)
from verifier.batch.networks import is_network_list
from verifier.errors import InputFileError
from verifier.files import check_output_file
from verifier.methods.branching.workers import dask_client, dask_distributed


def instance_timeout(inst: Instance, cap: float | None) -> float:
    limits = [t for t in (inst.timeout, cap) if t is not None]
    return min(limits) if limits else DEFAULT_TIMEOUT


def make_task(inst: Instance, method: str, cap: float | None) -> Task:
    onnx = inst.onnx_path     # a list of (name, path) pairs is resolved already
    return Task(onnx_path=onnx if is_network_list(onnx) else os.path.abspath(onnx),
                vnnlib_path=os.path.abspath(inst.vnnlib_path), method=method,
                timeout=instance_timeout(inst, cap), key=inst.key)


def run_local(todo, method, cap, workers, on_result):
    registry = ProcessRegistry()
    pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="instance")
    futures = {}
    try:
        for inst in todo:
            futures[pool.submit(run_isolated, make_task(inst, method, cap), registry)] = inst
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


def run_dask(todo, method, cap, client, on_result):
    as_completed = dask_distributed().as_completed
    futures = []
    try:
        by_key = {}
        for inst in todo:
            task = make_task(inst, method, cap)
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


def unrunnable_result(inst: Instance) -> dict:
    """The ``error`` row of an instance whose CSV row cannot run (no process started)."""
    return {"verdict": "error", "time_s": 0.0, "wall_s": 0.0, "message": inst.problem}


def run_batch(csv_path: str, out_path: str, method: str = "auto",
              timeout: float | None = None, workers: int = 1, resume: bool = False,
              overwrite: bool = False, scheduler: str | None = None,
              limit: int | None = None, filters: list[str] | None = None,
              progress_stream=None) -> dict:
    """Verify every selected instance of ``csv_path``; append rows to ``out_path``.

    Everything that can fail before the first instance is checked before the output is
    touched: the instances file, the output's folder, the Dask scheduler (reached within
    its time limit).

    Returns:
        :func:`summarize` of every selected instance's row (resumed ones included), plus
        ``elapsed``: the wall time of this run.
    """
    start = time.monotonic()
    instances = select_instances(read_instances(csv_path), filters, limit)
    out = Path(out_path)
    check_output_file(out, "--out")
    check_output_state(out, resume, overwrite)
    client, cluster = dask_client(scheduler, workers) if scheduler else (None, None)
    try:
        records = _run_rows(instances, out, method, timeout, workers, resume, overwrite,
                            client, progress_stream)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    summary = summarize([records[i.key] for i in instances if i.key in records])
    summary["elapsed"] = time.monotonic() - start
    return summary


def _run_rows(instances, out: Path, method, timeout, workers, resume, overwrite, client,
              progress_stream) -> dict:
    """Open the output, run the instances not in it yet, append their rows; the records
    by key (resumed ones included)."""
    try:
        done = prepare_output(out, resume, overwrite)
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None
    todo = [i for i in instances if i.key not in done]
    stream = progress_stream if progress_stream is not None else sys.stderr
    skipped = len(instances) - len(todo)
    if skipped:
        stream.write(f"resume: {skipped} of {len(instances)} instance(s) already in {out}\n")
    progress = Progress(len(instances), skipped, stream)
    writer = ResultWriter(out)
    records = dict(done)

    def on_result(inst: Instance, result: dict) -> None:
        record = output_record(inst, result, method, instance_timeout(inst, timeout))
        writer.write(record)
        records[inst.key] = record
        progress.update(record["verdict"], Path(inst.onnx).stem + " " + Path(inst.vnnlib).stem)

    try:
        for inst in todo:
            if inst.problem:
                on_result(inst, unrunnable_result(inst))
        runnable = [i for i in todo if not i.problem]
        if runnable and client is not None:
            run_dask(runnable, method, timeout, client, on_result)
        elif runnable:
            run_local(runnable, method, timeout, workers, on_result)
    finally:
        progress.end()
        writer.close()
    return records
