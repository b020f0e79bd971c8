"""Small renderers shared by the reports: numbers, aligned text tables, CSV, files."""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from verifier.files import write_text_atomic


def mean_value(values) -> float:
    values = [float(v) for v in values]
    if not values:
        return math.nan
    if any(math.isinf(v) for v in values):
        return values[0] if all(v == values[0] for v in values) else (
            math.inf if any(v == math.inf for v in values) else -math.inf)
    return float(np.mean(values))


def format_number(v) -> str:
    if v is None:
        return "-"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.4g}"


def align_table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    fmt = lambda row: "  ".join(  # noqa: E731
        (str(c).ljust(w) if i == 0 else str(c).rjust(w)) for i, (c, w) in
        enumerate(zip(row, widths)))
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body])


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    return buf.getvalue()


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed over it);
    a path that cannot be written is the user's error (:class:`InputFileError`)."""
    write_text_atomic(path, text)
