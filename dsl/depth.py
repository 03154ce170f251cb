"""Room for deeply nested programs: the syntax tree is walked recursively
in places, so the front end raises Python's recursion limit while it works
(and reports what is still too deep as a user error, never a crash)."""

from __future__ import annotations

import contextlib
import sys

from ..ir.collector import no_gc_pauses

__all__ = ["DEPTH_LIMIT", "deep_recursion", "no_gc_pauses"]

DEPTH_LIMIT = 6000


@contextlib.contextmanager
def deep_recursion(limit: int = DEPTH_LIMIT):
    old = sys.getrecursionlimit()
    if old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
