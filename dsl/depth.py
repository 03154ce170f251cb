"""Room for deeply nested programs: the syntax tree is walked recursively
in places, so the front end raises Python's recursion limit while it works
(and reports what is still too deep as a user error, never a crash)."""

from __future__ import annotations

import contextlib
import gc
import sys

__all__ = ["DEPTH_LIMIT", "deep_recursion", "no_gc_pauses"]

DEPTH_LIMIT = 6000


@contextlib.contextmanager
def no_gc_pauses():
    """Suspend the cyclic garbage collector: building a graph allocates
    hundreds of thousands of long-lived objects and no garbage cycles, and
    full collections over them (which free nothing) would make the front
    end's time grow faster than the network."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def deep_recursion(limit: int = DEPTH_LIMIT):
    old = sys.getrecursionlimit()
    if old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
