"""The disjunct limit, applied while a VNN-LIB file is read.

The parser turns the conjunction of the asserts into disjunctive normal form (DNF); a
property whose DNF has more disjuncts than the limit is refused. :class:`DisjunctCounter`
counts, list by list as the reader closes them, how many disjuncts each formula expands
to (``or``: the sum over its arguments, ``and`` / ``assert``: the product, ``false``: 0,
any other formula: 1), so that a formula over the limit is refused as soon as it is
read, before the rest of the file is tokenized and before any disjunct is built.
"""

from __future__ import annotations

from verifier.errors import SpecError
from verifier.spec.vnnlib_reader import ParenList, Token

__all__ = ["DisjunctCounter", "too_many_disjuncts"]

#: heads of the lists whose disjuncts are counted
_COUNTED = frozenset({"or", "and", "assert"})


def too_many_disjuncts(limit: int) -> str:
    """The message of a property over the disjunct limit."""
    return (f"more than {limit:,} disjuncts once the asserts are expanded to disjunctive "
            "normal form (the limit of this tool; too many or-clauses)")


def _head(node: ParenList) -> str | None:
    first = node.items[0] if node.items else None
    return first.text if isinstance(first, Token) else None


class DisjunctCounter:
    """``on_close`` hook of :func:`~verifier.spec.vnnlib_reader.read_sexprs` that refuses
    a formula with more than ``limit`` DNF disjuncts.

    Args:
        path: the file, for error messages.
        limit: the largest number of disjuncts accepted.
    """

    def __init__(self, path: str | None, limit: int):
        self.path = path
        self.limit = limit
        # id of an open or/and/assert list -> what its closed sub-lists counted so far
        self.running: dict[int, int] = {}

    def __call__(self, node: ParenList, parent: ParenList | None) -> None:
        count = self.count(node)
        head = None if parent is None else _head(parent)
        if head not in _COUNTED:
            return
        key = id(parent)
        if head == "or":
            total = self.running.get(key, 0) + count
            if total > self.limit:
                raise self.error(parent)
        else:
            total = min(self.running.get(key, 1) * count, self.limit + 1)
        self.running[key] = total

    def count(self, node: ParenList) -> int:
        """The disjuncts of a list that has just closed (its sub-lists counted before)."""
        head = _head(node)
        if head not in _COUNTED:
            return 1
        from_lists = self.running.pop(id(node), None)
        tokens = [item.text for item in node.items[1:] if isinstance(item, Token)]
        if head == "or":
            total = (from_lists or 0) + sum(text != "false" for text in tokens)
        else:
            total = (1 if from_lists is None else from_lists) * ("false" not in tokens)
        if total > self.limit:
            raise self.error(node)
        return total

    def error(self, node: ParenList) -> SpecError:
        return SpecError(too_many_disjuncts(self.limit), path=self.path, line=node.line,
                         token="(" + (_head(node) or ""))
