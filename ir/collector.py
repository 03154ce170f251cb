"""Pausing the cyclic garbage collector around work on large graphs."""

from __future__ import annotations

import contextlib
import gc

__all__ = ["no_gc_pauses"]


@contextlib.contextmanager
def no_gc_pauses():
    """Suspend the cyclic garbage collector (restored on exit, exceptions
    included; nested uses leave it as the outermost found it): building and
    annotating a graph allocates hundreds of thousands of long-lived objects
    and no garbage cycles, and full collections over them (which free
    nothing) would make the time grow faster than the network."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
