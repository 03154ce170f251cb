"""Distinct identifiers for generated code (Python variables, C names),
one per layer, derived from the layer names in a deterministic order."""

from __future__ import annotations

from collections.abc import Callable

from ..ir import Graph

__all__ = ["distinct_identifiers"]


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
