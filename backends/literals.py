"""User text (network, target and layer names) inside generated files, by
each target language's rules: comments, C and Python string literals,
shell words.  Valid names (``ir.names``) come out unchanged; anything else
(a name that bypassed validation) is escaped so that it stays inside its
comment or literal."""

from __future__ import annotations

import shlex

__all__ = ["c_comment", "c_string", "printable", "py_docstring", "py_string", "shell_comment"]

_C_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\", "?"}


def printable(text: str) -> str:
    """Printable ASCII: backslash escapes (``\\n``, ``\\x1b``, ``\\u00e9``)
    for everything else and for backslashes, so no line break survives."""
    return text.encode("unicode_escape").decode("ascii")


def c_comment(text: str) -> str:
    """Text for inside ``/* … */``: printable, and neither ``*/`` nor ``/*``."""
    return printable(text).replace("*/", "*\\/").replace("/*", "/\\*")


def c_string(text: str) -> str:
    """A C/C++ string literal holding the UTF-8 bytes of ``text`` (octal
    escapes, which unlike ``\\x`` stop after three digits)."""
    body = "".join(chr(b) if chr(b) in _C_PLAIN else f"\\{b:03o}" for b in text.encode("utf-8", "surrogatepass"))
    return f'"{body}"'


def py_docstring(text: str) -> str:
    """Text for inside a ``\"\"\"`` docstring or a ``"`` string literal."""
    return printable(text).replace('"', '\\"')


def py_string(text: str) -> str:
    """A double-quoted Python string literal equal to ``text``."""
    return f'"{py_docstring(text)}"'


def shell_comment(text: str) -> str:
    """Text for a ``#`` comment of a shell or Tcl script: one line, quoted
    as a shell word when it is not a plain word."""
    return shlex.quote(printable(text))
