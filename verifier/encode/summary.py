"""Counting a model's rows by relaxation kind, from the readable names the encoder gives."""

from __future__ import annotations

import numpy as np

from solvers import LinearModel


def row_kind(name: str) -> str:
    """The relaxation kind of a row name: ``tri_up(relu0,3)`` -> ``tri_up``,
    ``krelu(relu2,(3,8,41))#5`` -> ``krelu``, ``def(affine1,7)`` -> ``def``."""
    return name.split("(", 1)[0]


def export_summary(model: LinearModel) -> dict:
    """Counts of an exported model: ``LinearModel.summary()`` (rows, cols, integers,
    nonzeros) plus ``binaries`` and, per row kind (the row-name prefix the relaxation
    blocks use, as counted by ``verifier export``), ``rows:<kind>`` and
    ``nonzeros:<kind>``.
    """
    summary = dict(model.summary())
    integ = np.asarray(model.integrality, dtype=bool)
    summary["binaries"] = int(np.sum(integ & (model.col_lower >= 0) & (model.col_upper <= 1)))
    nnz_per_row = np.diff(model.A.tocsr().indptr)
    rows: dict[str, int] = {}
    nnz: dict[str, int] = {}
    for name, k in zip(model.row_names or [], nnz_per_row):
        kind = row_kind(name)
        rows[kind] = rows.get(kind, 0) + 1
        nnz[kind] = nnz.get(kind, 0) + int(k)
    summary.update({f"rows:{k}": v for k, v in sorted(rows.items())})
    summary.update({f"nonzeros:{k}": v for k, v in sorted(nnz.items())})
    return summary
