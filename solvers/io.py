"""Reading models back from .lp/.mps files (through HiGHS) into a :class:`LinearModel`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from solvers.model import LinearModel


def read_model(path: str) -> LinearModel:
    """Read an .lp or .mps file with HiGHS and return it as arrays (minimisation)."""
    import highspy

    from solvers.highs import new_highs

    h = new_highs()
    status = h.readModel(str(path))
    if status == highspy.HighsStatus.kError:
        raise ValueError(f"HiGHS could not read {path}")
    lp = h.getLp()
    n, m = lp.num_col_, lp.num_row_
    a = lp.a_matrix_
    A = sp.csc_matrix((np.array(a.value_), np.array(a.index_), np.array(a.start_)),
                      shape=(m, n)).tocsr()
    sense = 1.0 if lp.sense_ == highspy.ObjSense.kMinimize else -1.0
    integrality = (np.array([int(v) != 0 for v in lp.integrality_], dtype=bool)
                   if len(lp.integrality_) else None)
    return LinearModel(c=sense * np.array(lp.col_cost_), A=A,
                       row_lower=np.array(lp.row_lower_), row_upper=np.array(lp.row_upper_),
                       col_lower=np.array(lp.col_lower_), col_upper=np.array(lp.col_upper_),
                       integrality=integrality,
                       col_names=list(lp.col_names_) or None,
                       row_names=list(lp.row_names_) or None,
                       offset=sense * float(lp.offset_))
