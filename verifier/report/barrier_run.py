"""Running barrier rows: images in worker processes, one journal line per finished image.

Every finished image is appended to ``<folder>/<row>.jsonl`` at once (flushed and
fsync'ed), so a run that is stopped loses nothing that finished and ``resume`` skips those
images (``retry_undecided`` also re-runs the images left undecided, e.g. with a larger
budget; the journal's last line of an image counts). Images are decided in ``workers`` processes (one per core); each process loads the
network itself (networks are not shipped between processes) and limits BLAS to one thread.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from verifier.errors import InputFileError, SpecError
from verifier.files import check_input_file, load_npz
from verifier.network import load_network
from verifier.report.barrier import BarrierOptions, ImageRecord, decide_image
from verifier.report.barrier_table import PUBLISHED, BarrierRow
from verifier.threads import blas_threads


@dataclass(frozen=True)
class RowSpec:
    """One (network, eps) row to run: the network file, eps and a readable name."""

    network: str
    eps: float
    name: str
    published: tuple = ()


def read_rows(csv_path: str) -> list[RowSpec]:
    """The rows of a barrier instances CSV (``onnx,eps[,published_...]``, paths relative to
    it), e.g. ``salman_mlp/instances.csv``."""
    path = Path(csv_path)
    check_input_file(path, "rows file")
    try:
        with open(path, newline="") as fh:
            records = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    rows = []
    for k, rec in enumerate(records, start=2):
        try:
            eps = float(rec["eps"])
            onnx = rec["onnx"]
        except (KeyError, TypeError, ValueError):
            raise InputFileError(f"{path}:{k}: expected the columns onnx and eps") from None
        name = f"{Path(onnx).stem} eps={eps:g}"
        published = tuple((key, _number(rec.get(key))) for key, _ in PUBLISHED)
        rows.append(RowSpec(str(path.parent / onnx), eps, name, published))
    return rows


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def load_images(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, n) in [0, 1], labels (N,)) from an ``.npz`` with arrays ``X`` and ``y``
    (uint8 pixels are divided by 255)."""
    arrays = load_npz(path, ("X", "y"), "image file (.npz)")
    X, y = arrays["X"], arrays["y"]
    X = X.reshape(len(X), -1)
    X = X.astype(np.float64) / 255.0 if X.dtype == np.uint8 else X.astype(np.float64)
    return X, np.asarray(y).reshape(-1).astype(int)


def read_journal(path: Path) -> dict[int, ImageRecord]:
    """The images already decided (a torn last line is ignored)."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = ImageRecord(**json.loads(line))
            except (ValueError, TypeError):
                continue
            done[rec.index] = rec
    return done


@functools.lru_cache(maxsize=2)
def _network(path: str):
    """The network of a worker process (loaded once per process and path)."""
    return load_network(path)


def _decide(path: str, index: int, image, label: int, eps: float,
            options: BarrierOptions) -> dict:
    with blas_threads(1):
        return decide_image(_network(path), image, label, eps, index, options).to_dict()


def run_row(row: RowSpec, images: np.ndarray, labels: np.ndarray, indices: list[int],
            folder: str, options: BarrierOptions = BarrierOptions(), workers: int = 1,
            progress: Callable[[str], None] | None = None,
            retry_undecided: bool = False) -> BarrierRow:
    """Decide every image of ``indices`` for one row (resuming from its journal; with
    ``retry_undecided`` the journal's undecided images are decided again)."""
    net = _network(row.network)
    if images.shape[1] != net.n_inputs:
        raise SpecError(f"the images have {images.shape[1]} values, {row.network} takes "
                        f"{net.n_inputs}")
    journal = Path(folder) / (row.name.replace(" ", "_") + ".jsonl")
    journal.parent.mkdir(exist_ok=True)         # the folder itself, never its parents
    done = read_journal(journal)
    todo = [i for i in indices
            if i not in done or (retry_undecided and not done[i].decided)]
    say = progress or (lambda message: None)
    with open(journal, "a") as fh:
        def keep(record: dict) -> None:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            done[record["index"]] = ImageRecord(**record)
            say(f"{row.name}: {len([i for i in indices if i in done])}/{len(indices)} "
                f"images (image {record['index']})")

        args = [(row.network, i, images[i], int(labels[i]), row.eps, options) for i in todo]
        if workers <= 1:
            for a in args:
                keep(_decide(*a))
        else:
            _in_processes(args, workers, keep)
    return BarrierRow(row.name, [done[i] for i in indices], dict(row.published))


def _in_processes(args: list[tuple], workers: int, keep: Callable[[dict], None]) -> None:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(_decide, *a) for a in args}
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                keep(fut.result())
