"""`DomainBatch`: sub-domains of a branch and bound as arrays with a leading axis.

A ReLU-split sub-domain carries per-layer bounds, split states and warm-start values; an
input piece carries a box. Either way every field is an array whose first axis runs over
the domains (or a list of such arrays, one per layer), and all fields are sliced and
stacked together, so no field can fall out of step with the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _take(value, idx):
    return [v[idx] for v in value] if isinstance(value, list) else value[idx]


def _stack(values: list):
    if isinstance(values[0], list):
        return [np.concatenate([v[i] for v in values]) for i in range(len(values[0]))]
    return np.concatenate(values)


@dataclass
class DomainBatch:
    """Domains as named arrays (or per-layer lists of arrays), first axis = domain.

    Attributes:
        fields: name -> (D, ...) array, or a list of (D, ...) arrays.
    """

    fields: dict

    def __len__(self) -> int:
        first = next(iter(self.fields.values()))
        return int((first[0] if isinstance(first, list) else first).shape[0])

    def __getitem__(self, name: str):
        return self.fields[name]

    def take(self, idx) -> "DomainBatch":
        """The domains at ``idx`` (indices or a boolean mask), in that order."""
        return DomainBatch({k: _take(v, idx) for k, v in self.fields.items()})

    def replace(self, **fields) -> "DomainBatch":
        """The same domains with some fields replaced (same leading size)."""
        return DomainBatch({**self.fields, **fields})

    @staticmethod
    def concat(batches: list["DomainBatch"]) -> "DomainBatch":
        """The domains of every batch, in order (all batches have the same fields)."""
        batches = [b for b in batches if b is not None]
        return DomainBatch({k: _stack([b.fields[k] for b in batches])
                            for k in batches[0].fields})


class OpenDomains:
    """The open domains of a search with a sound lower bound and a priority each.

    ``pop`` takes the ``count`` domains of lowest priority: ``"sorted"`` returns them in
    priority order (ties by age), ``"partition"`` in queue order (any ``count`` lowest:
    cheaper for large queues). New domains go to the end of the queue.

    The domains live in arrays with spare room at the end (doubled when full); a popped
    domain's slot is only marked free, and the free slots are squeezed out once they are
    half of the arrays. So a step costs the rows it pops and pushes (and a pass over the
    priorities), not a copy of the whole queue: searches that carry per-layer bounds
    per domain keep hundreds of thousands open.
    """

    def __init__(self, root: DomainBatch, lower: float = -np.inf, selection: str = "sorted"):
        if selection not in ("sorted", "partition"):
            raise ValueError(f"unknown selection {selection!r}")
        self.selection = selection
        n = len(root)
        self._fields = {k: _grow(v, max(n, 16)) for k, v in root.fields.items()}
        self._used = n
        self._alive = np.zeros(max(n, 16), dtype=bool)
        self._alive[:n] = True
        self._count = n
        self._lower = np.full(max(n, 16), np.inf)
        self._lower[:n] = lower
        self._priority = np.full(max(n, 16), np.inf)
        self._priority[:n] = lower

    def __len__(self) -> int:
        return self._count

    def min_lower(self) -> float:
        return float(self._lower[:self._used].min()) if self._count else np.inf

    def pop(self, count: int) -> tuple[DomainBatch, np.ndarray]:
        """(the domains taken, their lower bounds); they leave the queue."""
        slots = np.flatnonzero(self._alive[:self._used])
        if slots.size > count:
            priority = self._priority[slots]
            if self.selection == "sorted":
                slots = slots[np.argsort(priority, kind="stable")[:count]]
            else:
                slots = np.sort(slots[np.argpartition(priority, count)[:count]])
        batch = DomainBatch({k: _take(v, slots) for k, v in self._fields.items()})
        lower = self._lower[slots].copy()
        self._alive[slots] = False
        self._lower[slots] = np.inf
        self._priority[slots] = np.inf
        self._count -= slots.size
        if self._used > 1024 and self._count < self._used // 2:
            self._squeeze()
        return batch, lower

    def push(self, domains: DomainBatch, lower: np.ndarray, priority: np.ndarray) -> None:
        """Append domains with their sound lower bounds and priorities."""
        m = len(domains)
        if m == 0:
            return
        need = self._used + m
        if need > self._alive.size:
            size = max(need, 2 * self._alive.size)
            self._fields = {k: _grow(v, size, self._used) for k, v in self._fields.items()}
            self._alive = _grow(self._alive, size, self._used)
            self._lower = _grow(self._lower, size, self._used, np.inf)
            self._priority = _grow(self._priority, size, self._used, np.inf)
        new = slice(self._used, need)
        for k, v in self._fields.items():
            _put(v, new, domains.fields[k])
        self._alive[new] = True
        self._lower[new] = lower
        self._priority[new] = priority
        self._used = need
        self._count += m

    def _squeeze(self) -> None:
        """Move the open domains to the front, in order."""
        slots = np.flatnonzero(self._alive[:self._used])
        n = slots.size
        for k, v in self._fields.items():
            _put(v, slice(0, n), _take(v, slots))
        for name, fill in (("_lower", np.inf), ("_priority", np.inf)):
            arr = getattr(self, name)
            arr[:n] = arr[slots]
            arr[n:] = fill
        self._alive[:n] = True
        self._alive[n:] = False
        self._used = n


def _grow(value, size: int, used: int | None = None, fill=0):
    """A field (array or list of arrays) with room for ``size`` domains; the first
    ``used`` (all, when None) rows copied."""
    if isinstance(value, list):
        return [_grow(v, size, used, fill) for v in value]
    used = value.shape[0] if used is None else used
    out = np.full((size,) + value.shape[1:], fill, dtype=value.dtype)
    out[:used] = value[:used]
    return out


def _put(target, rows, value) -> None:
    if isinstance(target, list):
        for t, v in zip(target, value):
            t[rows] = v
    else:
        target[rows] = value
