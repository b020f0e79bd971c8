"""VNN-LIB tokenizer and s-expression reader.

One regular expression splits the text into newlines (to count lines), ``;`` comments,
parentheses and other tokens; the tokens are nested into a forest of :class:`ParenList`
and :class:`Token` items, each remembering the line it starts on for error messages.
"""

from __future__ import annotations

import re
from typing import Callable

from verifier.errors import SpecError

__all__ = ["Token", "ParenList", "read_sexprs", "describe"]

#: longest token read; a longer run of non-space characters is junk, not VNN-LIB
MAX_TOKEN_CHARS = 1000
# One regex for the whole file: newline (to count lines), comment, parens, any other token
# (at most MAX_TOKEN_CHARS + 1 characters, so that junk never becomes one huge string).
_TOKEN_RE = re.compile(r"\n|;[^\n]*|\(|\)|[^\s();]{1,%d}" % (MAX_TOKEN_CHARS + 1))
#: what a byte that is not UTF-8 becomes when the text is decoded (see parse_vnnlib_file)
UNDECODABLE = "\ufffd"


class Token:
    """A leaf token with the 1-based line it starts on."""

    __slots__ = ("text", "line")

    def __init__(self, text: str, line: int):
        self.text = text
        self.line = line


class ParenList:
    """A parenthesised list; ``line`` is the line of its ``(``."""

    __slots__ = ("items", "line")

    def __init__(self, line: int):
        self.items: list = []
        self.line = line


def read_sexprs(text: str, path: str | None,
                on_close: Callable[[ParenList, ParenList | None], None] | None = None) -> list:
    """Tokenize and build the s-expression forest in one pass.

    Args:
        text: the file's content.
        path: for error messages.
        on_close: called with each list as soon as its ``)`` is read, and the list that
            holds it (None at the top level); it may raise to stop reading early.

    Returns:
        the top-level items (``ParenList`` or ``Token``) in file order.
    """
    line = 1
    top: list = []
    stack: list[ParenList] = []
    current = top
    for match in _TOKEN_RE.finditer(text):
        tok = match.group()
        first = tok[0]
        if first == "\n":
            line += 1
        elif first == ";":
            continue
        elif tok == "(":
            node = ParenList(line)
            current.append(node)
            stack.append(node)
            current = node.items
        elif tok == ")":
            if not stack:
                raise SpecError("unbalanced parentheses: ')' without a matching '('",
                                path=path, line=line, token=")")
            closed = stack.pop()
            current = stack[-1].items if stack else top
            if on_close is not None:
                on_close(closed, stack[-1] if stack else None)
        else:
            if len(tok) > MAX_TOKEN_CHARS:
                raise SpecError(f"a token longer than {MAX_TOKEN_CHARS} characters: not "
                                "VNN-LIB text", path=path, line=line, token=tok)
            if UNDECODABLE in tok:
                raise SpecError("a byte that is not UTF-8 text", path=path, line=line,
                                token=tok)
            current.append(Token(tok, line))
    if stack:
        opened = stack[0]
        raise SpecError("unbalanced parentheses: '(' opened here is never closed",
                        path=path, line=opened.line, token="(")
    return top


def describe(node) -> str:
    """A short text naming an item for error messages: the token, or ``(`` and its head."""
    if isinstance(node, Token):
        return node.text
    if node.items and isinstance(node.items[0], Token):
        return "(" + node.items[0].text
    return "("
