"""Channel dependency analysis for structured pruning (Mori et al., DAC 2022,
Sec. 3.3 and 4.3; DESIGN §4): which channels must be removed together.

A *channel group* is the set of output channels of one or more producers
(conv, dconv, linear: ``Coupling.SOURCE``) together with every tensor they
reach unchanged.  Removing channel ``i`` of a group removes filter ``i`` of
every producer, channel ``i`` of every member (BN, activation, pooling,
upsampling, add, concat, flatten, depthwise conv) and input channel ``i`` of
every consumer (the next conv or linear).  The groups come from each op's
:class:`~segc.ir.Coupling`, never from op names:

* SOURCE: a new group; the input's groups are consumed (weights' input dim).
* PASSTHROUGH: output channel ``i`` is input channel ``i``.
* ELEMENTWISE (``add``): the groups of all inputs merge (residual shortcuts).
* CONCAT: output channels ``[o_k, o_k + C_k)`` are input ``k``'s channels.
* DEPTHWISE: like PASSTHROUGH, and the layer's per-channel weights shrink.
* FLATTEN: input channel ``i`` becomes features ``[i·H·W, (i+1)·H·W)``; a
  slot's ``unit`` counts the features per channel.
* GROUPED and FIXED (network inputs and outputs): never pruned, nor the
  groups they read.

Where a group sits inside a tensor is a *slot* ``(layer, offset, unit)``:
channel ``c`` of the group is channels ``[offset + c·unit, offset + (c+1)·unit)``
of that layer's output (members) or input (consumers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ..ir import Coupling, Graph, Node
from ..ir.directives import matches

__all__ = ["ChannelGroup", "channel_groups", "kept_channels", "pruned_shapes"]


@dataclass(frozen=True)
class ChannelGroup:
    """Channels pruned together.  ``consumers`` pairs each consumer with the
    input-channel offset of the group (``consumer_units`` gives its features
    per channel: H·W after a flatten, else 1); ``member_slots`` lists every
    ``(layer, offset, unit)`` where the group sits in a member's output."""

    name: str
    channels: int
    producers: tuple[str, ...]
    members: tuple[str, ...]
    consumers: tuple[tuple[str, int], ...]
    prunable: bool
    reason: str
    consumer_units: tuple[int, ...] = ()
    member_slots: tuple[tuple[str, int, int], ...] = ()


class _Segment(NamedTuple):
    elem: int  # union-find element
    start: int
    length: int
    unit: int


class _Analysis:
    """One pass over the graph in topological order, with union-find over
    the channel sets each SOURCE (or network input) creates."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.parent: list[int] = []
        self.origin: list[str] = []  # the layer that created each element
        self.size: list[int] = []
        self.reasons: dict[int, list[str]] = {}
        self.layouts: dict[str, list[_Segment]] = {}
        self.producers: list[tuple[int, str]] = []
        self.members: list[tuple[int, str, int, int]] = []
        self.consumers: list[tuple[int, str, int, int]] = []

    def find(self, elem: int) -> int:
        while self.parent[elem] != elem:
            self.parent[elem] = self.parent[self.parent[elem]]
            elem = self.parent[elem]
        return elem

    def new(self, origin: str, channels: int) -> list[_Segment]:
        self.parent.append(len(self.parent))
        self.origin.append(origin)
        self.size.append(channels)
        return [_Segment(len(self.parent) - 1, 0, channels, 1)]

    def forbid(self, layout: list[_Segment], reason: str) -> None:
        for seg in layout:
            self.reasons.setdefault(seg.elem, []).append(reason)

    def operand(self, node: Node, index: int = 0) -> list[_Segment]:
        return self.layouts[node.inputs[index]]

    def member(self, node: Node, layout: list[_Segment]) -> list[_Segment]:
        self.members.extend((s.elem, node.name, s.start, s.unit) for s in layout)
        return layout

    def visit(self, node: Node) -> None:
        coupling = node.opdef.coupling(node.attrs, self.graph.input_shapes(node))
        self.layouts[node.name] = _RULES[coupling](self, node)
        if node.op == "dconv" and node.attrs["offset_groups"] > 1:
            self.forbid(self.operand(node), f"dconv '{node.name}' (offset_groups={node.attrs['offset_groups']})")

    def fixed(self, node: Node) -> list[_Segment]:
        if node.op == "input":
            layout = self.new(node.name, node.shape.c)
            self.forbid(layout, f"network input '{node.name}'")
            return layout
        self.forbid(self.operand(node), f"network output '{node.output_name}'")
        return []

    def source(self, node: Node) -> list[_Segment]:
        self.consumers.extend((s.elem, node.name, s.start, s.unit) for s in self.operand(node))
        layout = self.new(node.name, node.shape.c)
        self.producers.append((layout[0].elem, node.name))
        return layout

    def grouped(self, node: Node) -> list[_Segment]:
        reason = f"grouped conv '{node.name}' (groups={node.attrs['groups']})"
        self.forbid(self.operand(node), reason)
        layout = self.source(node)
        self.forbid(layout, reason)
        return layout

    def passthrough(self, node: Node) -> list[_Segment]:
        return self.member(node, self.operand(node))


    def elementwise(self, node: Node) -> list[_Segment]:
        layouts = [self.layouts[i] for i in node.inputs]
        shapes = {tuple((s.start, s.length, s.unit) for s in layout) for layout in layouts}
        if len(shapes) == 1:
            for layout in layouts[1:]:
                for first, other in zip(layouts[0], layout):
                    self.parent[self.find(other.elem)] = self.find(first.elem)
        else:
            for layout in layouts:
                self.forbid(layout, f"add '{node.name}' of differently concatenated tensors")
        return self.member(node, layouts[0])

    def concat(self, node: Node) -> list[_Segment]:
        layout, offset = [], 0
        for name, shape in zip(node.inputs, self.graph.input_shapes(node)):
            layout += [s._replace(start=offset + s.start) for s in self.layouts[name]]
            offset += shape.c
        return self.member(node, layout)

    def flatten(self, node: Node) -> list[_Segment]:
        shape = self.graph.input_shapes(node)[0]
        area = shape.h * shape.w
        return self.member(node, [s._replace(start=s.start * area, unit=s.unit * area) for s in self.operand(node)])

    def groups(self) -> list[ChannelGroup]:
        roots = [self.find(e) for e in range(len(self.parent))]
        found: dict[int, _Found] = {}
        for elem, root in enumerate(roots):
            found.setdefault(root, _Found(self.origin[elem], self.size[root])).reasons += self.reasons.get(elem, [])
        for elem, name in self.producers:
            found[roots[elem]].producers.append(name)
        for elem, *slot in self.members:
            found[roots[elem]].slots.append(tuple(slot))
        for elem, *slot in self.consumers:
            found[roots[elem]].consumers.append(tuple(slot))
        prune = self.graph.directives.prune
        keep = prune.keep if prune is not None else ()
        return [entry.group(keep) for entry in found.values()]


_RULES = {
    Coupling.FIXED: _Analysis.fixed, Coupling.SOURCE: _Analysis.source, Coupling.GROUPED: _Analysis.grouped,
    Coupling.PASSTHROUGH: _Analysis.passthrough, Coupling.DEPTHWISE: _Analysis.passthrough,
    Coupling.ELEMENTWISE: _Analysis.elementwise, Coupling.CONCAT: _Analysis.concat, Coupling.FLATTEN: _Analysis.flatten,
}


@dataclass
class _Found:
    """A group as it is collected."""

    origin: str
    channels: int
    reasons: list[str] = field(default_factory=list)
    producers: list[str] = field(default_factory=list)
    slots: list[tuple] = field(default_factory=list)
    consumers: list[tuple] = field(default_factory=list)

    def group(self, keep) -> ChannelGroup:
        members = tuple(dict.fromkeys(name for name, _, _ in self.slots))
        layers = (*self.producers, *members)
        kept_by = [k.pattern for k in keep if any(matches(k.pattern, n) for n in layers)]
        reasons = self.reasons + [f"keep rule '{p}'" for p in kept_by]
        return ChannelGroup(
            self.origin, self.channels, tuple(self.producers), members,
            tuple((name, offset) for name, offset, _ in self.consumers), not reasons, reasons[0] if reasons else "",
            tuple(unit for _, _, unit in self.consumers), tuple(self.slots),
        )


def channel_groups(graph: Graph) -> list[ChannelGroup]:
    """Every channel group of the graph, in topological order of the layer
    that creates it (its first producer, or a network input)."""
    analysis = _Analysis(graph)
    for node in graph.nodes():
        analysis.visit(node)
    return analysis.groups()


def _round_half_up(value: float) -> int:
    return int(value + 0.5)


def kept_channels(group: ChannelGroup, rate: float, pof: int | None = None) -> int:
    """Channels a group keeps at pruning ``rate``: ``max(1, ⌊(1 − rate)·C + ½⌋)``
    (rounded half up, at least one); a group that cannot be pruned keeps all.

    With ``pof`` (the target's P_of), the count snaps to the nearest of the
    multiples of P_of not above C, and C itself (ties keep more), so Eq. 2's
    ⌈C_o/P_of⌉ wastes no lanes: never 0, never more than C."""
    if not group.prunable:
        return group.channels
    kept = max(1, _round_half_up((1.0 - rate) * group.channels))
    if pof is None or pof <= 1:
        return kept
    choices = [*range(pof, group.channels + 1, pof), group.channels]
    return min(choices, key=lambda c: (abs(c - kept), -c))


def _weighted(graph: Graph) -> dict[str, list[int]]:
    """[input channels, output channels] of every conv, dconv and linear."""
    dims = {}
    for node in graph.nodes():
        if node.op in ("conv", "dconv", "linear"):
            dims[node.name] = [graph.node(node.inputs[0]).shape.c, node.shape.c]
    return dims


def pruned_shapes(graph: Graph, groups: list[ChannelGroup], kept: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(input channels, output channels) of every conv, dconv and linear layer
    when each group ``g`` keeps ``kept[g]`` channels (absent: all), without
    building a graph.  A producer loses the removed channels on its output,
    a depthwise member on both sides, a consumer ``unit`` inputs per channel."""
    dims = _weighted(graph)
    for group in groups:
        removed = group.channels - kept.get(group.name, group.channels)
        if removed <= 0:
            continue
        for name in group.producers:
            dims[name][1] -= removed
        for name, _, unit in group.member_slots:
            if name in dims:
                dims[name][0] -= removed * unit
                dims[name][1] -= removed * unit
        for (name, _), unit in zip(group.consumers, group.consumer_units):
            dims[name][0] -= removed * unit
    return {name: (i, o) for name, (i, o) in dims.items()}

