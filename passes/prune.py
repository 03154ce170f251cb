"""Structured channel pruning (Mori et al., DAC 2022, Sec. 3.3; DESIGN §4):
remove whole channel groups (``passes.channels``) from the graph and, when
given, from the weights.

Which channels a group keeps: the ``k`` of largest L1 importance
``I_c = Σ_p ‖W_p[c]‖₁``, the L1 norm of output filter ``c`` summed over all
producers ``p`` of the group (magnitude pruning, the paper's heuristic);
ties keep the lower index; kept channels stay in their order.  Without
weights the first ``k`` are kept (only the shapes matter then).  How many:
:func:`~segc.passes.channels.kept_channels`.

Weights are numpy arrays keyed by ``state_dict`` names (``layer1.0.conv1.weight``);
this layer never touches torch.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping

import numpy as np

from ..ir import Diagnostic, Graph, PruneDirectives, SegError
from .base import Pass, PassResult
from .channels import ChannelGroup, channel_groups, kept_channels, pruned_shapes, pruned_slices
from .prune_rates import empty_message, rate_sets, resolve_rates, share_rates, uniform_rates, would_empty
from .prune_weights import slice_weights

__all__ = ["PrunePass", "channel_importance", "choose_channels", "prune"]

Weights = Mapping[str, np.ndarray]


def _check_rates(groups: dict[str, ChannelGroup], rates: Mapping[str, float], strict: bool) -> None:
    errors = []
    for name, rate in rates.items():
        group = groups.get(name)
        if group is None:
            close = difflib.get_close_matches(name, groups, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            errors.append(f"no channel group named '{name}'{hint}")
        elif not 0.0 <= rate < 1.0:
            errors.append(f"group '{name}': a pruning rate must be at least 0 and below 1, got {rate:g}")
        elif rate > 0 and not group.prunable:
            errors.append(f"group '{name}' cannot be pruned: {group.reason}")
        elif strict and would_empty(group, rate):
            errors.append(empty_message(group, rate))
    if errors:
        raise SegError([Diagnostic(e) for e in errors])


def channel_importance(group: ChannelGroup, weights: Weights) -> np.ndarray:
    """``I_c = Σ_p ‖W_p[o_p + c·u_p : o_p + (c+1)·u_p]‖₁`` for every channel
    ``c`` of the group (``o_p``: where the group starts in producer ``p``'s
    output, ``u_p``: its filters per channel, 1 unless a shuffle coarsened
    them; float64)."""
    importance = np.zeros(group.channels, dtype=np.float64)
    for name, offset, unit in group.producer_slots:
        weight = weights.get(f"{name}.weight")
        if weight is None:
            raise SegError(Diagnostic(f"the weights have no '{name}.weight' (layer '{name}')"))
        weight = np.asarray(weight, dtype=np.float64)
        if name in group.transposed:  # a deconv's weight is [C_i, C_o, k_h, k_w]
            weight = np.swapaxes(weight, 0, 1)
        rows = np.abs(weight[offset:offset + group.channels * unit])
        importance += rows.reshape(group.channels, -1).sum(axis=1)
    return importance


def choose_channels(group: ChannelGroup, kept: int, weights: Weights | None) -> np.ndarray:
    """Sorted indices of the ``kept`` channels of largest L1 importance."""
    if weights is None or kept >= group.channels:
        return np.arange(kept)
    order = np.argsort(-channel_importance(group, weights), kind="stable")
    return np.sort(order[:kept])


def _rebuild(graph: Graph, shapes: dict[str, tuple[int, int]], before: dict[str, tuple[int, int]],
             slices: dict[str, tuple[int, int]]) -> Graph:
    """A graph with the same layers, the new channel counts and slice bounds."""
    directives = graph.directives
    if directives.prune is not None:  # the rates are applied; what is kept stays kept
        directives = dataclasses.replace(directives, prune=PruneDirectives((), directives.prune.keep))
    pruned = Graph(graph.name, graph.target, directives)
    for node in graph.nodes():
        attrs = dict(node.attrs)
        annotations = dict(node.annotations)
        if node.name in shapes and shapes[node.name] != before[node.name]:
            cin, cout = shapes[node.name]
            attrs["out"] = cout
            if node.op != "linear" and attrs["groups"] > 1:  # depthwise: groups = channels
                attrs["groups"] = cout
            (in0, out0) = before[node.name]
            annotations["prune"] = {"in": (in0, cin), "out": (out0, cout)}
        if node.name in slices:
            attrs["start"], attrs["end"] = slices[node.name]
        node = node.with_(attrs=attrs, annotations=annotations)
        shape = node.opdef.shape(node.attrs, [pruned.node(i).shape for i in node.inputs])
        pruned.add(node.with_(shape=shape))
    return pruned


def prune(graph: Graph, rates: Mapping[str, float], weights: Weights | None = None, pof: int | None = None,
          strict: bool = True) -> tuple[Graph, dict[str, np.ndarray] | None]:
    """The pruned graph (same layer names, new channel counts) and weights.

    ``rates``: {group name: fraction of channels to remove}; groups left out
    keep all.  ``pof``: snap kept counts to multiples of P_of.  ``strict``: a
    rate that would leave a group no channel is an error (else it keeps one).
    Layers whose channels changed get a ``prune`` annotation
    ``{"in": (before, after), "out": (before, after)}``."""
    groups = channel_groups(graph)
    by_name = {g.name: g for g in groups}
    _check_rates(by_name, rates, strict)
    kept = {name: kept_channels(by_name[name], rate, pof) for name, rate in rates.items()}
    before = pruned_shapes(graph, groups, {})
    pruned = _rebuild(graph, pruned_shapes(graph, groups, kept), before, pruned_slices(graph, groups, kept))
    pruned.verify(context="after pruning")
    if weights is None:
        return pruned, None
    chosen = {name: choose_channels(by_name[name], k, weights) for name, k in kept.items()}
    return pruned, slice_weights(graph, groups, chosen, weights)


@dataclasses.dataclass(frozen=True)
class PrunePass(Pass):
    """``prune{rate=R, snap=true, siblings=true}``: prune the graph (shapes
    only; ``segc prune`` also prunes weights).  Rates come from the network's
    ``prune`` directives, or ``rate`` ≥ 0 for every prunable group; ``snap``
    snaps kept counts to the target's P_of; ``siblings`` gives groups that
    read the same input the rate of the first of them."""

    name = "prune"
    doc = "structured channel pruning by the network's prune directives (or one rate)"

    rate: float = -1.0
    snap: bool = False
    siblings: bool = False

    def run(self, graph: Graph) -> PassResult:
        if self.rate != -1.0 and not 0.0 <= self.rate < 1.0:
            raise SegError(Diagnostic(f"prune: 'rate' must be at least 0 and below 1 (or -1: the network's prune "
                                      f"directives), got {self.rate:g}"))
        groups = channel_groups(graph)
        if self.rate >= 0:
            rates = uniform_rates(groups, self.rate)
        else:
            rates = resolve_rates(graph, groups, graph.directives.prune or PruneDirectives())
        if self.siblings:
            rates = share_rates(rates, rate_sets(groups, graph))
        pof = snap_pof(graph) if self.snap else None
        pruned, _ = prune(graph, rates, None, pof)
        by_name = {g.name: g for g in groups}
        before = sum(by_name[name].channels for name in rates)
        after = sum(kept_channels(by_name[name], rate, pof) for name, rate in rates.items())
        note = f"{len(rates)} of {len(groups)} channel groups pruned: {before} → {after} channels"
        return PassResult(pruned, after != before, (note,))


def snap_pof(graph: Graph) -> int:
    """The target's P_of, which snapping needs."""
    if graph.target is None:
        raise SegError(Diagnostic(f"snapping to P_of needs a target; network '{graph.name}' has none"))
    return graph.target.unroll.pof
