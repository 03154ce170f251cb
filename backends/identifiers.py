"""Distinct identifiers for generated code (Python variables, C names),
one per layer, derived from the layer names in a deterministic order; each
an ASCII identifier whatever the name (which validation makes a dotted
identifier already)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..ir import Graph

__all__ = ["ascii_identifier", "distinct_identifiers"]

_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


def ascii_identifier(name: str, prefix: str, underscore: bool = False) -> str:
    """``name`` with every character but ASCII letters, digits and ``_``
    replaced by ``_`` (``layer1.0.conv1`` → ``layer1_0_conv1``), behind
    ``prefix_`` unless it starts with a letter (or, with ``underscore``, one
    ``_``: Python mangles ``__x`` in a class)."""
    base = _NOT_IDENTIFIER.sub("_", name)
    if base[:1].isalpha() or (underscore and base[:1] == "_" and base[:2] != "__"):
        return base
    return f"{prefix}_{base}"


def distinct_identifiers(graph: Graph, stem: Callable[[str], str]) -> dict[str, str]:
    """``{layer: identifier}``: ``stem(name)``, numbered ``_2``, ``_3``… where
    an earlier layer (in graph order) took it already."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for node in graph.nodes():
        base = stem(node.name)
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        names[node.name] = candidate
    return names
