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
* ELEMENTWISE (``add``): the groups of all inputs merge (residual shortcuts);
  a concat added to one conv's output splits that conv's channels at the
  concat's cuts, each piece joining its concat input's group.
* CONCAT: output channels ``[o_k, o_k + C_k)`` are input ``k``'s channels.
* DEPTHWISE: like PASSTHROUGH, and the layer's per-channel weights shrink.
* FLATTEN: input channel ``i`` becomes features ``[i·H·W, (i+1)·H·W)``; a
  slot's ``unit`` counts the features per channel.
* SHUFFLE (``groups=g``): output channel ``c·g + p`` is channel ``c`` of
  part ``p``.  The parts are cut alike and tied index by index (the pruned
  shuffle interleaves what each part keeps); a part whose channels are
  ``k`` times finer than another's has them *coarsened* (``k`` consecutive
  channels become one, its unit ``k`` times larger, producers included);
  channel ``c`` of part 0 at ``(s, u)`` is output channels ``[g·(s + c·u),
  g·(s + (c+1)·u))``.  Parts that cannot be matched are never pruned.
* GROUPED and FIXED (network inputs and outputs): never pruned, nor the
  groups they read.

Where a group sits inside a tensor is a *slot* ``(layer, offset, unit)``:
channel ``c`` of the group is channels ``[offset + c·unit, offset + (c+1)·unit)``
of that layer's output (members) or input (consumers).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph
from ..ir.directives import matches
from .channel_flow import ChannelFlow

__all__ = ["ChannelGroup", "channel_groups", "kept_channels", "kept_count", "pruned_shapes", "pruned_slices"]


@dataclass(frozen=True)
class ChannelGroup:
    """Channels pruned together.  ``consumers`` pairs each consumer with the
    input-channel offset of the group (``consumer_units`` gives its features
    per channel: H·W after a flatten, else 1); ``member_slots`` lists every
    ``(layer, offset, unit)`` where the group sits in a member's output;
    ``producer_offsets`` where it starts in each producer's output (0 unless
    an add ties a producer's channel ranges to different groups) and
    ``producer_units`` its output channels per group channel (1 unless a
    shuffle coarsened them); ``producer_slots`` zips the three."""

    name: str
    channels: int
    producers: tuple[str, ...]
    members: tuple[str, ...]
    consumers: tuple[tuple[str, int], ...]
    prunable: bool
    reason: str
    consumer_units: tuple[int, ...] = ()
    member_slots: tuple[tuple[str, int, int], ...] = ()
    producer_offsets: tuple[int, ...] = ()
    transposed: tuple[str, ...] = ()  # producers whose weight is [C_i, C_o/g, ...] (deconv)
    producer_units: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.producer_offsets) != len(self.producers):  # left out: every producer starts at 0
            object.__setattr__(self, "producer_offsets", (0,) * len(self.producers))
        if len(self.producer_units) != len(self.producers):  # left out: one channel each
            object.__setattr__(self, "producer_units", (1,) * len(self.producers))

    @property
    def producer_slots(self) -> tuple[tuple[str, int, int], ...]:
        """``(layer, offset, unit)`` of every producer, like ``member_slots``."""
        return tuple(zip(self.producers, self.producer_offsets, self.producer_units))


def _group(flow: ChannelFlow, elems: list[int], slots: list, consumers: list, keep) -> ChannelGroup:
    first = elems[0]
    origin, offset, size = flow.origin[first], flow.offset[first], flow.size[first]
    end = offset + size * flow.unit[first]
    whole = offset == 0 and end == flow.graph.node(origin).shape.c
    producers = [e for e in elems if not flow.is_input[e]]
    slots.sort(key=lambda slot: (flow.order[slot[0]], slot[1]))
    consumers.sort(key=lambda slot: (flow.order[slot[0]], slot[1]))
    members = tuple(dict.fromkeys(name for name, _, _ in slots))
    layers = (*(flow.origin[e] for e in producers), *members)
    reasons = [r for e in elems for r in flow.reasons.get(e, ())]
    reasons += [f"keep rule '{k.pattern}'" for k in keep if any(matches(k.pattern, n) for n in layers)]
    names = tuple(flow.origin[e] for e in producers)
    return ChannelGroup(
        origin if whole else f"{origin}[{offset}:{end}]", size, names,
        members, tuple((name, start) for name, start, _ in consumers), not reasons, reasons[0] if reasons else "",
        tuple(unit for _, _, unit in consumers), tuple(slots), tuple(flow.offset[e] for e in producers),
        tuple(name for name in names if flow.graph.node(name).op == "deconv"),
        tuple(flow.unit[e] for e in producers),
    )


def channel_groups(graph: Graph) -> list[ChannelGroup]:
    """Every channel group of the graph, in topological order of the layer
    that creates it (its first producer, or a network input).  A group is
    named after that layer, with its channel range (``conv[58:116]``) when it
    holds only part of the layer's output."""
    flow = ChannelFlow(graph)
    classes: dict[int, list[int]] = {}
    for elem in range(len(flow.parent)):
        classes.setdefault(flow.find(elem), []).append(elem)
    slots: dict[int, list] = {root: [] for root in classes}
    consumers: dict[int, list] = {root: [] for root in classes}
    for elem, *slot in flow.members:
        slots[flow.find(elem)].append(tuple(slot))
    for elem, *slot in flow.consumers:
        consumers[flow.find(elem)].append(tuple(slot))
    prune = graph.directives.prune
    keep = prune.keep if prune is not None else ()
    ordered = []
    for root, elems in classes.items():
        elems.sort(key=lambda e: (flow.order[flow.origin[e]], flow.offset[e]))
        ordered.append(((flow.order[flow.origin[elems[0]]], flow.offset[elems[0]]), root, elems))
    return [_group(flow, elems, slots[root], consumers[root], keep) for _, root, elems in sorted(ordered)]


def kept_count(channels: int, rate: float) -> int:
    """``⌊(1 − rate)·C + ½⌋``, with a 1e-9 allowance for float error (so that
    0.9 of 5 channels keeps 1, though 1 − 0.9 < 0.1 in floating point)."""
    return int((1.0 - rate) * channels + 0.5 + 1e-9)


def kept_channels(group: ChannelGroup, rate: float, pof: int | None = None) -> int:
    """Channels a group keeps at pruning ``rate``: ``max(1, ⌊(1 − rate)·C + ½⌋)``
    (rounded half up, at least one); a group that cannot be pruned keeps all.

    With ``pof`` (the target's P_of), the count snaps to the nearest of the
    multiples of P_of not above C, and C itself (ties keep more), so Eq. 2's
    ⌈C_o/P_of⌉ wastes no lanes: never 0, never more than C."""
    if not group.prunable:
        return group.channels
    kept = max(1, kept_count(group.channels, rate))
    if pof is None or pof <= 1:
        return kept
    choices = [*range(pof, group.channels + 1, pof), group.channels]
    return min(choices, key=lambda c: (abs(c - kept), -c))


def _weighted(graph: Graph) -> dict[str, list[int]]:
    """[input channels, output channels] of every conv, dconv, deconv and linear."""
    dims = {}
    for node in graph.nodes():
        if node.op in ("conv", "dconv", "deconv", "linear"):
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
        for name, _, unit in group.producer_slots:
            dims[name][1] -= removed * unit
        for name, _, unit in group.member_slots:
            if name in dims:
                dims[name][0] -= removed * unit
                dims[name][1] -= removed * unit
        for (name, _), unit in zip(group.consumers, group.consumer_units):
            dims[name][0] -= removed * unit
    return {name: (i, o) for name, (i, o) in dims.items()}



def _removed_before(graph: Graph, groups: list[ChannelGroup], kept: dict[str, int], layer: str, at: int) -> int:
    """Channels of ``layer``'s output before channel ``at`` that pruning removes."""
    removed = 0
    for group in groups:
        lost = group.channels - kept.get(group.name, group.channels)
        if lost <= 0:
            continue
        slots = [(o, unit) for name, o, unit in (*group.producer_slots, *group.member_slots) if name == layer]
        removed += sum(lost * unit for offset, unit in slots if offset < at)
    return removed


def pruned_slices(graph: Graph, groups: list[ChannelGroup], kept: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(start, end) of every slice when each group ``g`` keeps ``kept[g]``
    channels: the channels its input loses before each bound come off it
    (the channel flow cuts groups at a slice's bounds, so a group lies
    wholly before, inside or after the range)."""
    bounds = {}
    for node in graph.nodes():
        if node.op == "slice":
            start, end = node.attrs["start"], node.attrs["end"]
            source = node.inputs[0]
            bounds[node.name] = (start - _removed_before(graph, groups, kept, source, start),
                                 end - _removed_before(graph, groups, kept, source, end))
    return bounds
