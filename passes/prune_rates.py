"""Pruning rates per channel group: from pattern rules (the ``.seg`` ``prune``
section or a rates file), from one rate for every group, and shared between
*siblings*, groups whose producers read the same input (the parallel ASPP
branches, a block's first conv and its shortcut projection), as Mori et al.
(Sec. 4.3) give them one rate.

A rule names layers by pattern; it applies to the group of every conv, dconv
or linear layer it matches (the group a layer's output channels belong to;
for a depthwise conv, the group it passes through).  When several rules
apply to one group, the last one wins.
"""

from __future__ import annotations

import difflib

from ..ir import Coupling, Diagnostic, Graph, PruneDirectives, PruneRule, SegError
from ..ir.directives import matches
from .channels import ChannelGroup, kept_count

__all__ = [
    "check_keep", "expand_set_rates", "max_rate", "rate_sets", "resolve_rates", "share_rates", "uniform_rates",
    "would_empty",
]

_WEIGHTED = ("conv", "dconv", "linear")


def would_empty(group: ChannelGroup, rate: float) -> bool:
    """True when ``rate`` rounds the group to zero channels: ⌊(1 − rate)·C + ½⌋ = 0."""
    return kept_count(group.channels, rate) == 0


def max_rate(group: ChannelGroup) -> float:
    """The largest rate that keeps one channel: 1 − ½/C."""
    return 1.0 - 0.5 / group.channels


def empty_message(group: ChannelGroup, rate: float) -> str:
    layers = ", ".join(group.producers) or group.name
    return (f"pruning {rate:g} of the {group.channels} channels of group '{group.name}' ({layers}) would leave none; "
            f"a rate of at most {max_rate(group):g} keeps one")


def layer_groups(groups: list[ChannelGroup], graph: Graph) -> dict[str, list[ChannelGroup]]:
    """The groups of each conv, dconv and linear layer: those its output
    channels belong to (usually one)."""
    owner: dict[str, list[ChannelGroup]] = {}
    for group in groups:
        for name in dict.fromkeys((*group.producers, *group.members)):
            if graph.node(name).op in _WEIGHTED:
                owner.setdefault(name, []).append(group)
    return owner


def _no_match(rule: PruneRule, graph: Graph, weighted: list[str]) -> Diagnostic:
    if any(ch in rule.pattern for ch in "*?["):
        return Diagnostic(f"'{rule.pattern}' matches no conv, dconv or linear layer of network '{graph.name}'",
                          rule.span)
    close = difflib.get_close_matches(rule.pattern, weighted, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    kind = "conv, dconv or linear layer" if rule.pattern in graph else "layer"
    return Diagnostic(f"no {kind} named '{rule.pattern}' in network '{graph.name}'{hint}", rule.span)


def resolve_rates(graph: Graph, groups: list[ChannelGroup], directives: PruneDirectives) -> dict[str, float]:
    """{group name: rate} from pattern rules.  Every rule must match a layer
    whose group can be pruned and must leave it at least one channel; all
    such mistakes are reported together, at the rules."""
    owner = layer_groups(groups, graph)
    rates: dict[str, float] = {}
    errors = []
    for rule in directives.rules:
        matched = [g for name, gs in owner.items() if matches(rule.pattern, name) for g in gs]
        targets = list({g.name: g for g in matched if g.prunable}.values())
        if not 0.0 <= rule.rate < 1.0:
            errors.append(Diagnostic(f"a pruning rate must be at least 0 and below 1, got {rule.rate:g}", rule.span))
        elif not matched:
            errors.append(_no_match(rule, graph, list(owner)))
        elif not targets:
            why = "; ".join(dict.fromkeys(f"{g.name}: {g.reason}" for g in matched))
            errors.append(Diagnostic(f"'{rule.pattern}' matches only layers that cannot be pruned ({why})", rule.span))
        errors += [Diagnostic(empty_message(g, rule.rate), rule.span) for g in targets if would_empty(g, rule.rate)]
        rates.update((g.name, rule.rate) for g in targets)
    if errors:
        raise SegError(errors)
    return rates


def uniform_rates(groups: list[ChannelGroup], rate: float) -> dict[str, float]:
    """One rate for every group that can be pruned."""
    return {g.name: rate for g in groups if g.prunable}


def _reads(graph: Graph, name: str) -> str:
    """The tensor a layer reads, looking through pass-through layers (pooling,
    BN, activations) that only it reads."""
    source = graph.node(name).inputs[0]
    while True:
        node = graph.node(source)
        through = node.opdef.coupling(node.attrs, graph.input_shapes(node)) is Coupling.PASSTHROUGH
        if not through or len(graph.consumers(source)) != 1:
            return source
        source = node.inputs[0]


def rate_sets(groups: list[ChannelGroup], graph: Graph) -> list[list[str]]:
    """The prunable groups partitioned into sets of siblings (groups with
    producers that read the same input), in topological order: one gene per
    set for the search."""
    prunable = [g.name for g in groups if g.prunable]
    parent = {name: name for name in prunable}

    def find(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    readers: dict[str, str] = {}
    for group in groups:
        if not group.prunable:
            continue
        for producer in group.producers:
            first = readers.setdefault(_reads(graph, producer), group.name)
            parent[find(group.name)] = find(first)
    sets: dict[str, list[str]] = {}
    for name in prunable:
        sets.setdefault(find(name), []).append(name)
    return sorted(sets.values(), key=lambda names: prunable.index(names[0]))


def share_rates(rates: dict[str, float], sets: list[list[str]]) -> dict[str, float]:
    """Each set of siblings takes the rate of its first group that has one."""
    shared = dict(rates)
    for names in sets:
        given = [rates[n] for n in names if n in rates]
        if given:
            shared.update((n, given[0]) for n in names)
    return shared


def expand_set_rates(sets: list[list[str]], values) -> dict[str, float]:
    """{group: rate} from one rate per set of :func:`rate_sets`."""
    if len(values) != len(sets):
        raise ValueError(f"{len(values)} rates for {len(sets)} sets of groups")
    return {name: float(rate) for names, rate in zip(sets, values) for name in names}


def check_keep(graph: Graph, directives: PruneDirectives) -> None:
    """Every keep pattern must match a layer."""
    names = [n.name for n in graph.nodes()]
    errors = []
    for keep in directives.keep:
        if not any(matches(keep.pattern, n) for n in names):
            close = difflib.get_close_matches(keep.pattern, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            errors.append(Diagnostic(f"'{keep.pattern}' matches no layer of network '{graph.name}'{hint}", keep.span))
    if errors:
        raise SegError(errors)
