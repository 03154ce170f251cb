"""Per-layer work counts of a graph: output shape, MACs and parameters, from
the op table (see ``ir.ops`` for the counting rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .ops import OPS
from .shapes import Shape

if TYPE_CHECKING:
    from .graph import Graph

__all__ = ["LayerSummary", "summarize"]


@dataclass(frozen=True)
class LayerSummary:
    name: str
    op: str
    shape: Shape
    macs: int
    params: int

    def to_json(self) -> dict:
        return {"name": self.name, "op": self.op, "shape": list(self.shape), "macs": self.macs, "params": self.params}


def summarize(graph: Graph) -> list[LayerSummary]:
    """One summary per layer, in topological order."""
    rows = []
    for node in graph.nodes():
        opdef = OPS[node.op]
        inputs = graph.input_shapes(node)
        rows.append(LayerSummary(
            node.name, node.op, node.shape,  # type: ignore[arg-type]
            opdef.macs(node.attrs, inputs, node.shape), opdef.params(node.attrs, inputs, node.shape),
        ))
    return rows
