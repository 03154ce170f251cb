"""The pass framework (DESIGN §4; after xDSL's ModulePass and onnx-ir's
PassResult).

A pass is a frozen dataclass whose fields are its options; ``run(graph)``
returns a :class:`PassResult`.  Passes are registered by name in
``passes.registry.PASSES`` and composed with pipeline strings such as
``tile{mode=paper},cost``.  :func:`run_pipeline` verifies the graph after
every pass, so a pass that breaks it is named.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ..ir import Graph

__all__ = ["Pass", "PassResult", "run_pipeline"]


@dataclass(frozen=True)
class PassResult:
    graph: Graph
    changed: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pass(ABC):
    """Base of all passes: subclasses set ``name`` and implement ``run``."""

    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""

    @abstractmethod
    def run(self, graph: Graph) -> PassResult:
        """Transform or annotate ``graph`` (a copy the pass may edit)."""


def run_pipeline(graph: Graph, passes: list[Pass]) -> tuple[Graph, list[str]]:
    """Run passes in order on a copy of ``graph``; verify after each one."""
    notes: list[str] = []
    current = graph.copy()
    for index, step in enumerate(passes):
        result = step.run(current)
        current = result.graph
        notes.extend(f"{step.name}: {note}" for note in result.notes)
        earlier = ", ".join(p.name for p in passes[:index]) or "none"
        current.verify(context=f"after pass '{step.name}' (passes before it: {earlier})")
    return current, notes
