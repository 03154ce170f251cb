"""How channels flow through a graph: the analysis behind
:func:`segc.passes.channels.channel_groups` (the rules are listed there).

Every SOURCE layer (and network input) creates an *element*: a run of its
output channels.  A tensor's *layout* lists which elements it carries and
where (:class:`Segment`).  Union-find ties elements that must be pruned
together; an ``add`` of tensors whose layouts are cut differently (a concat
added to a single conv's output) first *splits* the elements so the cuts
match, then ties them piece by piece: the conv's channels ``[0, 58)`` join
the first concat input, ``[58, 116)`` the second.  A shuffle ties its parts
the same way; where one part's channels are ``k`` times wider than
another's (a half of an earlier shuffle's output), the finer elements are
first *coarsened*: ``k`` consecutive channels become one.
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
    layer's output), ``size``, ``unit`` (channel ``c`` is that layer's output
    channels ``[offset + c·unit, offset + (c+1)·unit)``); ``members`` and
    ``consumers`` hold slots ``(elem, layer, start, unit)``; ``reasons`` why
    an element is fixed."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.parent: list[int] = []
        self.origin: list[str] = []
        self.offset: list[int] = []
        self.size: list[int] = []
        self.unit: list[int] = []
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

    def _new(self, origin: str, offset: int, size: int, is_input: bool, unit: int = 1) -> int:
        self.parent.append(len(self.parent))
        self.origin.append(origin)
        self.offset.append(offset)
        self.size.append(size)
        self.unit.append(unit)
        self.is_input.append(is_input)
        return len(self.parent) - 1

    def forbid(self, layout: list[Segment], reason: str) -> None:
        for seg in layout:
            self.reasons.setdefault(seg.elem, []).append(reason)

    def tied(self, elem: int) -> list[int]:
        """Every element tied to ``elem``, itself included."""
        root = self.find(elem)
        return [e for e in range(len(self.parent)) if self.find(e) == root]

    def split(self, elem: int, cut: int) -> None:
        """Split every element tied to ``elem`` into channels ``[0, cut)`` and the rest."""
        twins: dict[int, int] = {}
        for e in self.tied(elem):
            twins[e] = self._new(self.origin[e], self.offset[e] + cut * self.unit[e], self.size[e] - cut,
                                 self.is_input[e], self.unit[e])
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

    def coarsen(self, elem: int, factor: int) -> None:
        """Make every ``factor`` consecutive channels of every element tied to
        ``elem`` one channel (their sizes divide by ``factor``, units multiply)."""
        tied = set(self.tied(elem))
        for e in tied:
            self.size[e] //= factor
            self.unit[e] *= factor
        for name, layout in self.layouts.items():
            self.layouts[name] = [s._replace(length=s.length // factor, unit=s.unit * factor) if s.elem in tied else s
                                  for s in layout]
        for slots in (self.members, self.consumers):
            slots[:] = [(e, name, start, unit * factor if e in tied else unit) for e, name, start, unit in slots]

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


def _cut_at(flow: ChannelFlow, node: Node, at: int) -> bool:
    """Split the operand's elements so that none straddles channel ``at``;
    False when ``at`` falls inside a channel's features (flattened, or
    interleaved by a shuffle)."""
    while (seg := next((s for s in flow.operand(node) if s.start < at < s.end), None)) is not None:
        step, rest = divmod(at - seg.start, seg.unit)
        if rest:
            return False
        flow.split(seg.elem, step)
    return True


def _slice(flow: ChannelFlow, node: Node) -> list[Segment]:
    """Channels [start, end) of the operand: elements cut at both ends (each
    piece its own group, so what the slice takes is pruned apart from the
    rest), the pieces inside shifted to start at 0."""
    start, end = node.attrs["start"], node.attrs["end"]
    if not all(_cut_at(flow, node, at) for at in (start, end)):
        flow.forbid(flow.operand(node), f"slice '{node.name}' cuts a channel's features")
        return flow.member(node, [])
    inside = [s._replace(start=s.start - start) for s in flow.operand(node) if start <= s.start and s.end <= end]
    return flow.member(node, inside)


def _parts(flow: ChannelFlow, node: Node, groups: int) -> list[list[Segment]]:
    """The operand's layout in ``groups`` equal parts, each shifted to start at 0."""
    size = flow.graph.input_shapes(node)[0].c // groups
    return [[s._replace(start=s.start - p * size) for s in flow.operand(node) if p * size <= s.start < (p + 1) * size]
            for p in range(groups)]


def _shuffle(flow: ChannelFlow, node: Node) -> list[Segment]:
    """Output channel ``c·g + p`` is channel ``c`` of part ``p`` (of ``g``).
    Pruned, the shuffle interleaves what each part keeps, so the parts must
    keep the same channels: cut alike, they are tied index by index (as by
    an ``add``), and a channel of part 0 with unit ``u`` at ``s`` becomes
    ``g·u`` output channels at ``g·s``: its own and its twins' in the other
    parts.  Parts that cannot be matched are never pruned through."""
    groups = node.attrs["groups"]
    size = flow.graph.input_shapes(node)[0].c // groups
    aligned = all(_cut_at(flow, node, p * size) for p in range(1, groups))
    while aligned and (cut := _misaligned(_parts(flow, node, groups))) is not None:
        seg, at = cut
        if at is not None:
            flow.split(seg.elem, at)
        elif (finer := _finer(_parts(flow, node, groups))) is not None:
            flow.coarsen(*finer)
        else:
            aligned = False
    if not aligned:
        reason = f"channel shuffle '{node.name}' (groups={groups}) of parts whose channels cannot be matched"
        flow.forbid(flow.operand(node), reason)
        layout = [Segment(flow._new(node.name, 0, node.shape.c, True), 0, node.shape.c, 1)]  # made here, no weights
        flow.forbid(layout, reason)
        return layout
    parts = _parts(flow, node, groups)
    for part in parts[1:]:
        for first, other in zip(parts[0], part):
            flow.parent[flow.find(other.elem)] = flow.find(first.elem)
    return flow.member(node, [Segment(s.elem, s.start * groups, s.length, s.unit * groups) for s in parts[0]])


def _cut(seg: Segment, twins: dict[int, int], cut: int) -> list[Segment]:
    if seg.elem not in twins:
        return [seg]
    return [seg._replace(length=cut), Segment(twins[seg.elem], seg.start + cut * seg.unit, seg.length - cut, seg.unit)]


def _finer(layouts: list[list[Segment]]) -> tuple[int, int] | None:
    """(element, factor) for a segment that spans the same channels as its
    counterpart in another layout with ``factor`` times finer channels."""
    for layout in layouts[1:]:
        for a, b in zip(layouts[0], layout):
            fine, coarse = sorted((a, b), key=lambda s: s.unit)
            factor, rest = divmod(coarse.unit, fine.unit)
            if (a.start, a.end) == (b.start, b.end) and factor > 1 and not rest and fine.length % factor == 0:
                return fine.elem, factor
    return None


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
    return None if len(shapes) == 1 else (next(s for layout in layouts for s in layout), None)


_RULES = {
    Coupling.FIXED: ChannelFlow.fixed, Coupling.SOURCE: ChannelFlow.source, Coupling.GROUPED: ChannelFlow.grouped,
    Coupling.PASSTHROUGH: ChannelFlow.passthrough, Coupling.DEPTHWISE: ChannelFlow.passthrough,
    Coupling.ELEMENTWISE: ChannelFlow.elementwise, Coupling.CONCAT: ChannelFlow.concat,
    Coupling.FLATTEN: ChannelFlow.flatten, Coupling.SLICE: _slice, Coupling.SHUFFLE: _shuffle,
}
