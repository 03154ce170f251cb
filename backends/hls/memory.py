"""Where each tensor of the HLS network lives: one DRAM arena of 16-bit
words shared by all activations.

Views share their operand's words: ``output``, ``flatten`` ([C, H, W] in
C-major order is already the flat vector) and ``identity``.  Every other
layer gets a region of C·H·W words (a deformable layer also a scratch region
for its offsets) when it runs; a region is given back once its last reader
has run, and outputs keep theirs to the end.  Regions are placed first-fit,
lowest address first, so the plan is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...ir import Graph, Node

__all__ = ["VIEW_OPS", "MemoryPlan", "plan_memory"]

VIEW_OPS = ("output", "flatten", "identity")


@dataclass(frozen=True)
class MemoryPlan:
    owner: dict[str, str]  # layer -> the layer whose words it uses (itself unless a view)
    offset: dict[str, int]  # owning layer (or "NAME#scratch") -> first word
    words: int  # size of the arena


def _size(node: Node) -> int:
    return node.shape.c * node.shape.h * node.shape.w


def _owners(graph: Graph) -> dict[str, str]:
    owner: dict[str, str] = {}
    for node in graph.nodes():
        owner[node.name] = owner[node.inputs[0]] if node.op in VIEW_OPS else node.name
    return owner


def _last_reads(graph: Graph, owner: dict[str, str]) -> dict[str, int]:
    order = {name: i for i, name in enumerate(graph.topo_order())}
    last: dict[str, int] = {}
    end = len(order)
    for node in graph.nodes():
        for operand in node.inputs:
            root = owner[operand]
            last[root] = max(last.get(root, -1), order[node.name])
        if node.op == "output":
            last[owner[node.name]] = end
    return last


class _Arena:
    def __init__(self):
        self.free: list[tuple[int, int]] = []  # (offset, words), sorted
        self.top = 0

    def take(self, words: int) -> int:
        for i, (offset, size) in enumerate(self.free):
            if size >= words:
                self.free[i:i + 1] = [(offset + words, size - words)] if size > words else []
                return offset
        offset, self.top = self.top, self.top + words
        return offset

    def give(self, offset: int, words: int) -> None:
        self.free.append((offset, words))
        self.free.sort()
        merged: list[tuple[int, int]] = []
        for start, size in self.free:
            if merged and merged[-1][0] + merged[-1][1] == start:
                merged[-1] = (merged[-1][0], merged[-1][1] + size)
            else:
                merged.append((start, size))
        self.free = merged


def plan_memory(graph: Graph, scratch: dict[str, int], chains: dict[str, list[str]] | None = None,
                fused: frozenset[str] | set[str] = frozenset()) -> MemoryPlan:
    """Place every tensor; ``scratch`` gives extra words some layers need
    while they run (keyed by layer name).  ``chains``: layers run in a
    convolution's epilogue (head → layers), whose outputs are placed with
    the head's, as the head's kernel writes them; ``fused`` ones, read by no
    layer outside their chain, get none."""
    chains = chains or {}
    in_chain = {name for chain in chains.values() for name in chain}
    owner = _owners(graph)
    last = _last_reads(graph, owner)
    arena, offset, live = _Arena(), {}, {}
    for node in graph.inputs:  # written before the network runs
        offset[node.name] = arena.take(_size(node))
        live[node.name] = _size(node)
    for step, node in enumerate(graph.nodes()):
        for name in [n for n in live if last.get(n, -1) < step]:
            arena.give(offset[name], live.pop(name))
        if node.name in in_chain:
            continue
        for name in [node.name, *chains.get(node.name, [])]:
            if owner[name] == name and graph.node(name).op != "input" and name not in fused:
                offset[name] = arena.take(_size(graph.node(name)))
                live[name] = _size(graph.node(name))
        if node.name in scratch:
            key = f"{node.name}#scratch"
            offset[key] = arena.take(scratch[node.name])
            arena.give(offset[key], scratch[node.name])
    return MemoryPlan(owner, offset, arena.top)
