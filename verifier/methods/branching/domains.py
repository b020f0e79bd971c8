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
    """

    def __init__(self, root: DomainBatch, lower: float = -np.inf, selection: str = "sorted"):
        if selection not in ("sorted", "partition"):
            raise ValueError(f"unknown selection {selection!r}")
        self.domains = root
        self.lower = np.full(len(root), float(lower))
        self.priority = np.full(len(root), float(lower))
        self.selection = selection

    def __len__(self) -> int:
        return self.lower.size

    def min_lower(self) -> float:
        return float(self.lower.min()) if self.lower.size else np.inf

    def pop(self, count: int) -> tuple[DomainBatch, np.ndarray]:
        """(the domains taken, their lower bounds); they leave the queue."""
        n = len(self)
        if n <= count:
            take = np.arange(n)
        elif self.selection == "sorted":
            take = np.argsort(self.priority, kind="stable")[:count]
        else:
            mask = np.zeros(n, dtype=bool)
            mask[np.argpartition(self.priority, count)[:count]] = True
            take = np.flatnonzero(mask)
        keep = np.ones(n, dtype=bool)
        keep[take] = False
        batch, lower = self.domains.take(take), self.lower[take]
        self.domains = self.domains.take(keep)
        self.lower, self.priority = self.lower[keep], self.priority[keep]
        return batch, lower

    def push(self, domains: DomainBatch, lower: np.ndarray, priority: np.ndarray) -> None:
        """Append domains with their sound lower bounds and priorities."""
        self.domains = DomainBatch.concat([self.domains, domains])
        self.lower = np.concatenate([self.lower, lower])
        self.priority = np.concatenate([self.priority, priority])
