"""The pass framework (DESIGN §4; after xDSL's ModulePass and onnx-ir's
PassResult).

A pass is a frozen dataclass whose fields are its options; ``run(graph)``
returns a :class:`PassResult`.  Passes are registered by name in
``passes.registry.PASSES`` and composed with pipeline strings such as
``tile{mode=paper},cost``.  :func:`run_pipeline` verifies the graph after
every pass that could break it, so a pass that breaks it is named; a pass
that only writes annotations (``annotates_only``), or says it changed
nothing, leaves the layers, their attributes and shapes as they were and is
not followed by a full check, unless ``SEGC_VERIFY=all`` (set for the test
suite) asks for one after every pass.  The garbage collector is paused
while the pipeline runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ..ir import Graph
from ..ir.collector import no_gc_pauses
from ..ir.verify import verify_all

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
    annotates_only: ClassVar[bool] = False  # writes annotations, never layers, attributes or shapes

    @abstractmethod
    def run(self, graph: Graph) -> PassResult:
        """Transform or annotate ``graph`` (a copy the pass may edit)."""


def run_pipeline(graph: Graph, passes: list[Pass]) -> tuple[Graph, list[str]]:
    """Run passes in order on a copy of ``graph``; verify after each one
    that could have broken it: one that is not ``annotates_only`` and says
    it changed the graph (after every one with ``SEGC_VERIFY=all``).  The
    garbage collector is paused meanwhile."""
    notes: list[str] = []
    check_every_pass = verify_all()
    with no_gc_pauses():
        current = graph.copy()
        for index, step in enumerate(passes):
            result = step.run(current)
            current = result.graph
            notes.extend(f"{step.name}: {note}" for note in result.notes)
            if check_every_pass or (result.changed and not step.annotates_only):
                earlier = ", ".join(p.name for p in passes[:index]) or "none"
                current.verify(context=f"after pass '{step.name}' (passes before it: {earlier})")
    return current, notes
