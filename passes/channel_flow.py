"""How channels flow through a graph: the analysis behind
:func:`segc.passes.channels.channel_groups` (the rules are listed there).

Every SOURCE layer (and network input) creates an *element*: a run of its
output channels.  A tensor's *layout* lists which elements it carries and
where (:class:`Segment`).  Union-find ties elements that must be pruned
together; an ``add`` of tensors whose layouts are cut differently (a concat
added to a single conv's output) first *splits* the elements so the cuts
match, then ties them piece by piece: the conv's channels ``[0, 58)`` join
the first concat input, ``[58, 116)`` the second.
"""

from __future__ import annotations

from typing import NamedTuple

from ..ir import Coupling, Graph, Node

__all__ = ["ChannelFlow", "Segment"]


class Segment(NamedTuple):
    """Channel ``c`` of ``elem`` is channels ``[start + c·unit, start + (c+1)·unit)`` of a tensor."""

    elem: int
    start: int
    length: int
    unit: int

    @property
    def end(self) -> int:
        return self.start + self.length * self.unit


class ChannelFlow:
    """One walk over the graph in topological order.  Afterwards, per element:
    ``origin`` (the layer that made it), ``offset`` (its first channel in that
    layer's output), ``size``; ``members``/``consumers`` hold slots
    ``(elem, layer, start, unit)``; ``reasons`` why an element is fixed."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.parent: list[int] = []
        self.origin: list[str] = []
        self.offset: list[int] = []
        self.size: list[int] = []
        self.is_input: list[bool] = []
        self.reasons: dict[int, list[str]] = {}
        self.layouts: dict[str, list[Segment]] = {}
        self.members: list[tuple[int, str, int, int]] = []
        self.consumers: list[tuple[int, str, int, int]] = []
        self.order: dict[str, int] = {}
        for index, node in enumerate(graph.nodes()):
            self.order[node.name] = index
            self.visit(node)

    # ------------------------------------------------------------ elements
    def find(self, elem: int) -> int:
        while self.parent[elem] != elem:
            self.parent[elem] = self.parent[self.parent[elem]]
            elem = self.parent[elem]
        return elem

    def _new(self, origin: str, offset: int, size: int, is_input: bool) -> int:
        self.parent.append(len(self.parent))
        self.origin.append(origin)
        self.offset.append(offset)
        self.size.append(size)
        self.is_input.append(is_input)
        return len(self.parent) - 1

    def forbid(self, layout: list[Segment], reason: str) -> None:
        for seg in layout:
            self.reasons.setdefault(seg.elem, []).append(reason)

    def split(self, elem: int, cut: int) -> None:
        """Split every element tied to ``elem`` into channels ``[0, cut)`` and the rest."""
        root = self.find(elem)
        twins: dict[int, int] = {}
        for e in [e for e in range(len(self.parent)) if self.find(e) == root]:
            twins[e] = self._new(self.origin[e], self.offset[e] + cut, self.size[e] - cut, self.is_input[e])
            self.size[e] = cut
            if e in self.reasons:
                self.reasons[twins[e]] = list(self.reasons[e])
        first = next(iter(twins.values()))
        for twin in twins.values():
            self.parent[twin] = first
        for name, layout in self.layouts.items():
            self.layouts[name] = [piece for seg in layout for piece in _cut(seg, twins, cut)]
        for slots in (self.members, self.consumers):
            slots += [(twins[e], name, start + cut * unit, unit) for e, name, start, unit in slots if e in twins]

    # ------------------------------------------------------------ rules
    def operand(self, node: Node) -> list[Segment]:
        return self.layouts[node.inputs[0]]

    def member(self, node: Node, layout: list[Segment]) -> list[Segment]:
        self.members += [(s.elem, node.name, s.start, s.unit) for s in layout]
        return layout

    def visit(self, node: Node) -> None:
        coupling = node.opdef.coupling(node.attrs, self.graph.input_shapes(node))
        self.layouts[node.name] = _RULES[coupling](self, node)
        if node.op == "dconv" and node.attrs["offset_groups"] > 1:
            self.forbid(self.operand(node), f"dconv '{node.name}' (offset_groups={node.attrs['offset_groups']})")
        if node.op == "softmax":  # every output channel depends on every input channel
            self.forbid(self.operand(node), f"softmax '{node.name}' (normalises over the channels)")

    def fixed(self, node: Node) -> list[Segment]:
        if node.op == "input":
            layout = [Segment(self._new(node.name, 0, node.shape.c, True), 0, node.shape.c, 1)]
            self.forbid(layout, f"network input '{node.name}'")
            return layout
        self.forbid(self.operand(node), f"network output '{node.output_name}'")
        return []

    def source(self, node: Node) -> list[Segment]:
        self.consumers += [(s.elem, node.name, s.start, s.unit) for s in self.operand(node)]
        return [Segment(self._new(node.name, 0, node.shape.c, False), 0, node.shape.c, 1)]

    def grouped(self, node: Node) -> list[Segment]:
        reason = f"grouped conv '{node.name}' (groups={node.attrs['groups']})"
        self.forbid(self.operand(node), reason)
        layout = self.source(node)
        self.forbid(layout, reason)
        return layout

    def passthrough(self, node: Node) -> list[Segment]:
        return self.member(node, self.operand(node))

    def elementwise(self, node: Node) -> list[Segment]:
        while (cut := _misaligned([self.layouts[i] for i in node.inputs])) is not None:
            seg, at = cut
            if at is None:
                layouts = [self.layouts[i] for i in node.inputs]
                for layout in layouts:
                    self.forbid(layout, f"{node.op} '{node.name}' of tensors whose channels cannot be matched")
                return self.member(node, layouts[0])
            self.split(seg.elem, at)
        layouts = [self.layouts[i] for i in node.inputs]
        for layout in layouts[1:]:
            for first, other in zip(layouts[0], layout):
                self.parent[self.find(other.elem)] = self.find(first.elem)
        return self.member(node, layouts[0])

    def concat(self, node: Node) -> list[Segment]:
        layout, offset = [], 0
        for name, shape in zip(node.inputs, self.graph.input_shapes(node)):
            layout += [s._replace(start=offset + s.start) for s in self.layouts[name]]
            offset += shape.c
        return self.member(node, layout)

    def flatten(self, node: Node) -> list[Segment]:
        shape = self.graph.input_shapes(node)[0]
        area = shape.h * shape.w
        return self.member(node, [s._replace(start=s.start * area, unit=s.unit * area) for s in self.operand(node)])


def _slice(flow: ChannelFlow, node: Node) -> list[Segment]:
    """Channels [start, end) of the operand: elements cut at both ends (each
    piece its own group, so what the slice takes is pruned apart from the
    rest), the pieces inside shifted to start at 0."""
    start, end = node.attrs["start"], node.attrs["end"]
    for at in (start, end):
        while (seg := next((s for s in flow.operand(node) if s.start < at < s.end), None)) is not None:
            step, rest = divmod(at - seg.start, seg.unit)
            if rest:  # inside a flattened channel: cannot be matched
                flow.forbid(flow.operand(node), f"slice '{node.name}' inside a channel's features")
                return flow.member(node, [])
            flow.split(seg.elem, step)
    inside = [s._replace(start=s.start - start) for s in flow.operand(node) if start <= s.start and s.end <= end]
    return flow.member(node, inside)


def _shuffle(flow: ChannelFlow, node: Node) -> list[Segment]:
    """A shuffle interleaves the channels of its groups: pruning through it
    would have to remove the same channels of every group, so the channels
    it reads and writes are never pruned; its output is a fixed element."""
    reason = f"channel shuffle '{node.name}' (groups={node.attrs['groups']})"
    flow.forbid(flow.operand(node), reason)
    layout = [Segment(flow._new(node.name, 0, node.shape.c, True), 0, node.shape.c, 1)]  # made here, no weights
    flow.forbid(layout, reason)
    return layout


def _cut(seg: Segment, twins: dict[int, int], cut: int) -> list[Segment]:
    if seg.elem not in twins:
        return [seg]
    return [seg._replace(length=cut), Segment(twins[seg.elem], seg.start + cut * seg.unit, seg.length - cut, seg.unit)]


def _misaligned(layouts: list[list[Segment]]) -> tuple[Segment, int | None] | None:
    """A segment cut by another layout's boundary, with the channel to split
    it at (None when the boundary falls inside a channel, or the layouts
    cannot be matched), or None when all layouts are cut alike."""
    bounds = sorted({b for layout in layouts for s in layout for b in (s.start, s.end)})
    for layout in layouts:
        for seg in layout:
            inside = [b for b in bounds if seg.start < b < seg.end]
            if inside:
                step, rest = divmod(inside[0] - seg.start, seg.unit)
                return seg, (None if rest else step)
    shapes = {tuple((s.start, s.length, s.unit) for s in layout) for layout in layouts}
    return None if len(shapes) == 1 else (layouts[0][0], None)


_RULES = {
    Coupling.FIXED: ChannelFlow.fixed, Coupling.SOURCE: ChannelFlow.source, Coupling.GROUPED: ChannelFlow.grouped,
    Coupling.PASSTHROUGH: ChannelFlow.passthrough, Coupling.DEPTHWISE: ChannelFlow.passthrough,
    Coupling.ELEMENTWISE: ChannelFlow.elementwise, Coupling.CONCAT: ChannelFlow.concat,
    Coupling.FLATTEN: ChannelFlow.flatten, Coupling.SLICE: _slice, Coupling.SHUFFLE: _shuffle,
}
